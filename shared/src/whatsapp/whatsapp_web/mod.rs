//! The real WhatsApp transport: a linked device ("WhatsApp Web") driven by the whatsapp-rust
//! client, its keys kept in our store through [`StoreBackend`]. This is the only module
//! that sees whatsapp-rust's events and messages: small pure functions turn each into our
//! [`ConnectionEvent`]s (events in [`lifecycle`], messages and JIDs in [`messages`]), so the
//! rest of Platefull never depends on the protocol crate.
//!
//! The client reconnects on its own after routine drops (and must: the server restarts the
//! stream right after pairing), so a `Disconnected { Network }` from this transport reports
//! a drop the client is already recovering from. Each connection is one client, one run
//! handle and one [`watch`] task that owns the handle: it reports the client's events and
//! its real state (silent drops, signs of life), and when the client's run loop ends for
//! good (QR expired, a final connect failure, replaced, logged out) the connection's event
//! channel closes, so the gateway never follows a dead client: it records the final reason
//! and stops, or reopens a new client with its backoff. `close` and `logout` disconnect
//! the client and wait (bounded) for the watcher to see the run end.
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

use std::sync::Arc;

#[cfg(test)]
mod fixtures;
mod lifecycle;
mod media;
pub use media::CdnMedia;
mod messages;
#[cfg(any(test, feature = "test-hooks"))]
pub mod scripted;
pub mod watch;

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use whatsapp_rust::bot::Bot;
use whatsapp_rust::types::events::{Event, EventHandler, InboundMessage};
use whatsapp_rust::wacore::store::traits::Backend;
use whatsapp_rust::{Client, InboundDurabilityHook};

use super::events::{ChatMessage, ConnectionEvent, SlotKey};
use super::slots::Fence;
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
        fence: &Fence,
        _credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
        inbound: Arc<dyn Inbound>,
    ) -> Result<Box<dyn Connection>, TransportError> {
        debug_assert_eq!(&fence.slot, slot);
        let store_backend =
            StoreBackend::new(self.store.clone(), self.secrets.clone(), fence.clone());
        report_lease_lost(store_backend.fenced_out(), events.clone());
        let backend: Arc<dyn Backend> = Arc::new(store_backend);
        // The client dispatches events synchronously; an unbounded hop keeps it from ever
        // blocking on the gateway while preserving order. The watcher drains it.
        let (tx, rx) = mpsc::unbounded_channel::<Arc<Event>>();
        let mut builder = Bot::builder()
            .with_backend_arc(backend)
            .skip_history_sync()
            .with_inbound_durability_hook(DurableInbound { inbound })
            .with_event_handler(Forwarder { tx });
        if let Some(phone) = pair_phone {
            // Runs beside the QR: whichever the owner uses first links the device.
            builder = builder.with_pair_code(pair_code_options(phone));
        }
        let bot = builder
            .build()
            .await
            .map_err(|e| TransportError::Failed(format!("whatsapp client: {e}")))?;
        let client = bot.client();
        let live = Arc::new(Live {
            client: client.clone(),
            pair_phone: pair_phone.map(str::to_owned),
        });
        // The watcher owns the run handle: dropping it would abort the client unflushed.
        let handle = bot.spawn();
        let watcher = tokio::spawn(watch::watch(
            live,
            rx,
            handle,
            events,
            watch::Pace::default(),
        ));
        Ok(Box::new(WebConnection {
            client,
            watcher: Mutex::new(Some(watcher)),
            store: self.store.clone(),
            slot: slot.clone(),
        }))
    }
}

/// Once the key store's writes are refused by the lease fence (another task took the
/// slot), tells the gateway, which closes this connection and leaves the slot. Ends with
/// the backend (its signal's sender dropped). Holds the event channel weakly: the channel
/// still closes when the watcher's sender goes.
fn report_lease_lost(
    mut fenced_out: tokio::sync::watch::Receiver<bool>,
    events: mpsc::Sender<ConnectionEvent>,
) {
    let events = events.downgrade();
    tokio::spawn(async move {
        if fenced_out.wait_for(|out| *out).await.is_ok() {
            if let Some(events) = events.upgrade() {
                let reason = super::events::DisconnectReason::LeaseLost;
                let _ = events.send(ConnectionEvent::Disconnected { reason }).await;
            }
        }
    });
}

