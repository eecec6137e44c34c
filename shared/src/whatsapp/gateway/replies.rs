//! Reply delivery: the bot's replies from the outbound queue, sent from the linked number
//! they belong to. Replies of one chat come in order (FIFO groups) and chats run
//! concurrently. Each reply is checked and marked in the store in one conditional write
//! right before it goes out (not delivered yet, the owner hasn't taken the chat over), then
//! sent chunk by chunk with a typing pause proportional to its length, at a paced rate per
//! number. A panic while delivering restarts the slot's connection (recorded on the slot);
//! the reply, past its delivery mark, is not sent again. A reply for a slot this task
//! doesn't hold goes back to the queue for the task that does (or, if none, to the dead
//! letters).
//!
//! - **A slot that is reconnecting** (this task runs it, but its connection is not open or
//!   says it is not connected: WhatsApp Web reconnecting by itself, the simulator between
//!   a drop and its reconnect) is waited for, up to [`GatewayConfig::reply_wait`]
//!   (3 minutes by default), checking every [`CONNECTION_POLL`]. The reply stays in hand
//!   meanwhile and the consumer keeps it invisible ([`Consumer::keeping_visible`]), so
//!   waiting costs no receive: it reaches the dead letters only after five waits that
//!   each ran out (15 minutes), not after five failed sends 3 s apart. Shutdown ends the
//!   wait at once (the reply goes back to the queue for whoever runs the slot next).
//! - **Parts are sent once**: after each part that has another after it, the chat state
//!   records how many are out ([`chat::part_sent`], one conditional write), and the mark
//!   of a retried delivery returns that count ([`chat::begin_sending`]), so a reply whose
//!   third part failed sends the third and later ones, never the first two again. A crash
//!   between a send and its record resends that one part, under its same id
//!   ([`OutboundReply::part_id`]), which the phone keeps once.
//! - **A failed send clears "typing…"** (`Connection::paused`, best effort) before the
//!   reply goes back to the queue.
//! - Every part carries the chat's disappearing-messages timer when the chat has one
//!   ([`OutboundReply::ephemeral_expiration`]).
//! - **An image part** ([`OutboundReply::image`], a Pix QR code) comes after the texts, under
//!   the same bookkeeping and ids; a transport that can't send images gets its caption and
//!   the QR's text as a text instead.
//! - **Owner notices** ([`OutboundNotice`], the other kind of [`OutboundJob`]) go to the
//!   owner's own phone with no chat state: waited for like a reply, sent under their own
//!   deterministic id (a retry is one message on the phone).
//!
//! [`GatewayConfig::reply_wait`]: super::GatewayConfig::reply_wait

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::super::events::SlotKey;
use super::super::transport::{Connection, TransportError};
use super::Gateway;
use crate::bot::chat::{self, ChatRef};
use crate::ids::now_ms;
use crate::jobs::{Line, OutboundJob, OutboundNotice, OutboundReply};
use crate::queue::consumer::{Concurrency, Consumer, Outcome, RetryAfter, PANIC_RETRY};

/// How often a reply waiting for its slot looks at the slot's connection (an in-memory
/// check, no I/O).
pub(super) const CONNECTION_POLL: Duration = Duration::from_millis(200);

/// Why a reply's slot has no connection to send on.
enum NoConnection {
    /// This task doesn't run the slot: another task may.
    NotHere,
    /// The slot didn't reconnect within the wait.
    StillConnecting,
    /// The gateway is stopping.
    ShuttingDown,
}

