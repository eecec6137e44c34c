//! The simulator transport: WhatsApp without WhatsApp, for the local stack and tests. A
//! slot that opens without credentials shows a QR whose payload is a pairing link on the
//! local stack; opening it (or `platefull simulate pair`) links a simulated phone. Customers
//! and the owner "type" through the dev routes; what the bot sends lands in an outbox.
//!
//! Like WhatsApp Web, a message counts as delivered only once the gateway committed it to
//! the inbound queue ([`Inbound`]): when that fails, the customer's send fails
//! ([`SimError::NotQueued`]) and sending it again with the same id is the redelivery.
//!
//! The local stack keeps the outbox in a file of the data dir as well (one JSON line per
//! message, written before the send returns), so what the simulated customers received
//! outlives the stack even when it is `kill -9`ed, like a real phone's chats; the file is
//! not fsynced (the kernel keeps it across a process kill, not across a power cut).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

use super::events::{ChatMessage, ConnectionEvent, SlotKey};
use super::transport::{Connection, Inbound, Transport, TransportError};

/// One message the simulated phone sent (what a customer would receive).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    pub to: String,
    /// The text, or an image's caption.
    pub text: String,
    pub sent_at: String,
    /// The image, for an image message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<SentImage>,
    /// The message id it was sent with: a second send of one id is the same message, kept
    /// once, as a phone keeps a message once per id.
    #[serde(skip)]
    pub id: String,
    /// The disappearing-messages timer it was sent with (seconds), if any.
    #[serde(skip)]
    pub ephemeral_expiration: Option<u32>,
}

/// An image the simulated phone sent: its type and bytes (base64), as the receiving phone
/// would show it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentImage {
    pub mime_type: String,
    pub base64: String,
}

#[derive(Default)]
struct SimSlot {
    events: Option<mpsc::Sender<ConnectionEvent>>,
    /// Where the open connection commits chat messages.
    inbound: Option<Arc<dyn Inbound>>,
    pairing_code: Option<String>,
    /// A code to "type on the phone" and the phone it links, when pairing by phone number.
    phone_code: Option<(String, String)>,
    phone: Option<String>,
    outbox: Vec<SentMessage>,
    /// Chats shown "typing…", in order (read by tests only).
    #[cfg_attr(not(any(test, feature = "test-hooks")), allow(dead_code))]
    typing: Vec<String>,
    /// Chats whose "typing…" was cleared, in order (read by tests only).
    #[cfg_attr(not(any(test, feature = "test-hooks")), allow(dead_code))]
    paused: Vec<String>,
    /// The phone has no network (tests): a connection opened meanwhile stays connecting,
    /// and nothing can be sent, until it is back.
    offline: bool,
    /// Every send asked of this slot, `(to, id)`, a repeat of an id included (tests).
    #[cfg_attr(not(any(test, feature = "test-hooks")), allow(dead_code))]
    attempts: Vec<(String, String)>,
    /// Sends that succeed before the next one fails (tests), if a failure is planned.
    fail_after: Option<usize>,
    /// When the simulated phone last reported signs of life (a message through it).
    last_alive: Option<std::time::Instant>,
    /// The connection stopped answering without closing (a "zombie"): no keepalive, no
    /// message in or out, until it answers again.
    silent: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimError {
    #[error("this slot is not waiting to be paired: start it first")]
    NotPairing,
    #[error("the pairing code does not match the slot's current QR code")]
    WrongCode,
    #[error("this slot has no linked phone: pair it first")]
    NotConnected,
    #[error("{0}")]
    Invalid(String),
    /// The gateway could not queue the message (WhatsApp would deliver it again).
    #[error("the gateway could not take the message: {0}")]
    NotQueued(String),
}

pub struct Simulator {
    public_url: String,
    slots: Mutex<HashMap<SlotKey, SimSlot>>,
    /// Where every sent message is appended (the local stack's data dir), if anywhere.
    outbox_file: Option<Mutex<std::fs::File>>,
    /// How often a connected, answering phone reports a keepalive (`Alive`), in ms; the
    /// task that sends them starts with the first connection.
    heartbeat_ms: std::sync::atomic::AtomicU64,
    heartbeat_started: std::sync::atomic::AtomicBool,
}

/// The simulated keepalive's default pace: the real transport's report rate.
const HEARTBEAT: std::time::Duration = super::events::ALIVE_EVERY;

/// What a slot waiting to be paired shows: its code, and the link (in the QR) that carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pairing {
    pub link: String,
    pub code: String,
}

