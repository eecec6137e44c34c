//! The gateway: the long-lived process (a Fargate task in AWS, a background task of
//! `platefull dev` locally) that holds the WhatsApp connections, one supervised task per
//! slot. It takes session commands from the command queue, writes every state change to
//! the slot's record (status, QR, phone, last error), keeps the slot's credentials sealed
//! in the store, publishes chat messages to the inbound queue, and holds a lease per slot so
//! that no two gateway tasks ever connect the same number.
//!
//! Reconnects use capped exponential backoff with jitter ([`crate::backoff`]), and a
//! temporary ban is waited out (the wait is cancellable: logout and shutdown act at once, a
//! `start` ends it): a flapping network never turns into a reconnect storm. A final ending
//! (replaced, pairing expired, refused, unlinked) stops the slot and releases its lease as
//! unwanted, so no other task takes it over until the owner starts it again.
//!
//! Replies come from the outbound queue: each is checked and marked in the store right
//! before it goes out (not delivered yet, the owner hasn't taken the chat over), then sent
//! with a typing pause proportional to its length and at a paced rate per number. On
//! shutdown no new replies are taken and the ones in flight finish before connections close.
//!
//! A panic in one slot's work stops that slot only (the gateway and `platefull dev` build
//! with unwinding, [`crate::panics`]): a slot's task runs under a supervisor that logs the
//! panic, records it on the slot (`lastError`) and starts the slot again with backoff; a
//! panic while delivering a slot's reply restarts that slot's connection the same way; a
//! panic while committing its chat messages refuses the batch (WhatsApp delivers it again).
//!
//! One file per job: [`commands`] (the command loop: start, logout), [`supervise`] (one
//! slot's connection: connect, follow events, reconnect; its panic supervisor),
//! [`inbound`] (chat messages to the inbound queue, acknowledged only once queued),
//! [`replies`] (reply delivery), [`leases`] (renewal, takeover, release), [`recent_ids`]
//! (the echo and redelivery filters).

mod commands;
pub(crate) mod inbound;
mod incidents;
mod leases;
mod recent_ids;
mod replies;
mod supervise;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::events::SlotKey;
use super::transport::{Connection, Transport};
use crate::bot::reply::{Pacer, Pacing};
use crate::crypto::SecretBox;
use crate::queue::Queue;
use crate::store::Store;
use inbound::InboundGate;

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
    /// How long a reply waits for its slot's connection while the slot reconnects
    /// (`PLATEFULL_REPLY_WAIT_SECS`), before it goes back to the queue.
    pub reply_wait: Duration,
    /// The outbound queue's visibility timeout: a reply held longer (waiting for the slot)
    /// has its visibility renewed every third of it. The template's and the local stack's
    /// queues have at least this (30 s, 60 s).
    pub outbound_visibility: Duration,
    /// A connected slot that reports nothing (no event, no keepalive) this long is taken
    /// for dropped: its incident opens and it is reconnected (`PLATEFULL_SILENT_SECS`).
    pub silent_after: Duration,
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
            reply_wait: Duration::from_secs(180),
            outbound_visibility: Duration::from_secs(30),
            silent_after: Duration::from_secs(180),
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
    /// Close the connection and open it again after the reconnect backoff (work done for
    /// the slot outside its task panicked; recorded on the slot).
    Restart,
}

/// Where a slot task publishes its open connection (none while it connects or waits).
type ConnectionSlot = Arc<tokio::sync::RwLock<Option<Arc<dyn Connection>>>>;

struct SlotTask {
    stop: watch::Sender<Stop>,
    connection: ConnectionSlot,
    phase: Arc<Phase>,
    handle: JoinHandle<()>,
}

/// What a slot task is doing, as a `start` command needs to know: following a connection
/// (`start` does nothing), waiting (a backoff or a temporary ban: `start` ends the wait at
/// once) or ending for good (`start` waits for the end, then starts the slot anew).
#[derive(Debug, Default)]
struct Phase(std::sync::atomic::AtomicU8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum TaskPhase {
    Running = 0,
    Waiting = 1,
    Ending = 2,
}

impl Phase {
    fn set(&self, phase: TaskPhase) {
        self.0
            .store(phase as u8, std::sync::atomic::Ordering::SeqCst);
    }

    fn get(&self) -> TaskPhase {
        match self.0.load(std::sync::atomic::Ordering::SeqCst) {
            1 => TaskPhase::Waiting,
            2 => TaskPhase::Ending,
            _ => TaskPhase::Running,
        }
    }
}

pub struct Gateway {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
    transport: Arc<dyn Transport>,
    commands: Arc<dyn Queue>,
    outbound: Option<Arc<dyn Queue>>,
    config: GatewayConfig,
    slots: Mutex<HashMap<SlotKey, SlotTask>>,
    pacer: Pacer,
    /// The inbound queue and the echo and redelivery filters, shared by every slot.
    gate: Arc<InboundGate>,
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
            outbound: queues.outbound,
            pacer: Pacer::new(config.pacing),
            config,
            slots: Mutex::default(),
            gate: InboundGate::new(queues.inbound),
        })
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub fn task_id(&self) -> &str {
        &self.config.task_id
    }

    /// Slots this task is running.
    pub fn running(&self) -> Vec<SlotKey> {
        let mut slots = self.slots.lock().expect("lock");
        slots.retain(|_, t| !t.handle.is_finished());
        let mut keys: Vec<_> = slots.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Runs until `shutdown` turns true: commands, lease renewal and takeover, replies. On
    /// shutdown every connection is closed (links kept) and every lease released.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        tracing::info!(task = %self.config.task_id, transport = self.transport.kind(), "gateway started");
        if !crate::panics::UNWINDS {
            tracing::error!("built with panic = \"abort\": a panic in one slot stops every slot; build the gateway with `--profile server`");
        }
        if self.config.sole_gateway {
            self.resume_last_run().await;
        }
        let leases = tokio::spawn(self.clone().maintain_leases(shutdown.clone()));
        let replies = tokio::spawn(self.clone().send_replies(shutdown.clone()));
        self.clone().take_commands(shutdown).await;
        let _ = leases.await;
        // Replies in flight finish before the connections close.
        let _ = replies.await;
        self.stop_all().await;
        tracing::info!(task = %self.config.task_id, "gateway stopped");
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
}
