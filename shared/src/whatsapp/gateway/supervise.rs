//! Slot supervision: one task per slot this gateway runs. It opens the transport with the
//! slot's stored credentials (or pairs without them), records every connection event on the
//! slot (QR, pairing code, credentials, connected, dropped, problems), forwards chat
//! messages to the inbound queue, and reconnects after a drop with capped exponential
//! backoff and jitter. A temporary ban is recorded on the slot (`bannedUntil`) and waited
//! out before the next open, cancellably (a `start` ends the wait, logout and shutdown act
//! at once), by whichever task holds the slot then. A connection whose event channel
//! closes (its client's run ended) is reopened with the backoff, so the slot never follows
//! a dead client. It ends when stopped (shutdown, lease lost, logout), when the phone
//! unlinks us, when the slot is deleted, or on a final ending (replaced, pairing expired,
//! refused): then the slot shows why and its lease is released as unwanted, so no task
//! takes it over until the owner starts it again.
//!
//! The task runs under [`Gateway::run_slot`], its panic supervisor: a panic anywhere in it
//! (a bug, a malformed frame) is logged and recorded on the slot, whatever connection it
//! had open is closed, and after a backoff (growing with panics in a row) the slot starts
//! again with its stored credentials. The other slots never notice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::super::events::{ConnectionEvent, DisconnectReason, SlotKey};
use super::super::qr;
use super::super::slots;
use super::super::transport::{Connection, Inbound};
use super::inbound::SlotInbound;
use super::{ConnectionSlot, Gateway, Phase, Stop, TaskPhase};
use crate::backoff::Backoff;
use crate::domain::slot::SlotStatus;
use crate::panics::{caught, Panicked};
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
    /// Stop, releasing the lease (logged out, unlinked, deleted, a final ending).
    Finish,
    /// Stop, keeping the lease for whoever stops us (shutdown releases it; after a lost
    /// lease it is another task's).
    Leave,
}

/// How a followed connection ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    /// Stopped from outside: shutdown or lease lost (`Close`), `Logout`, `Restart`.
    Stopped(Stop),
    /// Dropped: the transport's channel closed (its client's run ended), or a network drop
    /// on a transport that doesn't reconnect by itself. Reopen after the backoff.
    Dropped,
    /// Temporarily banned (recorded with its end): reopen, which waits the ban out first.
    Banned,
    /// The phone unlinked us (recorded).
    Unlinked,
    /// Replaced, pairing expired or refused (recorded): the slot stops, unwanted.
    Halted,
}

impl Gateway {
    /// A slot's task: [`Self::supervise`] under a panic supervisor. A panic is logged and
    /// recorded on the slot, the connection it left is closed, and the slot starts again
    /// after a backoff (growing with panics in a row; a run that lasted longer than the
    /// backoff cap starts the count again). Stopped meanwhile, it ends as `supervise` would.
    pub(super) async fn run_slot(
        self: Arc<Self>,
        key: SlotKey,
        mut stop: watch::Receiver<Stop>,
        connection_slot: ConnectionSlot,
        phase: Arc<Phase>,
        pair_phone: Option<String>,
        fence: slots::Fence,
    ) {
        let backoff = self.reconnect_backoff();
        let mut panics = 0u32;
        loop {
            let started = Instant::now();
            phase.set(TaskPhase::Running);
            let run = self.clone().supervise(
                key.clone(),
                stop.clone(),
                connection_slot.clone(),
                phase.clone(),
                pair_phone.clone(),
                fence.clone(),
            );
            let Err(panic) = caught(run).await else {
                return;
            };
            if started.elapsed() > self.config.backoff_cap {
                panics = 0;
            }
            panics += 1;
            tracing::error!(slot = %key, error = %panic, panics, "the slot's task panicked; restarting the slot");
            let left_open = connection_slot.write().await.take();
            if let Some(connection) = left_open {
                let _ = caught(async move { connection.close().await }).await;
            }
            self.record_panic(&key, "the connection's task", &panic)
                .await;
            // A stop the task got before it panicked holds; a restart it was asked for is
            // this restart (marked seen, so it doesn't cut the wait short).
            let current = *stop.borrow_and_update();
            let next = match current {
                Stop::Close | Stop::Logout => current,
                _ => {
                    phase.set(TaskPhase::Waiting);
                    self.wait(&mut stop, backoff.delay(panics)).await
                }
            };
            phase.set(TaskPhase::Ending);
            if next != Stop::Run {
                if next == Stop::Logout {
                    self.forget_link(&key).await;
                    self.finish(&key).await;
                }
                return;
            }
        }
    }

