//! The inbox through the router the local stack serves, over the embedded store (fsync on
//! every commit): the first page of a list of 1,000 chats, the first page of a 1,000-message
//! conversation, and the change feed when nothing changed, with the store round trips of
//! each. Targets: first pages p99 < 10 ms; the empty feed 1 store query, p99 < 2 ms.
//! Run: `cargo bench -p platefull-tests --bench inbox`.

use std::time::Instant;

use axum::http::{Method, StatusCode};
use platefull_tests::bench::Latencies;
use platefull_tests::chats::seed_chat;
use platefull_tests::{embedded_store, TestApp};

const N: usize = 1_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (store, counts) = embedded_store().await.counted();
    let app = TestApp::new(store);
    let wa = app.whatsapp("alice", "Pizzaria X").await;
    let owner = app.token("alice");
    let db = app.state.store.clone();
    let now = platefull::ids::now_ms();
    let started = Instant::now();
    seed_chat(
        db.as_ref(),
        &wa.store_id,
        "5511999990000",
        N,
        now - 3_600_000,
    )
    .await;
    for i in 0..N {
        let chat = format!("55119{i:08}");
        seed_chat(
            db.as_ref(),
            &wa.store_id,
            &chat,
            1,
            now - 1_000_000 + i as i64,
        )
        .await;
    }
    println!(
        "seeded {} chats and a {N}-message conversation in {:.1} s",
        N + 1,
        started.elapsed().as_secs_f64()
    );
    let base = format!("/api/whatsapp/{}", wa.store_id);
    let (_, feed) = app
        .call(Method::GET, &format!("{base}/changes"), Some(&owner), None)
        .await;
    let cursor = feed["cursor"].as_str().unwrap().to_owned();
    let cases = [
        (
            "chat list, first page of 1,001 chats",
            format!("{base}/chats"),
            50,
        ),
        (
            "conversation, first page of 1,000 messages",
            format!("{base}/chats/w1:5511999990000/messages"),
            50,
        ),
        (
            "change feed, nothing changed",
            format!("{base}/changes?since={cursor}"),
            0,
        ),
    ];
    for (label, path, rows) in cases {
        let mut samples = Vec::with_capacity(1_000);
        for i in 0..1_100 {
            let (r0, w0) = counts.snapshot();
            let t = Instant::now();
            let (status, body) = app.call(Method::GET, &path, Some(&owner), None).await;
            let elapsed = t.elapsed();
            let (r1, w1) = counts.snapshot();
            assert_eq!(status, StatusCode::OK, "{label}: {body}");
            let got = body
                .get("data")
                .or_else(|| body.get("changes"))
                .and_then(|d| d.as_array())
                .map_or(0, Vec::len);
            assert_eq!(got, rows, "{label}");
            if i == 0 {
                println!(
                    "{label:<48} store round trips: reads={} writes={}",
                    r1 - r0,
                    w1 - w0
                );
            }
            if i >= 100 {
                samples.push(elapsed);
            }
        }
        println!("{label:<48} {}", Latencies::new(samples).summary());
    }
}
