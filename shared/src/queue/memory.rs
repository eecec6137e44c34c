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
//!
//! Either kind lives in memory only ([`MemoryQueue::standard`], [`MemoryQueue::fifo`]: unit
//! tests, benches) or is also kept in the embedded store from `send` until `ack`
//! ([`MemoryQueue::durable`], what `platefull dev` runs; see [`super::durable`]). The
//! state in memory is the same in both; a durable queue commits each change before it
//! takes effect in memory (a send, a retry) or before the caller learns of it (a receive,
//! an ack), so what a crash leaves on disk is never behind what any caller was told.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::durable::{instant_of, wall_ms, Durable, Stored};
use super::{Outgoing, Queue, QueueError, Received, MAX_RECEIVE};
use crate::store::{Store, WriteOp};

#[derive(Debug, Clone)]
struct Message {
    seq: u64,
    body: String,
    group: Option<String>,
    receive_count: u32,
    visible_at: Instant,
    /// The receipt of the current delivery, while in flight.
    receipt: Option<String>,
}

impl Message {
    fn stored(&self) -> Stored {
        Stored {
            seq: self.seq,
            body: self.body.clone(),
            group: self.group.clone(),
            receive_count: self.receive_count,
            visible_at_ms: wall_ms(self.visible_at),
            in_flight: self.receipt.is_some(),
        }
    }
}

/// Message sequence numbers: unique in the process and, as they start from the wall clock
/// in microseconds (and above anything loaded), increasing across restarts, so a durable
/// queue's partition lists its messages in send order.
static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);

fn next_seq() -> u64 {
    let floor = crate::ids::now_ms().max(0) as u64 * 1000;
    NEXT_SEQ.fetch_max(floor, Ordering::Relaxed);
    NEXT_SEQ.fetch_add(1, Ordering::Relaxed) + 1
}

struct State {
    messages: VecDeque<Message>,
    /// (group, deduplication id) of FIFO sends in the last [`DEDUP_WINDOW`], oldest first.
    recent_dedup: VecDeque<((String, String), Instant)>,
}

/// The most expired deduplication ids one send clears (a durable queue deletes them in
/// the send's batch, which stays far below the store's batch limit).
const EVICT_MAX: usize = 32;

impl State {
    /// Drops ids that left the window (at most [`EVICT_MAX`]), returning them.
    fn evict_dedup(&mut self, now: Instant) -> Vec<(String, String)> {
        let mut evicted = Vec::new();
        while evicted.len() < EVICT_MAX
            && self
                .recent_dedup
                .front()
                .is_some_and(|(_, at)| now.duration_since(*at) > DEDUP_WINDOW)
        {
            evicted.extend(self.recent_dedup.pop_front().map(|(key, _)| key));
        }
        evicted
    }

    fn seen_recently(&self, key: &(String, String)) -> bool {
        self.recent_dedup.iter().any(|(seen, _)| seen == key)
    }