fn pair_code_options(phone: &str) -> whatsapp_rust::pair_code::PairCodeOptions {
    whatsapp_rust::pair_code::PairCodeOptions {
        phone_number: phone.to_owned(),
        ..Default::default()
    }
}

/// The real client, as the watcher reads it.
struct Live {
    client: Arc<Client>,
    pair_phone: Option<String>,
}

impl watch::LiveClient for Live {
    fn online(&self) -> bool {
        self.client.is_connected() && self.client.is_logged_in()
    }

    fn last_received_ms(&self) -> u64 {
        self.client.stats().last_data_received_ms
    }

    fn own_phone(&self) -> Option<String> {
        self.client.pn().map(|jid| jid.user.to_string())
    }

    fn request_pairing_code(&self) {
        let Some(phone) = self.pair_phone.clone() else {
            return;
        };
        let client = self.client.clone();
        // A refusal is dispatched as `PairingCodeError` by the library itself.
        tokio::spawn(async move {
            let _ = client.pair_with_code(pair_code_options(&phone)).await;
        });
    }
}

/// How long `close`/`logout` wait for the client's run loop to end after disconnecting it
/// (it flushes its state first; the library bounds each flush at 5 s).
const RUN_END_WAIT: Duration = Duration::from_secs(20);

/// Waits (at most [`RUN_END_WAIT`]) for a connection's watcher, i.e. for the client's run
/// loop to have ended.
async fn await_watcher(watcher: &Mutex<Option<JoinHandle<()>>>) {
    if let Some(watcher) = watcher.lock().await.take() {
        let _ = tokio::time::timeout(RUN_END_WAIT, watcher).await;
    }
}

/// The client's inbound durability hook: a decrypted batch is acknowledged to WhatsApp only
/// if this returns `Ok`, i.e. once the gateway has every message of it queued.
struct DurableInbound {
    inbound: Arc<dyn Inbound>,
}

impl DurableInbound {
    /// Commits the text messages of a batch (other kinds are acknowledged unforwarded),
    /// each in the chat it belongs to: a hidden-id chat under the phone number `phones`
    /// (the client's LID↔phone mapping) knows, when the message doesn't carry it.
    /// Cost: one queue send per text message; the client awaits it on its receive path.
    async fn commit(
        &self,
        batch: &[InboundMessage],
        phones: &dyn messages::LidPhones,
    ) -> Result<(), InboundError> {
        let ours: Vec<ChatMessage> = batch_to_ours(batch, phones).await?;
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
        client: Arc<Client>,
        batch: &[InboundMessage],
    ) -> whatsapp_rust::anyhow::Result<()> {
        self.commit(batch, client.as_ref())
            .await
            .map_err(whatsapp_rust::anyhow::Error::from)
    }
}

/// Receives the client's events and queues them, in order, for the watcher.
struct Forwarder {
    tx: mpsc::UnboundedSender<Arc<Event>>,
}

impl EventHandler for Forwarder {
    fn handle_event(&self, event: Arc<Event>) {
        let _ = self.tx.send(event);
    }
}

struct WebConnection {
    client: Arc<Client>,
    /// The watcher task, which ends once the client's run loop has.
    watcher: Mutex<Option<JoinHandle<()>>>,
    store: Arc<dyn Store>,
    slot: SlotKey,
}

#[async_trait]
impl Connection for WebConnection {
    /// The client's own view of its socket (`Client::is_connected`): false from a drop
    /// until the client's reconnect succeeds, which it does by itself.
    fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    async fn typing(&self, to: &str) -> Result<(), TransportError> {
        let jid = to_jid(to)?;
        self.client
            .chatstate()
            .send_composing(&jid)
            .await
            .map_err(|e| TransportError::Failed(format!("typing indicator: {e}")))
    }

