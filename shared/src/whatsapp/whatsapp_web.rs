//! The real WhatsApp transport: a linked device ("WhatsApp Web") driven by the whatsapp-rust
//! client, its keys kept in our store through [`StoreBackend`]. This is the only module
//! that sees whatsapp-rust's events and messages: small pure functions below turn each into
//! our [`ConnectionEvent`]s, so the rest of Platefull never depends on the protocol crate.
//!
//! The client reconnects on its own after routine drops (and must: the server restarts the
//! stream right after pairing), so a `Disconnected { Network }` from this transport reports
//! a drop the client is already recovering from.
//!
//! Chat messages are at-least-once: the client's inbound durability hook
//! ([`DurableInbound`]) hands each decrypted batch to the gateway's [`Inbound`] and returns
//! `Ok` only once every message of it is in the inbound queue; only then does the client
//! acknowledge the batch to WhatsApp. Until then the batch waits, sealed, in the device's
//! pending-inbound records (`pending#…`), and WhatsApp delivers it again on the next
//! connect: a gateway killed in between loses nothing. The message id we pass on is
//! WhatsApp's stanza id, the same on every redelivery, so the gateway's filter and the
//! bot's once-only records (`SEEN#…`) make a redelivered batch one record and one reply.
//! The client then also raises its `Messages` event for the committed batch
//! (`hook_committed`): those messages are not forwarded a second time; only a batch the
//! hook never saw (acknowledged on the client's own path) is forwarded from the event.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{mpsc, Mutex};
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::types::events::{Event, EventHandler, InboundMessage};
use whatsapp_rust::types::message::{MessageInfo, MessageSource};
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore::store::traits::Backend;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, InboundDurabilityHook, Jid, Server};

use super::events::{ChatMessage, ConnectionEvent, DisconnectReason, SlotKey};
use super::transport::{Connection, Inbound, InboundError, Transport, TransportError};
use super::wa_store::{wipe, StoreBackend};
use crate::crypto::SecretBox;
use crate::store::Store;

/// Opens WhatsApp Web connections whose device state lives in `store`, sealed by `secrets`.
pub struct WhatsappWeb {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
}

impl WhatsappWeb {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<SecretBox>) -> Self {
        Self { store, secrets }
    }
}

#[async_trait]
impl Transport for WhatsappWeb {
    fn kind(&self) -> &'static str {
        "whatsapp-web"
    }

    fn reconnects_itself(&self) -> bool {
        true
    }

    async fn forget(&self, slot: &SlotKey) -> Result<(), TransportError> {
        wipe(self.store.as_ref(), slot)
            .await
            .map(|_| ())
            .map_err(|e| TransportError::Failed(format!("could not wipe the device keys: {e}")))
    }

    /// The stored device decides between reconnecting and pairing: `credentials` are not
    /// needed (the backend persists the link), and `Paired` carries none.
    async fn open(
        &self,
        slot: &SlotKey,
        _credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
        inbound: Arc<dyn Inbound>,
    ) -> Result<Box<dyn Connection>, TransportError> {
        let backend: Arc<dyn Backend> = Arc::new(StoreBackend::new(
            self.store.clone(),
            self.secrets.clone(),
            slot,
        ));
        // The client dispatches events synchronously; an unbounded hop keeps it from ever
        // blocking on the gateway while preserving order.
        let (tx, mut rx) = mpsc::unbounded_channel::<ConnectionEvent>();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if events.send(event).await.is_err() {
                    break;
                }
            }
        });
        let client_slot = Arc::new(OnceLock::new());
        let mut builder = Bot::builder()
            .with_backend_arc(backend)
            .skip_history_sync()
            .with_inbound_durability_hook(DurableInbound { inbound })
            .with_event_handler(Forwarder {
                tx,
                client: client_slot.clone(),
            });
        if let Some(phone) = pair_phone {
            // Runs beside the QR: whichever the owner uses first links the device.
            builder = builder.with_pair_code(whatsapp_rust::pair_code::PairCodeOptions {
                phone_number: phone.to_owned(),
                ..Default::default()
            });
        }
        let bot = builder
            .build()
            .await
            .map_err(|e| TransportError::Failed(format!("whatsapp client: {e}")))?;
        let client = bot.client();
        let _ = client_slot.set(Arc::downgrade(&client));
        let handle = bot.spawn();
        Ok(Box::new(WebConnection {
            client,
            handle: Mutex::new(Some(handle)),
            store: self.store.clone(),
            slot: slot.clone(),
        }))
    }
}

