//! The WhatsApp Web lifecycle, replayed: the real gateway over each store, with the
//! scripted transport (`whatsapp_web::scripted`) that runs the real watcher and event
//! translation over whatsapp-rust 0.7.0's own `Event` values, emitted in the order the
//! library emits them and with its run loop ending where the library's ends (see
//! `whatsapp_web/lifecycle.rs`). Each case ends with the slot state, `lastError` and lease
//! the owner would expect, and no slot stuck.

use std::sync::Arc;
use std::time::{Duration, Instant};

use platefull::queue::consumer::Outcome;
use platefull::store::keys;
use platefull::whatsapp::commands::SessionCommand;
use platefull::whatsapp::events::SlotKey;
use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
use platefull::whatsapp::slots;
use platefull::whatsapp::whatsapp_web::scripted::{ScriptedClient, ScriptedWeb};
use platefull::whatsapp::whatsapp_web::watch::{Pace, SILENT_DROP};
use platefull_tests::stack;
use platefull_tests::{for_each_store, TestApp, TestStore};
use serde_json::Value;
use tokio::sync::watch;
use whatsapp_rust::chrono::TimeDelta;
use whatsapp_rust::types::events::{
    ClientOutdated, ConnectFailure, ConnectFailureReason, Connected, Event, PairingCode,
    PairingCodeRefresh, PairingQrCode, PairingQrCodesExhausted, StreamError, StreamReplaced,
    TempBanReason, TemporaryBan,
};

const PHONE: &str = "5511988880000";

struct Life {
    app: TestApp,
    web: Arc<ScriptedWeb>,
    gateway: Arc<Gateway>,
    store_id: String,
    api_key: String,
    stop: watch::Sender<bool>,
    run: tokio::task::JoinHandle<()>,
}

impl Life {
    async fn new(t: TestStore) -> Self {
        let app = TestApp::new(t);
        let wa = app.whatsapp("alice", "Loja").await;
        let pace = Pace {
            tick: Duration::from_millis(20),
            alive_every: Duration::from_millis(100),
            max_code_refreshes: 2,
        };
        let web = ScriptedWeb::new(PHONE, pace);
        let gateway = Gateway::new(
            app.state.store.clone(),
            app.state.secrets.clone(),
            web.clone(),
            GatewayQueues {
                commands: stack::fifo_queue(),
                inbound: None,
                outbound: None,
            },
            GatewayConfig {
                lease: Duration::from_millis(1_500),
                backoff_base: Duration::from_millis(50),
                backoff_cap: Duration::from_millis(200),
                ..GatewayConfig::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        let run = tokio::spawn(gateway.clone().run(stopped));
        Self {
            app,
            web,
            gateway,
            store_id: wa.store_id,
            api_key: wa.api_key,
            stop,
            run,
        }
    }

    fn key(&self) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot: 1,
        }
    }

    async fn command(&self, command: SessionCommand) -> Outcome {
        self.gateway.handle(command).await
    }

    async fn start(&self, pair_phone: Option<&str>) {
        let command = SessionCommand::Start {
            slot: self.key(),
            pair_phone: pair_phone.map(str::to_owned),
        };
        self.command(command).await.expect("start");
    }

    /// Slot 1 as the sessions route shows it.
    async fn slot(&self) -> Value {
        super::sessions(&self.app, &self.store_id, &self.api_key).await[0].clone()
    }

