//! Slot supervision: one task per slot this gateway runs. It opens the transport with the
//! slot's stored credentials (or pairs without them), records every connection event on the
//! slot (QR, pairing code, credentials, connected, dropped, problems), forwards chat
//! messages to the inbound queue, and reconnects after a drop with capped exponential
//! backoff and jitter, waiting out temporary bans. It ends when stopped (shutdown, lease
//! lost, logout), when the phone unlinks us, or when the slot is deleted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::super::events::{ChatMessage, ConnectionEvent, DisconnectReason, SlotKey};
use super::super::qr;
use super::super::slots;
use super::super::transport::Connection;
use super::{ConnectionSlot, Gateway, Stop};
use crate::backoff::Backoff;
use crate::domain::slot::SlotStatus;
use crate::jobs::{BotJob, Line};
use crate::queue::Queue;
use crate::store::{Store, StoreError};

/// The outcome of trying to open a slot's connection.
enum Opened {
    Open(Arc<dyn Connection>, mpsc::Receiver<ConnectionEvent>),
    /// The transport failed (recorded on the slot): back off, then try again.
    Failed,
    /// The slot is gone (its connection was deleted): stop supervising it.
    Gone,
}

/// What the slot task does once a connection has ended.
enum Next {
    Reconnect,
    /// Stop, releasing the lease (logged out, unlinked, deleted).
    Finish,
    /// Stop, keeping the lease for whoever stops us (shutdown releases it; after a lost
    /// lease it is another task's).
    Leave,
}

impl Gateway {
    /// One slot's life: connect, follow events, reconnect with backoff, until stopped,
    /// logged out, or the slot is deleted.
    pub(super) async fn supervise(
        self: Arc<Self>,
        key: SlotKey,
        mut stop: watch::Receiver<Stop>,
        connection_slot: ConnectionSlot,
        pair_phone: Option<String>,
    ) {
        let backoff = Backoff::new(self.config.backoff_base, self.config.backoff_cap);
        let mut attempt = 0u32;
        loop {
            let (connection, mut events) = match self.open(&key, pair_phone.as_deref()).await {
                Opened::Open(connection, events) => (connection, events),
                Opened::Gone => break,
                Opened::Failed => {
                    attempt += 1;
                    if self.wait(&mut stop, backoff.delay(attempt)).await != Stop::Run {
                        break;
                    }
                    continue;
                }
            };
            *connection_slot.write().await = Some(connection.clone());
            let outcome = self
                .follow(&key, &mut stop, &mut events, &mut attempt)
                .await;
            *connection_slot.write().await = None;
            // The wait before a reconnect, if the ending asks for one.
            attempt += 1;
            let retry = backoff.delay(attempt);
            match self
                .end(&key, connection.as_ref(), outcome, &mut stop, retry)
                .await
            {
                Next::Reconnect => {}
                Next::Finish => break,
                Next::Leave => return,
            }
        }
        let store = self.store.as_ref();
        let _ = slots::release_lease(store, &key, &self.config.task_id, false).await;
        let _ = slots::refresh_connection_status(store, &key).await;
    }

    /// Marks the slot connecting and opens the transport, with the stored credentials if
    /// there are readable ones.
    async fn open(&self, key: &SlotKey, pair_phone: Option<&str>) -> Opened {
        let store = self.store.as_ref();
        let credentials = match slots::get_slot(store, key).await {
            Ok(Some(item)) => slots::credentials(&item, &self.secrets, key),
            Ok(None) => return Opened::Gone,
            Err(_) => None,
        };
        let connecting = vec![("status", json!(SlotStatus::Connecting))];
        if slots::update_slot(store, key, connecting, &[])
            .await
            .is_err()
        {
            return Opened::Gone;
        }
        let (tx, events) = mpsc::channel(64);
        match self.transport.open(key, credentials, pair_phone, tx).await {
            Ok(connection) => Opened::Open(Arc::from(connection), events),
            Err(err) => {
                let why = format!("could not connect: {err}");
                let _ = slots::update_slot(store, key, vec![("lastError", why.into())], &[]).await;
                Opened::Failed
            }
        }
    }