    /// `chatstate().send_paused` (whatsapp-rust's `features/chatstate.rs`): the `<paused/>`
    /// chat state, which ends the `<composing/>` one.
    async fn paused(&self, to: &str) -> Result<(), TransportError> {
        let jid = to_jid(to)?;
        self.client
            .chatstate()
            .send_paused(&jid)
            .await
            .map_err(|e| TransportError::Failed(format!("typing indicator: {e}")))
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
        let jid = to_jid(to)?;
        if !self.client.is_connected() {
            return Err(TransportError::NotConnected);
        }
        let (message, options) = outgoing_text(text, id, ephemeral_expiration);
        self.client
            .send_message_with_options(jid, message, options)
            .await
            .map(|sent| sent.message_id)
            .map_err(|e| TransportError::Failed(format!("send: {e}")))
    }

    /// `Client::upload` (whatsapp-rust's `upload.rs`: encrypts the bytes and uploads them
    /// to WhatsApp's media servers), then `media::image_message` builds the image message
    /// from the upload, sent with our id like a text.
    async fn send_image(
        &self,
        to: &str,
        png: &[u8],
        caption: &str,
        id: &str,
        ephemeral_expiration: Option<u32>,
    ) -> Result<String, TransportError> {
        use whatsapp_rust::download::MediaType;
        use whatsapp_rust::media::{image_message, ImageOptions};
        use whatsapp_rust::upload::UploadOptions;
        let jid = to_jid(to)?;
        if !self.client.is_connected() {
            return Err(TransportError::NotConnected);
        }
        let upload = self
            .client
            .upload(png.to_vec(), MediaType::Image, UploadOptions::new())
            .await
            .map_err(|e| TransportError::Failed(format!("image upload: {e}")))?;
        let message = image_message(
            upload,
            ImageOptions {
                caption: Some(caption.to_owned()),
                mimetype: Some("image/png".into()),
                ..Default::default()
            },
        );
        let options = send_options(id, ephemeral_expiration);
        self.client
            .send_message_with_options(jid, message, options)
            .await
            .map(|sent| sent.message_id)
            .map_err(|e| TransportError::Failed(format!("send: {e}")))
    }

    async fn logout(&self) -> Result<(), TransportError> {
        self.client.logout().await;
        // Let the client flush and stop before its records are deleted, so nothing is
        // written back after the wipe.
        await_watcher(&self.watcher).await;
        wipe(self.store.as_ref(), &self.slot)
            .await
            .map(|_| ())
            .map_err(|e| TransportError::Failed(format!("forgetting the device: {e}")))
    }

    /// What `BotHandle::shutdown` does: disconnect (flushing), then the run loop's end.
    async fn close(&self) {
        self.client.disconnect().await;
        await_watcher(&self.watcher).await;
    }
}