/// The client's inbound durability hook: a decrypted batch is acknowledged to WhatsApp only
/// if this returns `Ok`, i.e. once the gateway has every message of it queued.
struct DurableInbound {
    inbound: Arc<dyn Inbound>,
}

impl DurableInbound {
    /// Commits the text messages of a batch (other kinds are acknowledged unforwarded).
    /// Cost: one queue send per text message; the client awaits it on its receive path.
    async fn commit(&self, batch: &[InboundMessage]) -> Result<(), InboundError> {
        let ours: Vec<ChatMessage> = batch
            .iter()
            .filter_map(|inbound| message_to_ours(&inbound.message, &inbound.info))
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        self.inbound.commit(ours).await
    }
}

#[async_trait]
impl InboundDurabilityHook for DurableInbound {
    async fn on_messages(
        &self,
        _client: Arc<Client>,
        batch: &[InboundMessage],
    ) -> whatsapp_rust::anyhow::Result<()> {
        self.commit(batch)
            .await
            .map_err(whatsapp_rust::anyhow::Error::from)
    }
}

/// Receives the client's events, translates them and queues ours in order.
struct Forwarder {
    tx: mpsc::UnboundedSender<ConnectionEvent>,
    /// Weak: the client owns this handler.
    client: Arc<OnceLock<Weak<Client>>>,
}

impl EventHandler for Forwarder {
    fn handle_event(&self, event: Arc<Event>) {
        let own_phone = self
            .client
            .get()
            .and_then(Weak::upgrade)
            .and_then(|client| client.pn())
            .map(|jid| jid.user.to_string());
        for ours in event_to_ours(&event, own_phone.as_deref(), OffsetDateTime::now_utc()) {
            if self.tx.send(ours).is_err() {
                return;
            }
        }
    }
}

struct WebConnection {
    client: Arc<Client>,
    handle: Mutex<Option<BotHandle>>,
    store: Arc<dyn Store>,
    slot: SlotKey,
}

#[async_trait]
impl Connection for WebConnection {
    async fn typing(&self, to: &str) -> Result<(), TransportError> {
        let jid = to_jid(to)?;
        self.client
            .chatstate()
            .send_composing(&jid)
            .await
            .map_err(|e| TransportError::Failed(format!("typing indicator: {e}")))
    }

    async fn send_text(&self, to: &str, text: &str, id: &str) -> Result<String, TransportError> {
        use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
        let jid = to_jid(to)?;
        if !self.client.is_connected() {
            return Err(TransportError::NotConnected);
        }
        // Our own id ("for resending … with the same ID or idempotency", as the library
        // puts it): a part sent again after a crash is the same message to WhatsApp.
        let options = whatsapp_rust::SendOptions::default().with_message_id(id);
        self.client
            .send_message_with_options(jid, wa::Message::text(text), options)
            .await
            .map(|sent| sent.message_id)
            .map_err(|e| TransportError::Failed(format!("send: {e}")))
    }

    async fn logout(&self) -> Result<(), TransportError> {
        self.client.logout().await;
        // Let the client flush and stop before its records are deleted, so nothing is
        // written back after the wipe.
        if let Some(handle) = self.handle.lock().await.take() {
            handle.shutdown().await;
        }
        wipe(self.store.as_ref(), &self.slot)
            .await
            .map(|_| ())
            .map_err(|e| TransportError::Failed(format!("forgetting the device: {e}")))
    }