    /// Waits (5 s at most) until slot 1 satisfies `done`.
    async fn wait_slot(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            let slot = self.slot().await;
            if done(&slot) {
                return slot;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("slot 1 never {what}: {}", self.slot().await);
    }

    async fn wait_status(&self, status: &str) -> Value {
        self.wait_slot(&format!("became {status}"), |s| s["status"] == status)
            .await
    }

    /// Starts slot 1 and connects its client (`n`-th opened) as the library does.
    async fn connect(&self, n: usize) -> Arc<ScriptedClient> {
        self.start(None).await;
        let client = self.web.client(n).await;
        client.emit(Event::Connected(Connected::builder().build()));
        self.wait_status("connected").await;
        client
    }

    /// Waits until this gateway runs no slot (its task ended), 5 s at most.
    async fn wait_stopped(&self) {
        for _ in 0..500 {
            if self.gateway.running().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("slot 1 is still run: {:?}", self.gateway.running());
    }

    /// The raw lease record of slot 1.
    async fn lease(&self) -> Value {
        let item = self
            .app
            .state
            .store
            .get(keys::LEASES_PK, &keys::lease_sk(&self.store_id, 1))
            .await
            .unwrap()
            .expect("a lease record");
        Value::Object(item)
    }

    /// The slot was stopped for good: nobody runs it, its lease is released and unwanted
    /// (no task takes it over), and no further client is opened.
    async fn assert_stopped_unwanted(&self) {
        self.wait_stopped().await;
        let store = self.app.state.store.as_ref();
        assert_eq!(slots::lease_owner(store, &self.key()).await.unwrap(), None);
        assert_eq!(
            self.lease().await["wanted"],
            false,
            "{}",
            self.lease().await
        );
        assert!(!slots::orphaned_slots(store)
            .await
            .unwrap()
            .contains(&self.key()));
        let opens = self.web.opens();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(self.web.opens(), opens, "nothing reopened it");
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(5), self.run)
            .await
            .expect("the gateway stops at once")
            .unwrap();
    }
}

fn qr(code: &str) -> Event {
    Event::PairingQrCode(
        PairingQrCode::builder()
            .code(code.into())
            .timeout(Duration::from_secs(60))
            .build(),
    )
}

fn pairing_code(code: &str) -> Event {
    Event::PairingCode(
        PairingCode::builder()
            .code(code.into())
            .timeout(Duration::from_secs(180))
            .build(),
    )
}

fn failure(reason: ConnectFailureReason) -> Event {
    Event::ConnectFailure(ConnectFailure::builder().reason(reason).build())
}

/// `pair.rs`: six QR references unscanned, then `PairingQrCodesExhausted { disconnected:
/// true }` and `disconnect()`, which ends the run loop.
async fn an_expired_qr_stops_the_slot_and_the_next_start_opens_a_fresh_client(t: TestStore) {
    let life = Life::new(t).await;
    life.start(None).await;
    let first = life.web.client(1).await;
    first.emit(qr("2@first,ref"));
    life.wait_slot("showed a QR", |s| {
        s["status"] == "qrcode" && s["qrCode"].is_string()
    })
    .await;
    first.emit(Event::PairingQrCodesExhausted(
        PairingQrCodesExhausted::builder()
            .disconnected(true)
            .build(),
    ));
    first.end_run();
    let slot = life.wait_status("disconnected").await;
    assert!(
        slot["lastError"]
            .as_str()
            .is_some_and(|e| e.starts_with("QR expirado")),
        "{slot}"
    );
    assert!(slot.get("qrCode").is_none(), "the dead QR is gone: {slot}");
    life.assert_stopped_unwanted().await;
    // Start again: a fresh client with new codes.
    life.start(None).await;
    let second = life.web.client(2).await;
    assert!(first.closed() && !second.closed());
    second.emit(qr("2@second,ref"));
    let slot = life
        .wait_slot("showed the new QR", |s| s["status"] == "qrcode")
        .await;
    assert!(slot["qrCode"].is_string());
    assert_eq!(life.gateway.running(), vec![life.key()]);
    life.shutdown().await;
}

/// `node_io.rs` (`handle_connect_failure`): 500/503 keep the run loop (the client
/// reconnects by itself); every other reason ends it, and so does `ClientOutdated`.
async fn final_connect_failures_stop_the_slot_and_transient_ones_reconnect(t: TestStore) {
    let life = Life::new(t).await;
    let client = life.connect(1).await;
    // Transient: recorded as connecting; the library reconnects and says Connected again.
    client.emit(failure(ConnectFailureReason::ServiceUnavailable));
    let slot = life.wait_status("connecting").await;
    assert!(
        slot["lastError"].as_str().unwrap().contains("503"),
        "{slot}"
    );
    client.emit(Event::Connected(Connected::builder().build()));
    let slot = life.wait_status("connected").await;
    assert!(slot.get("lastError").is_none(), "{slot}");
    assert_eq!(life.web.opens(), 1, "the library's own reconnect, not ours");
    // Final: each stops the slot with its reason; a start afterwards opens a new client.
    let finals = [
        (failure(ConnectFailureReason::BadUserAgent), "409"),
        (failure(ConnectFailureReason::Generic), "400"),
        (failure(ConnectFailureReason::CatExpired), "413"),
        (failure(ConnectFailureReason::Experimental), "501"),
        (failure(ConnectFailureReason::TempBanned), "402"),
        (failure(ConnectFailureReason::Unknown(499)), "499"),
        (
            Event::ClientOutdated(ClientOutdated::builder().build()),
            "405",
        ),
    ];
    let mut client = client;
    for (n, (event, code)) in finals.into_iter().enumerate() {
        client.emit(event);
        client.end_run();
        let slot = life.wait_status("disconnected").await;
        let why = slot["lastError"].as_str().unwrap_or_default().to_owned();
        assert!(
            why.contains("recusou") && why.contains(code),
            "{code}: {slot}"
        );
        life.assert_stopped_unwanted().await;
        client = life.connect(n + 2).await;
    }
    life.shutdown().await;
}

/// `keepalive.rs`: a dead socket reconnects with no event, only `is_connected()` turning
/// false; the run handle may also end without any final word.
async fn silent_drops_show_connecting_and_last_seen_advances(t: TestStore) {
    let life = Life::new(t).await;
    let client = life.connect(1).await;
    let first_seen = life.slot().await["lastSeenAt"]
        .as_str()
        .expect("lastSeenAt on connect")
        .to_owned();
    // Pongs keep arriving: lastSeenAt advances.
    let mut slot = Value::Null;
    for _ in 0..100 {
        client.receive_data();
        tokio::time::sleep(Duration::from_millis(20)).await;
        slot = life.slot().await;
        if slot["lastSeenAt"].as_str() > Some(first_seen.as_str()) {
            break;
        }
    }
    assert!(
        slot["lastSeenAt"].as_str() > Some(first_seen.as_str()),
        "{first_seen} → {slot}"
    );
    // The socket dies silently: the slot says so.
    client.set_online(false);
    let slot = life.wait_status("connecting").await;
    assert_eq!(slot["isActive"], false);
    assert!(
        slot["lastError"].as_str().unwrap().contains(SILENT_DROP),
        "{slot}"
    );
    assert!(slot["lastSeenAt"].is_string(), "kept while offline: {slot}");
    // The library reconnects by itself and says so.
    client.emit(Event::Connected(Connected::builder().build()));
    life.wait_status("connected").await;
    assert_eq!(life.web.opens(), 1);
    // The run loop ends without a final reason: our backoff opens a new client.
    client.end_run();
    let second = life.web.client(2).await;
    let slot = life.wait_status("connecting").await;
    assert_eq!(slot["isActive"], false);
    second.emit(Event::Connected(Connected::builder().build()));
    life.wait_status("connected").await;
    life.shutdown().await;
}

/// `node_io.rs` (`handle_stream_error`): an unknown code keeps the socket.
async fn stream_errors_are_informational(t: TestStore) {
    let life = Life::new(t).await;
    let client = life.connect(1).await;
    client.emit(Event::StreamError(
        StreamError::builder().code("500".into()).build(),
    ));
    client.receive_data();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slot = life.slot().await;
    assert_eq!(slot["status"], "connected", "{slot}");
    assert!(slot.get("lastError").is_none(), "{slot}");
    assert_eq!(life.web.opens(), 1);
    life.shutdown().await;
}

/// `pair_code.rs`: `PairingCodeRefresh` voids the code on screen; a new one is asked for
/// (the library answers with `PairingCode`); after too many, pairing has expired.
async fn a_retired_pairing_code_is_replaced(t: TestStore) {
    let life = Life::new(t).await;
    life.start(Some("5511977776666")).await;
    let client = life.web.client(1).await;
    assert_eq!(client.pair_phone.as_deref(), Some("5511977776666"));
    client.emit(qr("2@ref,one"));
    client.emit(pairing_code("ABCD-EFGH"));
    life.wait_slot("showed the code", |s| s["pairingCode"] == "ABCD-EFGH")
        .await;
    let refresh =
        || Event::PairingCodeRefresh(PairingCodeRefresh::builder().force_manual(false).build());
    client.emit(refresh());
    let slot = life
        .wait_slot("dropped the retired code", |s| {
            s.get("pairingCode").is_none()
        })
        .await;
    assert!(
        slot["lastError"].as_str().unwrap().contains("expirou"),
        "{slot}"
    );
    assert_eq!(client.code_requests(), 1, "a new code was asked for");
    client.emit(pairing_code("WXYZ-2345"));
    life.wait_slot("showed the new code", |s| s["pairingCode"] == "WXYZ-2345")
        .await;
    client.emit(refresh());
    client.emit(pairing_code("JKLM-6789"));
    life.wait_slot("showed the third code", |s| s["pairingCode"] == "JKLM-6789")
        .await;
    // One refresh too many: pairing has expired, the connection is given up.
    client.emit(refresh());
    let slot = life.wait_status("disconnected").await;
    assert!(
        slot["lastError"]
            .as_str()
            .unwrap()
            .starts_with("QR expirado"),
        "{slot}"
    );
    assert!(slot.get("pairingCode").is_none() && slot.get("qrCode").is_none());
    assert_eq!(client.code_requests(), 2);
    life.assert_stopped_unwanted().await;
    assert!(client.closed(), "the client was shut down");
    life.shutdown().await;
}

fn ban(secs: i64) -> Event {
    Event::TemporaryBan(
        TemporaryBan::builder()
            .code(TempBanReason::SentToTooManyPeople)
            .expire(TimeDelta::seconds(secs))
            .build(),
    )
}

/// `node_io.rs`: a 402 with code and expiry is `TemporaryBan` and ends the run loop. The
/// wait is the gateway's, on the slot (`bannedUntil`), and gives way to the owner.
async fn a_temporary_ban_is_waited_out_and_gives_way_to_logout_start_and_shutdown(t: TestStore) {
    let life = Life::new(t).await;
    // A one-hour ban: the slot shows its end and nothing reconnects.
    let client = life.connect(1).await;
    client.emit(ban(3_600));
    client.end_run();
    let slot = life
        .wait_slot("showed the ban", |s| s["bannedUntil"].is_string())
        .await;
    assert_eq!(slot["status"], "disconnected");
    assert!(
        slot["lastError"].as_str().unwrap().contains("banido"),
        "{slot}"
    );
    let until = time::OffsetDateTime::parse(
        slot["bannedUntil"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = until - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::minutes(59), "{left}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(life.web.opens(), 1, "no reconnect during the ban");
    assert_eq!(life.gateway.running(), vec![life.key()], "still the slot's");
    // Logout acts at once.
    let asked = Instant::now();
    life.command(SessionCommand::Logout { slot: life.key() })
        .await
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let slot = life.wait_status("disconnected").await;
    assert!(slot.get("phone").is_none(), "unlinked: {slot}");
    assert!(life.web.forgets() >= 1);
    life.wait_stopped().await;

    // Banned again; the owner starts the slot: it tries at once.
    let client = life.connect(2).await;
    client.emit(ban(3_600));
    client.end_run();
    life.wait_slot("showed the ban", |s| s["bannedUntil"].is_string())
        .await;
    life.start(None).await;
    let third = life.web.client(3).await;
    third.emit(Event::Connected(Connected::builder().build()));
    let slot = life.wait_status("connected").await;
    assert!(slot.get("bannedUntil").is_none(), "{slot}");

    // A short ban ends by itself: the slot reconnects after it.
    third.emit(ban(1));
    third.end_run();
    life.wait_slot("showed the ban", |s| s["bannedUntil"].is_string())
        .await;
    let fourth = life.web.client(4).await;
    fourth.emit(Event::Connected(Connected::builder().build()));
    life.wait_status("connected").await;

    // And shutdown doesn't wait for a long one.
    fourth.emit(ban(3_600));
    fourth.end_run();
    life.wait_slot("showed the ban", |s| s["bannedUntil"].is_string())
        .await;
    let asked = Instant::now();
    life.shutdown().await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
}

/// `node_io.rs`: `<conflict type="replaced">` (or 409) emits `StreamReplaced` and ends the
/// run loop: the slot stops and no task takes it over until the owner starts it.
async fn a_replaced_stream_stops_the_slot_and_nobody_takes_it_over(t: TestStore) {
    let life = Life::new(t).await;
    let client = life.connect(1).await;
    client.emit(Event::StreamReplaced(StreamReplaced::builder().build()));
    client.end_run();
    let slot = life.wait_status("disconnected").await;
    assert!(
        slot["lastError"].as_str().unwrap().contains("substituída"),
        "{slot}"
    );
    assert_eq!(slot["isActive"], false);
    life.assert_stopped_unwanted().await;
    // Past the lease period, the gateway's takeover round still leaves it alone.
    tokio::time::sleep(Duration::from_millis(1_800)).await;
    assert_eq!(life.web.opens(), 1);
    assert!(life.gateway.running().is_empty());
    // The owner starts it again.
    let again = life.connect(2).await;
    assert!(!again.closed());
    assert_eq!(life.lease().await["wanted"], true);
    life.shutdown().await;
}

/// Issue 19, item 11: the task whose key-store write the lease fence refuses (another task
/// took the slot while this one stalled) closes its connection and leaves the slot to the
/// new holder: no reconnect, no spinning, nothing recorded on the slot, the lease not
/// released. The takeover here is the new holder's fence claim alone, so that nothing but
/// the refused write (not a failed lease renewal) can be what stops the task.
async fn a_key_store_write_refused_by_the_fence_ends_the_task(t: TestStore) {
    use whatsapp_rust::wacore::store::traits::SignalStore;
    let life = Life::new(t).await;
    let store = life.app.state.store.clone();
    life.web
        .keep_keys_in(store.clone(), life.app.state.secrets.clone());
    let client = life.connect(1).await;
    let keys = client.keys().expect("a key store");
    let address = "5511900000001@s.whatsapp.net";
    keys.put_session(address, b"mine")
        .await
        .expect("the holder writes");
    let fence = slots::Fence::claim(store.as_ref(), &life.key())
        .await
        .expect("taken over");
    let before = life.slot().await;
    assert!(
        keys.put_session(address, b"stale").await.is_err(),
        "refused"
    );
    life.wait_stopped().await;
    assert!(client.closed(), "the connection is closed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(life.web.opens(), 1, "not reopened");
    assert_eq!(
        life.slot().await,
        before,
        "the slot is the new holder's to show"
    );
    assert_eq!(
        life.lease().await["owner"],
        life.gateway.task_id(),
        "not released: the new holder takes it"
    );
    let holder = platefull::whatsapp::wa_store::StoreBackend::new(
        store.clone(),
        life.app.state.secrets.clone(),
        fence,
    );
    assert_eq!(
        holder.get_session(address).await.expect("get").as_deref(),
        Some(&b"mine"[..])
    );
    holder
        .put_session(address, b"theirs")
        .await
        .expect("the new holder writes");
    life.shutdown().await;
}

for_each_store!(
    a_key_store_write_refused_by_the_fence_ends_the_task,
    an_expired_qr_stops_the_slot_and_the_next_start_opens_a_fresh_client,
    final_connect_failures_stop_the_slot_and_transient_ones_reconnect,
    silent_drops_show_connecting_and_last_seen_advances,
    stream_errors_are_informational,
    a_retired_pairing_code_is_replaced,
    a_temporary_ban_is_waited_out_and_gives_way_to_logout_start_and_shutdown,
    a_replaced_stream_stops_the_slot_and_nobody_takes_it_over,
);
