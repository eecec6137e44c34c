//! The watcher of one whatsapp-rust client: the single task that turns what the client does
//! into our [`ConnectionEvent`]s, from three sources, because its events alone don't tell
//! the truth (see [`super::lifecycle`] for the library's behaviour this relies on):
//!
//! - the client's events, translated by [`event_to_ours`], in order;
//! - the client's state, read every `tick`: `is_connected() && is_logged_in()` going false
//!   without a `Disconnected` event is a silent drop (the keepalive's dead-socket reconnect,
//!   a failed reconnect attempt), reported as a network drop; data received since the last
//!   report (`stats().last_data_received_ms`: any frame, keepalive pongs included) is
//!   reported as [`ConnectionEvent::Alive`] at most once per `alive_every`;
//! - the run handle (`BotHandle`, a future that resolves when `Client::run` returns): once
//!   the run loop has ended, the events still queued are forwarded and the watcher returns,
//!   dropping its sender, so the gateway's channel closes and the gateway reopens the slot
//!   with its own backoff. A final reason the library announced (replaced, refused, QR
//!   expired, logged out) reaches the gateway before that.
//!
//! It also acts for the client where the library leaves it to us: `PairingCodeRefresh`
//! (the code on screen is void) asks for a new code, at most `max_code_refreshes` times per
//! connection; after that pairing has expired (the connection is given up).
//!
//! The same code watches the scripted client of the tests ([`super::scripted`]); only
//! [`LiveClient`] differs. Cost per connection: one task and one timer tick a second
//! (atomic reads), one slot write a minute while connected.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::Instant;
use whatsapp_rust::types::events::Event;

use super::lifecycle::{event_to_ours, network};
use crate::whatsapp::events::{ConnectionEvent, DisconnectReason};

/// What the watcher reads of (and asks of) a client.
pub trait LiveClient: Send + Sync + 'static {
    /// Connected and logged in: `Client::is_connected() && Client::is_logged_in()`.
    fn online(&self) -> bool;
    /// When the client last received data, epoch ms (`Client::stats()`), 0 if never.
    fn last_received_ms(&self) -> u64;
    /// The linked number (`Client::pn()`), once paired.
    fn own_phone(&self) -> Option<String>;
    /// Asks WhatsApp for a new pairing code (`Client::pair_with_code`) without waiting: the
    /// code comes back as a `PairingCode` event, a refusal as `PairingCodeError`.
    fn request_pairing_code(&self);
}

/// The watcher's pace.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How often the client's state is read.
    pub tick: Duration,
    /// At most one `Alive` report per this.
    pub alive_every: Duration,
    /// New pairing codes asked for per connection before pairing counts as expired.
    pub max_code_refreshes: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            alive_every: crate::whatsapp::events::ALIVE_EVERY,
            max_code_refreshes: 3,
        }
    }
}

/// Shown when the client went offline without telling (see the module doc).
pub const SILENT_DROP: &str = "sem resposta do WhatsApp, o cliente reconecta sozinho";

/// Watches `client` until its run ends (`run` resolves); forwards to `out` in order.
pub async fn watch(
    client: Arc<dyn LiveClient>,
    mut events: mpsc::UnboundedReceiver<Arc<Event>>,
    run: impl Future<Output = ()>,
    out: mpsc::Sender<ConnectionEvent>,
    pace: Pace,
) {
    let mut state = Watched {
        client,
        out,
        pace,
        online: false,
        seen_ms: 0,
        alive_at: Instant::now(),
        refreshes: 0,
    };
    let mut ticks = tokio::time::interval(pace.tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(run);
    let mut events_open = true;
    loop {
        tokio::select! {
            biased;
            event = events.recv(), if events_open => match event {
                Some(event) => state.on_event(&event).await,
                None => events_open = false,
            },
            () = &mut run => break,
            _ = ticks.tick() => state.probe().await,
        }
    }
    // The run loop has ended: what the client said last still goes out, then the channel
    // closes.
    while let Ok(event) = events.try_recv() {
        state.on_event(&event).await;
    }
}

struct Watched {
    client: Arc<dyn LiveClient>,
    out: mpsc::Sender<ConnectionEvent>,
    pace: Pace,
    /// What we last reported: connected (true) or not.
    online: bool,
    /// `last_received_ms` at the last `Alive` (or connect).
    seen_ms: u64,
    alive_at: Instant,
    refreshes: u32,
}

impl Watched {
    async fn on_event(&mut self, event: &Event) {
        if let Event::PairingCodeRefresh(_) = event {
            self.refreshes += 1;
            if self.refreshes > self.pace.max_code_refreshes {
                let reason = DisconnectReason::PairingExpired;
                return self.send(ConnectionEvent::Disconnected { reason }).await;
            }
            self.client.request_pairing_code();
            return self.send(ConnectionEvent::PairingCodeRetired).await;
        }
        let phone = self.client.own_phone();
        for ours in event_to_ours(event, phone.as_deref(), OffsetDateTime::now_utc()) {
            match &ours {
                ConnectionEvent::Connected { .. } => {
                    self.online = true;
                    self.seen_ms = self.client.last_received_ms();
                    self.alive_at = Instant::now();
                }
                ConnectionEvent::Disconnected { .. } => self.online = false,
                _ => {}
            }
            self.send(ours).await;
        }
    }

    /// Reads the client's state: a silent drop, or a sign of life to report.
    async fn probe(&mut self) {
        if !self.online {
            return;
        }
        if !self.client.online() {
            self.online = false;
            let reason = network(SILENT_DROP.into());
            return self.send(ConnectionEvent::Disconnected { reason }).await;
        }
        let received = self.client.last_received_ms();
        if received > self.seen_ms && self.alive_at.elapsed() >= self.pace.alive_every {
            self.seen_ms = received;
            self.alive_at = Instant::now();
            self.send(ConnectionEvent::Alive).await;
        }
    }

    /// Forwards one event; a gateway that stopped listening (it is closing this
    /// connection) just misses it: the watcher still waits for the run to end, so that
    /// the client is never dropped (aborted) before it flushed.
    async fn send(&self, event: ConnectionEvent) {
        let _ = self.out.send(event).await;
    }
}
