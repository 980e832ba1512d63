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

/// Results of work done on the async runtime, handed to the UI thread through a channel; each
/// result wakes the window. The UI drains it with `try_recv` at the start of a frame.
pub struct Background<T> {
    runtime: tokio::runtime::Handle,
    tx: std::sync::mpsc::Sender<T>,
    rx: std::sync::mpsc::Receiver<T>,
    repaint: RepaintSignal,
}

/// Sends one result to the UI thread and wakes the window; cheap to clone into tasks.
pub struct Reporter<T> {
    tx: std::sync::mpsc::Sender<T>,
    repaint: RepaintSignal,
}

impl<T> Clone for Reporter<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            repaint: self.repaint.clone(),
        }
    }
}

impl<T> Reporter<T> {
    /// Hands `value` to the UI (dropped if the window is gone).
    pub fn send(&self, value: T) {
        if self.tx.send(value).is_ok() {
            self.repaint.wake();
        }
    }
}

impl<T: Send + 'static> Background<T> {
    /// Results of tasks run on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        Self {
            runtime,
            tx,
            rx,
            repaint: RepaintSignal::new(),
        }
    }

    /// Lets results wake the window.
    pub fn attach(&self, ctx: &egui::Context) {
        self.repaint.attach(ctx);
    }

    /// The next result, if one is ready.
    pub fn try_recv(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The runtime tasks run on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// A sender for one task's result.
    pub fn reporter(&self) -> Reporter<T> {
        Reporter {
            tx: self.tx.clone(),
            repaint: self.repaint.clone(),
        }
    }

    /// Runs `read` on the store's thread; its result, or `failed(error sentence)`, comes back.
    pub fn read_store(
        &self,
        store: &crate::store::StoreReader,
        read: impl FnOnce(&crate::store::Store) -> crate::store::Result<T> + Send + 'static,
        failed: fn(String) -> T,
    ) {
        let (store, report) = (store.clone(), self.reporter());
        self.runtime.spawn(async move {
            report.send(match store.read(read).await.and_then(|r| r) {
                Ok(value) => value,
                Err(e) => failed(e.to_string()),
            });
        });
    }
}