/// The link inside a slot's QR: the dev route that pairs it, with its code.
fn pairing_link(public_url: &str, key: &SlotKey, code: &str) -> String {
    format!(
        "{public_url}/dev/simulator/{}/{}/pair?code={code}",
        key.store_id, key.slot
    )
}

/// One line of the outbox file.
#[derive(Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutboxLine {
    store_id: String,
    slot: u8,
    to: String,
    text: String,
    sent_at: String,
    #[serde(default)]
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<SentImage>,
}

impl Simulator {
    /// `public_url` is where the local stack's dev routes are reachable (for QR links).
    pub fn new(public_url: &str) -> Arc<Self> {
        Arc::new(Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            slots: Mutex::default(),
            outbox_file: None,
            heartbeat_ms: (HEARTBEAT.as_millis() as u64).into(),
            heartbeat_started: false.into(),
        })
    }

    /// A simulator whose outbox is also appended to `path`, starting with what the file
    /// already holds (what earlier runs sent).
    pub fn with_outbox_file(
        public_url: &str,
        path: &std::path::Path,
    ) -> std::io::Result<Arc<Self>> {
        let mut slots: HashMap<SlotKey, SimSlot> = HashMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                // A line cut short by a kill is skipped.
                for line in text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<OutboxLine>(l).ok())
                {
                    let key = SlotKey {
                        store_id: line.store_id,
                        slot: line.slot,
                    };
                    slots.entry(key).or_default().outbox.push(SentMessage {
                        to: line.to,
                        text: line.text,
                        sent_at: line.sent_at,
                        image: line.image,
                        id: line.id,
                        ephemeral_expiration: None,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Arc::new(Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            slots: Mutex::new(slots),
            outbox_file: Some(Mutex::new(file)),
            heartbeat_ms: (HEARTBEAT.as_millis() as u64).into(),
            heartbeat_started: false.into(),
        }))
    }

    /// Sets how often connected phones report a keepalive (tests use a fast one).
    pub fn set_heartbeat(&self, every: std::time::Duration) {
        self.heartbeat_ms.store(
            (every.as_millis() as u64).max(1),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Starts the keepalive task once (it ends with the simulator).
    fn start_heartbeat(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.heartbeat_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let every = match weak.upgrade() {
                    Some(sim) => sim.heartbeat_ms.load(Ordering::Relaxed),
                    None => return,
                };
                tokio::time::sleep(std::time::Duration::from_millis(every)).await;
                let Some(sim) = weak.upgrade() else { return };
                let mut slots = sim.slots.lock().expect("lock");
                for slot in slots.values_mut() {
                    if slot.phone.is_none() || slot.offline || slot.silent {
                        continue;
                    }
                    if let Some(events) = &slot.events {
                        // A full channel skips one keepalive; the next one comes.
                        if events.try_send(ConnectionEvent::Alive).is_ok() {
                            slot.last_alive = Some(std::time::Instant::now());
                        }
                    }
                }
            }
        });
    }

    /// The connection stops answering without closing (`true`: no keepalive, nothing in or
    /// out; a connection opened meanwhile stays connecting), or answers again (`false`:
    /// the open connection reports `Connected`). The gateway should find the silence and
    /// reconnect.
    pub async fn silence(&self, key: &SlotKey, silent: bool) -> Result<(), SimError> {
        let connected = {
            let mut slots = self.slots.lock().expect("lock");
            let slot = slots.get_mut(key).ok_or(SimError::NotConnected)?;
            if slot.phone.is_none() {
                return Err(SimError::NotConnected);
            }
            let was = std::mem::replace(&mut slot.silent, silent);
            match (&slot.events, &slot.phone) {
                (Some(events), Some(phone)) if was && !silent => {
                    Some((events.clone(), phone.clone()))
                }
                _ => None,
            }
        };
        if let Some((events, phone)) = connected {
            let _ = events.send(ConnectionEvent::Connected { phone }).await;
        }
        Ok(())
    }

    /// The code a slot's QR shows and the link it encodes, while the slot waits to be paired.
    pub fn pairing(&self, key: &SlotKey) -> Option<Pairing> {
        let slots = self.slots.lock().expect("lock");
        let code = slots.get(key)?.pairing_code.clone()?;
        Some(Pairing {
            link: pairing_link(&self.public_url, key, &code),
            code,
        })
    }

    /// Links a simulated phone to a slot that is showing a QR code. `code` (from the QR link)
    /// is checked when given; `None` is for in-process callers (tests, benches): the HTTP
    /// route (`http::simulator`) always requires one. Returns the phone number.
    pub async fn pair(
        &self,
        key: &SlotKey,
        code: Option<&str>,
        phone: Option<&str>,
    ) -> Result<String, SimError> {
        let phone = match phone {
            Some(p) if p.len() >= 8 && p.len() <= 15 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.to_owned()
            }
            Some(_) => {
                return Err(SimError::Invalid(
                    "phone must be 8 to 15 digits, e.g. 5511999990000".into(),
                ))
            }
            None => format!(
                "55119{:08}",
                u32::from_le_bytes(crate::ids::random_bytes()) % 100_000_000
            ),
        };
        let (events, phone) = {
            let mut slots = self.slots.lock().expect("lock");
            let slot = slots.get_mut(key).ok_or(SimError::NotPairing)?;
            let expected = slot.pairing_code.as_deref().ok_or(SimError::NotPairing)?;
            let by_phone = slot
                .phone_code
                .as_ref()
                .filter(|(c, _)| code == Some(c.as_str()))
                .map(|(_, p)| p.clone());
            if code.is_some_and(|c| c != expected) && by_phone.is_none() {
                return Err(SimError::WrongCode);
            }
            let phone = by_phone.unwrap_or(phone);
            slot.pairing_code = None;
            slot.phone_code = None;
            slot.phone = Some(phone.clone());
            (slot.events.clone().ok_or(SimError::NotPairing)?, phone)
        };
        let _ = events
            .send(ConnectionEvent::Paired {
                phone: phone.clone(),
                credentials: phone.clone().into_bytes(),
            })
            .await;
        let _ = events
            .send(ConnectionEvent::Connected {
                phone: phone.clone(),
            })
            .await;
        Ok(phone)
    }

    /// Checks a chat and text as WhatsApp would accept them, as a message of ours.
    fn message(
        chat: &str,
        text: &str,
        from_me: bool,
        id: Option<&str>,
    ) -> Result<ChatMessage, SimError> {
        if chat.is_empty() || !chat.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SimError::Invalid(
                "the chat must be a phone number in digits, e.g. 5511999990000".into(),
            ));
        }
        if text.trim().is_empty() || text.chars().count() > 4096 {
            return Err(SimError::Invalid(
                "text must have 1 to 4096 characters".into(),
            ));
        }
        let id = id
            .map(str::to_owned)
            .unwrap_or_else(|| format!("SIM{}", crate::ids::new_id("m").to_uppercase()));
        Ok(ChatMessage {
            id,
            chat: chat.to_owned(),
            from_me,
            text: text.to_owned(),
            timestamp: time::OffsetDateTime::now_utc().unix_timestamp(),
            is_group: false,
            ephemeral_expiration: None,
            media: None,
            name: None,
            alias: None,
            received_ms: None,
        })
    }

    /// Hands a batch to the slot's open connection and waits for the gateway's commit.
    async fn commit(&self, key: &SlotKey, batch: Vec<ChatMessage>) -> Result<(), SimError> {
        let inbound = self
            .slots
            .lock()
            .expect("lock")
            .get(key)
            .filter(|s| s.phone.is_some() && s.events.is_some() && !s.silent)
            .and_then(|s| s.inbound.clone())
            .ok_or(SimError::NotConnected)?;
        inbound
            .commit(batch)
            .await
            .map_err(|e| SimError::NotQueued(e.to_string()))
    }

    async fn deliver(
        &self,
        key: &SlotKey,
        chat: &str,
        text: &str,
        from_me: bool,
        id: Option<&str>,
    ) -> Result<String, SimError> {
        self.deliver_named(key, chat, None, text, from_me, id).await
    }

    async fn deliver_named(
        &self,
        key: &SlotKey,
        chat: &str,
        name: Option<&str>,
        text: &str,
        from_me: bool,
        id: Option<&str>,
    ) -> Result<String, SimError> {
        let mut message = Self::message(chat, text, from_me, id)?;
        message.name = name.map(str::to_owned);
        let id = message.id.clone();
        self.commit(key, vec![message]).await?;
        self.report_alive(key);
        Ok(id)
    }

    /// A message went through the slot's connection: it is alive, reported as the real
    /// transport does (at most once per [`ALIVE_EVERY`](super::events::ALIVE_EVERY)), so the
    /// slot's `lastSeenAt` advances on the local stack too.
    fn report_alive(&self, key: &SlotKey) {
        let mut slots = self.slots.lock().expect("lock");
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        let due = slot
            .last_alive
            .is_none_or(|at| at.elapsed() >= super::events::ALIVE_EVERY);
        if let (true, Some(events)) = (due, slot.events.as_ref()) {
            // Best effort, never awaited under the lock: a full channel skips one report.
            if events.try_send(ConnectionEvent::Alive).is_ok() {
                slot.last_alive = Some(std::time::Instant::now());
            }
        }
    }

    /// Customers' messages arriving as one batch (as after a reconnect), `(chat, text, id)`
    /// each: committed all together or not at all.
    #[cfg(any(test, feature = "test-hooks"))]
    pub async fn customer_batch(
        &self,
        key: &SlotKey,
        batch: &[(&str, &str, &str)],
    ) -> Result<(), SimError> {
        let batch = batch
            .iter()
            .map(|(chat, text, id)| Self::message(chat, text, false, Some(id)))
            .collect::<Result<Vec<_>, _>>()?;
        self.commit(key, batch).await
    }

    /// A customer writes to the slot's number. Sending the same `id` again is a redelivery.
    pub async fn customer_message(
        &self,
        key: &SlotKey,
        from: &str,
        text: &str,
        id: Option<&str>,
    ) -> Result<String, SimError> {
        self.deliver(key, from, text, false, id).await
    }

    /// A customer whose WhatsApp shows the name `name` (their push name) writes to the
    /// slot's number, as [`Self::customer_message`].
    pub async fn customer_message_named(
        &self,
        key: &SlotKey,
        from: &str,
        name: Option<&str>,
        text: &str,
        id: Option<&str>,
    ) -> Result<String, SimError> {
        self.deliver_named(key, from, name, text, false, id).await
    }

    /// A customer sends media (a voice note, picture or pin) to the slot's number, as the
    /// real transport reports it: its part, with the bytes inline (small clips only).
    pub async fn customer_media(
        &self,
        key: &SlotKey,
        from: &str,
        media: crate::media::MediaPart,
        id: Option<&str>,
    ) -> Result<String, SimError> {
        let mut message = Self::message(from, "-", false, id)?;
        message.text = String::new();
        message.media = Some(Box::new(media));
        let id = message.id.clone();
        self.commit(key, vec![message]).await?;
        self.report_alive(key);
        Ok(id)
    }

    /// The owner types on the linked phone, in the chat with `to`.
    pub async fn owner_message(
        &self,
        key: &SlotKey,
        to: &str,
        text: &str,
    ) -> Result<String, SimError> {
        self.deliver(key, to, text, true, None).await
    }

    /// What was sent to `chat` from this slot, oldest first.
    pub fn outbox(&self, key: &SlotKey, chat: &str) -> Vec<SentMessage> {
        let slots = self.slots.lock().expect("lock");
        slots
            .get(key)
            .map(|s| s.outbox.iter().filter(|m| m.to == chat).cloned().collect())
            .unwrap_or_default()
    }

    /// How many times the slot showed "typing…" in `chat`.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn typing_shown(&self, key: &SlotKey, chat: &str) -> usize {
        let slots = self.slots.lock().expect("lock");
        slots
            .get(key)
            .map(|s| s.typing.iter().filter(|c| *c == chat).count())
            .unwrap_or_default()
    }

    /// The owner unlinks the device from the phone's settings.
    pub async fn unlink_from_phone(&self, key: &SlotKey) -> Result<(), SimError> {
        let events = {
            let mut slots = self.slots.lock().expect("lock");
            let slot = slots.get_mut(key).ok_or(SimError::NotConnected)?;
            // Unlinked already (its connection may not have closed yet): nothing to do.
            slot.phone.take().ok_or(SimError::NotConnected)?;
            slot.events.clone().ok_or(SimError::NotConnected)?
        };
        let reason = super::events::DisconnectReason::LoggedOut {
            detail: "unlinked from the phone".into(),
        };
        let _ = events.send(ConnectionEvent::Disconnected { reason }).await;
        Ok(())
    }

    /// Drops a slot's network connection (the gateway should reconnect).
    /// Until the gateway reconnects, nothing can be delivered to the slot.
    #[cfg(any(test, feature = "test-hooks"))]
    pub async fn drop_connection(&self, key: &SlotKey) -> Result<(), SimError> {
        let events = self
            .slots
            .lock()
            .expect("lock")
            .get_mut(key)
            .and_then(|s| s.events.take())
            .ok_or(SimError::NotConnected)?;
        let reason = super::events::DisconnectReason::Network {
            detail: "simulated network drop".into(),
        };
        let _ = events.send(ConnectionEvent::Disconnected { reason }).await;
        Ok(())
    }

    /// The phone loses (`true`) or gets back its network (tests). Offline, a connection
    /// the gateway opens stays connecting (no `Connected`) and sends fail; back online, the
    /// open connection reports `Connected`.
    #[cfg(any(test, feature = "test-hooks"))]
    pub async fn set_offline(&self, key: &SlotKey, offline: bool) {
        let connected = {
            let mut slots = self.slots.lock().expect("lock");
            let slot = slots.entry(key.clone()).or_default();
            let was = std::mem::replace(&mut slot.offline, offline);
            match (&slot.events, &slot.phone) {
                (Some(events), Some(phone)) if was && !offline => {
                    Some((events.clone(), phone.clone()))
                }
                _ => None,
            }
        };
        if let Some((events, phone)) = connected {
            let _ = events.send(ConnectionEvent::Connected { phone }).await;
        }
    }

    /// After `successes` more sends from this slot, the next one fails (once; tests).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn fail_send_after(&self, key: &SlotKey, successes: usize) {
        self.slots
            .lock()
            .expect("lock")
            .entry(key.clone())
            .or_default()
            .fail_after = Some(successes);
    }

    /// The ids of every send to `chat` asked of this slot, in order, repeats included.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn send_attempts(&self, key: &SlotKey, chat: &str) -> Vec<String> {
        let slots = self.slots.lock().expect("lock");
        slots
            .get(key)
            .map(|s| {
                s.attempts
                    .iter()
                    .filter(|(to, _)| to == chat)
                    .map(|(_, id)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many times the slot cleared "typing…" in `chat`.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn paused_shown(&self, key: &SlotKey, chat: &str) -> usize {
        let slots = self.slots.lock().expect("lock");
        slots
            .get(key)
            .map(|s| s.paused.iter().filter(|c| *c == chat).count())
            .unwrap_or_default()
    }

    /// Slots with an open simulated connection.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn open_connections(&self) -> usize {
        self.slots
            .lock()
            .expect("lock")
            .values()
            .filter(|s| s.events.is_some())
            .count()
    }
}

/// The simulator as a transport (it needs its `Arc` to hand out connections).
pub struct SimulatorTransport(pub Arc<Simulator>);

#[async_trait]
impl Transport for SimulatorTransport {
    fn kind(&self) -> &'static str {
        "simulator"
    }

    async fn open(
        &self,
        key: &SlotKey,
        _fence: &crate::whatsapp::slots::Fence,
        credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
        inbound: Arc<dyn Inbound>,
    ) -> Result<Box<dyn Connection>, TransportError> {
        let phone = credentials
            .and_then(|c| String::from_utf8(c).ok())
            .filter(|p| !p.is_empty());
        let mut code_event = None;
        let first = {
            let mut slots = self.0.slots.lock().expect("lock");
            let slot = slots.entry(key.clone()).or_default();
            slot.events = Some(events.clone());
            slot.inbound = Some(inbound);
            slot.phone = phone.clone();
            match phone {
                Some(_) if slot.offline || slot.silent => {
                    // No network: the connection stays connecting until it is back.
                    slot.pairing_code = None;
                    return Ok(Box::new(SimConnection {
                        sim: self.0.clone(),
                        key: key.clone(),
                    }));
                }
                Some(phone) => {
                    slot.pairing_code = None;
                    ConnectionEvent::Connected { phone }
                }
                None => {
                    let code = crate::ids::new_id("pair");
                    slot.pairing_code = Some(code.clone());
                    slot.phone_code = pair_phone.map(|p| {
                        // WhatsApp's codes are 8 characters, shown as XXXX-XXXX.
                        let raw = crate::ids::new_id("c").to_uppercase();
                        let digits: String = raw.chars().rev().take(8).collect();
                        let code = format!("{}-{}", &digits[..4], &digits[4..]);
                        code_event = Some(ConnectionEvent::PairingCode { code: code.clone() });
                        (code, p.to_owned())
                    });
                    ConnectionEvent::Qr {
                        code: pairing_link(&self.0.public_url, key, &code),
                        expires_in_secs: 60,
                    }
                }
            }
        };
        self.0.start_heartbeat();
        for event in std::iter::once(first).chain(code_event) {
            events
                .send(event)
                .await
                .map_err(|_| TransportError::Failed("event channel closed".into()))?;
        }
        Ok(Box::new(SimConnection {
            sim: self.0.clone(),
            key: key.clone(),
        }))
    }
}

