//! WhatsApp slots end to end, in-process: the session routes, the command queue, the
//! gateway and the simulator transport over both stores. Start → QR (decoded like a phone
//! camera would) → pair → connected → logout; idempotent commands; credentials that survive
//! a gateway restart; unlink from the phone; reconnects; leases between two gateways. With
//! the bot worker behind it (fake LLM): a batch of chat messages the gateway could not
//! queue is refused and, redelivered, answered once; a panic in one slot stops only that
//! slot, which comes back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use base64::Engine;
use platefull::bot::worker;
use platefull::queue::faulty::FaultyQueue;
use platefull::queue::memory::MemoryQueue;
use platefull::queue::Queue;
use platefull::store::keys;
use platefull::whatsapp::commands::SessionCommand;
use platefull::whatsapp::events::{ConnectionEvent, SlotKey};
use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::{SimError, Simulator, SimulatorTransport};
use platefull::whatsapp::slots;
use platefull::whatsapp::transport::{Connection, Inbound, Transport, TransportError};
use platefull_tests::fake_llm::{self, Fake};
use platefull_tests::stack::{self, GatewayProcess};
use platefull_tests::{embedded_store, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

mod lifecycle;

/// Decodes a QR PNG data URL back to its payload, as a phone camera would.
fn scan(data_url: &str) -> String {
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            data_url
                .strip_prefix("data:image/png;base64,")
                .expect("a PNG data URL"),
        )
        .unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    img.detect_grids()[0].decode().unwrap().1
}

fn config(lease_ms: u64) -> GatewayConfig {
    GatewayConfig {
        lease: Duration::from_millis(lease_ms),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        ..GatewayConfig::default()
    }
}