    async fn close(&self) {
        if let Some(handle) = self.handle.lock().await.take() {
            handle.shutdown().await;
        }
    }
}

/// Our events for one of the client's (a message batch may hold several messages).
/// `own_phone` is the linked number, `now` dates a temporary ban's end.
fn event_to_ours(
    event: &Event,
    own_phone: Option<&str>,
    now: OffsetDateTime,
) -> Vec<ConnectionEvent> {
    let disconnected = |reason| vec![ConnectionEvent::Disconnected { reason }];
    match event {
        Event::PairingQrCode(qr) => vec![ConnectionEvent::Qr {
            code: qr.code.clone(),
            expires_in_secs: qr.timeout.as_secs(),
        }],
        Event::PairingCode(pairing) => vec![ConnectionEvent::PairingCode {
            code: pairing.code.clone(),
        }],
        Event::PairSuccess(paired) => vec![ConnectionEvent::Paired {
            phone: paired.id.user.to_string(),
            credentials: Vec::new(),
        }],
        Event::Connected(_) => vec![ConnectionEvent::Connected {
            phone: own_phone.unwrap_or_default().to_owned(),
        }],
        // Committed by the durability hook already (and acknowledged after it).
        Event::Messages(batch) if batch.hook_committed => Vec::new(),
        Event::Messages(batch) => batch
            .iter()
            .filter_map(|inbound| message_to_ours(&inbound.message, &inbound.info))
            .map(ConnectionEvent::Message)
            .collect(),
        Event::Disconnected(d) => disconnected(network(d.reason.to_string())),
        Event::StreamReplaced(_) => disconnected(DisconnectReason::Replaced),
        Event::LoggedOut(out) => disconnected(DisconnectReason::LoggedOut {
            detail: format!("{:?} ({})", out.reason, out.reason.code()),
        }),
        Event::TemporaryBan(ban) => disconnected(DisconnectReason::TemporaryBan {
            code: ban.code.code(),
            until: ban_until(now, ban.expire.num_seconds()),
        }),
        Event::ConnectFailure(failure) => {
            let detail = match &failure.message {
                Some(message) => format!(
                    "{:?} ({}): {message}",
                    failure.reason,
                    failure.reason.code()
                ),
                None => format!("{:?} ({})", failure.reason, failure.reason.code()),
            };
            if failure.reason.is_logged_out() {
                disconnected(DisconnectReason::LoggedOut { detail })
            } else {
                disconnected(network(format!("connect failure {detail}")))
            }
        }
        Event::StreamError(error) => disconnected(network(format!("stream error {}", error.code))),
        Event::PairError(error) => {
            disconnected(network(format!("pairing failed: {}", error.error)))
        }
        Event::PairingQrCodesExhausted(_) => {
            disconnected(network("no QR code was scanned in time".into()))
        }
        Event::ClientOutdated(_) => disconnected(network("client version outdated".into())),
        Event::PairingCodeError(error) => vec![ConnectionEvent::Problem {
            detail: format!(
                "WhatsApp did not issue a pairing code ({}); scan the QR code or try again later",
                error.error
            ),
        }],
        _ => Vec::new(),
    }
}

fn network(detail: String) -> DisconnectReason {
    DisconnectReason::Network { detail }
}

/// When a ban of `expire_secs` starting `now` ends, as RFC 3339.
fn ban_until(now: OffsetDateTime, expire_secs: i64) -> String {
    let until = now
        .checked_add(time::Duration::seconds(expire_secs.max(0)))
        .unwrap_or(now);
    until.format(&Rfc3339).unwrap_or_else(|_| now.to_string())
}

