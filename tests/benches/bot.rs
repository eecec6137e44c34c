//! Bot pipeline benchmarks (a bench binary that prints figures):
//! - the Cloud API webhook handler in-process: signature check, route lookup, enqueue;
//! - pipeline overhead without the LLM (a zero-latency model), debounce off: from a
//!   customer message's receipt to its reply handed to the outbound queue, and the storage
//!   round trips it costs;
//! - sustained throughput through the in-process worker with nothing lost, over the
//!   durable queues `platefull dev` runs (every send, receive and ack committed to the
//!   embedded store) and, for comparison, over queues in memory only.
//!
//! Run: `cargo bench -p platefull-tests --bench bot`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use platefull::bot::cloud_api;
use platefull::bot::llm::{Llm, LlmError, LlmMessage};
use platefull::bot::worker::{self, Bot};
use platefull::domain::bot_config::BotConfig;
use platefull::jobs::{BotJob, Line};
use platefull::queue::memory::MemoryQueue;
use platefull::queue::{Outgoing, Queue};
use platefull::store::keys::{self, store_pk, CONFIG_SK};
use platefull::store::{Cond, Store, WriteOp};
use platefull::whatsapp::events::ChatMessage;
use platefull_tests::bench::report;
use platefull_tests::stack::APP_SECRET;
use platefull_tests::{embedded_store, TestApp};
use serde_json::json;
use tower::ServiceExt;

struct InstantModel;

#[async_trait]
impl Llm for InstantModel {
    fn describe(&self) -> String {
        "instant".into()
    }
    async fn complete(&self, _messages: &[LlmMessage]) -> Result<String, LlmError> {
        Ok("Temos sim! A calabresa sai por R$ 45.".into())
    }
}

async fn seed_store(store: &dyn Store, store_id: &str) {
    let mut config = BotConfig::new_default(store_id, "2026-01-01T00:00:00Z");
    config.debounce_seconds = 0;
    config.bot_name = Some("Maria".into());
    let item = keys::item(store_pk(store_id), CONFIG_SK)
        .record(&config)
        .unwrap()
        .build();
    store
        .write(vec![WriteOp::Put {
            item,
            cond: Cond::None,
        }])
        .await
        .unwrap();
}

fn job(store_id: &str, chat: usize, n: usize) -> BotJob {
    BotJob::Message {
        store_id: store_id.into(),
        line: Line::Web { slot: 1 },
        message: ChatMessage {
            id: format!("WAMID-{chat}-{n}"),
            chat: format!("55119{chat:08}"),
            from_me: false,
            text: "Oi, vocês têm pizza de calabresa?".into(),
            timestamp: 1,
            is_group: false,
            ephemeral_expiration: None,
        },
    }
}

#[tokio::main]
async fn main() {
    let embedded = embedded_store().await;
    let inner = embedded.store.clone();
    let (store, counts) = embedded.counted();
    // 1. The webhook handler.
    let inbound = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
    let app =
        TestApp::with_router(store, platefull::http::webhook_router).with_webhook(inbound.clone());
    let store = app.state.store.clone();
    seed_store(store.as_ref(), "st_bench").await;
    cloud_api::attach(
        store.as_ref(),
        &app.state.secrets,
        "st_bench",
        "106540352242922",
        "EAAG-bench-token-0123456789",
        None,
        "now",
    )
    .await
    .unwrap();
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/whatsapp-webhook/text-message.json"
    ))
    .unwrap();
    let mut samples = Vec::new();
    for i in 0..3000 {
        let body = template.replace("wamid.HBgL", &format!("wamid.B{i}"));
        let signature = cloud_api::sign(APP_SECRET, body.as_bytes());
        let request = Request::post("/webhooks/whatsapp")
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(Body::from(body))
            .unwrap();
        let started = Instant::now();
        let response = app.router.clone().oneshot(request).await.unwrap();
        samples.push(started.elapsed());
        assert_eq!(response.status(), 200);
    }
    assert_eq!(inbound.len(), 3000);
    report("webhook: signature + route + enqueue", samples);

    // 2. Receipt → reply handed over, one message at a time.
    let outbound = Arc::new(MemoryQueue::fifo(Duration::from_secs(30)));
    let bot = Bot {
        backoff: Duration::from_millis(50),
        ..app.bot(
            Arc::new(InstantModel),
            Arc::new(MemoryQueue::standard(Duration::from_secs(30))),
            outbound.clone(),
        )
    };
    let mut samples = Vec::new();
    let before = counts.snapshot();
    let n = 2000;
    for i in 0..n {
        let started = Instant::now();
        bot.handle(job("st_bench", i % 200, i)).await.unwrap();
        samples.push(started.elapsed());
    }
    let after = counts.snapshot();
    assert_eq!(outbound.len(), n, "one reply per message");
    report(
        "pipeline (no LLM, debounce off): receipt -> reply queued",
        samples,
    );
    println!(
        "storage round trips per reply in the worker: {:.2} reads + {:.2} writes (+1 conditional write by the gateway before sending)",
        (after.0 - before.0) as f64 / n as f64,
        (after.1 - before.1) as f64 / n as f64
    );

    // 3. Sustained throughput through the in-process worker, nothing lost: over durable
    // queues in the same store (as `platefull dev`), then over queues in memory only.
    seed_store(inner.as_ref(), "st_load").await;
    for durable in [true, false] {
        let (inbound, outbound) = if durable {
            let inbound = MemoryQueue::standard(Duration::from_secs(30))
                .durable(inner.clone(), "bench-inbound")
                .await
                .unwrap();
            let outbound = MemoryQueue::fifo(Duration::from_secs(30))
                .durable(inner.clone(), "bench-outbound")
                .await
                .unwrap();
            (Arc::new(inbound), Arc::new(outbound))
        } else {
            (
                Arc::new(MemoryQueue::standard(Duration::from_secs(30))),
                Arc::new(MemoryQueue::fifo(Duration::from_secs(30))),
            )
        };
        let bot = Arc::new(Bot {
            store: inner.clone(),
            backoff: Duration::from_millis(50),
            ..app.bot(Arc::new(InstantModel), inbound.clone(), outbound.clone())
        });
        let total = 10_000;
        // Each round its own 500 chats (message ids name the chat): nothing seen before.
        let first_chat = if durable { 0 } else { 500 };
        // Queued 100 at a time (a durable send waits for its commit; concurrent ones share it).
        for chunk in (0..total).collect::<Vec<_>>().chunks(100) {
            let mut sends = tokio::task::JoinSet::new();
            for &i in chunk {
                let (inbound, job) = (inbound.clone(), job("st_load", first_chat + i % 500, i));
                sends.spawn(async move { inbound.send(Outgoing::new(job.to_json())).await });
            }
            while let Some(sent) = sends.join_next().await {
                sent.unwrap().unwrap();
            }
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let task = tokio::spawn(worker::run_local(bot, stopped));
        while outbound.len() < total && started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = started.elapsed();
        let _ = stop.send(true);
        let _ = task.await;
        assert_eq!(outbound.len(), total, "every message answered");
        println!(
            "sustained ({} queues): {total} messages from 500 chats answered in {:.2} s = {:.0} messages/s, {} lost",
            if durable { "durable" } else { "in-memory" },
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            total - outbound.len()
        );
    }
    let _ = json!({});
}
