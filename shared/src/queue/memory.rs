//! The in-process queue of the local stack, with SQS's semantics: visibility timeout,
//! at-least-once redelivery and a dead-letter queue after `max_receives`. It is created as
//! the kind of its SQS twin, with that kind's rules:
//! - [`MemoryQueue::standard`]: per-message delays; no groups, no deduplication (like the
//!   SQS adapter on a standard queue, it ignores both), so messages of one chat may be in
//!   flight together;
//! - [`MemoryQueue::fifo`]: every message needs a group and a deduplication id; within a
//!   group delivery is in order with one message in flight; a resend of an id within five
//!   minutes is dropped (scope: the group, as the template deploys it); per-message delays
//!   are refused.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Outgoing, Queue, QueueError, Received, MAX_RECEIVE};

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    group: Option<String>,
    receive_count: u32,
    visible_at: Instant,
    /// The receipt of the current delivery, while in flight.
    receipt: Option<String>,
}

struct State {
    messages: VecDeque<Message>,
    /// (group, deduplication id) of FIFO sends in the last [`DEDUP_WINDOW`], oldest first.
    recent_dedup: VecDeque<((String, String), Instant)>,
    next_id: u64,
}

impl State {
    /// Queues one message (a send, or a message kept across a restart).
    fn enqueue(
        &mut self,
        body: String,
        group: Option<String>,
        receive_count: u32,
        visible_at: Instant,
    ) {
        self.next_id += 1;
        self.messages.push_back(Message {
            id: format!("m-{}", self.next_id),
            body,
            group,
            receive_count,
            visible_at,
            receipt: None,
        });
    }

    /// True if `key` was sent within the window (and remembers it otherwise).
    fn seen_recently(&mut self, key: (String, String), now: Instant) -> bool {
        while self
            .recent_dedup
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) > DEDUP_WINDOW)
        {
            self.recent_dedup.pop_front();
        }
        if self.recent_dedup.iter().any(|(seen, _)| *seen == key) {
            return true;
        }
        self.recent_dedup.push_back((key, now));
        false
    }
}

/// The kind of a queue, as SQS has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Standard,
    Fifo,
}

pub struct MemoryQueue {
    kind: Kind,
    state: Mutex<State>,
    notify: Notify,
    visibility: Duration,
    max_receives: u32,
    dead_letters: Option<Arc<MemoryQueue>>,
}

const DEDUP_WINDOW: Duration = Duration::from_secs(300);

/// A message kept across a restart of the local stack (see [`MemoryQueue::take_all`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// How long until it is due (a delayed or retried message).
    pub due_in_ms: u64,
    pub receive_count: u32,
}

impl MemoryQueue {
    /// A standard queue whose messages stay invisible for `visibility` once received.
    pub fn standard(visibility: Duration) -> Self {
        Self::new(Kind::Standard, visibility)
    }

    /// A FIFO queue whose messages stay invisible for `visibility` once received.
    pub fn fifo(visibility: Duration) -> Self {
        Self::new(Kind::Fifo, visibility)
    }

    fn new(kind: Kind, visibility: Duration) -> Self {
        Self {
            kind,
            state: Mutex::new(State {
                messages: VecDeque::new(),
                recent_dedup: VecDeque::new(),
                next_id: 1,
            }),
            notify: Notify::new(),
            visibility,
            max_receives: u32::MAX,
            dead_letters: None,
        }
    }

