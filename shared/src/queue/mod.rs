//! The queue port: how the functions and the gateway hand work to each other (session
//! commands in, customer messages out, replies back). In AWS it is SQS; locally an
//! in-process queue with the same at-least-once semantics, so code written against it
//! copes with redelivery in both.
//!
//! A received message stays invisible for the visibility timeout; `ack` deletes it, `retry`
//! makes it visible again after a delay, and one that is never acked comes back by itself.
//! On a FIFO queue, messages of one `group` are delivered in order, one group member in
//! flight at a time, and a resent deduplication id is dropped; a standard queue ignores
//! both but takes per-message delays, which a FIFO queue refuses. Messages received more
//! than `max_receives` times go to the dead-letter queue instead of coming back.
//!
//! Every consumer of a queue is the one loop in [`consumer`]; what a job's message looks
//! like (group, deduplication id, delay) is decided by the job type's own `outgoing()`.

pub mod consumer;
pub mod durable;
#[cfg(any(test, feature = "test-hooks"))]
pub mod faulty;
pub mod memory;
pub mod sqs;

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("invalid queue request: {0}")]
    Invalid(String),
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub body: String,
    /// Ordering group (FIFO queues): messages of one group are delivered in order.
    pub group: Option<String>,
    /// Deduplication id (FIFO queues): a resend with the same id within 5 minutes is dropped.
    pub dedup_id: Option<String>,
    /// Deliver no sooner than this (SQS `DelaySeconds`, whole seconds up to 15 minutes;
    /// standard queues only: FIFO queues refuse per-message delays).
    pub delay: Option<Duration>,
}

impl Outgoing {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            group: None,
            dedup_id: None,
            delay: None,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn in_group(mut self, group: impl Into<String>, dedup_id: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self.dedup_id = Some(dedup_id.into());
        self
    }
}

/// A received message: its body and the handle that acks or retries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub id: String,
    pub body: String,
    pub receipt: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// The most messages one receive returns (the SQS limit).
pub const MAX_RECEIVE: usize = 10;

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    async fn send(&self, message: Outgoing) -> Result<(), QueueError>;

    /// Up to `max` (≤ 10) messages, waiting up to `wait` for the first one.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError>;

    /// Done with a message: it is deleted.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;

    /// Not done: deliver it again after `delay`.
    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;

    /// Still working on it: keep the message invisible for `visibility` from now, under the
    /// same receipt (SQS `ChangeMessageVisibility` on a message in flight). Unlike a
    /// receive, this doesn't count towards the dead letters; a receipt that expired
    /// (the message came back meanwhile) extends nothing. A queue that can't (a test
    /// double) says so, and the message comes back when its visibility runs out.
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let _ = (receipt, visibility);
        Err(QueueError::Invalid(
            "this queue can't extend a message's visibility".into(),
        ))
    }
}