struct SimConnection {
    sim: Arc<Simulator>,
    key: SlotKey,
}

impl SimConnection {
    /// Sends one message (a text, or an image with its caption): once per id, into the
    /// outbox (and its file).
    fn record(
        &self,
        to: &str,
        text: &str,
        image: Option<SentImage>,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        let mut slots = self.sim.slots.lock().expect("lock");
        let slot = self.online(&mut slots)?;
        slot.attempts.push((to.to_owned(), id.to_owned()));
        match slot.fail_after {
            Some(0) => {
                slot.fail_after = None;
                return Err(TransportError::Failed("simulated send failure".into()));
            }
            Some(n) => slot.fail_after = Some(n - 1),
            None => {}
        }
        if slot.outbox.iter().any(|m| m.id == id && m.to == to) {
            return Ok(id.to_owned()); // sent before: the customer has it once
        }
        let sent = SentMessage {
            to: to.to_owned(),
            text: text.to_owned(),
            sent_at: crate::ids::now_rfc3339(),
            image,
            id: id.to_owned(),
            ephemeral_expiration,
        };
        if let Some(file) = &self.sim.outbox_file {
            use std::io::Write;
            let line = OutboxLine {
                store_id: self.key.store_id.clone(),
                slot: self.key.slot,
                to: sent.to.clone(),
                text: sent.text.clone(),
                sent_at: sent.sent_at.clone(),
                id: sent.id.clone(),
                image: sent.image.clone(),
            };
            let mut bytes =
                serde_json::to_vec(&line).map_err(|e| TransportError::Failed(e.to_string()))?;
            bytes.push(b'\n');
            file.lock()
                .expect("lock")
                .write_all(&bytes)
                .map_err(|e| TransportError::Failed(e.to_string()))?;
        }
        slot.outbox.push(sent);
        Ok(id.to_owned())
    }