    fn position(&self, receipt: &str) -> Option<usize> {
        self.messages
            .iter()
            .position(|m| m.receipt.as_deref() == Some(receipt))
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
    durable: Option<Durable>,
}

const DEDUP_WINDOW: Duration = Duration::from_secs(300);

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
            }),
            notify: Notify::new(),
            visibility,
            max_receives: u32::MAX,
            dead_letters: None,
            durable: None,
        }
    }

    /// Moves messages received `max_receives` times to `dead_letters` instead of redelivering.
    /// As in SQS, the dead-letter queue is of the same kind (and, locally, as durable).
    pub fn with_dead_letters(mut self, max_receives: u32, dead_letters: Arc<MemoryQueue>) -> Self {
        assert_eq!(
            self.kind, dead_letters.kind,
            "a dead-letter queue is of its queue's kind"
        );
        self.max_receives = max_receives;
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Keeps this queue's messages in `store` under the name `queue` (unique per store),
    /// and takes back what it held there when the last process stopped or died. A queue
    /// with dead letters must be given a durable dead-letter queue.
    pub async fn durable(mut self, store: Arc<dyn Store>, queue: &str) -> Result<Self, QueueError> {
        assert!(
            self.dead_letters
                .as_ref()
                .is_none_or(|dlq| dlq.durable.is_some()),
            "a durable queue's dead letters are durable too"
        );
        let durable = Durable::new(store, queue);
        let loaded = durable.load().await?;
        let now = Instant::now();
        let now_ms = crate::ids::now_ms();
        let mut expired = Vec::new();
        {
            let mut state = self.state.lock().expect("queue lock");
            for stored in loaded.messages {
                NEXT_SEQ.fetch_max(stored.seq, Ordering::Relaxed);
                state.messages.push_back(Message {
                    seq: stored.seq,
                    body: stored.body,
                    group: stored.group.filter(|_| self.kind == Kind::Fifo),
                    receive_count: stored.receive_count,
                    // In flight when the process died: nobody holds it any more.
                    visible_at: if stored.in_flight {
                        now
                    } else {
                        instant_of(stored.visible_at_ms)
                    },
                    receipt: None,
                });
            }
            for (key, sent_ms) in loaded.dedup {
                if now_ms - sent_ms > DEDUP_WINDOW.as_millis() as i64 {
                    expired.push(durable.delete_dedup(&key));
                } else {
                    state.recent_dedup.push_back((key, instant_of(sent_ms)));
                }
            }
        }
        for batch in expired.chunks(crate::store::MAX_BATCH) {
            durable.write(batch.to_vec()).await?;
        }
        self.durable = Some(durable);
        Ok(self)
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

    /// Marks up to `max` visible messages as received (in memory); returns them, and the
    /// messages due for the dead letters (removed from this queue).
    fn take_visible(&self, max: usize) -> (Vec<Message>, Vec<Message>) {
        let now = Instant::now();
        let mut dead = Vec::new();
        let mut out = Vec::new();
        let mut state = self.state.lock().expect("queue lock");
        let mut busy_groups: HashSet<String> = HashSet::new();
        let mut index = 0;
        while index < state.messages.len() && out.len() < max {
            let message = &state.messages[index];
            let blocked = message
                .group
                .as_ref()
                .is_some_and(|g| busy_groups.contains(g));
            if blocked || message.visible_at > now {
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
            let receipt = format!("r-{}-{}", next_seq(), crate::ids::new_id("rcpt"));
            let message = &mut state.messages[index];
            message.receive_count += 1;
            message.visible_at = now + self.visibility;
            message.receipt = Some(receipt);
            if let Some(group) = &message.group {
                busy_groups.insert(group.clone());
            }
            out.push(message.clone());
            index += 1;
        }
        (out, dead)
    }

    /// Receives what is visible now: the receive counts are committed (durable queue)
    /// before the batch is returned, and dead letters moved in one batch each.
    async fn receive_now(&self, max: usize) -> Result<Vec<Received>, QueueError> {
        let (out, dead) = self.take_visible(max);
        if let Some(dlq) = &self.dead_letters {
            for message in dead {
                let moved = Message {
                    receipt: None,
                    receive_count: 0,
                    visible_at: Instant::now(),
                    ..message
                };
                if let (Some(here), Some(there)) = (&self.durable, &dlq.durable) {
                    let ops = vec![here.delete(moved.seq), there.put(&moved.stored())];
                    if let Err(err) = here.write(ops).await {
                        // Still stored here: it comes back after a restart, never lost.
                        tracing::warn!(error = %err, "could not move a message to the dead letters");
                        continue;
                    }
                }
                dlq.push(moved);
            }
        }
        if let Some(durable) = &self.durable {
            durable
                .write(out.iter().map(|m| durable.put(&m.stored())).collect())
                .await?;
        }
        Ok(out
            .into_iter()
            .map(|m| Received {
                id: format!("m-{}", m.seq),
                body: m.body,
                receipt: m.receipt.unwrap_or_default(),
                receive_count: m.receive_count,
            })
            .collect())
    }

    fn push(&self, message: Message) {
        self.state
            .lock()
            .expect("queue lock")
            .messages
            .push_back(message);
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
        let dedup = group.clone().zip(message.dedup_id);
        let evicted = {
            let mut state = self.state.lock().expect("queue lock");
            let evicted = state.evict_dedup(now);
            if let Some(key) = &dedup {
                if state.seen_recently(key) {
                    return Ok(());
                }
                state.recent_dedup.push_back((key.clone(), now));
            }
            evicted
        };
        let message = Message {
            seq: next_seq(),
            body: message.body,
            group,
            receive_count: 0,
            visible_at: now + delay,
            receipt: None,
        };
        if let Some(durable) = &self.durable {
            let mut ops: Vec<WriteOp> = vec![durable.put(&message.stored())];
            if let Some(key) = &dedup {
                ops.push(durable.put_dedup(key, wall_ms(now)));
            }
            ops.extend(
                evicted
                    .iter()
                    .filter(|key| Some(*key) != dedup.as_ref())
                    .map(|key| durable.delete_dedup(key)),
            );
            if let Err(err) = durable.write(ops).await {
                if let Some(key) = &dedup {
                    // Not sent: a retry of the same id must not be dropped as a duplicate.
                    let mut state = self.state.lock().expect("queue lock");
                    state.recent_dedup.retain(|(seen, _)| seen != key);
                }
                return Err(err);
            }
        }
        self.push(message);
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
            let batch = self.receive_now(max).await?;
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
        // An expired receipt acks nothing, as in SQS when the message was redelivered.
        let acked = {
            let mut state = self.state.lock().expect("queue lock");
            state
                .position(receipt)
                .and_then(|index| state.messages.remove(index))
        };
        match (&self.durable, acked) {
            (Some(durable), Some(message)) => {
                durable.write(vec![durable.delete(message.seq)]).await
            }
            _ => Ok(()),
        }
    }

    /// In memory only: a message in flight is delivered again at once after a restart
    /// anyway (its stored state says in flight), so a longer stay invisible needs no write.
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        let mut state = self.state.lock().expect("queue lock");
        if let Some(index) = state.position(receipt) {
            state.messages[index].visible_at = Instant::now() + visibility;
        }
        Ok(())
    }

    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let visible_at = Instant::now() + delay;
        if let Some(durable) = &self.durable {
            let stored = {
                let state = self.state.lock().expect("queue lock");
                state.position(receipt).map(|index| {
                    let mut stored = state.messages[index].stored();
                    stored.visible_at_ms = wall_ms(visible_at);
                    stored.in_flight = false;
                    stored
                })
            };
            match stored {
                Some(stored) => durable.write(vec![durable.put(&stored)]).await?,
                None => return Ok(()),
            }
        }
        {
            let mut state = self.state.lock().expect("queue lock");
            if let Some(index) = state.position(receipt) {
                let message = &mut state.messages[index];
                message.visible_at = visible_at;
                message.receipt = None;
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }
}
