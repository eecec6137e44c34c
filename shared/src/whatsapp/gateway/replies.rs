//! Reply delivery: the bot's replies from the outbound queue, sent from the linked number
//! they belong to. Replies of one chat come in order (FIFO groups) and chats run
//! concurrently. Each reply is checked and marked in the store in one conditional write
//! right before it goes out (not delivered yet, the owner hasn't taken the chat over), then
//! sent chunk by chunk with a typing pause proportional to its length, at a paced rate per
//! number. A panic while delivering restarts the slot's connection (recorded on the slot);
//! the reply, past its delivery mark, is not sent again. A reply for a slot this task doesn't hold goes back to the queue for the task that
//! does (or, if none, to the dead letters).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::super::events::SlotKey;
use super::super::transport::TransportError;
use super::Gateway;
use crate::bot::chat::{self, ChatRef};
use crate::ids::now_ms;
use crate::jobs::{Line, OutboundReply};
use crate::queue::consumer::{Concurrency, Consumer, Outcome, RetryAfter, PANIC_RETRY};

impl Gateway {
    /// Takes replies from the outbound queue until shutdown, then waits for the ones in
    /// flight.
    pub(super) async fn send_replies(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let Some(outbound) = self.outbound.clone() else {
            return;
        };
        let concurrency = Concurrency::Concurrent { limit: None };
        let consumer = Consumer::new(outbound, "outbound", "reply", concurrency);
        let handle = move |reply: OutboundReply| {
            let gateway = self.clone();
            async move {
                let key = SlotKey {
                    store_id: reply.store_id.clone(),
                    slot: reply.slot,
                };
                let sender = gateway.clone();
                match crate::panics::caught(async move { sender.deliver(&reply).await }).await {
                    Ok(outcome) => outcome,
                    // Past its delivery mark, the reply is not sent again (as after a crash).
                    Err(panic) => {
                        gateway.slot_panicked(&key, "sending a reply", &panic).await;
                        Err(PANIC_RETRY)
                    }
                }
            }
        };
        consumer.run(handle, shutdown).await;
    }

    /// Sends a text from a running slot (the outbound path).
    pub async fn send_text(
        &self,
        key: &SlotKey,
        to: &str,
        text: &str,
        id: &str,
    ) -> Result<String, TransportError> {
        let id = self
            .open_connection(key)
            .await
            .ok_or(TransportError::NotConnected)?
            .send_text(to, text, id)
            .await?;
        self.gate.sent.lock().expect("lock").insert(id.clone());
        Ok(id)
    }

    /// "Typing…" in a chat, best effort (a missing indicator never stops a reply).
    async fn show_typing(&self, key: &SlotKey, to: &str) {
        if let Some(connection) = self.open_connection(key).await {
            if let Err(err) = connection.typing(to).await {
                tracing::debug!(slot = %key, error = %err, "no typing indicator");
            }
        }
    }

    /// Sends one reply from its slot, if this task holds the slot and the reply is still
    /// wanted (checked and marked in one conditional write just before sending). Done also
    /// when rightly not sent (delivered before, the owner took over).
    async fn deliver(&self, reply: &OutboundReply) -> Outcome {
        let key = SlotKey {
            store_id: reply.store_id.clone(),
            slot: reply.slot,
        };
        if self.open_connection(&key).await.is_none() {
            // Another task may hold the slot; if none does, the reply ends in the DLQ.
            return Err(RetryAfter(Duration::from_secs(2)));
        }
        let line = Line::Web { slot: reply.slot };
        let chat = ChatRef {
            store_id: &reply.store_id,
            line: &line,
            chat: &reply.chat,
        };
        let pace_key = key.to_string();
        for (part, chunk) in reply.chunks.iter().enumerate() {
            let pace = self.pacer.reserve(&pace_key);
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            let typing = self.pacer.pacing().typing_delay(chunk);
            if !typing.is_zero() {
                self.show_typing(&key, &reply.chat).await;
                tokio::time::sleep(typing).await;
            }
            // Marked at the last moment, after the waits, so an owner who took the chat over
            // while we paced or typed still wins. A crash between this mark and the send
            // leaves the reply job unacked: its redelivery marks again (`mark_sending`
            // allows the same sequence) and sends every part again under the same ids,
            // which the receiving side keeps once.
            if part == 0 {
                match chat::mark_sending(self.store.as_ref(), &chat, reply.seq, now_ms()).await {
                    Ok(true) => {}
                    Ok(false) => return Ok(()), // delivered before, or the owner has the chat
                    Err(err) => {
                        tracing::warn!(slot = %key, error = %err, "store unavailable; reply delayed");
                        return Err(RetryAfter(Duration::from_secs(2)));
                    }
                }
            }
            let id = reply.part_id(part);
            if let Err(err) = self.send_text(&key, &reply.chat, chunk, &id).await {
                tracing::warn!(slot = %key, error = %err, "sending a reply failed; it will be retried");
                let _ = chat::unmark_delivering(self.store.as_ref(), &chat, reply.seq).await;
                return Err(RetryAfter(Duration::from_secs(3)));
            }
        }
        tracing::info!(slot = %key, seq = reply.seq, parts = reply.chunks.len(), "reply sent");
        crate::metrics::count(
            "RepliesSent",
            1.0,
            &[("Service", "gateway"), ("Line", "web")],
        );
        Ok(())
    }
}
