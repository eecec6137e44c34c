//! The gateway: the long-lived process (a Fargate task in AWS, a background task of
//! `platefull dev` locally) that holds the WhatsApp connections, one supervised task per
//! slot. It takes session commands from the command queue, writes every state change to
//! the slot's record (status, QR, phone, last error), keeps the slot's credentials sealed
//! in the store, publishes chat messages to the inbound queue, and holds a lease per slot so
//! that no two gateway tasks ever connect the same number.
//!
//! Reconnects use capped exponential backoff with full jitter, and a temporary ban is
//! waited out: a flapping network never turns into a reconnect storm.
//!
//! Replies come from the outbound queue: each is checked and marked in the store right
//! before it goes out (not delivered yet, the owner hasn't taken the chat over), then sent
//! with a typing pause proportional to its length and at a paced rate per number. On
//! shutdown no new replies are taken and the ones in flight finish before connections close.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::commands::SessionCommand;
use super::events::{ConnectionEvent, DisconnectReason, SlotKey};
use super::qr;
use super::slots;
use super::transport::{Connection, Transport, TransportError};
use crate::bot::chat::{self, ChatRef};
use crate::bot::jobs::{BotJob, Line};
use crate::bot::reply::{OutboundReply, Pacer, Pacing};
use crate::crypto::SecretBox;
use crate::domain::slot::SlotStatus;
use crate::queue::{Outgoing, Queue};
use crate::store::{Store, StoreError};

#[derive(Clone)]
pub struct GatewayConfig {
    /// This task's identity in leases (unique per process).
    pub task_id: String,
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Print QR codes to the terminal (operators of the real transport scan them there).
    pub print_qr: bool,
    /// This is the only gateway on its store (the local stack: one process per data dir), so
    /// leases held by other task ids are from dead processes and are taken back at start.
    pub sole_gateway: bool,
    /// Typing pauses and sending pace of replies.
    pub pacing: Pacing,
}

/// The queues a gateway works with.
pub struct GatewayQueues {
    /// Session commands in.
    pub commands: Arc<dyn Queue>,
    /// Customers' and owners' messages out, to the bot (none: messages are not forwarded).
    pub inbound: Option<Arc<dyn Queue>>,
    /// Replies in, to send from linked numbers (none: nothing is sent).
    pub outbound: Option<Arc<dyn Queue>>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            task_id: crate::ids::new_id("gw"),
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            print_qr: false,
            sole_gateway: false,
            pacing: Pacing::default(),
        }
    }
}

/// Why a slot task stops.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// Keep running.
    Run,
    /// Close, keep the link (shutdown, lease lost).
    Close,
    /// Unlink the number (logout command).
    Logout,
    /// The phone unlinked us; already recorded on the slot.
    Unlinked,
}

struct SlotTask {
    stop: watch::Sender<Stop>,
    connection: Arc<tokio::sync::RwLock<Option<Arc<dyn Connection>>>>,
    handle: JoinHandle<()>,
}

pub struct Gateway {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    transport: Arc<dyn Transport>,
    commands: Arc<dyn Queue>,
    inbound: Option<Arc<dyn Queue>>,
    outbound: Option<Arc<dyn Queue>>,
    config: GatewayConfig,
    slots: Mutex<HashMap<SlotKey, SlotTask>>,
    pacer: Pacer,
    /// Ids of the messages this task sent, so their echoes aren't taken for the owner's.
    sent: Mutex<SentIds>,
}