    /// The pace of a slot's reconnects and restarts.
    fn reconnect_backoff(&self) -> Backoff {
        Backoff::new(self.config.backoff_base, self.config.backoff_cap)
    }

    /// Work done for a slot outside its task (delivering a reply) panicked: recorded on
    /// the slot, and its connection restarted after the reconnect backoff.
    pub(super) async fn slot_panicked(&self, key: &SlotKey, during: &str, panic: &Panicked) {
        tracing::error!(slot = %key, error = %panic, "{during} panicked; restarting the slot's connection");
        self.record_panic(key, during, panic).await;
        if let Some(task) = self.slots.lock().expect("lock").get(key) {
            let _ = task.stop.send(Stop::Restart);
        }
    }

    /// Shows a panic on the slot: connecting again, not active, and why.
    async fn record_panic(&self, key: &SlotKey, during: &str, panic: &Panicked) {
        let why = format!("{during} {panic}; reconnecting");
        if let Err(err) =
            record_drop(self.store.as_ref(), key, SlotStatus::Connecting, &why, &[]).await
        {
            tracing::warn!(slot = %key, error = %err, "could not record a panic on the slot");
        }
    }

    /// A slot this task stops running for good: its lease released, the connection's
    /// status refreshed.
    async fn finish(&self, key: &SlotKey) {
        let store = self.store.as_ref();
        let _ = slots::release_lease(store, key, &self.config.task_id, false).await;
        let _ = slots::refresh_connection_status(store, key).await;
    }

    /// One slot's life: connect, follow events, reconnect with backoff, until stopped,
    /// logged out, halted, or the slot is deleted.
    async fn supervise(
        self: Arc<Self>,
        key: SlotKey,
        mut stop: watch::Receiver<Stop>,
        connection_slot: ConnectionSlot,
        phase: Arc<Phase>,
        pair_phone: Option<String>,
        fence: slots::Fence,
    ) {
        let backoff = self.reconnect_backoff();
        let mut attempt = 0u32;
        // Since when a number that was connected can't reach WhatsApp again (kept across
        // reconnects): past `silent_after` its incident opens, even if no drop was final.
        let mut unreachable = Unreachable::default();
        loop {
            if let Some(next) = self.wait_out_ban(&key, &mut stop, &phase).await {
                match next {
                    Next::Finish => break,
                    _ => return,
                }
            }
            let (connection, mut events) =
                match self.open(&key, pair_phone.as_deref(), &fence).await {
                    Opened::Open(connection, events) => (connection, events),
                    Opened::Gone => break,
                    Opened::Failed => {
                        self.still_unreachable(&key, &mut unreachable).await;
                        attempt += 1;
                        match self
                            .pause(&key, &mut stop, &phase, backoff.delay(attempt))
                            .await
                        {
                            Next::Reconnect => continue,
                            Next::Finish => break,
                            Next::Leave => return,
                        }
                    }
                };
            *connection_slot.write().await = Some(connection.clone());
            let ending = self
                .follow(
                    &key,
                    &mut stop,
                    &mut events,
                    (&mut attempt, &mut unreachable),
                    &phase,
                )
                .await;
            *connection_slot.write().await = None;
            // Nobody reads the connection's events any more: a transport blocked on
            // sending one is released, so closing it can't hang on a full channel.
            drop(events);
            // The wait before a reconnect, if the ending asks for one.
            attempt += 1;
            let retry = backoff.delay(attempt);
            match self
                .end(&key, connection.as_ref(), ending, &mut stop, &phase, retry)
                .await
            {
                Next::Reconnect => {}
                Next::Finish => break,
                Next::Leave => return,
            }
        }
        phase.set(TaskPhase::Ending);
        self.finish(&key).await;
    }

