//! The gateway's side of the at-least-once handover of chat messages: a transport commits
//! each batch it receives here ([`Inbound`]) and acknowledges it to WhatsApp only if the
//! commit succeeded. A commit queues every message of the batch on the inbound queue, in
//! order and stamped with its receipt time (`receivedMs`, strictly increasing), for the bot; the first that can't be queued (after a few quick tries) fails the
//! whole commit, so WhatsApp keeps the batch and delivers it again on the next connect.
//!
//! Idempotent, as a redelivered batch needs: every message queued is remembered by chat,
//! sender (the customer, or the linked number itself) and id ([`RecentIds`], the last few
//! thousand), so the messages of a partly committed batch that made it are not queued
//! again. What the memory misses (a restart in between) the bot absorbs: it records a
//! message once by its WhatsApp id (`SEEN#…`), which a redelivery keeps, and a turn is
//! answered once. Dropped on purpose, and acknowledged: group messages, and the echoes of
//! the replies this task sent (not the owner typing on the phone).
//!
//! A panic while committing (a bug, a malformed message) is caught: the commit fails (the
//! batch is not acknowledged) and the slot records it; its connection is left alone.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::super::events::{ChatMessage, SlotKey};
use super::super::slots;
use super::super::transport::{Inbound, InboundError};
use super::recent_ids::RecentIds;
use crate::jobs::{BotJob, Line};
use crate::queue::Queue;

/// Tries per message before a commit gives up (WhatsApp will deliver it again), and the
/// pause before the second (then doubled): a blip of the queue costs 300 ms, not a batch.
const TRIES: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// What every slot's commits share: the inbound queue and the two filters.
#[derive(Default)]
pub(crate) struct InboundGate {
    /// None: messages are not forwarded (and are acknowledged).
    queue: Option<Arc<dyn Queue>>,
    /// Ids of the messages this task sent, so their echoes aren't taken for the owner's.
    pub(super) sent: Mutex<RecentIds>,
    /// Chat, sender and id of every message this task queued, so redeliveries aren't.
    queued: Mutex<RecentIds>,
}

impl InboundGate {
    pub(crate) fn new(queue: Option<Arc<dyn Queue>>) -> Arc<Self> {
        Arc::new(Self {
            queue,
            ..Self::default()
        })
    }

    /// The inbound queue, if messages are forwarded (alerts travel on it too).
    pub(super) fn queue(&self) -> Option<&Arc<dyn Queue>> {
        self.queue.as_ref()
    }

    /// Queues what `batch` holds for the bot, in order; `Err` at the first message that
    /// could not be queued (those before it stay queued, and remembered).
    pub(super) async fn commit(
        &self,
        key: &SlotKey,
        batch: Vec<ChatMessage>,
    ) -> Result<(), InboundError> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        for mut message in batch {
            if message.is_group {
                continue;
            }
            if message.from_me && self.sent.lock().expect("lock").contains(&message.id) {
                continue;
            }
            let seen = seen_key(&message);
            if self.queued.lock().expect("lock").contains(&seen) {
                tracing::debug!(slot = %key, message = %message.id, "redelivered message; already queued");
                continue;
            }
            // The receipt time, in the order the batch holds (WhatsApp's own stamp has
            // whole seconds only).
            message.received_ms = Some(crate::ids::monotonic_ms());
            let job = BotJob::Message {
                store_id: key.store_id.clone(),
                line: Line::Web { slot: key.slot },
                message,
            };
            send(key, queue.as_ref(), &job).await?;
            self.queued.lock().expect("lock").insert(seen);
        }
        Ok(())
    }
}

/// A message's identity for the redelivery filter: WhatsApp's ids are unique only within a
/// chat and sender.
fn seen_key(message: &ChatMessage) -> String {
    let sender = if message.from_me { "me" } else { "them" };
    format!("{}#{sender}#{}", message.chat, message.id)
}