/// The last few thousand ids we sent (echoes come back within seconds).
#[derive(Default)]
struct SentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl SentIds {
    const KEEP: usize = 4096;
    fn insert(&mut self, id: String) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > Self::KEEP {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// What became of one reply taken from the outbound queue.
#[derive(Debug, PartialEq)]
enum Delivery {
    /// Sent, or rightly not sent (delivered before, the owner took over, slot gone).
    Done,
    /// Try again after the delay (this task doesn't hold the slot, a send failed).
    Retry(Duration),
}

/// Records a dropped connection on its slot (new status, not active, why) and on the
/// connection's overall status.
async fn record_drop(
    store: &dyn Store,
    key: &SlotKey,
    status: SlotStatus,
    why: &str,
) -> Result<(), StoreError> {
    slots::update_slot(
        store,
        key,
        vec![
            ("status", json!(status)),
            ("isActive", json!(false)),
            ("lastError", why.into()),
        ],
        &[],
    )
    .await?;
    slots::refresh_connection_status(store, key).await
}

impl Gateway {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<SecretBox>,
        transport: Arc<dyn Transport>,
        queues: GatewayQueues,
        config: GatewayConfig,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            secrets,
            transport,
            commands: queues.commands,
            inbound: queues.inbound,
            outbound: queues.outbound,
            pacer: Pacer::new(config.pacing),
            config,
            slots: Mutex::default(),
            sent: Mutex::default(),
        })
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub fn task_id(&self) -> &str {
        &self.config.task_id
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    /// Slots this task is running.
    pub fn running(&self) -> Vec<SlotKey> {
        let mut slots = self.slots.lock().expect("lock");
        slots.retain(|_, t| !t.handle.is_finished());
        let mut keys: Vec<_> = slots.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Runs until `shutdown` turns true: commands, lease renewal and takeover. On shutdown
    /// every connection is closed (links kept) and every lease released.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(task = %self.config.task_id, transport = self.transport.kind(), "gateway started");
        if self.config.sole_gateway {
            match slots::wanted_slots(self.store.as_ref()).await {
                Ok(wanted) => {
                    for key in wanted {
                        let _ = slots::release_lease_of_dead_task(self.store.as_ref(), &key).await;
                        let _ = self.start(&key).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not resume the slots of the last run")
                }
            }
        }
        let leases = tokio::spawn(self.clone().maintain_leases(shutdown.clone()));
        let replies = tokio::spawn(self.clone().send_replies(shutdown.clone()));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                received = self.commands.receive(10, Duration::from_secs(1)) => match received {
                    Ok(batch) => {
                        for message in batch {
                            let done = match serde_json::from_str::<SessionCommand>(&message.body) {
                                Ok(command) => self.handle(command).await,
                                Err(err) => {
                                    tracing::warn!(error = %err, "dropping an unreadable session command");
                                    Ok(())
                                }
                            };
                            let _ = match done {
                                Ok(()) => self.commands.ack(&message.receipt).await,
                                Err(delay) => self.commands.retry(&message.receipt, delay).await,
                            };
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "command queue unavailable");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
        let _ = leases.await;
        // Replies in flight finish before the connections close.
        let _ = replies.await;
        self.stop_all().await;
        tracing::info!(task = %self.config.task_id, "gateway stopped");
    }

    /// Handles one command; `Err(delay)` asks for it to be delivered again later.
    pub async fn handle(self: &Arc<Self>, command: SessionCommand) -> Result<(), Duration> {
        let key = command.slot().clone();
        let mine = self
            .slots
            .lock()
            .expect("lock")
            .get(&key)
            .is_some_and(|t| !t.handle.is_finished());
        match command {
            SessionCommand::Start { pair_phone, .. } => {
                if mine {
                    let running = self.slots.lock().expect("lock").remove(&key);
                    match (pair_phone, running) {
                        // Pairing by phone asked of a slot already pairing by QR: restart it
                        // with the phone (a linked slot ignores it: it has credentials).
                        (Some(phone), Some(task)) => {
                            let _ = task.stop.send(Stop::Close);
                            let _ = task.handle.await;
                            return self.start_pairing(&key, Some(phone)).await;
                        }
                        (_, Some(task)) => {
                            self.slots.lock().expect("lock").insert(key, task);
                        }
                        _ => {}
                    }
                    return Ok(());
                }
                self.start_pairing(&key, pair_phone).await
            }
            SessionCommand::Logout { .. } => {
                if mine {
                    let task = self.slots.lock().expect("lock").remove(&key);
                    if let Some(task) = task {
                        let _ = task.stop.send(Stop::Logout);
                        let _ = task.handle.await;
                    }
                    return Ok(());
                }
                match slots::acquire_lease(
                    self.store.as_ref(),
                    &key,
                    &self.config.task_id,
                    self.lease_ms(),
                )
                .await
                {
                    // Another live task holds it: let the command reach that task.
                    Ok(false) => Err(Duration::from_millis(500)),
                    Ok(true) => {
                        let _ = self.transport.forget(&key).await;
                        let _ = slots::mark_logged_out(self.store.as_ref(), &key, None).await;
                        let _ = slots::release_lease(
                            self.store.as_ref(),
                            &key,
                            &self.config.task_id,
                            false,
                        )
                        .await;
                        let _ = slots::refresh_connection_status(self.store.as_ref(), &key).await;
                        Ok(())
                    }
                    Err(_) => Err(Duration::from_secs(2)),
                }
            }
        }
    }

    async fn start(self: &Arc<Self>, key: &SlotKey) -> Result<(), Duration> {
        self.start_pairing(key, None).await
    }

    async fn start_pairing(
        self: &Arc<Self>,
        key: &SlotKey,
        pair_phone: Option<String>,
    ) -> Result<(), Duration> {
        match slots::get_slot(self.store.as_ref(), key).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()), // the connection was deleted
            Err(_) => return Err(Duration::from_secs(2)),
        }
        match slots::acquire_lease(
            self.store.as_ref(),
            key,
            &self.config.task_id,
            self.lease_ms(),
        )
        .await
        {
            Ok(true) => {}
            Ok(false) => return Ok(()), // a live task runs it already
            Err(_) => return Err(Duration::from_secs(2)),
        }
        let (stop, stop_rx) = watch::channel(Stop::Run);
        let connection = Arc::new(tokio::sync::RwLock::new(None));
        let handle = tokio::spawn(self.clone().supervise(
            key.clone(),
            stop_rx,
            connection.clone(),
            pair_phone,
        ));
        self.slots.lock().expect("lock").insert(
            key.clone(),
            SlotTask {
                stop,
                connection,
                handle,
            },
        );
        Ok(())
    }

    /// The open connection of a slot this task runs, if any.
    async fn open_connection(&self, key: &SlotKey) -> Option<Arc<dyn Connection>> {
        let holder = self
            .slots
            .lock()
            .expect("lock")
            .get(key)
            .map(|t| t.connection.clone())?;
        let connection = holder.read().await.clone();
        connection
    }

    /// Sends a text from a running slot (the outbound path).
    pub async fn send_text(
        &self,
        key: &SlotKey,
        to: &str,
        text: &str,
    ) -> Result<String, TransportError> {
        let id = self
            .open_connection(key)
            .await
            .ok_or(TransportError::NotConnected)?
            .send_text(to, text)
            .await?;
        self.sent.lock().expect("lock").insert(id.clone());
        Ok(id)
    }

    /// Takes replies from the outbound queue until shutdown, then waits for the ones in
    /// flight. Replies of one chat come in order (FIFO groups); chats run concurrently.
    async fn send_replies(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(outbound) = self.outbound.clone() else {
            return;
        };
        let mut in_flight = tokio::task::JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let batch = tokio::select! {
                _ = shutdown.changed() => break,
                batch = outbound.receive(10, Duration::from_secs(1)) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(error = %err, "outbound queue unavailable");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for message in batch {
                let (gateway, outbound) = (self.clone(), outbound.clone());
                in_flight.spawn(async move {
                    let outcome = match serde_json::from_str::<OutboundReply>(&message.body) {
                        Ok(reply) => gateway.deliver(&reply).await,
                        Err(err) => {
                            tracing::error!(error = %err, "dropping an unreadable reply");
                            Delivery::Done
                        }
                    };
                    let _ = match outcome {
                        Delivery::Done => outbound.ack(&message.receipt).await,
                        Delivery::Retry(delay) => outbound.retry(&message.receipt, delay).await,
                    };
                });
            }
        }
        while in_flight.join_next().await.is_some() {}
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
    /// wanted (checked and marked in one conditional write just before sending).
    async fn deliver(&self, reply: &OutboundReply) -> Delivery {
        let key = SlotKey {
            store_id: reply.store_id.clone(),
            slot: reply.slot,
        };
        if self.open_connection(&key).await.is_none() {
            // Another task may hold the slot; if none does, the reply ends in the DLQ.
            return Delivery::Retry(Duration::from_secs(2));
        }
        let line = Line::Web { slot: reply.slot };
        let chat = ChatRef {
            store_id: &reply.store_id,
            line: &line,
            chat: &reply.chat,
        };
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        match chat::mark_delivering(self.store.as_ref(), &chat, reply.seq, now_ms).await {
            Ok(true) => {}
            Ok(false) => return Delivery::Done, // delivered before, or the owner has the chat
            Err(err) => {
                tracing::warn!(slot = %key, error = %err, "store unavailable; reply delayed");
                return Delivery::Retry(Duration::from_secs(2));
            }
        }
        let pace_key = key.to_string();
        for chunk in &reply.chunks {
            let pace = self.pacer.reserve(&pace_key);
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            let typing = self.pacer.pacing().typing_delay(chunk);
            if !typing.is_zero() {
                self.show_typing(&key, &reply.chat).await;
                tokio::time::sleep(typing).await;
            }
            if let Err(err) = self.send_text(&key, &reply.chat, chunk).await {
                tracing::warn!(slot = %key, error = %err, "sending a reply failed; it will be retried");
                let _ = chat::unmark_delivering(self.store.as_ref(), &chat, reply.seq).await;
                return Delivery::Retry(Duration::from_secs(3));
            }
        }
        tracing::info!(slot = %key, seq = reply.seq, parts = reply.chunks.len(), "reply sent");
        crate::metrics::count(
            "RepliesSent",
            1.0,
            &[("Service", "gateway"), ("Line", "web")],
        );
        Delivery::Done
    }

    async fn maintain_leases(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = self.config.lease / 3;
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            }
            first = false;
            let running = self.running();
            crate::metrics::gauge(
                "SlotsRunning",
                running.len() as f64,
                &[("Service", "gateway")],
            );
            for key in running {
                match slots::renew_lease(
                    self.store.as_ref(),
                    &key,
                    &self.config.task_id,
                    self.lease_ms(),
                )
                .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(slot = %key, "lease lost to another task; closing the connection");
                        if let Some(task) = self.slots.lock().expect("lock").remove(&key) {
                            let _ = task.stop.send(Stop::Close);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(slot = %key, error = %err, "lease renewal failed; will retry")
                    }
                }
            }
            match slots::orphaned_slots(self.store.as_ref()).await {
                Ok(orphans) => {
                    for key in orphans {
                        tracing::info!(slot = %key, "taking over a slot whose task stopped renewing");
                        let _ = self.start(&key).await;
                    }
                }
                Err(err) => tracing::warn!(error = %err, "could not look for orphaned slots"),
            }
        }
    }