    /// Follows one connection's events until it ends or the task is stopped; returns why.
    async fn follow(
        &self,
        key: &SlotKey,
        stop: &mut watch::Receiver<Stop>,
        events: &mut mpsc::Receiver<ConnectionEvent>,
        attempt: &mut u32,
    ) -> Stop {
        loop {
            let event = tokio::select! {
                _ = stop.changed() => return *stop.borrow(),
                event = events.recv() => event,
            };
            let Some(event) = event else {
                return Stop::Run;
            };
            match self.on_event(key, event, attempt).await {
                Ok(None) => {}
                Ok(Some(next)) => return next,
                Err(StoreError::ConditionFailed) => return Stop::Logout, // connection deleted
                Err(err) => {
                    tracing::warn!(slot = %key, error = %err, "could not record a slot event")
                }
            }
        }
    }

    /// Closes an ended connection the way its ending asks for; after a drop, waits `retry`
    /// (unless stopped meanwhile) before the reconnect.
    async fn end(
        &self,
        key: &SlotKey,
        connection: &dyn Connection,
        outcome: Stop,
        stop: &mut watch::Receiver<Stop>,
        retry: Duration,
    ) -> Next {
        match outcome {
            Stop::Close => {
                connection.close().await;
                Next::Leave
            }
            Stop::Unlinked => {
                connection.close().await;
                if let Err(err) = self.transport.forget(key).await {
                    tracing::warn!(slot = %key, error = %err, "could not forget the transport's keys");
                }
                Next::Finish
            }
            Stop::Logout => {
                if let Err(err) = connection.logout().await {
                    tracing::warn!(slot = %key, error = %err, "logout failed at WhatsApp; forgetting the link anyway");
                }
                self.forget_link(key).await;
                Next::Finish
            }
            Stop::Run => {
                // Disconnected: back off, then reconnect.
                connection.close().await;
                if self.wait(stop, retry).await == Stop::Run {
                    return Next::Reconnect;
                }
                if *stop.borrow() == Stop::Logout {
                    self.forget_link(key).await;
                    return Next::Finish;
                }
                Next::Leave
            }
        }
    }

    /// Forgets a logged-out slot's link: the transport's keys and the stored credentials.
    async fn forget_link(&self, key: &SlotKey) {
        let _ = self.transport.forget(key).await;
        let _ = slots::mark_logged_out(self.store.as_ref(), key, None).await;
    }

    /// Waits `delay` unless stopped first; returns the stop state.
    async fn wait(&self, stop: &mut watch::Receiver<Stop>, delay: Duration) -> Stop {
        tokio::select! {
            _ = stop.changed() => *stop.borrow(),
            _ = tokio::time::sleep(delay) => Stop::Run,
        }
    }

    /// Records one event. `Ok(Some(stop))` ends the current connection.
    async fn on_event(
        &self,
        key: &SlotKey,
        event: ConnectionEvent,
        attempt: &mut u32,
    ) -> Result<Option<Stop>, StoreError> {
        let store = self.store.as_ref();
        match event {
            ConnectionEvent::Qr { code, .. } => self.show_qr(key, &code).await?,
            ConnectionEvent::PairingCode { code } => {
                let fields = vec![
                    ("status", json!(SlotStatus::Qrcode)),
                    ("pairingCode", code.into()),
                ];
                slots::update_slot(store, key, fields, &[]).await?;
            }
            ConnectionEvent::Problem { detail } => {
                tracing::warn!(slot = %key, %detail, "connection problem");
                slots::update_slot(store, key, vec![("lastError", detail.into())], &[]).await?;
            }
            ConnectionEvent::Paired { phone, credentials } => {
                slots::save_credentials(store, &self.secrets, key, &credentials, &phone).await?;
            }
            ConnectionEvent::Connected { phone } => {
                *attempt = 0;
                let fields = vec![
                    ("status", json!(SlotStatus::Connected)),
                    ("phone", phone.into()),
                    ("isActive", json!(true)),
                ];
                let cleared = ["qrCode", "pairingCode", "lastError"];
                slots::update_slot(store, key, fields, &cleared).await?;
                slots::refresh_connection_status(store, key).await?;
                tracing::info!(slot = %key, "connected");
            }
            ConnectionEvent::Disconnected { reason } => {
                return self.on_disconnect(key, reason, attempt).await;
            }
            ConnectionEvent::Message(message) => self.on_message(key, message).await,
        }
        Ok(None)
    }

    /// A new QR code: on the slot (as a PNG data URL), and on the terminal if asked.
    async fn show_qr(&self, key: &SlotKey, code: &str) -> Result<(), StoreError> {
        if self.config.print_qr {
            if let Ok(text) = qr::terminal(code) {
                eprintln!(
                    "Scan to link slot {key} (WhatsApp > Linked devices > Link a device):\n{text}"
                );
            }
        }
        let png = qr::png_data_url(code).map_err(|e| StoreError::Data(e.to_string()))?;
        let fields = vec![
            ("status", json!(SlotStatus::Qrcode)),
            ("qrCode", png.into()),
            ("isActive", json!(false)),
        ];
        slots::update_slot(self.store.as_ref(), key, fields, &[]).await?;
        Ok(())
    }

