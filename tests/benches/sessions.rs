//! WhatsApp slots with the simulator transport, in-process through the session routes:
//! start → QR latency, and the gateway's memory per idle connected slot with 1,000 slots.
//! Run: `cargo bench -p platefull-tests --bench sessions`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Method;
use platefull::queue::memory::MemoryQueue;
use platefull::whatsapp::events::SlotKey;
use platefull::whatsapp::gateway::{GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::Simulator;
use platefull_tests::bench::Latencies;
use platefull_tests::{embedded_store, TestApp};

const SLOTS: usize = 1000;

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
    let commands = Arc::new(MemoryQueue::fifo(Duration::from_secs(30)));
    let sim = Simulator::new("http://127.0.0.1:3000");
    let app = TestApp::new(embedded_store().await).with_sessions(
        commands.clone(),
        Duration::from_secs(5),
        &sim,
    );
    let gateway = app.gateway(
        &sim,
        GatewayQueues {
            commands,
            inbound: None,
            outbound: None,
        },
        GatewayConfig::default(),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(gateway.clone().run(stopped));
    let owner = app.signer.token("owner", 3600);

    let mut keys = Vec::new();
    while keys.len() < SLOTS {
        let store_id = app.whatsapp("owner", "Loja").await.store_id;
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
        let (_, body) = app
            .call(
                Method::POST,
                &format!("/api/whatsapp/{}/{}/start", key.store_id, key.slot),
                Some(&owner),
                None,
            )
            .await;
        samples.push(started.elapsed());
        assert!(body["qrCode"].as_str().is_some(), "{body}");
        sim.pair(key, None, None).await.unwrap();
    }
    println!(
        "start → QR (in-process, simulator, embedded store)  {}",
        Latencies::new(samples).summary()
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