#[cfg(test)]
use lifecycle::event_to_ours;
use messages::{batch_to_ours, outgoing_text, send_options, to_jid};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whatsapp::whatsapp_web::fixtures::*;
    use std::time::Duration;
    use whatsapp_rust::types::events::{BatchOrigin, MessageBatch};

    use whatsapp_rust::waproto::whatsapp as wa;

    /// The hook over the gateway's commit of slot 1 of store `st_1`, queueing on `queue`;
    /// the embedded store (the slot's records and the device's), and the real whatsapp-rust
    /// client over our backend on it (built, never connected), whose LID↔phone mapping the
    /// hook consults.
    struct Rig {
        hook: DurableInbound,
        _gate: Arc<crate::whatsapp::gateway::inbound::InboundGate>,
        client: Arc<Client>,
        store: Arc<dyn Store>,
        _dir: tempfile::TempDir,
    }

    async fn rig(queue: Arc<dyn crate::queue::Queue>) -> Rig {
        use crate::whatsapp::gateway::inbound::{InboundGate, SlotInbound};
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            crate::store::embedded::EmbeddedStore::open(&dir.path().join("s.redb")).expect("store"),
        );
        let key = SlotKey {
            store_id: "st_1".into(),
            slot: 1,
        };
        let gate = InboundGate::new(Some(queue));
        let slot = SlotInbound {
            gate: Arc::downgrade(&gate),
            store: store.clone(),
            key: key.clone(),
        };
        let secrets = Arc::new(SecretBox::from_key(&[7; 32]));
        let fence = Fence::claim(store.as_ref(), &key).await.expect("fence");
        let backend: Arc<dyn Backend> = Arc::new(StoreBackend::new(store.clone(), secrets, fence));
        let bot = Bot::builder()
            .with_backend_arc(backend)
            .skip_history_sync()
            .build()
            .await
            .expect("client");
        Rig {
            hook: DurableInbound {
                inbound: Arc::new(slot),
            },
            _gate: gate,
            client: bot.client(),
            store,
            _dir: dir,
        }
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
        let rig = rig(queue.clone()).await;
        let (hook, client) = (&rig.hook, rig.client.as_ref());
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
        let err = hook.commit(&batch, client).await.unwrap_err();
        assert!(err.to_string().contains("not queued"), "{err}");
        assert!(memory.is_empty());
        // Down after the first message: still a failure for the whole batch.
        queue.fail_sends_after(1);
        assert!(hook.commit(&batch, client).await.is_err());
        assert_eq!(queued_ids(&memory), ["3EB0A1"]);
        // WhatsApp delivers the batch again (same stanza ids) once the queue is back, and
        // once more (the acknowledgement was lost): each text message is queued once.
        queue.heal();
        hook.commit(&batch, client).await.unwrap();
        hook.commit(&batch, client).await.unwrap();
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
        let rig = rig(Arc::new(Broken)).await;
        let (hook, client) = (&rig.hook, rig.client.as_ref());
        let batch = [inbound(
            text("oi"),
            from("5511900000001@s.whatsapp.net", "3EB0B1"),
        )];
        let err = hook.commit(&batch, client).await.unwrap_err();
        assert!(err.to_string().contains("malformed message"), "{err}");
    }

    /// The bot over the rig's store (offline model: it always answers), its config for
    /// `st_1` written with no debounce, and the inbound and outbound queues it works with.
    async fn bot_over(
        rig: &Rig,
        inbound: Arc<crate::queue::memory::MemoryQueue>,
    ) -> (
        crate::bot::worker::Bot,
        Arc<crate::queue::memory::MemoryQueue>,
    ) {
        use crate::domain::bot_config::BotConfig;
        use crate::queue::memory::MemoryQueue;
        use crate::store::keys::{self, store_pk, CONFIG_SK};
        let config = BotConfig {
            debounce_seconds: 0,
            ..BotConfig::new_default("st_1", "2026-01-01T00:00:00.000000Z")
        };
        let item = keys::item(store_pk("st_1"), CONFIG_SK)
            .record(config)
            .expect("config")
            .build();
        rig.store
            .write(vec![crate::store::WriteOp::Put {
                item,
                cond: crate::store::Cond::None,
            }])
            .await
            .expect("config written");
        let outbound = Arc::new(MemoryQueue::fifo(Duration::from_secs(30)));
        let bot = crate::bot::worker::Bot {
            store: rig.store.clone(),
            secrets: Arc::new(SecretBox::from_key(&[7; 32])),
            llm: Arc::new(crate::bot::llm::Offline),
            inbound,
            outbound: Some(outbound.clone()),
            graph: crate::bot::cloud_api::GraphClient::new("http://127.0.0.1:9"),
            backoff: Duration::from_millis(10),
            turn_limit: crate::bot::chat::TurnLimit::default(),
            health: Default::default(),
            webhooks: crate::outbound::OutboundClient::for_webhooks(
                crate::outbound::Policy::LocalStack,
            ),
            saipos_orders: std::sync::Arc::new(crate::saipos::orders::OrderApi::new(
                crate::outbound::Policy::LocalStack,
                "http://127.0.0.1:9",
            )),
            media: Default::default(),
        };
        (bot, outbound)
    }

    /// Commits `batch` through the hook as the client would, then lets the bot handle what
    /// the gateway queued; returns the chats of the replies the bot handed to the gateway.
    async fn through(
        rig: &Rig,
        bot: &crate::bot::worker::Bot,
        inbound: &crate::queue::memory::MemoryQueue,
        outbound: &crate::queue::memory::MemoryQueue,
        batch: Vec<InboundMessage>,
    ) -> Vec<String> {
        use crate::queue::Queue;
        rig.hook
            .commit(&batch, rig.client.as_ref())
            .await
            .expect("committed");
        for received in inbound.receive(10, Duration::ZERO).await.expect("receive") {
            let job: crate::jobs::BotJob = serde_json::from_str(&received.body).expect("job");
            bot.handle(job).await.expect("handled");
            inbound.ack(&received.receipt).await.expect("ack");
        }
        let mut chats = Vec::new();
        for received in outbound.receive(10, Duration::ZERO).await.expect("receive") {
            let reply: crate::jobs::OutboundReply =
                serde_json::from_str(&received.body).expect("reply");
            chats.push(reply.chat);
            outbound.ack(&received.receipt).await.expect("ack");
        }
        chats
    }

    /// Issue 19, item 8: in a chat addressed by hidden id, the owner's reply from the phone
    /// (whose `sender_alt` is the owner's own number, and `recipient_alt` empty, as
    /// whatsapp-rust 0.7.0 builds it) lands on the customer's chat key, so the takeover
    /// pauses the bot where the customer writes: by the client's LID↔phone mapping, or by
    /// the `peer_recipient_pn` the message carries (which the mapping then learns).
    #[tokio::test]
    async fn the_owner_replying_in_a_hidden_id_chat_pauses_the_bot_for_that_customer() {
        use crate::queue::memory::MemoryQueue;
        use crate::whatsapp::whatsapp_web::fixtures::inbound as inbound_msg;
        use whatsapp_rust::lid_pn_cache::LearningSource;
        let inbound = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let rig = rig(inbound.clone()).await;
        let (bot, outbound) = bot_over(&rig, inbound.clone()).await;
        let go = |batch| through(&rig, &bot, &inbound, &outbound, batch);

        // 1. By the mapping. The customer writes from a hidden id with `sender_pn`; the
        // client learnt the pair on receipt, as its `cache_lid_pn_from_message` does.
        let (lid, phone) = ("100000000000001@lid", "5511900000001");
        rig.client
            .add_lid_pn_mapping("100000000000001", phone, LearningSource::PeerLidMessage)
            .await
            .expect("mapping");
        let first = customer_in_lid_chat(lid, Some(phone), "3EB0C1");
        assert_eq!(
            go(vec![inbound_msg(text("oi, tem pizza?"), first)]).await,
            [phone]
        );
        // The owner answers from the phone; this stanza carries no `peer_recipient_pn`.
        let owner = owner_in_lid_chat(lid, "5511988887777");
        assert!(go(vec![inbound_msg(text("Oi! Já te atendo."), owner)])
            .await
            .is_empty());
        // The customer again, this time without `sender_pn`: still their chat, paused.
        let again = customer_in_lid_chat(lid, None, "3EB0C2");
        assert_eq!(
            go(vec![inbound_msg(text("e a calabresa?"), again)]).await,
            Vec::<String>::new(),
            "the bot keeps quiet where the owner answered"
        );

        // 2. By `peer_recipient_pn`, before the mapping knows the hidden id: the owner
        // writes first, then the customer answers without `sender_pn`.
        let (lid, phone) = ("100000000000002@lid", "5511900000002");
        let mut owner = owner_in_lid_chat(lid, "5511988887777");
        owner.id = "3EB0OWNER2".into();
        owner.peer_recipient_pn = Some(jid(&format!("{phone}@s.whatsapp.net")));
        assert!(go(vec![inbound_msg(text("Seu pedido saiu!"), owner)])
            .await
            .is_empty());
        let reply = customer_in_lid_chat(lid, None, "3EB0C3");
        assert!(
            go(vec![inbound_msg(text("obrigado"), reply)])
                .await
                .is_empty(),
            "the owner's pause holds in the customer's chat"
        );
        let entry = rig
            .client
            .get_lid_pn_entry(&jid(lid))
            .await
            .expect("lookup")
            .expect("learnt");
        assert_eq!(&*entry.phone_number, phone);

        // 3. A hidden id nobody knows stays a chat of its own, answered.
        let stranger = customer_in_lid_chat("100000000000003@lid", None, "3EB0C4");
        assert_eq!(
            go(vec![inbound_msg(text("oi"), stranger)]).await,
            ["100000000000003@lid"]
        );
    }

    /// Issue 16, part 5: a customer first seen under a hidden id nobody knew, whose phone
    /// comes later (with `sender_pn`, or the client's mapping), keeps one chat: history,
    /// takeover and inbox stay under the hidden id, and the phone becomes its attribute.
    #[tokio::test]
    async fn a_customer_whose_phone_comes_later_keeps_the_chat_they_started() {
        use crate::inbox::{self, At};
        use crate::queue::memory::MemoryQueue;
        use crate::whatsapp::whatsapp_web::fixtures::inbound as inbound_msg;
        use whatsapp_rust::lid_pn_cache::LearningSource;
        let inbound = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        let rig = rig(inbound.clone()).await;
        let (bot, outbound) = bot_over(&rig, inbound.clone()).await;
        let go = |batch| through(&rig, &bot, &inbound, &outbound, batch);
        let (lid, phone) = ("100000000000005@lid", "5511900000005");
        let summary = |chat: &'static str| {
            let store = rig.store.clone();
            async move {
                let at = At {
                    store_id: "st_1",
                    line: "w1",
                    chat,
                };
                inbox::summary(store.as_ref(), at).await.expect("read")
            }
        };

        // Nothing tells the phone: the chat is the hidden id's.
        let first = customer_in_lid_chat(lid, None, "3EB0D1");
        assert_eq!(go(vec![inbound_msg(text("oi"), first)]).await, [lid]);
        // Now the stanza carries `sender_pn` (and the client learns the pair on receipt).
        rig.client
            .add_lid_pn_mapping("100000000000005", phone, LearningSource::PeerLidMessage)
            .await
            .expect("mapping");
        let second = customer_in_lid_chat(lid, Some(phone), "3EB0D2");
        assert_eq!(
            go(vec![inbound_msg(text("tem calabresa?"), second)]).await,
            [lid],
            "answered in the chat it started in"
        );
        let kept = summary(lid).await.expect("the hidden id's chat");
        assert_eq!(kept.phone.as_deref(), Some(phone));
        assert_eq!(kept.unread, 2);
        assert_eq!(summary("5511900000005").await, None, "no second chat");
        // The owner answers from the phone (with `peer_recipient_pn`): the takeover pauses
        // that same chat, and the customer's next message (resolved by the mapping) too.
        let mut owner = owner_in_lid_chat(lid, "5511988887777");
        owner.id = "3EB0OWNER5".into();
        owner.peer_recipient_pn = Some(jid(&format!("{phone}@s.whatsapp.net")));
        assert!(go(vec![inbound_msg(text("Já te atendo"), owner)])
            .await
            .is_empty());
        let third = customer_in_lid_chat(lid, None, "3EB0D3");
        assert!(
            go(vec![inbound_msg(text("ok"), third)]).await.is_empty(),
            "paused where the owner answered"
        );
        let kept = summary(lid).await.expect("the hidden id's chat");
        assert_eq!(kept.last_text, "ok");
        assert_eq!(summary("5511900000005").await, None, "still no second chat");
        // The owner writes again, now in the chat the phone opens by the customer's number
        // (`sender_alt` is the owner's own): the mapping names the hidden id, so the
        // message joins the chat the customer started, not a second one under the phone.
        let mut by_phone = info("5511900000005@s.whatsapp.net", true, false);
        by_phone.id = "3EB0OWNER6".into();
        by_phone.source.sender_alt = Some(jid("5511988887777@s.whatsapp.net"));
        assert!(go(vec![inbound_msg(text("Saindo em 10 min"), by_phone)])
            .await
            .is_empty());
        let kept = summary(lid).await.expect("the hidden id's chat");
        assert_eq!(kept.last_text, "Saindo em 10 min");
        assert_eq!(
            summary("5511900000005").await,
            None,
            "the owner's chat didn't split it"
        );
        let history = crate::bot::chat::ChatRef {
            store_id: "st_1",
            line: &crate::jobs::Line::Web { slot: 1 },
            chat: lid,
        };
        let turn = crate::bot::chat::load_turn(
            rig.store.as_ref(),
            &history,
            50,
            600,
            crate::ids::now_ms(),
        )
        .await
        .expect("history");
        let texts: Vec<&str> = turn.history.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts.first(), Some(&"oi"));
        assert!(
            texts.contains(&"tem calabresa?") && texts.contains(&"Já te atendo"),
            "{texts:?}"
        );
        assert_eq!(texts.last(), Some(&"Saindo em 10 min"));
    }
}