/// A text message as ours; other kinds (media, reactions, protocol messages) are skipped.
fn message_to_ours(message: &wa::Message, info: &MessageInfo) -> Option<ChatMessage> {
    let text = message.text_content()?.to_owned();
    let source = &info.source;
    Some(ChatMessage {
        id: info.id.clone(),
        chat: chat_of(source),
        from_me: source.is_from_me,
        text,
        timestamp: info.timestamp.timestamp(),
        is_group: source.is_group || is_group_like(&source.chat),
    })
}

/// Groups, broadcast lists, status updates and channels are not customer conversations.
fn is_group_like(jid: &Jid) -> bool {
    matches!(
        jid.server,
        Server::Group | Server::Broadcast | Server::Newsletter
    )
}

/// The chat of a message, by phone number when one is known: a chat addressed by hidden id
/// (LID) falls back to the phone number the server sent along, if any.
fn chat_of(source: &MessageSource) -> String {
    if source.chat.server == Server::Lid {
        let alt = if source.is_from_me {
            source.recipient_alt.as_ref()
        } else {
            source.sender_alt.as_ref()
        };
        if let Some(alt) = alt.filter(|alt| is_phone(alt)) {
            return jid_to_chat(alt);
        }
    }
    jid_to_chat(&source.chat)
}

fn is_phone(jid: &Jid) -> bool {
    matches!(jid.server, Server::Pn | Server::Legacy)
}

/// A chat as we name it: phone digits for numbers, the full id (without device) otherwise.
fn jid_to_chat(jid: &Jid) -> String {
    if is_phone(jid) {
        jid.user.to_string()
    } else {
        jid.to_non_ad_string()
    }
}

