//! The engine's priority queue: Stop beats everything, FIFO within a priority.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How urgent an item is; higher is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Titles, pricing refresh, stats.
    Low,
    /// Stream events and tool results.
    Normal,
    /// User input and approvals.
    High,
    /// Stop and Shutdown.
    Critical,
}

struct Entry<T> {
    priority: Priority,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.seq == other.seq
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    // BinaryHeap is a max-heap: higher priority first, then the lower (older) sequence number.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// A queue that many tasks push into and one consumer pops from, by (priority, push order).
pub struct EventQueue<T> {
    heap: Mutex<BinaryHeap<Entry<T>>>,
    seq: AtomicU64,
    notify: Notify,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        Self {
            heap: Mutex::new(BinaryHeap::new()),
            seq: AtomicU64::new(0),
            notify: Notify::new(),
        }
    }
}

impl<T> EventQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `item`; it is served after everything of higher priority and older of equal priority.
    pub fn push(&self, priority: Priority, item: T) {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        // Taken under the lock so that sequence order equals insertion order.
        let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
        heap.push(Entry {
            priority,
            seq,
            item,
        });
        drop(heap);
        self.notify.notify_one();
    }

    /// Removes the most urgent item, if any.
    pub fn try_pop(&self) -> Option<(Priority, T)> {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        heap.pop().map(|e| (e.priority, e.item))
    }

    /// Waits for and removes the most urgent item.
    pub async fn pop(&self) -> (Priority, T) {
        loop {
            if let Some(found) = self.try_pop() {
                return found;
            }
            self.notify.notified().await;
        }
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.heap.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn priority_from(n: u8) -> Priority {
        match n % 4 {
            0 => Priority::Low,
            1 => Priority::Normal,
            2 => Priority::High,
            _ => Priority::Critical,
        }
    }

    #[test]
    fn critical_is_served_before_anything_already_queued() {
        let q = EventQueue::new();
        q.push(Priority::Normal, "delta");
        q.push(Priority::High, "send");
        q.push(Priority::Low, "title");
        q.push(Priority::Critical, "stop");
        let order: Vec<_> = std::iter::from_fn(|| q.try_pop().map(|(_, i)| i)).collect();
        assert_eq!(order, ["stop", "send", "delta", "title"]);
    }

    proptest! {
        #[test]
        fn pop_order_is_priority_then_push_order(
            batches in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..50), 1..5)
        ) {
            let q = Arc::new(EventQueue::new());
            // Several threads push; each item records (thread, index) so per-thread order is known.
            std::thread::scope(|s| {
                for (t, batch) in batches.iter().enumerate() {
                    let q = Arc::clone(&q);
                    s.spawn(move || {
                        for (i, p) in batch.iter().enumerate() {
                            q.push(priority_from(*p), (t, i, *p));
                        }
                    });
                }
            });
            let popped: Vec<_> = std::iter::from_fn(|| q.try_pop()).collect();
            prop_assert_eq!(popped.len(), batches.iter().map(Vec::len).sum::<usize>());
            // Priorities never increase.
            for w in popped.windows(2) {
                prop_assert!(w[0].0 >= w[1].0);
            }
            // Within one priority, each thread's items come out in the order it pushed them.
            for t in 0..batches.len() {
                for p in 0u8..4 {
                    let idx: Vec<usize> = popped.iter()
                        .filter(|(_, (tt, _, pp))| *tt == t && priority_from(*pp) == priority_from(p))
                        .map(|(_, (_, i, _))| *i).collect();
                    prop_assert!(idx.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }

    #[tokio::test]
    async fn pop_waits_for_a_push_from_another_task() {
        let q = Arc::new(EventQueue::new());
        let q2 = Arc::clone(&q);
        let waiter = tokio::spawn(async move { q2.pop().await });
        tokio::task::yield_now().await;
        q.push(Priority::Normal, 7);
        assert_eq!(waiter.await.unwrap(), (Priority::Normal, 7));
    }
}