    /// The slot, if its phone is linked, this connection open and the phone online.
    fn online<'a>(
        &self,
        slots: &'a mut HashMap<SlotKey, SimSlot>,
    ) -> Result<&'a mut SimSlot, TransportError> {
        slots
            .get_mut(&self.key)
            .filter(|s| s.phone.is_some() && s.events.is_some() && !s.offline && !s.silent)
            .ok_or(TransportError::NotConnected)
    }
}

#[async_trait]
impl Connection for SimConnection {
    fn is_connected(&self) -> bool {
        self.online(&mut self.sim.slots.lock().expect("lock"))
            .is_ok()
    }

    async fn typing(&self, to: &str) -> Result<(), TransportError> {
        let mut slots = self.sim.slots.lock().expect("lock");
        self.online(&mut slots)?.typing.push(to.to_owned());
        Ok(())
    }

    async fn paused(&self, to: &str) -> Result<(), TransportError> {
        let mut slots = self.sim.slots.lock().expect("lock");
        self.online(&mut slots)?.paused.push(to.to_owned());
        Ok(())
    }

    async fn send_text(&self, to: &str, text: &str, id: &str) -> Result<String, TransportError> {
        self.send_text_expiring(to, text, id, None).await
    }

    async fn send_text_expiring(
        &self,
        to: &str,
        text: &str,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        self.record(to, text, None, id, ephemeral_expiration)
    }

    async fn send_image(
        &self,
        to: &str,
        png: &[u8],
        caption: &str,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        use base64::Engine;
        let image = SentImage {
            mime_type: "image/png".into(),
            base64: base64::engine::general_purpose::STANDARD.encode(png),
        };
        self.record(to, caption, Some(image), id, ephemeral_expiration)
    }

    async fn logout(&self) -> Result<(), TransportError> {
        let mut slots = self.sim.slots.lock().expect("lock");
        if let Some(slot) = slots.get_mut(&self.key) {
            slot.phone = None;
            slot.events = None;
            slot.inbound = None;
            slot.pairing_code = None;
        }
        Ok(())
    }

    async fn close(&self) {
        if let Some(slot) = self.sim.slots.lock().expect("lock").get_mut(&self.key) {
            slot.events = None;
            slot.inbound = None;
        }
    }
}
