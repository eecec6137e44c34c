//! WhatsApp slots with the simulator transport, in-process through the session routes:
//! start → QR latency, and the gateway's memory per idle connected slot with 1,000 slots.
//! Run: `cargo bench -p platefull-tests --bench sessions`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use http_body_util::BodyExt;
use platefull::auth::dev::DevSigner;
use platefull::crypto::SecretBox;
use platefull::http::{all_routes, AppState, SessionCommands};
use platefull::queue::memory::MemoryQueue;
use platefull::store::embedded::EmbeddedStore;
use platefull::whatsapp::events::SlotKey;
use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::{Simulator, SimulatorTransport};
use serde_json::{json, Value};
use tower::ServiceExt;

const SLOTS: usize = 1000;

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes())
        .unwrap_or(Value::Null)
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store.redb")).unwrap());
    let signer = DevSigner::generate("bench", "bench");
    let secrets = Arc::new(SecretBox::from_key(&[3; 32]));
    let commands = Arc::new(MemoryQueue::fifo(Duration::from_secs(30)));
    let state = AppState {
        store: store.clone(),
        users: Arc::new(signer.verifier()),
        secrets: secrets.clone(),
        saipos: Default::default(),
        sessions: Some(SessionCommands {
            queue: commands.clone(),
            wait: Duration::from_secs(5),
        }),
        webhook: None,
    };
    let router = all_routes(state);
    let sim = Simulator::new("http://127.0.0.1:3000");
    let gateway = Gateway::new(
        store,
        secrets,
        Arc::new(SimulatorTransport(sim.clone())),
        GatewayQueues {
            commands,
            inbound: None,
            outbound: None,
        },
        GatewayConfig::default(),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(gateway.clone().run(stopped));
    let owner = signer.token("owner", 3600);

    let mut keys = Vec::new();
    while keys.len() < SLOTS {
        let api = call(
            &router,
            Method::POST,
            "/api/user-apis",
            &owner,
            Some(json!({"name": "Loja", "type": "whatsapp"})),
        )
        .await;
        let store_id = api["storeId"].as_str().unwrap().to_owned();
        for slot in 1..=3u8 {
            if keys.len() < SLOTS {
                keys.push(SlotKey {
                    store_id: store_id.clone(),
                    slot,
                });
            }
        }
    }
    let baseline = rss_kib();
    let mut samples = Vec::with_capacity(SLOTS);
    for key in &keys {
        let started = Instant::now();
        let body = call(
            &router,
            Method::POST,
            &format!("/api/whatsapp/{}/{}/start", key.store_id, key.slot),
            &owner,
            None,
        )
        .await;
        samples.push(started.elapsed());
        assert!(body["qrCode"].as_str().is_some(), "{body}");
        sim.pair(key, None, None).await.unwrap();
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "start → QR (in-process, simulator, embedded store)  n={SLOTS}  p50={:.2} ms  p99={:.2} ms  max={:.2} ms",
        ms(samples[SLOTS / 2]),
        ms(samples[SLOTS * 99 / 100]),
        ms(samples[SLOTS - 1])
    );
    // Let every pairing settle, then measure the idle connected slots.
    for _ in 0..200 {
        if gateway.running().len() == SLOTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected = gateway.running().len();
    let after = rss_kib();
    println!(
        "memory: {connected} idle connected slots, RSS {baseline} KiB → {after} KiB: {:.1} KiB per slot (gateway + simulator + store cache)",
        (after.saturating_sub(baseline)) as f64 / connected.max(1) as f64
    );
}