    /// A temporary ban recorded on the slot (by this task or a previous holder) is waited
    /// out before opening, unless stopped or started meanwhile (a `start` ends the wait:
    /// the owner asks to try now). `None`: go on and open.
    async fn wait_out_ban(
        &self,
        key: &SlotKey,
        stop: &mut watch::Receiver<Stop>,
        phase: &Phase,
    ) -> Option<Next> {
        let store = self.store.as_ref();
        let item = slots::get_slot(store, key).await.ok()??;
        let left = slots::slot_of(&item)?
            .banned_until
            .as_deref()
            .and_then(ban_left)?;
        tracing::info!(slot = %key, ?left, "waiting out a temporary ban");
        let next = self.pause(key, stop, phase, left).await;
        if let Next::Reconnect = next {
            let _ = slots::update_slot(store, key, vec![], &["bannedUntil"]).await;
            return None;
        }
        Some(next)
    }

    /// Waits `delay` (the task is `Waiting`: a `start` ends the wait), then says what
    /// comes next: reconnect, or stop as asked meanwhile.
    async fn pause(
        &self,
        key: &SlotKey,
        stop: &mut watch::Receiver<Stop>,
        phase: &Phase,
        delay: Duration,
    ) -> Next {
        phase.set(TaskPhase::Waiting);
        let next = match self.wait(stop, delay).await {
            Stop::Run | Stop::Restart => Next::Reconnect,
            Stop::Logout => {
                phase.set(TaskPhase::Ending);
                self.forget_link(key).await;
                Next::Finish
            }
            Stop::Close => Next::Leave,
        };
        if let Next::Reconnect = next {
            phase.set(TaskPhase::Running);
        } else {
            phase.set(TaskPhase::Ending);
        }
        next
    }

    /// Marks the slot connecting and opens the transport, with the stored credentials if
    /// there are readable ones.
    async fn open(&self, key: &SlotKey, pair_phone: Option<&str>, fence: &slots::Fence) -> Opened {
        let store = self.store.as_ref();
        let credentials = match slots::get_slot(store, key).await {
            Ok(Some(item)) => slots::credentials(&item, &self.secrets, key),
            Ok(None) => return Opened::Gone,
            Err(_) => None,
        };
        let connecting = vec![
            ("status", json!(SlotStatus::Connecting)),
            ("isActive", json!(false)),
        ];
        if slots::update_slot(store, key, connecting, &[])
            .await
            .is_err()
        {
            return Opened::Gone;
        }
        let (tx, events) = mpsc::channel(64);
        let inbound: Arc<dyn Inbound> = Arc::new(SlotInbound {
            gate: Arc::downgrade(&self.gate),
            store: self.store.clone(),
            key: key.clone(),
        });
        match self
            .transport
            .open(key, fence, credentials, pair_phone, tx, inbound)
            .await
        {
            Ok(connection) => Opened::Open(Arc::from(connection), events),
            Err(err) => {
                let why = format!("não foi possível conectar: {err}");
                let _ = slots::update_slot(store, key, vec![("lastError", why.into())], &[]).await;
                Opened::Failed
            }
        }
    }

