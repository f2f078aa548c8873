//! One bounded queue per Notifier, so a dead target only backs up its own
//! messages. When full, the oldest waiting message is dropped (the newest say
//! what is true now: a commit status's last state is the one that matters).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

pub struct Lane<T> {
    items: Mutex<VecDeque<T>>,
    wake: Notify,
    capacity: usize,
}

impl<T> Lane<T> {
    pub fn new(capacity: usize) -> Lane<T> {
        Lane {
            items: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queue `item`; returns the message dropped to make room, if any. Never blocks
    /// beyond a short lock.
    pub fn push(&self, item: T) -> Option<T> {
        let dropped = {
            let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
            let dropped = if items.len() >= self.capacity {
                items.pop_front()
            } else {
                None
            };
            items.push_back(item);
            dropped
        };
        self.wake.notify_one();
        dropped
    }

    /// The next message, waiting for one.
    pub async fn pop(&self) -> T {
        loop {
            // Register interest before looking, so a push in between is not missed.
            let notified = self.wake.notified();
            if let Some(item) = self
                .items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            {
                return item;
            }
            notified.await;
        }
    }

    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_drops_the_oldest_and_keeps_order() {
        let lane = Lane::new(3);
        assert_eq!(lane.push(1), None);
        assert_eq!(lane.push(2), None);
        assert_eq!(lane.push(3), None);
        assert_eq!(lane.push(4), Some(1));
        assert_eq!(lane.len(), 3);
        assert_eq!(lane.pop().await, 2);
        assert_eq!(lane.pop().await, 3);
        assert_eq!(lane.pop().await, 4);
        assert!(lane.is_empty());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let lane = std::sync::Arc::new(Lane::new(3));
        let l = lane.clone();
        let waiter = tokio::spawn(async move { l.pop().await });
        tokio::task::yield_now().await;
        lane.push(7);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, 7);
    }
}