    /// Moves messages received `max_receives` times to `dead_letters` instead of redelivering.
    /// As in SQS, the dead-letter queue is of the same kind.
    pub fn with_dead_letters(mut self, max_receives: u32, dead_letters: Arc<MemoryQueue>) -> Self {
        assert_eq!(
            self.kind, dead_letters.kind,
            "a dead-letter queue is of its queue's kind"
        );
        self.max_receives = max_receives;
        self.dead_letters = Some(dead_letters);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Messages waiting or in flight (not dead).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn len(&self) -> usize {
        self.state.lock().expect("queue lock").messages.len()
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take_visible(&self, max: usize) -> Vec<Received> {
        let now = Instant::now();
        let mut dead = Vec::new();
        let mut out = Vec::new();
        {
            let mut state = self.state.lock().expect("queue lock");
            let mut busy_groups: HashSet<String> = HashSet::new();
            let mut index = 0;
            while index < state.messages.len() && out.len() < max {
                let message = &state.messages[index];
                let in_flight = message.receipt.is_some() && message.visible_at > now;
                let blocked = message
                    .group
                    .as_ref()
                    .is_some_and(|g| busy_groups.contains(g));
                if in_flight || blocked || message.visible_at > now {
                    if let Some(group) = &message.group {
                        busy_groups.insert(group.clone());
                    }
                    index += 1;
                    continue;
                }
                if message.receive_count >= self.max_receives && self.dead_letters.is_some() {
                    dead.push(state.messages.remove(index).expect("index in range"));
                    continue;
                }
                state.next_id += 1;
                let receipt = format!("r-{}-{}", state.next_id, crate::ids::new_id("rcpt"));
                let message = &mut state.messages[index];
                message.receive_count += 1;
                message.visible_at = now + self.visibility;
                message.receipt = Some(receipt.clone());
                if let Some(group) = &message.group {
                    busy_groups.insert(group.clone());
                }
                out.push(Received {
                    id: message.id.clone(),
                    body: message.body.clone(),
                    receipt,
                    receive_count: message.receive_count,
                });
                index += 1;
            }
        }
        if let Some(dlq) = &self.dead_letters {
            for message in dead {
                dlq.push(Message {
                    receipt: None,
                    receive_count: 0,
                    visible_at: now,
                    ..message
                });
            }
        }
        out
    }

    fn push(&self, message: Message) {
        self.state
            .lock()
            .expect("queue lock")
            .messages
            .push_back(message);
        self.notify.notify_waiters();
    }

    /// Empties the queue into what a restarted process can [`restore`](Self::restore): the
    /// local stack keeps its queues across a graceful restart this way.
    pub fn take_all(&self) -> Vec<Kept> {
        let now = Instant::now();
        let mut state = self.state.lock().expect("queue lock");
        state
            .messages
            .drain(..)
            .map(|m| Kept {
                body: m.body,
                group: m.group,
                due_in_ms: m.visible_at.saturating_duration_since(now).as_millis() as u64,
                receive_count: m.receive_count,
            })
            .collect()
    }

    /// Puts back messages taken by [`take_all`](Self::take_all), in order.
    pub fn restore(&self, kept: Vec<Kept>) {
        let now = Instant::now();
        {
            let mut state = self.state.lock().expect("queue lock");
            for k in kept {
                let group = k.group.filter(|_| self.kind == Kind::Fifo);
                let visible_at = now + Duration::from_millis(k.due_in_ms);
                state.enqueue(k.body, group, k.receive_count, visible_at);
            }
        }
        self.notify.notify_waiters();
    }

    /// Bodies of the messages held (waiting or in flight), oldest first.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn bodies(&self) -> Vec<String> {
        let state = self.state.lock().expect("queue lock");
        state.messages.iter().map(|m| m.body.clone()).collect()
    }
}

/// What a FIFO queue asks of a message, as SQS does: a group, a deduplication id (the
/// template's queues have no content-based deduplication) and no delay of its own.
fn fifo_group(message: &Outgoing) -> Result<String, QueueError> {
    if message.delay.is_some_and(|d| !d.is_zero()) {
        return Err(QueueError::Invalid(
            "FIFO queues don't take per-message delays".into(),
        ));
    }
    if message.dedup_id.is_none() {
        return Err(QueueError::Invalid(
            "a FIFO queue needs a deduplication id".into(),
        ));
    }
    message
        .group
        .clone()
        .ok_or_else(|| QueueError::Invalid("a FIFO queue needs a message group".into()))
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, message: Outgoing) -> Result<(), QueueError> {
        let now = Instant::now();
        let delay = message.delay.unwrap_or_default();
        let group = match self.kind {
            Kind::Standard => None,
            Kind::Fifo => Some(fifo_group(&message)?),
        };
        {
            let mut state = self.state.lock().expect("queue lock");
            if let (Some(group), Some(dedup)) = (&group, message.dedup_id) {
                if state.seen_recently((group.clone(), dedup), now) {
                    return Ok(());
                }
            }
            state.enqueue(message.body, group, 0, now + delay);
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        if max == 0 || max > MAX_RECEIVE {
            return Err(QueueError::Invalid(format!(
                "receive 1..={MAX_RECEIVE} messages"
            )));
        }
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let batch = self.take_visible(max);
            if !batch.is_empty() || Instant::now() >= deadline {
                return Ok(batch);
            }
            // Wake on a send, or when an in-flight message may have become visible again.
            let _ = tokio::time::timeout_at(
                deadline.min(Instant::now() + Duration::from_millis(50)),
                notified,
            )
            .await;
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let mut state = self.state.lock().expect("queue lock");
        // An expired receipt acks nothing, as in SQS when the message was redelivered.
        state
            .messages
            .retain(|m| m.receipt.as_deref() != Some(receipt));
        Ok(())
    }

    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        {
            let mut state = self.state.lock().expect("queue lock");
            if let Some(message) = state
                .messages
                .iter_mut()
                .find(|m| m.receipt.as_deref() == Some(receipt))
            {
                message.visible_at = Instant::now() + delay;
                message.receipt = None;
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }
}