    /// Follows one connection's events until it ends or the task is stopped; returns why.
    /// While connected, every event is a sign of life; none for `silent_after` (the
    /// connection looks open but answers nothing: a "zombie") ends it as dropped, with the
    /// slot's incident opened, so it is reconnected. A number that was connected and
    /// stays unable to connect again for `silent_after` (the library retrying a network
    /// that is down, a server answering 5xx) opens its incident too, once.
    async fn follow(
        &self,
        key: &SlotKey,
        stop: &mut watch::Receiver<Stop>,
        events: &mut mpsc::Receiver<ConnectionEvent>,
        (attempt, unreachable): (&mut u32, &mut Unreachable),
        phase: &Phase,
    ) -> Ending {
        // The last sign of life while connected (`None`: not connected).
        let mut alive_at: Option<tokio::time::Instant> = None;
        loop {
            let silent_at = alive_at.map(|at| at + self.config.silent_after);
            let stuck_at = alive_at
                .is_none()
                .then(|| unreachable.deadline(self.config.silent_after))
                .flatten();
            let event = tokio::select! {
                _ = stop.changed() => return Ending::Stopped(*stop.borrow()),
                event = events.recv() => event,
                _ = sleep_until(silent_at) => {
                    self.on_silent(key).await;
                    // Already told: the reconnects that follow don't tell it again.
                    unreachable.told_now();
                    return Ending::Dropped;
                }
                _ = sleep_until(stuck_at) => {
                    self.still_unreachable(key, unreachable).await;
                    continue;
                }
            };
            let Some(event) = event else {
                unreachable.lost(alive_at.is_some());
                // The connection is gone (its client stopped running): reopen.
                let why = "a conexão com o WhatsApp terminou; reabrindo";
                if let Err(err) =
                    record_drop(self.store.as_ref(), key, SlotStatus::Connecting, why, &[]).await
                {
                    tracing::warn!(slot = %key, error = %err, "could not record a closed connection");
                }
                crate::health::liveness::record(&key.store_id, key.slot, "connecting", false);
                return Ending::Dropped;
            };
            match &event {
                ConnectionEvent::Connected { .. } => {
                    alive_at = Some(tokio::time::Instant::now());
                    *unreachable = Unreachable::default();
                    crate::health::liveness::record(&key.store_id, key.slot, "connected", true);
                }
                ConnectionEvent::Disconnected { .. } => {
                    unreachable.lost(alive_at.is_some());
                    alive_at = None;
                    crate::health::liveness::record(&key.store_id, key.slot, "connecting", false);
                }
                ConnectionEvent::Qr { .. } | ConnectionEvent::PairingCode { .. } => {
                    crate::health::liveness::record(&key.store_id, key.slot, "qrcode", false);
                }
                _ if alive_at.is_some() => {
                    alive_at = Some(tokio::time::Instant::now());
                    crate::health::liveness::record(&key.store_id, key.slot, "connected", true);
                }
                _ => {}
            }
            match self.on_event(key, event, attempt, phase).await {
                Ok(None) => {}
                Ok(Some(ending)) => return ending,
                // The connection was deleted: unlink the number.
                Err(StoreError::ConditionFailed) => return Ending::Stopped(Stop::Logout),
                Err(err) => {
                    tracing::warn!(slot = %key, error = %err, "could not record a slot event")
                }
            }
        }
    }

    /// A connected slot said nothing for `silent_after`: recorded, its incident opened.
    async fn on_silent(&self, key: &SlotKey) {
        let minutes = (self.config.silent_after.as_secs() / 60).max(1);
        let why = format!("sem sinal do WhatsApp há {minutes} min");
        tracing::warn!(slot = %key, silent_secs = self.config.silent_after.as_secs(), "the slot is silent; reconnecting");
        crate::metrics::count("SlotSilent", 1.0, &[("Service", "gateway")]);
        crate::health::liveness::record(&key.store_id, key.slot, "silent", false);
        let shown = format!("{why}; reconectando");
        if let Err(err) = record_drop(
            self.store.as_ref(),
            key,
            SlotStatus::Connecting,
            &shown,
            &[],
        )
        .await
        {
            tracing::warn!(slot = %key, error = %err, "could not record a silent slot");
        }
        let phone = self.slot_phone(key).await;
        self.slot_down(key, phone.as_deref(), &why).await;
    }

    /// A number that was connected has not connected again since `unreachable.since`:
    /// past `silent_after`, its incident opens (once per outage; connecting closes it).
    async fn still_unreachable(&self, key: &SlotKey, unreachable: &mut Unreachable) {
        let Some(since) = unreachable.since else {
            return;
        };
        match unreachable.deadline(self.config.silent_after) {
            Some(at) if at <= tokio::time::Instant::now() => {}
            _ => return,
        }
        unreachable.told = true;
        let minutes = (since.elapsed().as_secs() / 60).max(1);
        let why = format!("sem conexão com o WhatsApp há {minutes} min");
        tracing::warn!(slot = %key, unreachable_secs = since.elapsed().as_secs(), "the slot can't reconnect");
        crate::metrics::count("SlotUnreachable", 1.0, &[("Service", "gateway")]);
        let phone = self.slot_phone(key).await;
        self.slot_down(key, phone.as_deref(), &why).await;
    }