impl Gateway {
    /// Takes replies from the outbound queue until shutdown, then waits for the ones in
    /// flight.
    pub(super) async fn send_replies(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let Some(outbound) = self.outbound.clone() else {
            return;
        };
        let concurrency = Concurrency::Concurrent { limit: None };
        let consumer = Consumer::new(outbound, "outbound", "reply", concurrency)
            .keeping_visible(self.config.outbound_visibility);
        let stopping = shutdown.clone();
        let handle = move |job: OutboundJob| {
            let gateway = self.clone();
            let stopping = stopping.clone();
            async move {
                let key = match &job {
                    OutboundJob::Reply(reply) => SlotKey {
                        store_id: reply.store_id.clone(),
                        slot: reply.slot,
                    },
                    OutboundJob::Notice(notice) => SlotKey {
                        store_id: notice.store_id.clone(),
                        slot: notice.slot,
                    },
                };
                let sender = gateway.clone();
                let delivery = async move {
                    match job {
                        OutboundJob::Reply(reply) => sender.deliver(&reply, stopping).await,
                        OutboundJob::Notice(notice) => {
                            sender.deliver_notice(&notice, stopping).await
                        }
                    }
                };
                match crate::panics::caught(delivery).await {
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
        let connection = self
            .open_connection(key)
            .await
            .ok_or(TransportError::NotConnected)?;
        self.send_on(connection.as_ref(), to, text, id, None).await
    }

    /// Sends one text on `connection`, remembering its id (its echo is not the owner's).
    async fn send_on(
        &self,
        connection: &dyn Connection,
        to: &str,
        text: &str,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        let id = connection
            .send_text_expiring(to, text, id, ephemeral_expiration)
            .await?;
        self.gate.sent.lock().expect("lock").insert(id.clone());
        Ok(id)
    }

    /// Sends a reply's image part on `connection`, remembering its id. A transport that
    /// can't send images gets the caption as a text, with the QR's text after it (the
    /// customer still has the code to copy).
    async fn send_image_on(
        &self,
        connection: &dyn Connection,
        to: &str,
        image: &crate::jobs::ReplyImage,
        id: &str,
        reply: &OutboundReply,
    ) -> Result<String, TransportError> {
        let png = image
            .png()
            .map_err(|e| TransportError::Failed(e.to_string()))?;
        let sent = connection
            .send_image(to, &png, &image.caption, id, reply.ephemeral_expiration)
            .await;
        let id = match sent {
            Err(TransportError::Unsupported(_)) => {
                let text = format!("{}\n\n{}", image.caption, image.qr);
                connection
                    .send_text_expiring(to, &text, id, reply.ephemeral_expiration)
                    .await?
            }
            other => other?,
        };
        self.gate.sent.lock().expect("lock").insert(id.clone());
        Ok(id)
    }

    /// Sends an owner notice from its slot: once the slot can send (waiting like a reply),
    /// under the notice's own id, so a retry after a crash is one message on the phone.
    async fn deliver_notice(
        &self,
        notice: &OutboundNotice,
        stopping: watch::Receiver<bool>,
    ) -> Outcome {
        let key = SlotKey {
            store_id: notice.store_id.clone(),
            slot: notice.slot,
        };
        let connection = match self.connected(&key, stopping).await {
            Ok(connection) => connection,
            Err(NoConnection::NotHere) => return Err(RetryAfter(Duration::from_secs(2))),
            Err(NoConnection::StillConnecting) => return Err(RetryAfter(Duration::from_secs(1))),
            Err(NoConnection::ShuttingDown) => return Err(RetryAfter(Duration::ZERO)),
        };
        let pace = self.pacer.reserve(&key.to_string());
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        match self
            .send_on(
                connection.as_ref(),
                &notice.to,
                &notice.text,
                &notice.id,
                None,
            )
            .await
        {
            Ok(_) => {
                tracing::info!(slot = %key, "owner notice sent");
                crate::metrics::count("OwnerNoticesSent", 1.0, &[("Service", "gateway")]);
                Ok(())
            }
            Err(err) => {
                tracing::warn!(slot = %key, error = %err, "sending an owner notice failed; retrying");
                Err(RetryAfter(Duration::from_secs(3)))
            }
        }
    }

    /// Does this task run `key` (its task alive, whether connected or not)?
    fn runs(&self, key: &SlotKey) -> bool {
        self.slots
            .lock()
            .expect("lock")
            .get(key)
            .is_some_and(|task| !task.handle.is_finished())
    }

    /// The slot's connection once it can send: at once if it is connected, else after
    /// waiting (up to the configured wait) for a slot this task runs to reconnect.
    async fn connected(
        &self,
        key: &SlotKey,
        mut stopping: watch::Receiver<bool>,
    ) -> Result<Arc<dyn Connection>, NoConnection> {
        let deadline = Instant::now() + self.config.reply_wait;
        let mut waiting = false;
        loop {
            if !self.runs(key) {
                return Err(NoConnection::NotHere);
            }
            if let Some(connection) = self.open_connection(key).await {
                if connection.is_connected() {
                    if waiting {
                        tracing::info!(slot = %key, "the slot is back; sending the reply that waited");
                    }
                    return Ok(connection);
                }
            }
            if *stopping.borrow_and_update() {
                return Err(NoConnection::ShuttingDown);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NoConnection::StillConnecting);
            }
            if !waiting {
                tracing::info!(slot = %key, "the slot is reconnecting; the reply waits for it");
                waiting = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(CONNECTION_POLL.min(deadline - now)) => {}
                _ = stopping.changed() => {}
            }
        }
    }

    /// "Typing…" (or its end) in a chat, best effort (a missing indicator never stops a
    /// reply).
    async fn show_typing(&self, key: &SlotKey, connection: &dyn Connection, to: &str, on: bool) {
        let shown = if on {
            connection.typing(to).await
        } else {
            connection.paused(to).await
        };
        if let Err(err) = shown {
            tracing::debug!(slot = %key, error = %err, on, "no typing indicator");
        }
    }

    /// Sends one reply from its slot, if this task holds the slot and the reply is still
    /// wanted (checked and marked in one conditional write just before sending), from the
    /// first part an earlier attempt didn't send. Done also when rightly not sent
    /// (delivered before, the owner took over).
    async fn deliver(&self, reply: &OutboundReply, stopping: watch::Receiver<bool>) -> Outcome {
        let key = SlotKey {
            store_id: reply.store_id.clone(),
            slot: reply.slot,
        };
        let connection = match self.connected(&key, stopping).await {
            Ok(connection) => connection,
            // Another task may hold the slot; if none does, the reply ends in the DLQ.
            Err(NoConnection::NotHere) => return Err(RetryAfter(Duration::from_secs(2))),
            Err(NoConnection::StillConnecting) => {
                tracing::warn!(slot = %key, wait_secs = self.config.reply_wait.as_secs(), "the slot did not reconnect in time; the reply goes back to the queue");
                return Err(RetryAfter(Duration::from_secs(1)));
            }
            Err(NoConnection::ShuttingDown) => return Err(RetryAfter(Duration::ZERO)),
        };
        let line = Line::Web { slot: reply.slot };
        let chat = ChatRef {
            store_id: &reply.store_id,
            line: &line,
            chat: &reply.chat,
        };
        let pace_key = key.to_string();
        let parts = reply.parts();
        let mut marked = false;
        let mut part = 0;
        while part < parts {
            let pace = self.pacer.reserve(&pace_key);
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            let shown = reply
                .chunks
                .get(part)
                .or(reply.image.as_ref().map(|image| &image.caption))
                .map_or("", String::as_str);
            let typing = self.pacer.pacing().typing_delay(shown);
            if !typing.is_zero() {
                self.show_typing(&key, connection.as_ref(), &reply.chat, true)
                    .await;
                tokio::time::sleep(typing).await;
            }
            // Marked at the last moment, after the waits, so an owner who took the chat over
            // while we paced or typed still wins. A crash between this mark and the send
            // leaves the reply job unacked: its redelivery marks again (`begin_sending`
            // allows the same sequence) and goes on from the first part not recorded as
            // sent, under the same ids, which the receiving side keeps once.
            if !marked {
                let begun = chat::begin_sending_as(
                    self.store.as_ref(),
                    &chat,
                    reply.seq,
                    reply.owner,
                    now_ms(),
                );
                match begun.await {
                    Ok(Some(sent_before)) => {
                        marked = true;
                        if sent_before > part {
                            tracing::info!(slot = %key, seq = reply.seq, sent_before, "resuming a reply after the parts already sent");
                            part = sent_before;
                            if part >= parts {
                                break;
                            }
                        }
                    }
                    Ok(None) => return Ok(()), // delivered before, or the owner has the chat
                    Err(err) => {
                        tracing::warn!(slot = %key, error = %err, "store unavailable; reply delayed");
                        return Err(RetryAfter(Duration::from_secs(2)));
                    }
                }
            }
            let id = reply.part_id(part);
            let sent = match (reply.chunks.get(part), &reply.image) {
                (Some(chunk), _) => {
                    self.send_on(
                        connection.as_ref(),
                        &reply.chat,
                        chunk,
                        &id,
                        reply.ephemeral_expiration,
                    )
                    .await
                }
                (None, Some(image)) => {
                    self.send_image_on(connection.as_ref(), &reply.chat, image, &id, reply)
                        .await
                }
                (None, None) => unreachable!("a part past the reply's end"),
            };
            if let Err(err) = sent {
                tracing::warn!(slot = %key, error = %err, part, "sending a reply failed; it will be retried from this part");
                self.show_typing(&key, connection.as_ref(), &reply.chat, false)
                    .await;
                let _ = chat::unmark_delivering(self.store.as_ref(), &chat, reply.seq).await;
                return Err(RetryAfter(Duration::from_secs(3)));
            }
            part += 1;
            if part < parts {
                if let Err(err) = chat::part_sent(self.store.as_ref(), &chat, reply.seq, part).await
                {
                    // Going on: should a later part fail, this one is sent again (same id).
                    tracing::warn!(slot = %key, error = %err, "could not record a sent part");
                }
            }
        }
        tracing::info!(slot = %key, seq = reply.seq, parts, "reply sent");
        if let Some(at) = reply.at {
            // Best effort: the timeline's "sent" (the message is out either way).
            crate::inbox::delivered(self.store.as_ref(), &chat, at, &reply.history_id()).await;
        }
        crate::metrics::count(
            "RepliesSent",
            1.0,
            &[("Service", "gateway"), ("Line", "web")],
        );
        Ok(())
    }
}
