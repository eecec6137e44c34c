//! A queue that fails on demand, for tests (`test-hooks`): it wraps a real queue and makes
//! its sends fail from a chosen point on, the way an unavailable SQS or a full disk would,
//! so callers can be shown to refuse what they could not queue and to queue it once later.
//! Receives, acks and retries pass through.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Outgoing, Queue, QueueError, Received};

pub struct FaultyQueue {
    inner: Arc<dyn Queue>,
    /// Sends still allowed to succeed (`usize::MAX`: no fault).
    sends_left: AtomicUsize,
}

impl FaultyQueue {
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        Self {
            inner,
            sends_left: AtomicUsize::new(usize::MAX),
        }
    }

    /// The next `n` sends succeed, every later one fails.
    pub fn fail_sends_after(&self, n: usize) {
        self.sends_left.store(n, Ordering::SeqCst);
    }

    /// Every send fails from now on.
    pub fn fail_sends(&self) {
        self.fail_sends_after(0);
    }

    /// Sends succeed again.
    pub fn heal(&self) {
        self.sends_left.store(usize::MAX, Ordering::SeqCst);
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, message: Outgoing) -> Result<(), QueueError> {
        let allowed = self
            .sends_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                0 => None,
                usize::MAX => Some(usize::MAX),
                n => Some(n - 1),
            })
            .is_ok();
        if !allowed {
            return Err(QueueError::Unavailable("injected fault".into()));
        }
        self.inner.send(message).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        self.inner.receive(max, wait).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await
    }

    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.retry(receipt, delay).await
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend(receipt, visibility).await
    }
}