    /// Closes an ended connection the way its ending asks for; after a drop, waits `retry`
    /// (unless stopped meanwhile) before the reconnect.
    async fn end(
        &self,
        key: &SlotKey,
        connection: &dyn Connection,
        ending: Ending,
        stop: &mut watch::Receiver<Stop>,
        phase: &Phase,
        retry: Duration,
    ) -> Next {
        match ending {
            Ending::Stopped(Stop::Close) => {
                connection.close().await;
                Next::Leave
            }
            Ending::Unlinked => {
                phase.set(TaskPhase::Ending);
                connection.close().await;
                if let Err(err) = self.transport.forget(key).await {
                    tracing::warn!(slot = %key, error = %err, "could not forget the transport's keys");
                }
                Next::Finish
            }
            Ending::Stopped(Stop::Logout) => {
                phase.set(TaskPhase::Ending);
                if let Err(err) = connection.logout().await {
                    tracing::warn!(slot = %key, error = %err, "logout failed at WhatsApp; forgetting the link anyway");
                }
                self.forget_link(key).await;
                Next::Finish
            }
            Ending::Halted => {
                phase.set(TaskPhase::Ending);
                connection.close().await;
                Next::Finish
            }
            Ending::Banned => {
                // The next open waits the ban out (recorded on the slot).
                connection.close().await;
                Next::Reconnect
            }
            Ending::Stopped(Stop::Run | Stop::Restart) | Ending::Dropped => {
                // Dropped (or asked to restart): back off, then reconnect.
                connection.close().await;
                self.pause(key, stop, phase, retry).await
            }
        }
    }

    /// Forgets a logged-out slot's link: the transport's keys and the stored credentials.
    async fn forget_link(&self, key: &SlotKey) {
        let _ = self.transport.forget(key).await;
        let _ = slots::mark_logged_out(self.store.as_ref(), key, None).await;
    }

    /// Waits `delay` unless stopped first; returns the stop state (a restart asked for
    /// meanwhile just ends the wait: `Run`).
    async fn wait(&self, stop: &mut watch::Receiver<Stop>, delay: Duration) -> Stop {
        tokio::select! {
            _ = stop.changed() => match *stop.borrow() {
                Stop::Restart => Stop::Run,
                other => other,
            },
            _ = tokio::time::sleep(delay) => Stop::Run,
        }
    }

    /// Records one event. `Ok(Some(ending))` ends the current connection.
    async fn on_event(
        &self,
        key: &SlotKey,
        event: ConnectionEvent,
        attempt: &mut u32,
        phase: &Phase,
    ) -> Result<Option<Ending>, StoreError> {
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
                let phone_shown = phone.clone();
                let fields = vec![
                    ("status", json!(SlotStatus::Connected)),
                    ("phone", phone.into()),
                    ("isActive", json!(true)),
                    ("lastSeenAt", crate::ids::now_rfc3339().into()),
                ];
                let cleared = ["qrCode", "pairingCode", "lastError", "bannedUntil"];
                slots::update_slot(store, key, fields, &cleared).await?;
                slots::refresh_connection_status(store, key).await?;
                self.slot_up(key, &phone_shown).await;
                tracing::info!(slot = %key, "connected");
            }
            ConnectionEvent::Alive => {
                let seen = vec![("lastSeenAt", crate::ids::now_rfc3339().into())];
                slots::update_slot(store, key, seen, &[]).await?;
            }
            ConnectionEvent::PairingCodeRetired => {
                let why = "o código de pareamento expirou; pedindo outro ao WhatsApp";
                slots::update_slot(
                    store,
                    key,
                    vec![("lastError", why.into())],
                    &["pairingCode"],
                )
                .await?;
            }
            ConnectionEvent::Disconnected { reason } => {
                // Set before the slot shows the ending, so a `start` the owner sends on
                // seeing it is never lost: after a final ending it waits for this task's
                // end, then starts anew; during a ban it ends the wait.
                match &reason {
                    DisconnectReason::TemporaryBan { .. } => phase.set(TaskPhase::Waiting),
                    reason if reason.is_final() => phase.set(TaskPhase::Ending),
                    _ => {}
                }
                return self.on_disconnect(key, reason).await;
            }
            // A message the transport acknowledged by itself: queued best effort.
            ConnectionEvent::Message(message) => {
                if let Err(err) = self.gate.commit(key, vec![message]).await {
                    tracing::error!(slot = %key, error = %err, "a chat message could not be queued; it is lost");
                }
            }
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

