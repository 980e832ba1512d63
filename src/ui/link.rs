//! The UI's connection to the engine: a way to send [`Command`]s and a [`Subscription`] whose
//! waker repaints the window. The window's `egui::Context` only exists once eframe has started,
//! so the waker reads it from a [`RepaintSignal`] filled in at start-up; events published
//! before that simply wait in the subscription for the first frame.

use std::sync::{Arc, OnceLock};

use crate::engine::{Command, EngineEvent, Subscription};

/// Wakes the window from any thread once it is attached to an `egui::Context`.
#[derive(Clone, Default)]
pub struct RepaintSignal {
    ctx: Arc<OnceLock<egui::Context>>,
}

impl RepaintSignal {
    /// A signal not yet attached to a window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches the window; later calls are ignored.
    pub fn attach(&self, ctx: &egui::Context) {
        let _ = self.ctx.set(ctx.clone());
    }

    /// Asks for a repaint if a window is attached.
    pub fn wake(&self) {
        if let Some(ctx) = self.ctx.get() {
            ctx.request_repaint();
        }
    }

    /// A waker closure for `EventBus::subscribe` / `EngineHandle::subscribe_with_waker`.
    pub fn waker(&self) -> Box<dyn Fn() + Send + Sync> {
        let signal = self.clone();
        Box::new(move || signal.wake())
    }
}

/// The engine as the UI sees it.
pub struct EngineLink {
    send: Box<dyn Fn(Command) + Send>,
    subscription: Subscription,
    repaint: RepaintSignal,
}

impl EngineLink {
    /// Connects with a command sender and a subscribe function that receives the waker.
    ///
    /// ```ignore
    /// let link = EngineLink::new(move |c| handle.send(c), |w| handle.subscribe_with_waker(w));
    /// ```
    pub fn new(
        send: impl Fn(Command) + Send + 'static,
        subscribe: impl FnOnce(Box<dyn Fn() + Send + Sync>) -> Subscription,
    ) -> Self {
        let repaint = RepaintSignal::new();
        let subscription = subscribe(repaint.waker());
        Self {
            send: Box::new(send),
            subscription,
            repaint,
        }
    }

    /// Sends a command to the engine (never blocks).
    pub fn send(&self, command: Command) {
        (self.send)(command);
    }

    /// The next waiting event, if any.
    pub fn try_recv(&self) -> Option<EngineEvent> {
        self.subscription.try_recv()
    }

    /// Lets engine events wake this window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.repaint.attach(ctx);
    }
}
