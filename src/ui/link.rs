//! The UI's connection to the engine: a way to send [`Command`]s and a [`Subscription`] whose
//! waker repaints the window. The window's `egui::Context` only exists once eframe has started,
//! so the waker reads it from a [`RepaintSignal`] filled in at start-up; events published
//! before that simply wait in the subscription for the first frame.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::engine::{Command, EngineEvent, Subscription};

/// The shortest time between two frames that engine events ask for: 40 a second. A streamed
/// answer's deltas (80 a second from a fast model, thousands from a local server) then share
/// frames instead of each drawing one; on a software renderer every frame rasterizes the whole
/// window (issue 15: the GUI's CPU while streaming, ≤ 2× an empty window repainting as often).
/// 25 ms keeps a delta's wait for its frame within the 16 ms median latency budget. Input
/// (typing, scrolling) is not paced: winit wakes the window for it directly.
pub const EVENT_FRAME_INTERVAL: Duration = Duration::from_millis(25);

/// The delay of a wake that need not wait: as good as now, but one frame, not two (`wake`).
const MIN_WAKE_DELAY: Duration = Duration::from_micros(1);

/// Wakes the window from any thread once it is attached to an `egui::Context`.
#[derive(Clone)]
pub struct RepaintSignal {
    ctx: Arc<OnceLock<egui::Context>>,
    /// When `frame_started` was last called, in µs since `epoch` (0: never).
    last_frame_us: Arc<AtomicU64>,
    epoch: Instant,
    /// Shortest time from a frame to the next one a wake asks for.
    min_interval: Duration,
}

impl Default for RepaintSignal {
    fn default() -> Self {
        Self::paced(Duration::ZERO)
    }
}

impl RepaintSignal {
    /// A signal not yet attached to a window.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal whose wakes ask for a frame no sooner than `min_interval` after the last one
    /// began (see [`EVENT_FRAME_INTERVAL`]).
    pub fn paced(min_interval: Duration) -> Self {
        Self {
            ctx: Arc::default(),
            last_frame_us: Arc::default(),
            epoch: Instant::now(),
            min_interval,
        }
    }

    /// Notes that a frame has begun (it shows everything that woke the window until now).
    pub fn frame_started(&self) {
        let us = self.epoch.elapsed().as_micros().max(1);
        self.last_frame_us
            .store(u64::try_from(us).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How long a wake now should wait for its frame.
    fn wait(&self) -> Duration {
        let last = self.last_frame_us.load(Ordering::Relaxed);
        if last == 0 {
            return Duration::ZERO;
        }
        let since = self
            .epoch
            .elapsed()
            .saturating_sub(Duration::from_micros(last));
        self.min_interval.saturating_sub(since)
    }

    /// Attaches the window; later calls are ignored.
    pub fn attach(&self, ctx: &egui::Context) {
        let _ = self.ctx.set(ctx.clone());
    }

    /// Asks for a repaint if a window is attached: at once, or when the interval since the
    /// last frame has passed (a sooner request, from input say, still wins).
    pub fn wake(&self) {
        if let Some(ctx) = self.ctx.get() {
            // Never a zero delay: egui answers `request_repaint()` with two frames (the second
            // "to settle"), which doubled the frames of a streamed answer; a delayed request
            // gets one, and the frame shows every event that arrived before it.
            ctx.request_repaint_after(self.wait().max(MIN_WAKE_DELAY));
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
        let repaint = RepaintSignal::paced(EVENT_FRAME_INTERVAL);
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

    /// Notes that a frame has begun: engine events wake the next one no sooner than
    /// [`EVENT_FRAME_INTERVAL`] after this.
    pub fn frame_started(&self) {
        self.repaint.frame_started();
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// The delays the signal's wakes asked egui for.
    fn observed(signal: &RepaintSignal) -> (egui::Context, Arc<Mutex<Vec<Duration>>>) {
        let ctx = egui::Context::default();
        let delays = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&delays);
        ctx.set_repaint_observer(move |info| seen.lock().unwrap().push(info.delay));
        signal.attach(&ctx);
        (ctx, delays)
    }

    #[test]
    fn a_wake_right_after_a_frame_waits_out_the_interval() {
        let signal = RepaintSignal::paced(EVENT_FRAME_INTERVAL);
        let (_ctx, delays) = observed(&signal);
        signal.wake(); // before any frame: at once
        signal.frame_started();
        signal.wake();
        let delays = delays.lock().unwrap().clone();
        assert_eq!(delays.len(), 2);
        assert!(delays[0] <= MIN_WAKE_DELAY, "{delays:?}");
        assert!(
            delays[1] > EVENT_FRAME_INTERVAL / 2 && delays[1] <= EVENT_FRAME_INTERVAL,
            "{delays:?}"
        );
    }

    #[test]
    fn a_wake_after_the_interval_asks_for_one_frame_now() {
        let signal = RepaintSignal::paced(Duration::from_millis(5));
        let (ctx, delays) = observed(&signal);
        signal.frame_started();
        std::thread::sleep(Duration::from_millis(10));
        signal.wake();
        let delays = delays.lock().unwrap().clone();
        assert_eq!(delays, vec![MIN_WAKE_DELAY]);
        // Never `Duration::ZERO`, which egui answers with two frames.
        assert!(ctx.has_requested_repaint());
    }

    #[test]
    fn an_unpaced_signal_never_waits() {
        let signal = RepaintSignal::new();
        let (_ctx, delays) = observed(&signal);
        signal.frame_started();
        signal.wake();
        assert_eq!(delays.lock().unwrap().clone(), vec![MIN_WAKE_DELAY]);
    }
}