    /// Records a drop and says how the connection ends: unlinked; halted (replaced —
    /// never fight another stream —, pairing expired, refused); banned (the next open
    /// waits the ban out); dropped (reconnect). A transport that reconnects by itself keeps
    /// its connection through network drops (`None`).
    async fn on_disconnect(
        &self,
        key: &SlotKey,
        reason: DisconnectReason,
    ) -> Result<Option<Ending>, StoreError> {
        let store = self.store.as_ref();
        let description = reason.describe();
        tracing::info!(slot = %key, reason = %description, "disconnected");
        let down = super::incidents::down_reason(&reason);
        // Read before an unlink wipes it; the incident opens once the slot shows the drop.
        let phone = match down {
            Some(_) => self.slot_phone(key).await,
            None => None,
        };
        if let DisconnectReason::TemporaryBan { .. } = reason {
            crate::health::liveness::record(&key.store_id, key.slot, "banned", false);
        } else if reason.is_final() {
            crate::health::liveness::record(&key.store_id, key.slot, "disconnected", false);
        }
        let ending = match reason {
            // Another task runs the slot now: nothing of ours is recorded on it (the slot
            // shows the new holder's state); close and leave, as after a lost renewal.
            DisconnectReason::LeaseLost => Ok(Some(Ending::Stopped(super::Stop::Close))),
            DisconnectReason::LoggedOut { .. } => {
                slots::mark_logged_out(store, key, Some(&description)).await?;
                slots::refresh_connection_status(store, key).await?;
                Ok(Some(Ending::Unlinked))
            }
            DisconnectReason::Replaced
            | DisconnectReason::PairingExpired
            | DisconnectReason::Refused { .. } => {
                record_drop(store, key, SlotStatus::Disconnected, &description, &[]).await?;
                Ok(Some(Ending::Halted))
            }
            DisconnectReason::Network { .. } if self.transport.reconnects_itself() => {
                record_drop(store, key, SlotStatus::Connecting, &description, &[]).await?;
                Ok(None)
            }
            DisconnectReason::TemporaryBan { ref until, .. } => {
                let until = vec![("bannedUntil", json!(until))];
                record_drop(store, key, SlotStatus::Disconnected, &description, &until).await?;
                Ok(Some(Ending::Banned))
            }
            DisconnectReason::Network { .. } => {
                record_drop(store, key, SlotStatus::Connecting, &description, &[]).await?;
                Ok(Some(Ending::Dropped))
            }
        };
        if let (Ok(_), Some(why)) = (&ending, down) {
            self.slot_down(key, phone.as_deref(), &why).await;
        }
        ending
    }
}

/// Since when a number that was connected has been unable to connect again (`None`: it
/// is connected, or never was in this task), and whether its incident was opened for it.
#[derive(Debug, Default, Clone, Copy)]
struct Unreachable {
    since: Option<tokio::time::Instant>,
    told: bool,
}

impl Unreachable {
    /// The connection was lost; if it had been connected, the outage starts now (unless
    /// it started before: reconnects don't restart the clock).
    fn lost(&mut self, was_connected: bool) {
        if was_connected {
            self.since.get_or_insert_with(tokio::time::Instant::now);
        }
    }

    /// The incident was just opened for this outage (by the silence check).
    fn told_now(&mut self) {
        *self = Self {
            since: Some(tokio::time::Instant::now()),
            told: true,
        };
    }

    /// When the outage is to be told, if there is one not told yet.
    fn deadline(&self, after: Duration) -> Option<tokio::time::Instant> {
        self.since.filter(|_| !self.told).map(|since| since + after)
    }
}

/// Sleeps until `at`, or forever when there is none.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How long a temporary ban until `until` (RFC 3339) still lasts, at most a day.
fn ban_left(until: &str) -> Option<Duration> {
    let until =
        time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339).ok()?;
    let ms = (until - time::OffsetDateTime::now_utc())
        .whole_milliseconds()
        .clamp(0, 86_400_000);
    Some(Duration::from_millis(ms as u64))
}

/// Records a dropped connection on its slot (new status, not active, why, and `extra`
/// fields) and on the connection's overall status. A slot that stops showing the QR code
/// (anything but `connecting` again) drops it and the pairing code.
async fn record_drop(
    store: &dyn Store,
    key: &SlotKey,
    status: SlotStatus,
    why: &str,
    extra: &[(&str, serde_json::Value)],
) -> Result<(), StoreError> {
    let mut fields = vec![
        ("status", json!(status)),
        ("isActive", json!(false)),
        ("lastError", why.into()),
    ];
    fields.extend(extra.iter().cloned());
    let stale: &[&str] = match status {
        SlotStatus::Disconnected => &["qrCode", "pairingCode"],
        _ => &[],
    };
    slots::update_slot(store, key, fields, stale).await?;
    slots::refresh_connection_status(store, key).await
}
