//! Fan-out of engine events to any number of subscribers without ever blocking the engine.
//!
//! Each subscriber has its own bounded queue. Adjacent text deltas of one conversation are
//! coalesced into one event while they wait, so text is never lost however slow the reader.
//! When a queue is still full (a reader that never reads), the oldest event is dropped, counted,
//! and reported to that reader as `EngineEvent::Lagged`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use crate::engine::events::EngineEvent;

/// Events a subscriber may hold before the oldest is dropped.
pub const SUBSCRIBER_CAPACITY: usize = 4096;

type Waker = Box<dyn Fn() + Send + Sync>;

struct SubscriberQueue {
    events: Mutex<VecDeque<EngineEvent>>,
    notify: Notify,
    dropped: AtomicU64,
    coalesced: AtomicU64,
    waker: Option<Waker>,
}

type Sink = Box<dyn Fn(&EngineEvent) + Send + Sync>;

/// The publishing side: cheap to clone, never blocks.
#[derive(Clone, Default)]
pub struct EventBus {
    subscribers: Arc<Mutex<Vec<Weak<SubscriberQueue>>>>,
    sinks: Arc<Mutex<Vec<Sink>>>,
}

/// One subscriber's receiving side. Dropping it unsubscribes.
pub struct Subscription {
    queue: Arc<SubscriberQueue>,
}

impl EventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber; `waker` (e.g. `egui::Context::request_repaint`) runs after each event.
    pub fn subscribe(&self, waker: Option<Waker>) -> Subscription {
        let queue = Arc::new(SubscriberQueue {
            events: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            dropped: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            waker,
        });
        lock(&self.subscribers).push(Arc::downgrade(&queue));
        Subscription { queue }
    }

    /// Adds a sink called synchronously, in publishing order, for every event (the store's
    /// event log: it must only queue work, never block).
    pub fn add_sink(&self, sink: impl Fn(&EngineEvent) + Send + Sync + 'static) {
        lock(&self.sinks).push(Box::new(sink));
    }

    /// Sends `event` to every sink and live subscriber.
    pub fn publish(&self, event: EngineEvent) {
        for sink in lock(&self.sinks).iter() {
            sink(&event);
        }
        let mut subs = lock(&self.subscribers);
        subs.retain(|weak| weak.strong_count() > 0);
        // Each subscriber but the last gets a copy; the last gets the event itself (the usual
        // single window or `ask` then costs no copy per delta).
        let mut live = subs.iter().filter_map(Weak::upgrade).peekable();
        let mut event = Some(event);
        while let Some(sub) = live.next() {
            let next = if live.peek().is_some() {
                event.clone()
            } else {
                event.take()
            };
            if let Some(e) = next {
                sub.push(e);
            }
        }
    }

    /// How many subscribers are live.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.subscribers)
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

impl SubscriberQueue {
    fn push(&self, event: EngineEvent) {
        {
            let mut events = lock(&self.events);
            if let (
                Some(EngineEvent::Text {
                    conversation: last_conv,
                    delta: last_delta,
                }),
                EngineEvent::Text {
                    conversation,
                    delta,
                },
            ) = (events.back_mut(), &event)
                && last_conv == conversation
            {
                last_delta.push_str(delta);
                self.coalesced.fetch_add(1, Ordering::Relaxed);
            } else {
                if events.len() >= SUBSCRIBER_CAPACITY {
                    events.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                events.push_back(event);
            }
        }
        self.notify.notify_one();
        if let Some(waker) = &self.waker {
            waker();
        }
    }
}

impl Subscription {
    /// The next event if one is waiting (for the UI: drain at the start of a frame).
    pub fn try_recv(&self) -> Option<EngineEvent> {
        let dropped = self.queue.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            return Some(EngineEvent::Lagged { dropped });
        }
        lock(&self.queue.events).pop_front()
    }

    /// Waits for the next event.
    pub async fn recv(&self) -> EngineEvent {
        loop {
            if let Some(event) = self.try_recv() {
                return event;
            }
            self.queue.notify.notified().await;
        }
    }

    /// Whether no event is waiting (a reader may batch its output until this is true).
    pub fn is_empty(&self) -> bool {
        self.queue.dropped.load(Ordering::Relaxed) == 0 && lock(&self.queue.events).is_empty()
    }

    /// How many text deltas were merged into an earlier one for this subscriber.
    pub fn coalesced(&self) -> u64 {
        self.queue.coalesced.load(Ordering::Relaxed)
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the data stays valid:
/// every critical section here leaves it consistent).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::ConversationId;

    fn text(conv: &str, delta: &str) -> EngineEvent {
        EngineEvent::Text {
            conversation: conv.into(),
            delta: delta.into(),
        }
    }

    #[test]
    fn adjacent_text_of_one_conversation_is_coalesced_losslessly() {
        let bus = EventBus::new();
        let sub = bus.subscribe(None);
        for i in 0..10_000 {
            bus.publish(text("a", &i.to_string()));
        }
        bus.publish(text("b", "x"));
        let expected: String = (0..10_000).map(|i| i.to_string()).collect();
        assert_eq!(sub.try_recv(), Some(text("a", &expected)));
        assert_eq!(sub.try_recv(), Some(text("b", "x")));
        assert_eq!(sub.try_recv(), None);
        assert_eq!(sub.coalesced(), 9_999);
    }

    #[test]
    fn a_reader_that_never_reads_is_bounded_and_told_what_it_lost() {
        let bus = EventBus::new();
        let sub = bus.subscribe(None);
        for _ in 0..SUBSCRIBER_CAPACITY + 10 {
            bus.publish(EngineEvent::ConversationCreated {
                conversation: ConversationId::from("c"),
            });
        }
        assert_eq!(lock(&sub.queue.events).len(), SUBSCRIBER_CAPACITY);
        assert_eq!(sub.try_recv(), Some(EngineEvent::Lagged { dropped: 10 }));
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let bus = EventBus::new();
        let sub = bus.subscribe(None);
        assert_eq!(bus.subscriber_count(), 1);
        drop(sub);
        bus.publish(text("a", "x"));
        assert_eq!(bus.subscriber_count(), 0);
    }
}