    async fn stop_all(&self) {
        let tasks: Vec<_> = self.slots.lock().expect("lock").drain().collect();
        for (key, task) in tasks {
            let _ = task.stop.send(Stop::Close);
            let _ = task.handle.await;
            let _ =
                slots::release_lease(self.store.as_ref(), &key, &self.config.task_id, true).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .config
            .backoff_base
            .saturating_mul(1 << attempt.min(16))
            .min(self.config.backoff_cap);
        let r = u32::from_le_bytes(crate::ids::random_bytes()) as f64 / u32::MAX as f64;
        ceiling.mul_f64(0.5 + r / 2.0)
    }

    /// One slot's life: connect, follow events, reconnect with backoff, until stopped,
    /// logged out, or the slot is deleted.
    async fn supervise(
        self: Arc<Self>,
        key: SlotKey,
        mut stop: watch::Receiver<Stop>,
        connection_slot: Arc<tokio::sync::RwLock<Option<Arc<dyn Connection>>>>,
        pair_phone: Option<String>,
    ) {
        let store = self.store.as_ref();
        let mut attempt = 0u32;
        loop {
            let credentials = match slots::get_slot(store, &key).await {
                Ok(Some(item)) => slots::credentials(&item, &self.secrets, &key),
                Ok(None) => break, // deleted
                Err(_) => None,
            };
            if slots::update_slot(
                store,
                &key,
                vec![("status", json!(SlotStatus::Connecting))],
                &[],
            )
            .await
            .is_err()
            {
                break;
            }
            let (tx, mut events) = mpsc::channel(64);
            let connection: Arc<dyn Connection> = match self
                .transport
                .open(&key, credentials, pair_phone.as_deref(), tx)
                .await
            {
                Ok(c) => Arc::from(c),
                Err(err) => {
                    let _ = slots::update_slot(
                        store,
                        &key,
                        vec![("lastError", format!("could not connect: {err}").into())],
                        &[],
                    )
                    .await;
                    attempt += 1;
                    if self.wait(&mut stop, self.backoff(attempt)).await != Stop::Run {
                        break;
                    }
                    continue;
                }
            };
            *connection_slot.write().await = Some(connection.clone());
            let outcome = loop {
                let event = tokio::select! {
                    _ = stop.changed() => break *stop.borrow(),
                    event = events.recv() => event,
                };
                let Some(event) = event else { break Stop::Run };
                match self.on_event(&key, event, &mut attempt).await {
                    Ok(None) => {}
                    Ok(Some(next)) => break next,
                    Err(StoreError::ConditionFailed) => break Stop::Logout, // connection deleted
                    Err(err) => {
                        tracing::warn!(slot = %key, error = %err, "could not record a slot event")
                    }
                }
            };
            *connection_slot.write().await = None;
            match outcome {
                Stop::Close => {
                    connection.close().await;
                    return;
                }
                Stop::Unlinked => {
                    connection.close().await;
                    if let Err(err) = self.transport.forget(&key).await {
                        tracing::warn!(slot = %key, error = %err, "could not forget the transport's keys");
                    }
                    break;
                }
                Stop::Logout => {
                    if let Err(err) = connection.logout().await {
                        tracing::warn!(slot = %key, error = %err, "logout failed at WhatsApp; forgetting the link anyway");
                    }
                    let _ = self.transport.forget(&key).await;
                    let _ = slots::mark_logged_out(store, &key, None).await;
                    break;
                }
                Stop::Run => {
                    // Disconnected: back off, then reconnect.
                    connection.close().await;
                    attempt += 1;
                    let delay = self.backoff(attempt);
                    if self.wait(&mut stop, delay).await != Stop::Run {
                        if *stop.borrow() == Stop::Logout {
                            let _ = self.transport.forget(&key).await;
                            let _ = slots::mark_logged_out(store, &key, None).await;
                            break;
                        }
                        return;
                    }
                }
            }
        }
        let _ = slots::release_lease(store, &key, &self.config.task_id, false).await;
        let _ = slots::refresh_connection_status(store, &key).await;
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
            ConnectionEvent::Qr { code, .. } => {
                if self.config.print_qr {
                    if let Ok(text) = qr::terminal(&code) {
                        eprintln!("Scan to link slot {key} (WhatsApp > Linked devices > Link a device):\n{text}");
                    }
                }
                let png = qr::png_data_url(&code).map_err(|e| StoreError::Data(e.to_string()))?;
                slots::update_slot(
                    store,
                    key,
                    vec![
                        ("status", json!(SlotStatus::Qrcode)),
                        ("qrCode", png.into()),
                        ("isActive", json!(false)),
                    ],
                    &[],
                )
                .await?;
            }
            ConnectionEvent::PairingCode { code } => {
                slots::update_slot(
                    store,
                    key,
                    vec![
                        ("status", json!(SlotStatus::Qrcode)),
                        ("pairingCode", code.into()),
                    ],
                    &[],
                )
                .await?;
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
                slots::update_slot(
                    store,
                    key,
                    vec![
                        ("status", json!(SlotStatus::Connected)),
                        ("phone", phone.into()),
                        ("isActive", json!(true)),
                    ],
                    &["qrCode", "pairingCode", "lastError"],
                )
                .await?;
                slots::refresh_connection_status(store, key).await?;
                tracing::info!(slot = %key, "connected");
            }
            ConnectionEvent::Disconnected { reason } => {
                let description = reason.describe();
                tracing::info!(slot = %key, reason = %description, "disconnected");
                match reason {
                    DisconnectReason::LoggedOut { .. } => {
                        slots::mark_logged_out(store, key, Some(&description)).await?;
                        slots::refresh_connection_status(store, key).await?;
                        return Ok(Some(Stop::Unlinked));
                    }
                    DisconnectReason::Replaced => {
                        record_drop(store, key, SlotStatus::Disconnected, &description).await?;
                        return Ok(Some(Stop::Close));
                    }
                    DisconnectReason::Network { .. } if self.transport.reconnects_itself() => {
                        record_drop(store, key, SlotStatus::Connecting, &description).await?;
                    }
                    DisconnectReason::TemporaryBan { .. } | DisconnectReason::Network { .. } => {
                        record_drop(store, key, SlotStatus::Connecting, &description).await?;
                        if let DisconnectReason::TemporaryBan { until, .. } = &reason {
                            // Wait the ban out before the backoff even starts.
                            let until = time::OffsetDateTime::parse(
                                until,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok();
                            if let Some(until) = until {
                                let secs = (until - time::OffsetDateTime::now_utc())
                                    .whole_seconds()
                                    .clamp(0, 86_400);
                                *attempt = (*attempt).max(16);
                                tokio::time::sleep(Duration::from_secs(secs as u64)).await;
                            }
                        }
                        return Ok(Some(Stop::Run));
                    }
                }
            }
            ConnectionEvent::Message(message) => {
                if message.is_group {
                    return Ok(None);
                }
                if message.from_me && self.sent.lock().expect("lock").set.contains(&message.id) {
                    return Ok(None); // the echo of our own reply, not the owner typing
                }
                if let Some(inbound) = &self.inbound {
                    let job = BotJob::Message {
                        store_id: key.store_id.clone(),
                        line: Line::Web { slot: key.slot },
                        message,
                    };
                    self.forward(key, &**inbound, job).await;
                }
            }
        }
        Ok(None)
    }

    /// Queues a chat message for the bot, trying a few times: WhatsApp won't deliver it
    /// again once we've received it.
    async fn forward(&self, key: &SlotKey, inbound: &dyn Queue, job: BotJob) {
        let dedup = match &job {
            BotJob::Message { message, .. } => message.id.clone(),
            _ => crate::ids::new_id("job"),
        };
        let outgoing = Outgoing::new(job.to_json()).in_group(job.group(), dedup);
        for attempt in 1..=5u32 {
            match inbound.send(outgoing.clone()).await {
                Ok(()) => return,
                Err(err) if attempt == 5 => {
                    tracing::error!(slot = %key, error = %err, "could not queue a chat message; it is lost");
                }
                Err(err) => {
                    tracing::warn!(slot = %key, error = %err, attempt, "could not queue a chat message; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
    }
}