/// A destination as a JID: phone digits (a leading `+` allowed) become a user JID, a full
/// JID passes through.
fn to_jid(to: &str) -> Result<Jid, TransportError> {
    let to = to.trim();
    let bad = || TransportError::Failed(format!("not a WhatsApp destination: {to:?}"));
    if to.contains('@') {
        return to.parse().map_err(|_| bad());
    }
    let digits = to.strip_prefix('+').unwrap_or(to);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(Jid::pn(digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use whatsapp_rust::types::events::{
        BatchOrigin, ClientOutdated, ConnectFailure, ConnectFailureReason, Connected, Disconnected,
        InboundMessage, LoggedOut, MessageBatch, PairError, PairSuccess, PairingCode,
        PairingCodeError, PairingQrCode, PairingQrCodesExhausted, StreamError, StreamReplaced,
        TempBanReason, TemporaryBan,
    };
    use whatsapp_rust::wacore::net::DisconnectReason as WaDisconnect;
    use whatsapp_rust::waproto::buffa::MessageField;

    fn jid(s: &str) -> Jid {
        s.parse().expect("jid")
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time")
    }

    fn one(event: Event) -> ConnectionEvent {
        let mut out = event_to_ours(&event, Some("5511900000009"), now());
        assert_eq!(out.len(), 1, "{out:?}");
        out.remove(0)
    }

    fn reason(event: Event) -> DisconnectReason {
        match one(event) {
            ConnectionEvent::Disconnected { reason } => reason,
            other => panic!("not a disconnect: {other:?}"),
        }
    }

    fn text(t: &str) -> wa::Message {
        wa::Message {
            conversation: Some(t.into()),
            ..Default::default()
        }
    }

    fn extended(t: &str) -> wa::Message {
        wa::Message {
            extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
                text: Some(t.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn info(chat: &str, from_me: bool, is_group: bool) -> MessageInfo {
        MessageInfo {
            id: "3EB0AA".into(),
            source: MessageSource {
                chat: jid(chat),
                sender: jid(chat),
                is_from_me: from_me,
                is_group,
                ..Default::default()
            },
            timestamp: whatsapp_rust::chrono::DateTime::from_timestamp(1_700_000_123, 0)
                .expect("timestamp"),
            ..Default::default()
        }
    }

    #[test]
    fn pairing_events() {
        assert_eq!(
            one(Event::PairingQrCode(
                PairingQrCode::builder()
                    .code("2@abc,def".into())
                    .timeout(Duration::from_secs(60))
                    .build()
            )),
            ConnectionEvent::Qr {
                code: "2@abc,def".into(),
                expires_in_secs: 60
            }
        );
        assert_eq!(
            one(Event::PairingCode(
                PairingCode::builder()
                    .code("ABCD-EFGH".into())
                    .timeout(Duration::from_secs(180))
                    .build()
            )),
            ConnectionEvent::PairingCode {
                code: "ABCD-EFGH".into()
            }
        );
        assert_eq!(
            one(Event::PairSuccess(
                PairSuccess::builder()
                    .id(jid("5511900000009:12@s.whatsapp.net"))
                    .lid(jid("100000000000001:12@lid"))
                    .business_name(String::new())
                    .platform("android".into())
                    .build()
            )),
            ConnectionEvent::Paired {
                phone: "5511900000009".into(),
                credentials: vec![]
            }
        );
        assert_eq!(
            one(Event::Connected(Connected::builder().build())),
            ConnectionEvent::Connected {
                phone: "5511900000009".into()
            }
        );
        assert_eq!(
            event_to_ours(&Event::Connected(Connected::builder().build()), None, now()),
            vec![ConnectionEvent::Connected { phone: "".into() }]
        );
    }

    #[test]
    fn disconnect_reasons() {
        assert_eq!(
            reason(Event::Disconnected(
                Disconnected::builder()
                    .reason(WaDisconnect::StreamEnded)
                    .build()
            )),
            DisconnectReason::Network {
                detail: "stream ended (EOF)".into()
            }
        );
        assert_eq!(
            reason(Event::StreamReplaced(StreamReplaced::builder().build())),
            DisconnectReason::Replaced
        );
        assert!(matches!(
            reason(Event::LoggedOut(
                LoggedOut::builder()
                    .on_connect(false)
                    .reason(ConnectFailureReason::LoggedOut)
                    .build()
            )),
            DisconnectReason::LoggedOut { detail } if detail.contains("401")
        ));
        assert_eq!(
            reason(Event::TemporaryBan(
                TemporaryBan::builder()
                    .code(TempBanReason::SentToTooManyPeople)
                    .expire(whatsapp_rust::chrono::TimeDelta::seconds(3600))
                    .build()
            )),
            DisconnectReason::TemporaryBan {
                code: 101,
                until: "2023-11-14T23:13:20Z".into()
            }
        );
        assert!(matches!(
            reason(Event::ConnectFailure(
                ConnectFailure::builder()
                    .reason(ConnectFailureReason::AccountLocked)
                    .build()
            )),
            DisconnectReason::LoggedOut { detail } if detail.contains("403")
        ));
        assert!(matches!(
            reason(Event::ConnectFailure(
                ConnectFailure::builder()
                    .reason(ConnectFailureReason::ServiceUnavailable)
                    .message("busy".into())
                    .build()
            )),
            DisconnectReason::Network { detail } if detail.contains("503") && detail.contains("busy")
        ));
        assert!(matches!(
            reason(Event::StreamError(
                StreamError::builder().code("515".into()).build()
            )),
            DisconnectReason::Network { detail } if detail.contains("515")
        ));
        assert!(matches!(
            reason(Event::PairError(
                PairError::builder()
                    .id(jid("5511900000009@s.whatsapp.net"))
                    .lid(jid("100000000000001@lid"))
                    .business_name(String::new())
                    .platform(String::new())
                    .error("bad signature".into())
                    .build()
            )),
            DisconnectReason::Network { detail } if detail.contains("bad signature")
        ));
        assert!(matches!(
            reason(Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(true)
                    .build()
            )),
            DisconnectReason::Network { .. }
        ));
        assert!(matches!(
            reason(Event::ClientOutdated(ClientOutdated::builder().build())),
            DisconnectReason::Network { .. }
        ));
    }

    #[test]
    fn ban_end_is_rfc3339() {
        assert_eq!(ban_until(now(), 0), "2023-11-14T22:13:20Z");
        assert_eq!(ban_until(now(), 86_400), "2023-11-15T22:13:20Z");
        assert_eq!(ban_until(now(), -5), "2023-11-14T22:13:20Z");
        assert_eq!(ban_until(now(), i64::MAX), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn a_message_batch_becomes_one_event_per_text_message() {
        let inbound = |message: wa::Message, info: MessageInfo| {
            InboundMessage::builder()
                .message(Arc::new(message))
                .info(Arc::new(info))
                .build()
        };
        let batch = MessageBatch::builder()
            .messages(Arc::from(vec![
                inbound(
                    text("oi"),
                    info("5511900000001@s.whatsapp.net", false, false),
                ),
                inbound(
                    wa::Message::default(),
                    info("5511900000002@s.whatsapp.net", false, false),
                ),
                inbound(
                    extended("cardápio?"),
                    info("5511900000003@s.whatsapp.net", true, false),
                ),
            ]))
            .origin(BatchOrigin::OfflineDrain)
            .build();
        let out = event_to_ours(&Event::Messages(batch), None, now());
        let texts: Vec<(String, bool)> = out
            .iter()
            .map(|e| match e {
                ConnectionEvent::Message(m) => (m.text.clone(), m.from_me),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            vec![("oi".into(), false), ("cardápio?".into(), true)]
        );
    }

    fn inbound(message: wa::Message, info: MessageInfo) -> InboundMessage {
        InboundMessage::builder()
            .message(Arc::new(message))
            .info(Arc::new(info))
            .build()
    }

    fn from(chat: &str, id: &str) -> MessageInfo {
        MessageInfo {
            id: id.into(),
            ..info(chat, false, false)
        }
    }

    /// The hook over the gateway's commit of slot 1, queueing on `queue`, with a store for
    /// the slot's records.
    fn hook(
        queue: Arc<dyn crate::queue::Queue>,
    ) -> (DurableInbound, Arc<impl Sized>, tempfile::TempDir) {
        use crate::whatsapp::gateway::inbound::{InboundGate, SlotInbound};
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            crate::store::embedded::EmbeddedStore::open(&dir.path().join("s.redb")).expect("store");
        let gate = InboundGate::new(Some(queue));
        let slot = SlotInbound {
            gate: Arc::downgrade(&gate),
            store: Arc::new(store),
            key: SlotKey {
                store_id: "st_1".into(),
                slot: 1,
            },
        };
        let hook = DurableInbound {
            inbound: Arc::new(slot),
        };
        (hook, gate, dir)
    }

    fn queued_ids(queue: &crate::queue::memory::MemoryQueue) -> Vec<String> {
        queue
            .bodies()
            .iter()
            .map(|body| {
                let job: serde_json::Value = serde_json::from_str(body).expect("job");
                job["message"]["id"].as_str().expect("id").to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn the_durability_hook_commits_a_batch_only_once_every_message_is_queued() {
        use crate::queue::faulty::FaultyQueue;
        use crate::queue::memory::MemoryQueue;
        let memory = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let queue = Arc::new(FaultyQueue::new(memory.clone()));
        let (hook, _gate, _dir) = hook(queue.clone());
        // An offline drain's batch, built as the client builds it: two texts around a
        // message that is not text (acknowledged, never forwarded).
        let batch = vec![
            inbound(text("oi"), from("5511900000001@s.whatsapp.net", "3EB0A1")),
            inbound(
                wa::Message::default(),
                from("5511900000002@s.whatsapp.net", "3EB0A2"),
            ),
            inbound(
                extended("cardápio?"),
                from("5511900000003@s.whatsapp.net", "3EB0A3"),
            ),
        ];
        // The queue is down: the hook fails (the client acknowledges nothing), nothing queued.
        queue.fail_sends();
        let err = hook.commit(&batch).await.unwrap_err();
        assert!(err.to_string().contains("not queued"), "{err}");
        assert!(memory.is_empty());
        // Down after the first message: still a failure for the whole batch.
        queue.fail_sends_after(1);
        assert!(hook.commit(&batch).await.is_err());
        assert_eq!(queued_ids(&memory), ["3EB0A1"]);
        // WhatsApp delivers the batch again (same stanza ids) once the queue is back, and
        // once more (the acknowledgement was lost): each text message is queued once.
        queue.heal();
        hook.commit(&batch).await.unwrap();
        hook.commit(&batch).await.unwrap();
        assert_eq!(queued_ids(&memory), ["3EB0A1", "3EB0A3"]);
        // The client's event for the committed batch forwards nothing more; a batch the
        // hook never saw (acknowledged on the client's own path) is forwarded from it.
        let event = |committed: bool| {
            Event::Messages(
                MessageBatch::builder()
                    .messages(Arc::from(batch.clone()))
                    .origin(BatchOrigin::OfflineDrain)
                    .hook_committed(committed)
                    .build(),
            )
        };
        assert!(event_to_ours(&event(true), None, now()).is_empty());
        assert_eq!(event_to_ours(&event(false), None, now()).len(), 2);
    }

    #[tokio::test]
    async fn a_panic_while_committing_refuses_the_batch_and_spares_the_process() {
        struct Broken;
        #[async_trait]
        impl crate::queue::Queue for Broken {
            async fn send(
                &self,
                _: crate::queue::Outgoing,
            ) -> Result<(), crate::queue::QueueError> {
                panic!("malformed message")
            }
            async fn receive(
                &self,
                _: usize,
                _: Duration,
            ) -> Result<Vec<crate::queue::Received>, crate::queue::QueueError> {
                Ok(Vec::new())
            }
            async fn ack(&self, _: &str) -> Result<(), crate::queue::QueueError> {
                Ok(())
            }
            async fn retry(&self, _: &str, _: Duration) -> Result<(), crate::queue::QueueError> {
                Ok(())
            }
        }
        let (hook, _gate, _dir) = hook(Arc::new(Broken));
        let batch = [inbound(
            text("oi"),
            from("5511900000001@s.whatsapp.net", "3EB0B1"),
        )];
        let err = hook.commit(&batch).await.unwrap_err();
        assert!(err.to_string().contains("malformed message"), "{err}");
    }

    #[test]
    fn other_events_are_ignored() {
        use whatsapp_rust::types::events::OfflineSyncCompleted;
        assert!(event_to_ours(
            &Event::OfflineSyncCompleted(OfflineSyncCompleted::builder().count(3).build()),
            None,
            now()
        )
        .is_empty());
    }

    #[test]
    fn customer_text_message() {
        let m = message_to_ours(
            &text("quero uma pizza"),
            &info("5511900000001:3@s.whatsapp.net", false, false),
        )
        .expect("text");
        assert_eq!(
            m,
            ChatMessage {
                id: "3EB0AA".into(),
                chat: "5511900000001".into(),
                from_me: false,
                text: "quero uma pizza".into(),
                timestamp: 1_700_000_123,
                is_group: false,
            }
        );
    }

    #[test]
    fn a_refused_pairing_code_is_reported() {
        let error = PairingCodeError::builder()
            .error("rate limited".into())
            .build();
        let ours = event_to_ours(
            &Event::PairingCodeError(error),
            None,
            OffsetDateTime::now_utc(),
        );
        assert!(
            matches!(&ours[..], [ConnectionEvent::Problem { detail }] if detail.contains("rate limited"))
        );
    }

    #[test]
    fn extended_text_and_from_me() {
        let m = message_to_ours(
            &extended("já sai"),
            &info("5511900000001@s.whatsapp.net", true, false),
        )
        .expect("text");
        assert_eq!(m.text, "já sai");
        assert!(m.from_me);
        assert!(!m.is_group);
    }

    #[test]
    fn wrapped_text_is_unwrapped() {
        let ephemeral = wa::Message {
            ephemeral_message: MessageField::some(wa::message::FutureProofMessage {
                message: MessageField::some(text("some")),
            }),
            ..Default::default()
        };
        let m = message_to_ours(
            &ephemeral,
            &info("5511900000001@s.whatsapp.net", false, false),
        );
        assert_eq!(m.map(|m| m.text), Some("some".to_string()));
    }

    #[test]
    fn non_text_messages_are_skipped() {
        assert!(message_to_ours(
            &wa::Message::default(),
            &info("5511900000001@s.whatsapp.net", false, false)
        )
        .is_none());
    }

    #[test]
    fn groups_broadcasts_status_and_channels_are_groups() {
        for chat in [
            "120363000000000001@g.us",
            "1700000000@broadcast",
            "status@broadcast",
            "120363000000000002@newsletter",
        ] {
            let m = message_to_ours(&text("x"), &info(chat, false, false)).expect("text");
            assert!(m.is_group, "{chat}");
        }
        // The flag the client computed counts too.
        let m = message_to_ours(
            &text("x"),
            &info("5511900000001@s.whatsapp.net", false, true),
        )
        .expect("text");
        assert!(m.is_group);
        let m = message_to_ours(&text("x"), &info("120363000000000001@g.us", false, true))
            .expect("text");
        assert_eq!(m.chat, "120363000000000001@g.us");
    }

    #[test]
    fn hidden_numbers_use_the_phone_number_when_known() {
        let mut incoming = info("100000000000001@lid", false, false);
        incoming.source.sender_alt = Some(jid("5511900000001@s.whatsapp.net"));
        assert_eq!(chat_of(&incoming.source), "5511900000001");

        let mut outgoing = info("100000000000001@lid", true, false);
        outgoing.source.recipient_alt = Some(jid("5511900000002@s.whatsapp.net"));
        outgoing.source.sender_alt = Some(jid("5511900000009@s.whatsapp.net"));
        assert_eq!(chat_of(&outgoing.source), "5511900000002");

        let unknown = info("100000000000001@lid", false, false);
        assert_eq!(chat_of(&unknown.source), "100000000000001@lid");
    }

    #[test]
    fn chats_are_named_by_digits_or_full_id() {
        assert_eq!(
            jid_to_chat(&jid("5511900000001@s.whatsapp.net")),
            "5511900000001"
        );
        assert_eq!(
            jid_to_chat(&jid("5511900000001:7@s.whatsapp.net")),
            "5511900000001"
        );
        assert_eq!(jid_to_chat(&jid("5511900000001@c.us")), "5511900000001");
        assert_eq!(
            jid_to_chat(&jid("100000000000001:2@lid")),
            "100000000000001@lid"
        );
        assert_eq!(
            jid_to_chat(&jid("120363000000000001@g.us")),
            "120363000000000001@g.us"
        );
    }

    #[test]
    fn destinations_parse() {
        let pn = to_jid("5511900000001").expect("digits");
        assert_eq!(pn.to_string(), "5511900000001@s.whatsapp.net");
        assert_eq!(
            to_jid(" +5511900000001 ").expect("plus").to_string(),
            "5511900000001@s.whatsapp.net"
        );
        assert_eq!(
            to_jid("100000000000001@lid").expect("jid").to_string(),
            "100000000000001@lid"
        );
        assert_eq!(
            to_jid("120363000000000001@g.us").expect("group").server,
            Server::Group
        );
        for bad in ["", "+", "55 11 9", "abc", "55-11"] {
            assert!(to_jid(bad).is_err(), "{bad:?}");
        }
        // Round trip: a chat we report is a destination we accept.
        for chat in ["5511900000001", "100000000000001@lid"] {
            assert_eq!(jid_to_chat(&to_jid(chat).expect("dest")), chat);
        }
    }
}
