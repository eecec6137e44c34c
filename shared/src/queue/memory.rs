//! The in-process queue of the local stack, with SQS's semantics: visibility timeout,
//! at-least-once redelivery, FIFO groups, and a dead-letter queue after `max_receives`.

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
    recent_dedup: VecDeque<(String, Instant)>,
    next_id: u64,
}

pub struct MemoryQueue {
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
    /// A queue whose messages stay invisible for `visibility` once received.
    pub fn new(visibility: Duration) -> Self {
        Self {
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
    pub fn with_dead_letters(mut self, max_receives: u32, dead_letters: Arc<MemoryQueue>) -> Self {
        self.max_receives = max_receives;
        self.dead_letters = Some(dead_letters);
        self
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
                state.next_id += 1;
                let id = format!("m-{}", state.next_id);
                state.messages.push_back(Message {
                    id,
                    body: k.body,
                    group: k.group,
                    receive_count: k.receive_count,
                    visible_at: now + Duration::from_millis(k.due_in_ms),
                    receipt: None,
                });
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

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, message: Outgoing) -> Result<(), QueueError> {
        let now = Instant::now();
        {
            let mut state = self.state.lock().expect("queue lock");
            if let Some(dedup) = &message.dedup_id {
                while state
                    .recent_dedup
                    .front()
                    .is_some_and(|(_, at)| now.duration_since(*at) > DEDUP_WINDOW)
                {
                    state.recent_dedup.pop_front();
                }
                if state.recent_dedup.iter().any(|(id, _)| id == dedup) {
                    return Ok(());
                }
                state.recent_dedup.push_back((dedup.clone(), now));
            }
            state.next_id += 1;
            let id = format!("m-{}", state.next_id);
            state.messages.push_back(Message {
                id,
                body: message.body,
                group: message.group,
                receive_count: 0,
                visible_at: now + message.delay.unwrap_or_default(),
                receipt: None,
            });
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
