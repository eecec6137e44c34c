//! The kitchen's side of orders, in-process over real parts: image replies (a Pix QR code)
//! from a linked number through the gateway and the simulator, and from a Cloud API number
//! through the fake Graph API's media upload; owner notices from whichever line is
//! connected; order webhooks signed, retried with backoff and dead-lettered, through the
//! guarded client; accepted orders sent to the fake Saipos Order API. The store is the
//! embedded one or DynamoDB on moto where it is involved.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use platefull::bot::chat::{self, ChatRef, Claim};
use platefull::bot::cloud_api::{self, GraphClient};
use platefull::bot::worker::{self, Bot};
use platefull::jobs::{BotJob, Line, OutboundReply, ReplyImage};
use platefull::media::{MediaHandle, MediaKind, MediaPart};
use platefull::notify::{self, Notified};
use platefull::order_webhook::{self, Delivery, DeliveryError};
use platefull::outbound::{OutboundClient, Policy};
use platefull::queue::memory::MemoryQueue;
use platefull::queue::Queue;
use platefull::saipos::orders::OrderApi;
use platefull::whatsapp::commands::SessionCommand;
use platefull::whatsapp::events::SlotKey;
use platefull::whatsapp::gateway::{GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::Simulator;
use platefull::whatsapp::slots;
use platefull_tests::fake_graph::{self, FakeGraph};
use platefull_tests::fake_saipos_order::{self, FakeSaiposOrder};
use platefull_tests::fake_webhook::{receiver, Receiver};
use platefull_tests::stack;
use platefull_tests::{embedded_store, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};
use tokio::sync::watch;

const CUSTOMER: &str = "5511999990000";
const OWNER_PHONES: [&str; 2] = ["5511988887777", "+5511977776666"];
const NUMBER_ID: &str = "106540352242922";
const PIX: &str = "00020126360014br.gov.bcb.pix0114+551199999000052040000530398654044.505802BR5910Pizzaria X6009Sao Paulo62070503***6304ABCD";

/// A store with a gateway over the simulator, an inbound queue a bot worker takes from
/// (the Graph API is the fake one) and an outbound queue the gateway takes from, both with
/// dead letters; slot 1 paired unless asked not to.
struct Kitchen {
    app: TestApp,
    sim: Arc<Simulator>,
    graph: FakeGraph,
    inbound: Arc<MemoryQueue>,
    outbound: Arc<MemoryQueue>,
    store_id: String,
    api_key: String,
    _stop: watch::Sender<bool>,
}

impl Kitchen {
    async fn new(t: TestStore, pair: bool) -> Self {
        Self::with_llm(t, pair, None).await
    }

    /// The kitchen, asking the fake LLM at `llm` (else the offline model); the order routes
    /// queue their jobs on the inbound queue, and owners' URLs may be loopback (the local
    /// stack's policy, for the fake webhook receiver).
    async fn with_llm(t: TestStore, pair: bool, llm: Option<&str>) -> Self {
        let graph = fake_graph::graph().await;
        let inbound = stack::standard_queue();
        let outbound = stack::fifo_queue();
        let notices: Arc<dyn Queue> = inbound.clone();
        let app = TestApp::new(t)
            .with_webhook(inbound.clone())
            .with_state(|state| {
                state.notices = Some(notices);
                state.saipos.policy = Policy::LocalStack;
            });
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let sim = Simulator::new("http://localhost");
        let bot = match llm {
            Some(url) => app.bot_over_fake_llm(url, inbound.clone(), outbound.clone()),
            None => app.bot(
                Arc::new(platefull::bot::llm::Offline),
                inbound.clone(),
                outbound.clone(),
            ),
        };
        let bot = Arc::new(Bot {
            graph: GraphClient::new(&graph.url),
            ..bot
        });
        let gateway = app.gateway(
            &sim,
            GatewayQueues {
                commands: stack::fifo_queue(),
                inbound: Some(inbound.clone()),
                outbound: Some(outbound.clone()),
            },
            GatewayConfig {
                pacing: platefull::bot::reply::Pacing::none(),
                outbound_visibility: Duration::from_secs(5),
                reply_wait: Duration::from_secs(60),
                ..GatewayConfig::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(gateway.clone().run(stopped.clone()));
        tokio::spawn(worker::run_local(bot, stopped));
        let k = Self {
            app,
            sim,
            graph,
            inbound,
            outbound,
            store_id: wa.store_id,
            api_key: wa.api_key,
            _stop: stop,
        };
        if pair {
            gateway
                .handle(SessionCommand::Start {
                    slot: k.key(),
                    pair_phone: None,
                })
                .await
                .unwrap();
            k.pair().await;
        }
        k
    }

    fn key(&self) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot: 1,
        }
    }

    async fn pair(&self) {
        let mut paired = false;
        for _ in 0..300 {
            if self
                .sim
                .pair(&self.key(), None, Some("5511900000001"))
                .await
                .is_ok()
            {
                paired = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(paired, "the slot showed a QR code to pair");
        for _ in 0..300 {
            let item = slots::get_slot(self.app.state.store.as_ref(), &self.key())
                .await
                .unwrap();
            if item
                .and_then(|i| slots::slot_of(&i))
                .is_some_and(|s| s.is_active)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("slot 1 never connected");
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!("/api/client/{}{path}", self.store_id);
        self.app
            .call(method, &path, Some(&self.api_key), body)
            .await
    }

    async fn attach_number(&self) {
        cloud_api::attach(
            self.app.state.store.as_ref(),
            &self.app.state.secrets,
            &self.store_id,
            NUMBER_ID,
            "EAAG-token",
            None,
            "2026-01-01T00:00:00Z",
        )
        .await
        .unwrap();
    }

    /// Waits until `chat`'s outbox on slot 1 holds `n` messages.
    async fn outbox(
        &self,
        chat: &str,
        n: usize,
    ) -> Vec<platefull::whatsapp::simulator::SentMessage> {
        for _ in 0..500 {
            let sent = self.sim.outbox(&self.key(), chat);
            if sent.len() >= n {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{chat} got {:?}, not {n} messages",
            self.sim.outbox(&self.key(), chat)
        );
    }
}

/// The text a QR code PNG holds, read as a phone camera would.
fn read_qr(png: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

fn pix_image() -> ReplyImage {
    ReplyImage {
        qr: PIX.into(),
        caption: "QR Code Pix do pedido #0001".into(),
    }
}

async fn a_reply_with_a_qr_image_reaches_the_customer_once_after_its_texts(t: TestStore) {
    let k = Kitchen::new(t, true).await;
    let line = Line::Web { slot: 1 };
    let chat = ChatRef {
        store_id: &k.store_id,
        line: &line,
        chat: CUSTOMER,
    };
    let claim = Claim {
        chunks: vec!["Pedido #0001 confirmado!".into(), PIX.into()],
        image: Some(pix_image()),
    };
    let state = chat::claim_reply_with(
        k.app.state.store.as_ref(),
        &chat,
        None,
        1,
        claim,
        None,
        60,
        1,
        vec![],
    )
    .await
    .unwrap()
    .expect("claimed");
    let pending = state.last_reply.expect("a pending reply");
    assert_eq!(
        pending.image,
        Some(pix_image()),
        "the claim keeps the image"
    );
    // The image part fails once: the retry sends it, never the texts again.
    k.sim.fail_send_after(&k.key(), 2);
    let reply = OutboundReply {
        store_id: k.store_id.clone(),
        slot: 1,
        chat: CUSTOMER.into(),
        seq: pending.seq,
        chunks: pending.chunks,
        ephemeral_expiration: None,
        image: pending.image,
        owner: false,
        at: None,
    };
    k.outbound.send(reply.outgoing()).await.unwrap();
    let sent = k.outbox(CUSTOMER, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_now = k.sim.outbox(&k.key(), CUSTOMER);
    assert_eq!(sent_now.len(), 3, "each part once: {sent_now:?}");
    assert_eq!(sent[0].text, "Pedido #0001 confirmado!");
    assert_eq!(sent[1].text, PIX);
    assert!(sent[0].image.is_none() && sent[1].image.is_none());
    let image = sent[2].image.as_ref().expect("the last part is an image");
    assert_eq!(sent[2].text, "QR Code Pix do pedido #0001");
    assert_eq!(image.mime_type, "image/png");
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(&image.base64)
        .unwrap();
    assert_eq!(read_qr(&png), PIX, "the image is the QR of the Pix code");
    let attempts = k.sim.send_attempts(&k.key(), CUSTOMER);
    assert_eq!(attempts.len(), 4, "the image was tried twice: {attempts:?}");
    assert_eq!(attempts[2], attempts[3], "under one id");
    assert_eq!(attempts[2], reply.part_id(2));
}

async fn owner_notices_go_from_a_connected_slot_once_per_key(t: TestStore) {
    let k = Kitchen::new(t, true).await;
    let phones: Vec<String> = OWNER_PHONES.iter().map(|p| (*p).to_owned()).collect();
    let store = k.app.state.store.as_ref();
    for _ in 0..2 {
        // The same notice twice (a retried turn): one message on each phone.
        let notified = notify::notify_owner_phones(
            store,
            k.inbound.as_ref(),
            &k.store_id,
            None,
            &phones,
            "Novo pedido #0001",
            "order#20260101-0001",
        )
        .await
        .unwrap();
        assert_eq!(
            notified,
            Notified::Queued {
                line: Line::Web { slot: 1 },
                phones: 2
            }
        );
    }
    for phone in ["5511988887777", "5511977776666"] {
        let sent = k.outbox(phone, 1).await;
        assert_eq!(sent[0].text, "Novo pedido #0001");
    }
    // Another notice is another message; nothing went to the customer.
    notify::notify_owner_phones(
        store,
        k.inbound.as_ref(),
        &k.store_id,
        None,
        &phones[..1],
        "Novo pedido #0002",
        "order#20260101-0002",
    )
    .await
    .unwrap();
    let sent = k.outbox("5511988887777", 2).await;
    assert_eq!(sent[1].text, "Novo pedido #0002");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(k.sim.outbox(&k.key(), "5511988887777").len(), 2);
    assert_eq!(k.sim.outbox(&k.key(), "5511977776666").len(), 1);
    assert!(
        k.graph.script.requests().is_empty(),
        "the Cloud API was not used"
    );
}

async fn owner_notices_fall_back_to_the_cloud_number_or_say_no_line(t: TestStore) {
    let k = Kitchen::new(t, false).await;
    let store = k.app.state.store.as_ref();
    let phones = vec!["5511988887777".to_owned(), "not a phone".to_owned()];
    // No slot connected, no Cloud API number: nothing is sent, and the caller is told.
    let none = notify::notify_owner_phones(
        store,
        k.inbound.as_ref(),
        &k.store_id,
        None,
        &phones,
        "Oi",
        "k1",
    )
    .await
    .unwrap();
    assert_eq!(none, Notified::NoLine);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(k.sim.outbox(&k.key(), "5511988887777").is_empty());
    assert!(k.graph.script.requests().is_empty());
    let nobody = notify::notify_owner_phones(
        store,
        k.inbound.as_ref(),
        &k.store_id,
        None,
        &[],
        "Oi",
        "k1",
    )
    .await
    .unwrap();
    assert_eq!(nobody, Notified::NoPhones);
    // With a Cloud API number: the bot worker sends it through the Graph API.
    k.attach_number().await;
    let sent = notify::notify_owner_phones(
        store,
        k.inbound.as_ref(),
        &k.store_id,
        None,
        &phones,
        "Novo pedido #0003",
        "k2",
    )
    .await
    .unwrap();
    assert_eq!(
        sent,
        Notified::Queued {
            line: Line::Cloud {
                phone_number_id: NUMBER_ID.into()
            },
            phones: 1
        }
    );
    for _ in 0..300 {
        if !k.graph.script.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let requests = k.graph.script.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (path, body, auth) = &requests[0];
    assert_eq!(path, &format!("/{NUMBER_ID}/messages"));
    assert_eq!(auth.as_deref(), Some("Bearer EAAG-token"));
    assert_eq!(body["to"], "5511988887777");
    assert_eq!(body["text"]["body"], "Novo pedido #0003");
    // The same notice queued again (a retried turn) is not sent again: the Graph API has
    // no idempotency key, the store's mark is what keeps it one message.
    notify::notify_owner_phones(
        store,
        k.inbound.as_ref(),
        &k.store_id,
        None,
        &phones,
        "Novo pedido #0003",
        "k2",
    )
    .await
    .unwrap();
    // A notice whose first send fails (Meta answers 500) is sent by its retry, once.
    k.graph.script.push(
        500,
        json!({"error": {"message": "An unknown error has occurred.", "type": "OAuthException", "code": 1, "is_transient": true}}),
        None,
    );
    notify::notify_owner_phones(
        store,
        k.inbound.as_ref(),
        &k.store_id,
        None,
        &phones,
        "Novo pedido #0004",
        "k3",
    )
    .await
    .unwrap();
    let texts = |requests: &[(String, Value, Option<String>)]| -> Vec<String> {
        requests
            .iter()
            .map(|(_, body, _)| body["text"]["body"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    for _ in 0..1000 {
        if k.graph.script.requests().len() >= 3 && k.inbound.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        texts(&k.graph.script.requests()),
        [
            "Novo pedido #0003",
            "Novo pedido #0004",
            "Novo pedido #0004"
        ],
        "#0003 once; #0004 failed once, then sent once"
    );
}

for_each_store!(
    a_reply_with_a_qr_image_reaches_the_customer_once_after_its_texts,
    owner_notices_go_from_a_connected_slot_once_per_key,
    owner_notices_fall_back_to_the_cloud_number_or_say_no_line,
    a_pix_order_reaches_the_customer_with_its_qr_and_the_kitchen_at_once,
    accepted_orders_go_to_saipos_once_and_what_went_wrong_shows_on_the_order,
);

#[tokio::test]
async fn the_cloud_api_sends_an_image_by_uploading_it_then_referencing_its_media_id() {
    let graph = fake_graph::graph().await;
    let client = GraphClient::new(&graph.url);
    let png = platefull::whatsapp::qr::png(PIX).unwrap();
    let wamid = client
        .send_image(NUMBER_ID, "EAAG-token", CUSTOMER, &png, "QR Code Pix")
        .await
        .unwrap();
    assert!(wamid.starts_with("wamid."), "{wamid}");
    let media = graph.media.lock().unwrap().clone();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].number, NUMBER_ID);
    assert_eq!(media[0].kind, "image/png");
    assert_eq!(media[0].content_type, "image/png");
    assert_eq!(
        read_qr(&media[0].bytes),
        PIX,
        "the uploaded bytes are the QR"
    );
    let requests = graph.script.requests();
    assert_eq!(requests.len(), 1);
    let (path, body, auth) = &requests[0];
    assert_eq!(path, &format!("/{NUMBER_ID}/messages"));
    assert_eq!(auth.as_deref(), Some("Bearer EAAG-token"));
    assert_eq!(
        (
            &body["type"],
            &body["to"],
            &body["image"]["id"],
            &body["image"]["caption"]
        ),
        (
            &json!("image"),
            &json!(CUSTOMER),
            &json!(media[0].id),
            &json!("QR Code Pix")
        )
    );
    // A refused send (Meta's error shape) is reported as such, not as sent.
    graph.script.push(
        400,
        json!({"error":{"message":"(#131047) Re-engagement message","code":131047}}),
        None,
    );
    let outside = client
        .send_image(NUMBER_ID, "EAAG-token", CUSTOMER, &png, "QR Code Pix")
        .await;
    assert_eq!(outside, Err(cloud_api::SendError::OutsideWindow));
}

fn delivery(app: &TestApp, url: &str) -> Delivery {
    Delivery {
        store_id: "st_kitchen".into(),
        url: url.into(),
        sealed_secret: order_webhook::seal_secret(&app.state.secrets, "st_kitchen", "whsec_1"),
        event: "order.placed".into(),
        key: "20260101-0001#1".into(),
        body: json!({"id": "20260101-0001", "number": 1, "totalCents": 5450}).to_string(),
        attempt: 0,
    }
}

/// A bot worker (webhooks under the local stack's policy, retries 20 ms a unit) on a
/// standard inbound queue with dead letters after 3 receives.
fn webhook_worker(app: &TestApp) -> (Arc<MemoryQueue>, Arc<MemoryQueue>, watch::Sender<bool>) {
    let dead = Arc::new(MemoryQueue::standard(Duration::from_secs(1)));
    let inbound =
        Arc::new(MemoryQueue::standard(Duration::from_secs(5)).with_dead_letters(3, dead.clone()));
    let bot = Arc::new(app.bot(
        Arc::new(platefull::bot::llm::Offline),
        inbound.clone(),
        stack::fifo_queue(),
    ));
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(worker::run_local(bot, stopped));
    (inbound, dead, stop)
}

async fn calls_reach(receiver: &Receiver, n: usize, within: Duration) -> Vec<(HeaderMap, String)> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if receiver.calls().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.calls()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_webhook_is_signed_and_retried_with_backoff_until_it_is_taken() {
    let app = TestApp::new(embedded_store().await);
    let hook = receiver(vec![500, 503]).await;
    let (inbound, dead, _stop) = webhook_worker(&app);
    let sent = delivery(&app, &hook.url);
    let started = std::time::Instant::now();
    inbound.send(sent.outgoing(None)).await.unwrap();
    let calls = calls_reach(&hook, 3, Duration::from_secs(10)).await;
    assert_eq!(calls.len(), 3, "two failures, then taken");
    // The retries waited: at least half of 100 ms, then of 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(150));
    let now = platefull::ids::now_ms() / 1000;
    for (headers, body) in &calls {
        assert_eq!(body, &sent.body, "the body as signed");
        let signature = headers[order_webhook::SIGNATURE_HEADER].to_str().unwrap();
        assert!(
            order_webhook::verify("whsec_1", signature, body, now, 60),
            "{signature}"
        );
        assert!(!order_webhook::verify("whsec_2", signature, body, now, 60));
        assert_eq!(headers["x-platefull-event"], "order.placed");
        assert_eq!(headers["x-platefull-delivery"], "20260101-0001#1");
        assert_eq!(headers["content-type"], "application/json");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.calls().len(), 3, "not sent again once taken");
    assert!(dead.bodies().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_webhook_that_keeps_failing_ends_in_the_dead_letters() {
    let app = TestApp::new(embedded_store().await);
    let hook = receiver(vec![500; 100]).await;
    let (inbound, dead, _stop) = webhook_worker(&app);
    inbound
        .send(delivery(&app, &hook.url).outgoing(None))
        .await
        .unwrap();
    let mut dead_job = None;
    for _ in 0..1000 {
        if let Some(body) = dead.bodies().first() {
            dead_job = Some(body.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead_job: Value = serde_json::from_str(&dead_job.expect("dead-lettered")).unwrap();
    assert_eq!(dead_job["type"], "webhook");
    assert_eq!(
        dead_job["attempt"],
        order_webhook::BACKED_OFF_ATTEMPTS - 1,
        "the last backed-off attempt"
    );
    // Backed-off attempts, then the queue's own 3 receives of the last one.
    let calls = hook.calls().len() as u32;
    assert_eq!(calls, order_webhook::BACKED_OFF_ATTEMPTS - 1 + 3);
    assert!(
        !dead_job.to_string().contains("whsec_1"),
        "the secret stays sealed"
    );
}

#[tokio::test]
async fn the_production_policy_refuses_a_webhook_to_loopback_and_it_is_not_retried() {
    let app = TestApp::new(embedded_store().await);
    let hook = receiver(vec![]).await;
    let strict = OutboundClient::for_webhooks(Policy::Strict);
    // Plain http is refused before anything is sent; https to a loopback name at connect.
    let refused = delivery(&app, &hook.url)
        .send(&strict, &app.state.secrets, 1)
        .await;
    assert!(
        matches!(refused, Err(DeliveryError::Refused(_))),
        "{refused:?}"
    );
    let https_loopback = delivery(&app, "https://localhost/hooks/orders")
        .send(&strict, &app.state.secrets, 1)
        .await;
    assert!(
        matches!(https_loopback, Err(DeliveryError::Refused(_))),
        "{https_loopback:?}"
    );
    assert!(hook.calls().is_empty());
    // A secret sealed for another store doesn't open.
    let mut other = delivery(&app, &hook.url);
    other.store_id = "st_other".into();
    let local = OutboundClient::for_webhooks(Policy::LocalStack);
    assert!(matches!(
        other.send(&local, &app.state.secrets, 1).await,
        Err(DeliveryError::Secret)
    ));
    let _ = BotJob::Webhook(other).to_json();
}

/// On both stores: a Pix order in free conversation, through the simulator, the gateway
/// and the worker (the fake model calls the cart tools). The customer's confirmation ends
/// with the QR image of the order's Pix code; the owner's phone gets the order from the
/// store's linked number; the webhook gets `order.placed`, signed, then `order.status` when
/// the owner accepts it.
async fn a_pix_order_reaches_the_customer_with_its_qr_and_the_kitchen_at_once(t: TestStore) {
    let llm = platefull_tests::fake_llm::llm().await;
    let k = Kitchen::with_llm(t, true, Some(&llm.url)).await;
    let hook = receiver(vec![]).await;
    let (status, body) = k
        .api(
            Method::PUT,
            "/config",
            Some(json!({"debounceSeconds": 0, "botName": "Maria"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = k
        .api(Method::PUT, "/menu", Some(super::orders::menu()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut profile = super::orders::profile(true);
    profile["notifyPhones"] = json!(["+5511988887777"]);
    profile["orderWebhook"] = json!({"url": hook.url, "secret": "whsec_0123456789abcdef"});
    let (status, body) = k.api(Method::PUT, "/profile", Some(profile)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let script = &llm.script;
    script.calls(&[
        (
            "add_to_cart",
            r#"{"itemId":"calabresa","quantity":1,"optionIds":["grande"]}"#,
        ),
        ("add_to_cart", r#"{"itemId":"coca-2l","quantity":1}"#),
        (
            "set_fulfillment",
            r#"{"mode":"delivery","address":"Rua das Acácias, 10","neighborhood":"vila mariana"}"#,
        ),
        ("set_payment", r#"{"method":"pix"}"#),
    ]);
    script.calls(&[("request_confirmation", "{}")]);
    script.says("Confere o resumo abaixo:");
    k.sim
        .customer_message(&k.key(), CUSTOMER, "quero uma calabresa grande e uma coca 2L, entrega na Vila Mariana, Rua das Acácias 10, pago no pix", Some("M1a"))
        .await
        .unwrap();
    let summary = k.outbox(CUSTOMER, 1).await;
    assert!(
        summary.iter().any(|m| m.text.contains("Resumo do pedido")),
        "{summary:?}"
    );
    let before = summary.len();
    script.calls(&[("place_order", "{}")]);
    script.says("Pedido anotado!");
    k.sim
        .customer_message(&k.key(), CUSTOMER, "pode mandar", Some("M1b"))
        .await
        .unwrap();
    // The confirmation's texts, then its image.
    let mut sent = vec![];
    for _ in 0..500 {
        sent = k.sim.outbox(&k.key(), CUSTOMER);
        if sent.last().is_some_and(|m| m.image.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let confirmation: String = sent[before..sent.len() - 1]
        .iter()
        .map(|m| m.text.clone())
        .collect::<Vec<_>>()
        .join("\n\n");
    assert!(confirmation.contains("confirmado"), "{confirmation}");
    let code = super::orders::pix_code_in(&confirmation);
    let image = sent.last().unwrap();
    assert!(
        image.text.starts_with("QR Code Pix do pedido #0001"),
        "{}",
        image.text
    );
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(&image.image.as_ref().expect("an image").base64)
        .unwrap();
    assert_eq!(read_qr(&png), code, "the QR is the order's Pix code");
    // The owner's phone, from the linked number.
    let notice = k.outbox("5511988887777", 1).await;
    assert!(
        notice[0].text.starts_with("🔔 Novo pedido #0001"),
        "{}",
        notice[0].text
    );
    for part in [
        "Calabresa (Grande)",
        "Coca-Cola 2L",
        "Rua das Acácias, 10",
        "Pix",
    ] {
        assert!(
            notice[0].text.contains(part),
            "{part} in {}",
            notice[0].text
        );
    }
    // The webhook: placed, signed with the secret the profile sealed.
    let calls = calls_reach(&hook, 1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1);
    let (headers, body) = &calls[0];
    let signature = headers[order_webhook::SIGNATURE_HEADER].to_str().unwrap();
    let now = platefull::ids::now_ms() / 1000;
    assert!(order_webhook::verify(
        "whsec_0123456789abcdef",
        signature,
        body,
        now,
        60
    ));
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["event"], "order.placed");
    assert_eq!(event["order"]["number"], 1);
    assert_eq!(event["order"]["payment"]["pixCode"], json!(code));
    let order_id = event["order"]["id"].as_str().unwrap().to_owned();
    // Nothing noted: the owner was told.
    let (_, order) = k
        .api(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    assert!(order["history"][0].get("note").is_none(), "{order}");
    // The owner accepts it: the webhook hears of it.
    let (status, body) = k
        .api(
            Method::POST,
            &format!("/orders/{order_id}/status"),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls = calls_reach(&hook, 2, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 2);
    let event: Value = serde_json::from_str(&calls[1].1).unwrap();
    assert_eq!(
        (&event["event"], &event["order"]["status"]),
        (&json!("order.status"), &json!("accepted"))
    );
    assert_eq!(
        calls[1].0["x-platefull-delivery"],
        format!("{order_id}#1").as_str()
    );
    // One notice, one image: nothing was sent twice.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(k.sim.outbox(&k.key(), "5511988887777").len(), 1);
    let images = k
        .sim
        .outbox(&k.key(), CUSTOMER)
        .iter()
        .filter(|m| m.image.is_some())
        .count();
    assert_eq!(images, 1);
    // The customer sends a picture (the Pix receipt) while the order awaits payment: the
    // order says "comprovante recebido", the owner is told, the customer gets the fixed
    // answer (no model call), and nothing marks it paid. A second picture: no second notice.
    let calls_before = script.count();
    let before = k.sim.outbox(&k.key(), CUSTOMER).len();
    let picture = || MediaPart {
        mimetype: Some("image/jpeg".into()),
        handle: Some(MediaHandle::Inline {
            base64: "iVBORw0KGgo=".into(),
        }),
        ..MediaPart::of(MediaKind::Image)
    };
    k.sim
        .customer_media(&k.key(), CUSTOMER, picture(), Some("P1"))
        .await
        .unwrap();
    let sent = k.outbox(CUSTOMER, before + 1).await;
    assert_eq!(sent[before].text, platefull::media::plan::PROOF_REPLY);
    let notice = k.outbox("5511988887777", 2).await;
    assert!(
        notice[1]
            .text
            .starts_with("🧾 Comprovante Pix recebido do pedido #0001"),
        "{}",
        notice[1].text
    );
    assert!(notice[1].text.contains("R$ 76,90"), "{}", notice[1].text);
    let (_, order) = k
        .api(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    assert_eq!(order["payment"]["proofReceived"], true, "{order}");
    assert_eq!(order["payment"]["paid"], false, "{order}");
    assert_eq!(order["status"], "accepted");
    let last = order["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["note"],
        platefull::bot::receipts::PROOF_NOTE,
        "{order}"
    );
    k.sim
        .customer_media(&k.key(), CUSTOMER, picture(), Some("P2"))
        .await
        .unwrap();
    let sent = k.outbox(CUSTOMER, before + 2).await;
    assert_eq!(sent[before + 1].text, platefull::media::plan::PROOF_REPLY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(k.sim.outbox(&k.key(), "5511988887777").len(), 2);
    assert_eq!(script.count(), calls_before, "no model call for a receipt");
    // Once paid, a picture is just a picture.
    let (status, _) = k
        .api(Method::POST, &format!("/orders/{order_id}/paid"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, paid) = k
        .api(Method::GET, &format!("/orders/{order_id}"), None)
        .await;
    assert_eq!(paid["history"], order["history"], "one receipt note");
    let before = k.sim.outbox(&k.key(), CUSTOMER).len();
    k.sim
        .customer_media(&k.key(), CUSTOMER, picture(), Some("P3"))
        .await
        .unwrap();
    let sent = k.outbox(CUSTOMER, before + 1).await;
    assert_ne!(sent[before].text, platefull::media::plan::PROOF_REPLY);
}

/// A new order's notice goes from the line the order came in on — it just carried the
/// customer's message — without reading which slots are connected (the order turn's
/// round-trip budget); a Cloud API order's from a connected linked number if there is one
/// (a Cloud notice needs the owner's own 24-hour window), else from that number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_orders_notice_goes_from_the_line_it_came_in_on() {
    let k = Kitchen::new(embedded_store().await, true).await;
    let store = k.app.state.store.clone();
    let (status, body) = k
        .api(Method::PUT, "/menu", Some(super::orders::menu()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut profile = super::orders::profile(true);
    profile["notifyPhones"] = json!(["+5511988887777"]);
    let (status, body) = k.api(Method::PUT, "/profile", Some(profile)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let order = super::orders::place_direct_for(store.as_ref(), &k.store_id, CUSTOMER).await;
    assert_eq!(order.line, "w1");
    let profile = platefull::knowledge::load(store.as_ref(), &k.store_id)
        .await
        .unwrap()
        .profile;
    platefull::order_events::placed(
        store.as_ref(),
        k.inbound.as_ref(),
        &profile,
        &k.store_id,
        &order,
    )
    .await
    .unwrap();
    let sent = k.outbox("5511988887777", 1).await;
    assert!(sent[0].text.contains("#0001"), "{}", sent[0].text);
    let (_, shown) = k
        .api(Method::GET, &format!("/orders/{}", order.id), None)
        .await;
    assert!(shown["history"][0].get("note").is_none(), "{shown}");
    // A notice about a Cloud API customer's order is queued on that number and sent from
    // the connected linked one (the owner's phone needs no 24-hour window there).
    k.attach_number().await;
    let cloud = Line::Cloud {
        phone_number_id: NUMBER_ID.into(),
    };
    notify::notify_owner_phones(
        store.as_ref(),
        k.inbound.as_ref(),
        &k.store_id,
        Some(&cloud),
        &["5511988887777".to_owned()],
        "Novo pedido #0002",
        "order#cloud-2",
    )
    .await
    .unwrap();
    let sent = k.outbox("5511988887777", 2).await;
    assert_eq!(sent[1].text, "Novo pedido #0002");
    assert!(
        k.graph.script.requests().is_empty(),
        "the Cloud API was not used"
    );
}

/// A customer of the store's Cloud API number says `text` (Meta's webhook, signed).
async fn cloud_customer_says(k: &Kitchen, id: &str, text: &str) {
    let now = platefull::ids::now_ms() / 1000;
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": id, "timestamp": now.to_string(), "type": "text",
                "text": {"body": text}}]}}]}]})
    .to_string();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/webhooks/whatsapp")
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            cloud_api::sign(stack::APP_SECRET, body.as_bytes()),
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    let (status, answer) = k.app.send(request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A Pix order taken on a Cloud API number: its confirmation's QR image goes through the
/// Graph API's media upload, then an image message naming the upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pix_order_on_a_cloud_number_gets_its_qr_through_the_graph_media_upload() {
    let llm = platefull_tests::fake_llm::llm().await;
    let k = Kitchen::with_llm(embedded_store().await, false, Some(&llm.url)).await;
    k.attach_number().await;
    let (status, body) = k
        .api(Method::PUT, "/config", Some(json!({"debounceSeconds": 0})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = k
        .api(Method::PUT, "/menu", Some(super::orders::menu()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = k
        .api(Method::PUT, "/profile", Some(super::orders::profile(true)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let script = &llm.script;
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":1}"#),
        ("set_fulfillment", r#"{"mode":"pickup"}"#),
        ("set_payment", r#"{"method":"pix"}"#),
    ]);
    script.calls(&[("request_confirmation", "{}")]);
    script.says("Confere:");
    cloud_customer_says(&k, "wamid.K1", "uma portuguesa pra retirar, no pix").await;
    let texts = |requests: &[(String, Value, Option<String>)]| {
        requests
            .iter()
            .filter_map(|(_, body, _)| body["text"]["body"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    for _ in 0..500 {
        if texts(&k.graph.script.requests())
            .iter()
            .any(|t| t.contains("Resumo do pedido"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    script.calls(&[("place_order", "{}")]);
    script.says("Anotado!");
    cloud_customer_says(&k, "wamid.K2", "pode mandar").await;
    let mut image = None;
    for _ in 0..500 {
        image = k
            .graph
            .script
            .requests()
            .into_iter()
            .find(|(_, body, _)| body["type"] == "image");
        if image.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (path, body, _) = image.expect("an image message");
    assert_eq!(path, format!("/{NUMBER_ID}/messages"));
    assert_eq!(body["to"], CUSTOMER);
    assert!(
        body["image"]["caption"]
            .as_str()
            .unwrap()
            .starts_with("QR Code Pix do pedido #0001"),
        "{body}"
    );
    let media = k.graph.media.lock().unwrap().clone();
    assert_eq!(media.len(), 1, "one upload");
    assert_eq!(body["image"]["id"], media[0].id.as_str());
    let confirmation = texts(&k.graph.script.requests()).join("\n\n");
    let code = super::orders::pix_code_in(&confirmation);
    assert_eq!(
        read_qr(&media[0].bytes),
        code,
        "the uploaded QR is the order's Pix code"
    );
}

/// A store that sends accepted orders to the fake Saipos Order API: an app whose order
/// routes queue on an inbound queue (dead letters after 3 receives) a worker takes from,
/// its Saipos client at the fake; the menu (Portuguesa with a `saiposCode`) and the profile
/// with `saiposOrders` set through the API.
struct SaiposShop {
    app: TestApp,
    fake: FakeSaiposOrder,
    store_id: String,
    api_key: String,
    dead: Arc<MemoryQueue>,
    _stop: watch::Sender<bool>,
}

impl SaiposShop {
    async fn new(t: TestStore) -> Self {
        let fake = fake_saipos_order::fake_saipos_order().await;
        let dead = Arc::new(MemoryQueue::standard(Duration::from_secs(1)));
        let inbound = Arc::new(
            MemoryQueue::standard(Duration::from_millis(300)).with_dead_letters(3, dead.clone()),
        );
        let notices: Arc<dyn Queue> = inbound.clone();
        let app = TestApp::new(t).with_state(|state| state.notices = Some(notices));
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let bot = Bot {
            saipos_orders: Arc::new(OrderApi::new(Policy::LocalStack, &fake.url)),
            ..app.bot(
                Arc::new(platefull::bot::llm::Offline),
                inbound.clone(),
                stack::fifo_queue(),
            )
        };
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(worker::run_local(Arc::new(bot), stopped));
        let shop = Self {
            app,
            fake,
            store_id: wa.store_id,
            api_key: wa.api_key,
            dead,
            _stop: stop,
        };
        let mut menu = super::orders::menu();
        menu["categories"][0]["items"][1]["saiposCode"] = json!("PORT-01");
        let (status, body) = shop.api(Method::PUT, "/menu", Some(menu)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        shop
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!("/api/client/{}{path}", self.store_id);
        self.app
            .call(method, &path, Some(&self.api_key), body)
            .await
    }

    /// A new order of today from `chat` (one order a chat: a chat's next order needs its
    /// cart), accepted through the route.
    async fn accepted_order(&self, chat: &str) -> String {
        let order =
            super::orders::place_direct_for(self.app.state.store.as_ref(), &self.store_id, chat)
                .await;
        let path = format!("/orders/{}/status", order.id);
        let (status, body) = self
            .api(Method::POST, &path, Some(json!({"status": "accepted"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        order.id
    }

    /// The order's `saipos` once it is `want` (waits up to 10 s).
    async fn saipos_of(&self, order_id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..500 {
            let (status, order) = self
                .api(Method::GET, &format!("/orders/{order_id}"), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{order}");
            last = order["saipos"].clone();
            if last["status"] == want {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{order_id}: saipos is {last}, never {want}");
    }
}

/// On both stores: the Saipos Order API credentials are kept with the secret sealed and
/// write-only; an accepted order is sent once with our id as `order_id`, its items'
/// `saiposCode`s, in reais; a 5xx is retried and then the order shows `sent`; a duplicate
/// (904) is a success; an expired token (901) costs one new `/auth`; a validation refusal
/// (902) shows on the order as `failed` and is not retried; a new or cancelled order is
/// not sent.
async fn accepted_orders_go_to_saipos_once_and_what_went_wrong_shows_on_the_order(t: TestStore) {
    let shop = SaiposShop::new(t).await;
    let fake = &shop.fake;
    // Bad credentials are refused with the field named; nothing saved.
    let mut profile = super::orders::profile(true);
    profile["saiposOrders"] = json!({"partnerId": "partner 123", "storeCode": "77", "secret": "x"});
    let (status, body) = shop
        .api(Method::PUT, "/profile", Some(profile.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "saiposOrders.partnerId", "{body}");
    profile["saiposOrders"] = json!({"partnerId": fake_saipos_order::PARTNER, "storeCode": "77"});
    let (status, body) = shop
        .api(Method::PUT, "/profile", Some(profile.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "saiposOrders.secret", "{body}");
    profile["saiposOrders"]["secret"] = json!(fake_saipos_order::SECRET);
    let (status, body) = shop
        .api(Method::PUT, "/profile", Some(profile.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["saiposOrders"],
        json!({"partnerId": fake_saipos_order::PARTNER, "storeCode": "77", "secretSet": true})
    );
    // A PUT without the secret keeps it; the stored profile holds it sealed only.
    profile["saiposOrders"] = json!({"partnerId": fake_saipos_order::PARTNER, "storeCode": "77"});
    let (status, body) = shop.api(Method::PUT, "/profile", Some(profile)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saiposOrders"]["secretSet"], true);
    let stored = platefull::knowledge::load(shop.app.state.store.as_ref(), &shop.store_id)
        .await
        .unwrap()
        .profile;
    let stored = serde_json::to_string(&stored).unwrap();
    assert!(!stored.contains(fake_saipos_order::SECRET), "{stored}");

    // Accepted, a 503 first: retried, then sent; one /auth.
    fake.script(vec![(503, json!({"errorMessage": "indisponível"}))]);
    let first = shop.accepted_order(CUSTOMER).await;
    let saipos = shop.saipos_of(&first, "sent").await;
    assert_eq!(saipos["attempts"], 2, "{saipos}");
    assert!(saipos.get("error").is_none(), "{saipos}");
    let posted = fake.posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(fake.auths(), 1);
    let (auth, body) = &posted[1];
    assert_eq!(auth, "jwt-1");
    assert_eq!(body["order_id"], first.as_str());
    assert_eq!(body["cod_store"], "77");
    assert_eq!(body["total_amount"], json!(52.9));
    assert_eq!(body["order_method"]["mode"], "TAKEOUT");
    assert_eq!(body["customer"]["phone"], CUSTOMER);
    assert_eq!(
        body["items"],
        json!([{"integration_code": "PORT-01", "desc_item": "Portuguesa", "quantity": 1,
            "unit_price": 52.9, "choice_items": []}])
    );
    assert_eq!(
        body["payment_types"],
        json!([{"code": "DIN", "amount": 52.9}])
    );

    // Saipos already has the next one (a duplicate): a success, sent once more only.
    let before = fake.posted().len();
    let second_id = shop.accepted_order_known_to(fake, "5511999990002").await;
    let saipos = shop.saipos_of(&second_id, "sent").await;
    assert_eq!(saipos["attempts"], 1, "{saipos}");
    assert_eq!(fake.posted().len(), before + 1);

    // The token expired: one new /auth, then sent.
    fake.expire_tokens();
    let third = shop.accepted_order("5511999990003").await;
    shop.saipos_of(&third, "sent").await;
    assert_eq!(fake.auths(), 2);
    assert_eq!(fake.posted().last().unwrap().0, "jwt-2");

    // A validation refusal: failed, with Saipos's reason, not retried.
    fake.script(vec![(
        400,
        json!({"errorMessage": "integration_code inexistente", "errorCode": 902}),
    )]);
    let fourth = shop.accepted_order("5511999990004").await;
    let saipos = shop.saipos_of(&fourth, "failed").await;
    let error = saipos["error"].as_str().unwrap();
    assert!(
        error.contains("902") && error.contains("integration_code inexistente"),
        "{error}"
    );
    let posted = fake.posted().len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fake.posted().len(), posted, "not retried");
    assert!(shop.dead.bodies().is_empty());

    // A new order, or one cancelled, is not sent.
    let fifth = super::orders::place_direct_for(
        shop.app.state.store.as_ref(),
        &shop.store_id,
        "5511999990005",
    )
    .await;
    let (status, body) = shop
        .api(
            Method::POST,
            &format!("/orders/{}/status", fifth.id),
            Some(json!({"status": "cancelled", "reason": "sem massa"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, order) = shop
        .api(Method::GET, &format!("/orders/{}", fifth.id), None)
        .await;
    assert!(order.get("saipos").is_none(), "{order}");
    assert_eq!(fake.posted().len(), posted);
}

impl SaiposShop {
    /// [`SaiposShop::accepted_order`] for an order Saipos already has.
    async fn accepted_order_known_to(&self, fake: &FakeSaiposOrder, chat: &str) -> String {
        let order =
            super::orders::place_direct_for(self.app.state.store.as_ref(), &self.store_id, chat)
                .await;
        fake.knows(&order.id);
        let path = format!("/orders/{}/status", order.id);
        let (status, body) = self
            .api(Method::POST, &path, Some(json!({"status": "accepted"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        order.id
    }
}

/// Every backed-off attempt failing: the order shows `failed` with the reason and the job
/// ends in the dead letters (after the queue's own receives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saipos_order_that_keeps_failing_shows_failed_and_ends_in_the_dead_letters() {
    let shop = SaiposShop::new(embedded_store().await).await;
    let mut profile = super::orders::profile(true);
    profile["saiposOrders"] = json!({"partnerId": fake_saipos_order::PARTNER,
        "storeCode": "77", "secret": fake_saipos_order::SECRET});
    let (status, body) = shop.api(Method::PUT, "/profile", Some(profile)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    shop.fake.script(vec![
        (
            500,
            json!({"errorCode": 900, "errorMessage": "erro interno"})
        );
        100
    ]);
    let id = shop.accepted_order(CUSTOMER).await;
    let retrying = shop.saipos_of(&id, "retrying").await;
    assert!(
        retrying["error"].as_str().unwrap().contains("900"),
        "{retrying}"
    );
    let mut dead_job = None;
    for _ in 0..1000 {
        if let Some(body) = shop.dead.bodies().first() {
            dead_job = Some(body.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead_job: Value = serde_json::from_str(&dead_job.expect("dead-lettered")).unwrap();
    assert_eq!(dead_job["type"], "saiposOrder");
    assert_eq!(dead_job["orderId"], id.as_str());
    let saipos = shop.saipos_of(&id, "failed").await;
    assert!(
        saipos["error"].as_str().unwrap().contains("900"),
        "{saipos}"
    );
    assert_eq!(
        shop.fake.posted().len() as u32,
        platefull::saipos::orders::BACKED_OFF_ATTEMPTS - 1 + 3
    );
}