    /// Records a drop and says how the connection ends: unlinked, replaced (never fight
    /// another stream), or reconnect (after waiting out a temporary ban). A transport that
    /// reconnects by itself keeps its connection through network drops (`None`).
    async fn on_disconnect(
        &self,
        key: &SlotKey,
        reason: DisconnectReason,
        attempt: &mut u32,
    ) -> Result<Option<Stop>, StoreError> {
        let store = self.store.as_ref();
        let description = reason.describe();
        tracing::info!(slot = %key, reason = %description, "disconnected");
        match reason {
            DisconnectReason::LoggedOut { .. } => {
                slots::mark_logged_out(store, key, Some(&description)).await?;
                slots::refresh_connection_status(store, key).await?;
                Ok(Some(Stop::Unlinked))
            }
            DisconnectReason::Replaced => {
                record_drop(store, key, SlotStatus::Disconnected, &description).await?;
                Ok(Some(Stop::Close))
            }
            DisconnectReason::Network { .. } if self.transport.reconnects_itself() => {
                record_drop(store, key, SlotStatus::Connecting, &description).await?;
                Ok(None)
            }
            DisconnectReason::TemporaryBan { until, .. } => {
                record_drop(store, key, SlotStatus::Connecting, &description).await?;
                // Wait the ban out before the backoff even starts.
                if let Some(wait) = ban_left(&until) {
                    *attempt = (*attempt).max(16);
                    tokio::time::sleep(wait).await;
                }
                Ok(Some(Stop::Run))
            }
            DisconnectReason::Network { .. } => {
                record_drop(store, key, SlotStatus::Connecting, &description).await?;
                Ok(Some(Stop::Run))
            }
        }
    }

    /// A chat message: forwarded to the bot, unless it is a group's, the echo of a reply
    /// this task sent (not the owner typing), or a redelivery of one already queued.
    async fn on_message(&self, key: &SlotKey, message: ChatMessage) {
        if message.is_group {
            return;
        }
        if message.from_me && self.sent.lock().expect("lock").contains(&message.id) {
            return;
        }
        if self.forwarded.lock().expect("lock").contains(&message.id) {
            tracing::debug!(slot = %key, message = %message.id, "redelivered message; already queued");
            return;
        }
        let Some(inbound) = &self.inbound else {
            return;
        };
        let id = message.id.clone();
        let job = BotJob::Message {
            store_id: key.store_id.clone(),
            line: Line::Web { slot: key.slot },
            message,
        };
        if forward(key, inbound.as_ref(), &job).await {
            self.forwarded.lock().expect("lock").insert(id);
        }
    }
}

/// How long a temporary ban until `until` (RFC 3339) still lasts, at most a day.
fn ban_left(until: &str) -> Option<Duration> {
    let until =
        time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = (until - time::OffsetDateTime::now_utc())
        .whole_seconds()
        .clamp(0, 86_400);
    Some(Duration::from_secs(secs as u64))
}

/// Records a dropped connection on its slot (new status, not active, why) and on the
/// connection's overall status.
async fn record_drop(
    store: &dyn Store,
    key: &SlotKey,
    status: SlotStatus,
    why: &str,
) -> Result<(), StoreError> {
    let fields = vec![
        ("status", json!(status)),
        ("isActive", json!(false)),
        ("lastError", why.into()),
    ];
    slots::update_slot(store, key, fields, &[]).await?;
    slots::refresh_connection_status(store, key).await
}

/// Queues a chat message for the bot, trying a few times: WhatsApp won't deliver it
/// again once we've received it. False: it could not be queued (it is lost).
async fn forward(key: &SlotKey, inbound: &dyn Queue, job: &BotJob) -> bool {
    let outgoing = job.outgoing();
    for attempt in 1..=5u32 {
        match inbound.send(outgoing.clone()).await {
            Ok(()) => return true,
            Err(err) if attempt == 5 => {
                tracing::error!(slot = %key, error = %err, "could not queue a chat message; it is lost");
            }
            Err(err) => {
                tracing::warn!(slot = %key, error = %err, attempt, "could not queue a chat message; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
    false
}