/// The store's three slots as `GET /api/whatsapp/{storeId}/sessions` shows them.
async fn sessions(app: &TestApp, store_id: &str, api_key: &str) -> Vec<Value> {
    let path = format!("/api/whatsapp/{store_id}/sessions");
    let (status, body) = app.call(Method::GET, &path, Some(api_key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

struct Harness {
    app: TestApp,
    sim: Arc<Simulator>,
    commands: Arc<MemoryQueue>,
    inbound: Arc<MemoryQueue>,
    store_id: String,
    api_id: String,
    api_key: String,
}

impl Harness {
    async fn new(t: TestStore) -> (Self, GatewayProcess) {
        let sim = Simulator::new("http://localhost");
        let commands = stack::fifo_queue();
        let app = TestApp::new(t).with_sessions(commands.clone(), Duration::from_secs(3), &sim);
        let wa = app.whatsapp("alice", "Loja").await;
        let h = Self {
            store_id: wa.store_id,
            api_id: wa.id,
            api_key: wa.api_key,
            app,
            sim,
            commands,
            inbound: stack::standard_queue(),
        };
        let gateway = h.gateway(h.commands.clone(), Some(h.inbound.clone()), config(3_000));
        (h, gateway)
    }

    /// Another gateway process over the same store and simulator.
    fn gateway(
        &self,
        commands: Arc<dyn Queue>,
        inbound: Option<Arc<dyn Queue>>,
        config: GatewayConfig,
    ) -> GatewayProcess {
        let queues = GatewayQueues {
            commands,
            inbound,
            outbound: None,
        };
        GatewayProcess::spawn(self.app.gateway(&self.sim, queues, config))
    }

    fn key(&self, slot: u8) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot,
        }
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.app
            .call(
                Method::POST,
                &format!("/api/whatsapp/{}/{path}", self.store_id),
                Some(&self.api_key),
                None,
            )
            .await
    }

    async fn slots(&self) -> Vec<Value> {
        sessions(&self.app, &self.store_id, &self.api_key).await
    }

    /// Polls the sessions until slot `n` has `status` (or fails after 5 s).
    async fn wait_for(&self, n: usize, status: &str) -> Value {
        for _ in 0..250 {
            let slots = self.slots().await;
            if slots[n - 1]["status"] == status {
                return slots[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("slot {n} never became {status}: {:?}", self.slots().await);
    }

    /// The connection (user API) once its status is `status`: the gateway refreshes it
    /// from the slots in a write of its own right after the slot's, so a reader may see
    /// the slot first. Gives up (and returns what it saw) after 5 s.
    async fn wait_for_connection(&self, status: &str) -> Value {
        let path = format!("/api/user-apis/{}", self.api_id);
        let mut api = Value::Null;
        for _ in 0..250 {
            api = self
                .app
                .call(Method::GET, &path, Some(&self.app.token("alice")), None)
                .await
                .1;
            if api["status"] == status {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        api
    }

    /// Starts slot 1 and pairs it through the link in its QR code.
    async fn pair(&self, phone: &str) -> Value {
        let (status, started) = self.post("1/start").await;
        assert_eq!(status, StatusCode::OK, "{started}");
        let link = scan(started["qrCode"].as_str().expect("a QR code"));
        let path = link.strip_prefix("http://localhost").unwrap();
        let (status, paired) = self
            .app
            .call(Method::GET, &format!("{path}&phone={phone}"), None, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{paired}");
        self.wait_for(1, "connected").await
    }
}

async fn start_shows_a_qr_that_pairs_then_logout_unlinks(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    let (status, started) = h.post("1/start").await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["success"], true);
    assert_eq!(started["status"], "qrcode");
    let link = scan(started["qrCode"].as_str().unwrap());
    assert!(
        link.starts_with(&format!(
            "http://localhost/dev/simulator/{}/1/pair?code=",
            h.store_id
        )),
        "{link}"
    );
    let slots = h.slots().await;
    assert_eq!(slots[0]["status"], "qrcode");
    assert_eq!(slots[0]["qrCode"], started["qrCode"]);

    let (status, wrong) = h
        .app
        .call(
            Method::GET,
            &format!("/dev/simulator/{}/1/pair?code=nope", h.store_id),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    let path = link.strip_prefix("http://localhost").unwrap();
    let (status, _) = h
        .app
        .call(
            Method::POST,
            &format!("{path}&phone=5511988887777"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let slot = h.wait_for(1, "connected").await;
    assert_eq!(slot["phone"], "5511988887777");
    assert_eq!(slot["isActive"], true);
    assert!(slot.get("qrCode").is_none());
    let slots = h.slots().await;
    assert!(
        slots[1..].iter().all(|s| s["status"] == "disconnected"),
        "other slots unchanged: {slots:?}"
    );
    let api = h.wait_for_connection("connected").await;
    assert_eq!(
        api["status"], "connected",
        "the connection reflects its slots"
    );
    let raw = slots::get_slot(h.app.state.store.as_ref(), &h.key(1))
        .await
        .unwrap()
        .unwrap();
    assert!(
        raw["credentials"]
            .as_str()
            .is_some_and(|c| !c.contains("5511988887777")),
        "credentials sealed: {raw:?}"
    );

    let (status, out) = h.post("1/logout").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "disconnected");
    let slot = &h.slots().await[0];
    assert!(slot.get("phone").is_none(), "{slot}");
    let raw = slots::get_slot(h.app.state.store.as_ref(), &h.key(1))
        .await
        .unwrap()
        .unwrap();
    assert!(raw.get("credentials").is_none(), "credentials wiped");
    let api = h.wait_for_connection("disconnected").await;
    assert_eq!(api["status"], "disconnected");
    gw.shutdown();
}

async fn pairing_by_phone_number_shows_a_code_that_links_that_phone(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    let path = format!("/api/whatsapp/{}/2/start", h.store_id);
    let start = |body: Value| {
        h.app
            .call(Method::POST, &path, Some(&h.api_key), Some(body))
    };
    for bad in [
        json!({"phoneNumber": "123"}),
        json!({"phoneNumber": "55 11 98888-7777"}),
    ] {
        let (status, err) = start(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["field"], "phoneNumber");
    }
    let (status, err) = start(json!({"phone": "5511988887777"})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {err}"
    );
    assert_eq!(
        h.slots().await[1]["status"],
        "disconnected",
        "bad input changed nothing"
    );
    // Already showing a QR: asking for a code restarts pairing with the phone.
    let (status, qr_only) = h.post("2/start").await;
    assert_eq!(status, StatusCode::OK, "{qr_only}");
    assert!(qr_only.get("pairingCode").is_none());
    let (status, started) = start(json!({"phoneNumber": "+5511977776666"})).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let code = started["pairingCode"]
        .as_str()
        .expect("a pairing code")
        .to_owned();
    assert_eq!(code.len(), 9, "XXXX-XXXX: {code}");
    assert!(started["qrCode"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    assert_eq!(h.slots().await[1]["pairingCode"], code.as_str());
    // Typing the code on the phone links that phone.
    let phone = h.sim.pair(&h.key(2), Some(&code), None).await.unwrap();
    assert_eq!(phone, "5511977776666");
    let slot = h.wait_for(2, "connected").await;
    assert_eq!(slot["phone"], "5511977776666");
    assert!(
        slot.get("pairingCode").is_none(),
        "the code is gone once linked"
    );
    gw.shutdown();
}

async fn commands_are_idempotent(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    let (_, first) = h.post("1/start").await;
    let (_, second) = h.post("1/start").await;
    assert_eq!(second["status"], "qrcode", "{second}");
    assert_eq!(
        second["qrCode"], first["qrCode"],
        "the QR being shown is returned again"
    );
    assert_eq!(h.sim.open_connections(), 1);
    h.pair("5511977776666").await;
    let (_, again) = h.post("1/start").await;
    assert_eq!(again["status"], "connected");
    assert!(again["message"]
        .as_str()
        .unwrap()
        .contains("already connected"));
    // The same command delivered twice changes nothing.
    h.commands
        .send(
            platefull::queue::Outgoing::new(
                json!({"type": "start", "slot": {"storeId": h.store_id, "slot": 1}}).to_string(),
            )
            .in_group(h.key(1).to_string(), "start-again"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.sim.open_connections(), 1);
    assert_eq!(h.slots().await[0]["status"], "connected");
    let (_, out) = h.post("1/logout").await;
    assert_eq!(out["status"], "disconnected");
    let (_, out) = h.post("1/logout").await;
    assert!(
        out["message"].as_str().unwrap().contains("nothing to do"),
        "{out}"
    );
    gw.shutdown();
}

async fn bad_slots_and_callers_are_refused(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    for slot in ["0", "4", "x", "-1"] {
        for action in ["start", "logout"] {
            let (status, err) = h.post(&format!("{slot}/{action}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{slot}/{action}: {err}");
            assert_eq!(err["error"]["field"], "slot");
        }
    }
    let bob = h.app.token("bob");
    let (status, _) = h
        .app
        .call(
            Method::POST,
            &format!("/api/whatsapp/{}/1/start", h.store_id),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = h.app.whatsapp("bob", "B").await;
    let (status, _) = h
        .app
        .call(
            Method::POST,
            &format!("/api/whatsapp/{}/1/start", h.store_id),
            Some(&other.api_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h
        .app
        .call(
            Method::POST,
            &format!("/api/whatsapp/{}/1/start", h.store_id),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(h.commands.is_empty(), "refused calls queue nothing");
    assert!(h
        .slots()
        .await
        .iter()
        .all(|s| s["status"] == "disconnected"));
    gw.shutdown();
}

async fn the_link_survives_a_gateway_restart(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    h.pair("5511966665555").await;
    gw.shutdown();
    let gw = h.gateway(h.commands.clone(), None, config(3_000));
    let (status, started) = h.post("1/start").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        started["status"], "connected",
        "reconnected with stored credentials, no QR: {started}"
    );
    assert_eq!(started["phone"], "5511966665555");
    gw.shutdown();
}

async fn unlinking_from_the_phone_wipes_the_slot(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    h.pair("5511955554444").await;
    h.sim.unlink_from_phone(&h.key(1)).await.unwrap();
    let slot = h.wait_for(1, "disconnected").await;
    assert!(
        slot["lastError"].as_str().unwrap().contains("desvinculado"),
        "{slot}"
    );
    let raw = slots::get_slot(h.app.state.store.as_ref(), &h.key(1))
        .await
        .unwrap()
        .unwrap();
    assert!(raw.get("credentials").is_none());
    gw.shutdown();
}

async fn a_dropped_connection_reconnects_and_records_why(t: TestStore) {
    let (h, gw) = Harness::new(t).await;
    h.pair("5511944443333").await;
    h.sim.drop_connection(&h.key(1)).await.unwrap();
    assert_eq!(h.sim.open_connections(), 0);
    for _ in 0..250 {
        if h.sim.open_connections() == 1 && h.slots().await[0]["status"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.sim.open_connections(), 1, "the gateway reconnected");
    let slot = h.wait_for(1, "connected").await;
    assert_eq!(slot["phone"], "5511944443333");
    // The customer's messages reach the inbound queue, grouped by chat.
    h.sim
        .customer_message(
            &h.key(1),
            "5511999990000",
            "Oi, vocês têm pizza de calabresa?",
            Some("WAMID1"),
        )
        .await
        .unwrap();
    let got = h.inbound.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["storeId"], h.store_id);
    assert_eq!(body["slot"], 1);
    assert_eq!(body["message"]["id"], "WAMID1");
    assert_eq!(body["message"]["fromMe"], false);
    assert_eq!(body["message"]["text"], "Oi, vocês têm pizza de calabresa?");
    gw.shutdown();
}

async fn two_gateways_never_hold_one_slot_and_a_dead_ones_slots_are_taken_over(t: TestStore) {
    let (h, a) = Harness::new(t).await;
    h.pair("5511933332222").await;
    let store = h.app.state.store.clone();
    assert_eq!(
        slots::lease_owner(store.as_ref(), &h.key(1))
            .await
            .unwrap()
            .as_deref(),
        Some(a.gateway.task_id())
    );
    // B gets its own commands for slot 1: it must not connect while A holds the lease.
    let b_commands = stack::fifo_queue();
    let b = h.gateway(b_commands.clone(), None, config(1_000));
    b_commands
        .send(
            platefull::queue::Outgoing::new(
                json!({"type": "start", "slot": {"storeId": h.store_id, "slot": 1}}).to_string(),
            )
            .in_group(h.key(1).to_string(), "b-start"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        b.gateway.running().is_empty(),
        "B stays out while A's lease is live"
    );
    assert_eq!(h.sim.open_connections(), 1);
    // A crashes: its lease expires (3 s) and B takes the slot over, with the stored link.
    a.kill();
    let mut owner = None;
    for _ in 0..100 {
        owner = slots::lease_owner(store.as_ref(), &h.key(1)).await.unwrap();
        if owner.as_deref() == Some(b.gateway.task_id()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        owner.as_deref(),
        Some(b.gateway.task_id()),
        "B took over within the lease period"
    );
    let slot = h.wait_for(1, "connected").await;
    assert_eq!(slot["phone"], "5511933332222");
    assert_eq!(b.gateway.running(), vec![h.key(1)]);
    b.shutdown();
    assert_eq!(
        slots::lease_owner(store.as_ref(), &h.key(1)).await.unwrap(),
        None,
        "released on graceful shutdown"
    );
}

for_each_store!(
    start_shows_a_qr_that_pairs_then_logout_unlinks,
    pairing_by_phone_number_shows_a_code_that_links_that_phone,
    commands_are_idempotent,
    bad_slots_and_callers_are_refused,
    the_link_survives_a_gateway_restart,
    unlinking_from_the_phone_wipes_the_slot,
    a_dropped_connection_reconnects_and_records_why,
    two_gateways_never_hold_one_slot_and_a_dead_ones_slots_are_taken_over,
);

/// The simulator, except that sending to [`POISON`] panics in the connection (a malformed
/// frame) and that the next `panicking_opens` opens of slot 1 panic.
struct PanickyTransport {
    sim: SimulatorTransport,
    panicking_opens: AtomicUsize,
}

const POISON: &str = "5511900000666";

#[async_trait]
impl Transport for PanickyTransport {
    fn kind(&self) -> &'static str {
        "panicky-simulator"
    }

    async fn open(
        &self,
        slot: &SlotKey,
        fence: &platefull::whatsapp::slots::Fence,
        credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
        inbound: Arc<dyn Inbound>,
    ) -> Result<Box<dyn Connection>, TransportError> {
        let armed = slot.slot == 1
            && self
                .panicking_opens
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        assert!(!armed, "malformed frame while connecting {slot}");
        let inner = self
            .sim
            .open(slot, fence, credentials, pair_phone, events, inbound)
            .await?;
        Ok(Box::new(PanickyConnection(inner)))
    }
}

struct PanickyConnection(Box<dyn Connection>);

#[async_trait]
impl Connection for PanickyConnection {
    async fn send_text(&self, to: &str, text: &str, id: &str) -> Result<String, TransportError> {
        assert!(to != POISON, "malformed frame while sending");
        self.0.send_text(to, text, id).await
    }

    async fn logout(&self) -> Result<(), TransportError> {
        self.0.logout().await
    }

    async fn close(&self) {
        self.0.close().await
    }
}

/// A gateway over `transport` with the bot worker behind it (fake LLM, debounce off), its
/// inbound queue faulty on demand, and slots 1 and 2 paired.
struct Answering {
    app: TestApp,
    sim: Arc<Simulator>,
    llm: Fake,
    inbound: Arc<FaultyQueue>,
    queued: Arc<MemoryQueue>,
    gateway: Arc<Gateway>,
    store_id: String,
    _stop: watch::Sender<bool>,
}

impl Answering {
    async fn new(transport: impl FnOnce(Arc<Simulator>) -> Arc<dyn Transport>) -> Self {
        let app = TestApp::new(embedded_store().await);
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let llm = fake_llm::llm().await;
        let sim = Simulator::new("http://localhost");
        let queued = stack::standard_queue();
        let inbound = Arc::new(FaultyQueue::new(queued.clone()));
        let outbound = stack::fifo_queue();
        let bot = Arc::new(app.bot_over_fake_llm(&llm.url, inbound.clone(), outbound.clone()));
        let gateway = Gateway::new(
            app.state.store.clone(),
            app.state.secrets.clone(),
            transport(sim.clone()),
            GatewayQueues {
                commands: stack::fifo_queue(),
                inbound: Some(inbound.clone()),
                outbound: Some(outbound),
            },
            GatewayConfig {
                pacing: platefull::bot::reply::Pacing::none(),
                backoff_base: Duration::from_millis(300),
                backoff_cap: Duration::from_secs(1),
                ..GatewayConfig::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(gateway.clone().run(stopped.clone()));
        tokio::spawn(worker::run_local(bot, stopped));
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/api/client/{}/config", wa.store_id),
                Some(&wa.api_key),
                Some(json!({"botName": "Maria", "storeType": "pizzaria", "debounceSeconds": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let a = Self {
            app,
            sim,
            llm,
            inbound,
            queued,
            gateway,
            store_id: wa.store_id,
            _stop: stop,
        };
        for slot in [1, 2] {
            a.pair(slot).await;
        }
        a
    }

    fn key(&self, slot: u8) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot,
        }
    }

    async fn pair(&self, slot: u8) {
        let command = SessionCommand::Start {
            slot: self.key(slot),
            pair_phone: None,
        };
        self.gateway.handle(command).await.unwrap();
        let phone = format!("551190000000{slot}");
        for _ in 0..200 {
            if self
                .sim
                .pair(&self.key(slot), None, Some(&phone))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.wait_connected(slot).await;
    }

    async fn slot(&self, slot: u8) -> Value {
        slots::get_slot(self.app.state.store.as_ref(), &self.key(slot))
            .await
            .unwrap()
            .map(Value::Object)
            .expect("the slot")
    }

    /// Waits (5 s at most) until the slot is connected and active.
    async fn wait_connected(&self, slot: u8) {
        for _ in 0..500 {
            let item = self.slot(slot).await;
            if item["status"] == "connected" && item["isActive"] == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("slot {slot} never connected: {}", self.slot(slot).await);
    }

    fn outbox(&self, slot: u8, chat: &str) -> Vec<String> {
        self.sim
            .outbox(&self.key(slot), chat)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// Waits until `chat` on `slot` got `n` replies (5 s at most), then 300 ms more, so that
    /// a duplicate would show too.
    async fn replies(&self, slot: u8, chat: &str, n: usize) -> Vec<String> {
        for _ in 0..500 {
            if self.outbox(slot, chat).len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.outbox(slot, chat)
    }

    /// A new customer writes to `slot`; how many replies they got.
    async fn answered(&self, slot: u8, chat: &str) -> usize {
        self.sim
            .customer_message(&self.key(slot), chat, "Oi", None)
            .await
            .unwrap();
        self.replies(slot, chat, 1).await.len()
    }

    /// How many history records of slot 1's `chat` the message `id` has.
    async fn records(&self, chat: &str, id: &str) -> usize {
        let prefix = format!("{}M#", keys::chat_prefix("w1", chat));
        let items = self
            .app
            .state
            .store
            .query(&keys::store_pk(&self.store_id), &prefix)
            .await
            .unwrap();
        items
            .iter()
            .filter(|item| {
                item["sk"]
                    .as_str()
                    .is_some_and(|sk| sk.ends_with(&format!("#{id}")))
            })
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_gateway_could_not_queue_is_refused_then_redelivered_and_answered_once() {
    let a = Answering::new(|sim| Arc::new(SimulatorTransport(sim))).await;
    let (ana, bia) = ("5511911110001", "5511911110002");
    let batch = [
        (ana, "Oi, tem pizza?", "3EB0AAA1"),
        (bia, "Vocês entregam?", "3EB0AAA2"),
    ];
    // The inbound queue is down: the batch is refused (WhatsApp keeps it), nothing queued.
    a.inbound.fail_sends();
    let refused = a.sim.customer_batch(&a.key(1), &batch).await;
    assert!(
        matches!(refused, Err(SimError::NotQueued(_))),
        "{refused:?}"
    );
    assert!(a.queued.is_empty());
    // Down after the first message: the batch is refused still.
    a.inbound.fail_sends_after(1);
    assert!(a.sim.customer_batch(&a.key(1), &batch).await.is_err());
    // Back: WhatsApp delivers the batch again, and once more (the acknowledgement was lost).
    a.inbound.heal();
    a.sim.customer_batch(&a.key(1), &batch).await.unwrap();
    a.sim.customer_batch(&a.key(1), &batch).await.unwrap();
    assert_eq!(a.replies(1, ana, 1).await.len(), 1, "one reply to Ana");
    assert_eq!(a.replies(1, bia, 1).await.len(), 1, "one reply to Bia");
    assert_eq!(
        a.llm.script.count(),
        2,
        "the model was asked once per customer"
    );
    assert_eq!(a.records(ana, "3EB0AAA1").await, 1);
    assert_eq!(a.records(bia, "3EB0AAA2").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_slot_stops_only_that_slot_which_comes_back() {
    let mut armed = None;
    let a = Answering::new(|sim| {
        let transport = Arc::new(PanickyTransport {
            sim: SimulatorTransport(sim),
            panicking_opens: AtomicUsize::new(0),
        });
        armed = Some(transport.clone());
        transport
    })
    .await;
    let transport = armed.unwrap();
    // Slot 1's reply to the poisoned chat panics while sending; the restarted connection
    // then panics once more while connecting (in the slot's own task).
    transport.panicking_opens.store(1, Ordering::SeqCst);
    a.sim
        .customer_message(&a.key(1), POISON, "Oi", None)
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..500 {
        let slot = a.slot(1).await;
        let why = format!("{} {}", slot["status"], slot["lastError"]);
        if seen.last() != Some(&why) {
            seen.push(why);
        }
        if seen.iter().any(|w| w.contains("task panicked")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        seen.iter()
            .any(|w| w.contains("sending a reply panicked: malformed frame while sending")),
        "the reply's panic is on the slot: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|w| w.contains("the connection's task panicked: malformed frame while connecting")),
        "the slot task's panic is on the slot: {seen:?}"
    );
    // Meanwhile slot 2 receives and sends as ever.
    assert_eq!(a.answered(2, "5511922220002").await, 1, "slot 2 answered");
    // Slot 1 comes back with its link and answers again.
    a.wait_connected(1).await;
    assert_eq!(transport.panicking_opens.load(Ordering::SeqCst), 0);
    assert!(
        a.slot(1).await.get("lastError").is_none(),
        "cleared once connected"
    );
    assert_eq!(
        a.answered(1, "5511933330003").await,
        1,
        "slot 1 answers again"
    );
    assert_eq!(a.gateway.running(), vec![a.key(1), a.key(2)]);
    assert!(
        a.outbox(1, POISON).is_empty(),
        "the poisoned reply never went out"
    );
}

/// The long-lived binaries build with unwinding (so the supervisors above can catch a
/// panic), the Lambda functions with `abort`.
#[test]
fn the_gateway_builds_with_unwinding() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cargo = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let profile = |name: &str| {
        let start = cargo
            .find(&format!("[profile.{name}]"))
            .unwrap_or_else(|| panic!("no [profile.{name}]"));
        let rest = &cargo[start + 1..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
    };
    assert!(profile("server").contains("panic = \"unwind\""));
    assert!(profile("server").contains("inherits = \"release\""));
    assert!(profile("release").contains("panic = \"abort\""));
    let docker = std::fs::read_to_string(format!("{root}/infra/gateway.Dockerfile")).unwrap();
    assert!(
        docker.contains("cargo build --profile server"),
        "the gateway image is built with the server profile"
    );
}