/// Queues one job, trying [`TRIES`] times.
async fn send(key: &SlotKey, queue: &dyn Queue, job: &BotJob) -> Result<(), InboundError> {
    let outgoing = job.outgoing();
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=TRIES {
        match queue.send(outgoing.clone()).await {
            Ok(()) => return Ok(()),
            Err(err) if attempt == TRIES => {
                tracing::warn!(slot = %key, error = %err, "could not queue a chat message; WhatsApp will deliver it again");
                return Err(InboundError(err.to_string()));
            }
            Err(err) => {
                tracing::debug!(slot = %key, error = %err, attempt, "could not queue a chat message; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    unreachable!("the last try returns")
}

/// One slot's commits, as handed to its transport. Weak: the transport's connection (which
/// holds this) belongs to the gateway.
pub(crate) struct SlotInbound {
    pub(crate) gate: Weak<InboundGate>,
    pub(crate) store: Arc<dyn crate::store::Store>,
    pub(crate) key: SlotKey,
}

#[async_trait]
impl Inbound for SlotInbound {
    async fn commit(&self, batch: Vec<ChatMessage>) -> Result<(), InboundError> {
        let gate = self
            .gate
            .upgrade()
            .ok_or_else(|| InboundError("the gateway is stopping".into()))?;
        let key = self.key.clone();
        let work = async move { gate.commit(&key, batch).await };
        match crate::panics::caught(work).await {
            Ok(committed) => committed,
            Err(panic) => {
                tracing::error!(slot = %self.key, error = %panic, "committing chat messages panicked; WhatsApp will deliver them again");
                let why = format!("receiving messages {panic}");
                let _ = slots::update_slot(
                    self.store.as_ref(),
                    &self.key,
                    vec![("lastError", json!(why))],
                    &[],
                )
                .await;
                Err(InboundError(panic.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::faulty::FaultyQueue;
    use crate::queue::memory::MemoryQueue;

    fn key() -> SlotKey {
        SlotKey {
            store_id: "st_1".into(),
            slot: 2,
        }
    }

    fn message(chat: &str, id: &str, from_me: bool) -> ChatMessage {
        ChatMessage {
            id: id.into(),
            chat: chat.into(),
            from_me,
            text: format!("text of {id}"),
            timestamp: 1_700_000_000,
            is_group: false,
            ephemeral_expiration: None,
            media: None,
            name: None,
            alias: None,
            received_ms: None,
        }
    }

    fn ids(queue: &MemoryQueue) -> Vec<String> {
        queue
            .bodies()
            .iter()
            .map(|b| {
                let job: serde_json::Value = serde_json::from_str(b).unwrap();
                format!("{}:{}", job["message"]["chat"], job["message"]["id"])
            })
            .collect()
    }

    #[tokio::test]
    async fn a_failed_commit_queues_again_only_what_did_not_make_it() {
        let memory = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let queue = Arc::new(FaultyQueue::new(memory.clone()));
        let gate = InboundGate::new(Some(queue.clone()));
        let batch = vec![
            message("5511900000001", "A", false),
            message("5511900000002", "B", false),
        ];
        // The first message goes in, then the queue fails for good: the commit fails.
        queue.fail_sends_after(1);
        assert!(gate.commit(&key(), batch.clone()).await.is_err());
        assert_eq!(ids(&memory), [r#""5511900000001":"A""#]);
        // Redelivered once the queue is back: B goes in, A is not queued twice.
        queue.heal();
        gate.commit(&key(), batch.clone()).await.unwrap();
        gate.commit(&key(), batch).await.unwrap();
        assert_eq!(
            ids(&memory),
            [r#""5511900000001":"A""#, r#""5511900000002":"B""#]
        );
    }

    #[tokio::test]
    async fn a_batch_of_one_second_is_stamped_in_its_order() {
        let memory = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let gate = InboundGate::new(Some(memory.clone()));
        // One WhatsApp second for all, ids sorting the other way round.
        let batch = ["Z", "M", "A"]
            .map(|id| message("5511900000001", id, false))
            .to_vec();
        gate.commit(&key(), batch).await.unwrap();
        let stamps: Vec<i64> = memory
            .bodies()
            .iter()
            .map(|b| {
                let job: serde_json::Value = serde_json::from_str(b).unwrap();
                job["message"]["receivedMs"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(stamps.len(), 3);
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    }

    #[tokio::test]
    async fn the_same_id_in_another_chat_or_from_the_other_side_is_another_message() {
        let memory = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let gate = InboundGate::new(Some(memory.clone()));
        let batch = vec![
            message("5511900000001", "X", false),
            message("5511900000002", "X", false),
            message("5511900000001", "X", true),
        ];
        gate.commit(&key(), batch).await.unwrap();
        assert_eq!(memory.len(), 3);
    }

    #[tokio::test]
    async fn groups_and_echoes_of_our_replies_are_dropped_and_acknowledged() {
        let memory = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let gate = InboundGate::new(Some(memory.clone()));
        gate.sent.lock().unwrap().insert("OURS".into());
        let mut group = message("120363000000000001@g.us", "G", false);
        group.is_group = true;
        let batch = vec![
            group,
            message("5511900000001", "OURS", true),
            message("5511900000001", "OWNER", true),
        ];
        gate.commit(&key(), batch).await.unwrap();
        assert_eq!(ids(&memory), [r#""5511900000001":"OWNER""#]);
        // Without an inbound queue nothing is forwarded, and the batch is acknowledged.
        let none = InboundGate::new(None);
        none.commit(&key(), vec![message("5511900000001", "Z", false)])
            .await
            .unwrap();
    }
}
