//! Latency of the control-plane API in-process, through the same router the local stack
//! serves, over the embedded store (fsync on every commit), and the number of store round
//! trips each request makes. Run: `cargo bench -p platefull-tests --bench api`.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{Method, StatusCode};
use platefull::store::counting::Counts;
use platefull_tests::bench::Latencies;
use platefull_tests::{embedded_store, TestApp};
use serde_json::{json, Value};

struct Bench {
    app: TestApp,
    counts: Arc<Counts>,
}

impl Bench {
    async fn call(
        &self,
        method: &Method,
        path: &str,
        auth: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.app
            .call(method.clone(), path, Some(auth), body.cloned())
            .await
    }

    /// Runs the request `n` times (after a warm-up) and prints p50/p99/max.
    async fn measure(
        &self,
        label: &str,
        n: usize,
        method: Method,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) {
        for _ in 0..n / 10 {
            assert!(self
                .call(&method, path, auth, body.as_ref())
                .await
                .0
                .is_success());
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let (status, _) = self.call(&method, path, auth, body.as_ref()).await;
            samples.push(started.elapsed());
            assert!(status.is_success(), "{label}: {status}");
        }
        println!("{label:<44} {}", Latencies::new(samples).summary());
    }

    /// Prints the store round trips one request makes.
    async fn round_trips(
        &self,
        label: &str,
        method: Method,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) {
        let (r0, w0) = self.counts.snapshot();
        let (status, _) = self.call(&method, path, auth, body.as_ref()).await;
        assert!(status.is_success(), "{label}: {status}");
        let (r1, w1) = self.counts.snapshot();
        println!("{label:<44} reads={} writes={}", r1 - r0, w1 - w0);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (store, counts) = embedded_store().await.counted();
    let bench = Bench {
        app: TestApp::new(store),
        counts,
    };
    let owner = bench.app.signer.token("owner", 3600);
    let create = json!({"name": "Pizzaria", "type": "whatsapp"});
    let (_, api) = bench
        .call(&Method::POST, "/api/user-apis", &owner, Some(&create))
        .await;
    let key = api["apiKey"].as_str().unwrap().to_owned();
    let config = format!("/api/client/{}/config", api["storeId"].as_str().unwrap());
    let change = json!({"botName": "Maria", "messageLimit": 30, "basePrompt": "Você é a Maria, atendente da pizzaria."});

    println!("== store round trips per request");
    bench
        .round_trips(
            "GET config (owner token)",
            Method::GET,
            &config,
            &owner,
            None,
        )
        .await;
    bench
        .round_trips("GET config (apiKey)", Method::GET, &config, &key, None)
        .await;
    bench
        .round_trips(
            "PUT config (owner token)",
            Method::PUT,
            &config,
            &owner,
            Some(change.clone()),
        )
        .await;
    bench
        .round_trips(
            "PUT config (apiKey)",
            Method::PUT,
            &config,
            &key,
            Some(change.clone()),
        )
        .await;
    bench
        .round_trips(
            "GET sessions (apiKey)",
            Method::GET,
            &format!(
                "/api/whatsapp/{}/sessions",
                api["storeId"].as_str().unwrap()
            ),
            &key,
            None,
        )
        .await;
    bench
        .round_trips(
            "GET /api/user-apis",
            Method::GET,
            "/api/user-apis",
            &owner,
            None,
        )
        .await;
    bench
        .round_trips(
            "POST /api/user-apis (whatsapp)",
            Method::POST,
            "/api/user-apis",
            &owner,
            Some(create.clone()),
        )
        .await;

    println!("== latency, in-process through the router, embedded store");
    bench
        .measure(
            "GET config (owner token)",
            5000,
            Method::GET,
            &config,
            &owner,
            None,
        )
        .await;
    bench
        .measure(
            "GET config (apiKey)",
            5000,
            Method::GET,
            &config,
            &key,
            None,
        )
        .await;
    bench
        .measure(
            "PUT config (owner token)",
            2000,
            Method::PUT,
            &config,
            &owner,
            Some(change.clone()),
        )
        .await;
    bench
        .measure(
            "PUT config (apiKey)",
            2000,
            Method::PUT,
            &config,
            &key,
            Some(change),
        )
        .await;
    let lister = bench.app.signer.token("lister", 3600);
    for n in 0..100 {
        let body = if n % 2 == 0 {
            json!({"name": format!("Loja {n}"), "type": "whatsapp"})
        } else {
            json!({"name": format!("Loja {n}"), "type": "saipos", "apiKey": "saipos-token-0123456789"})
        };
        let (status, err) = bench
            .call(&Method::POST, "/api/user-apis", &lister, Some(&body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{err}");
    }
    let (_, listed) = bench
        .call(&Method::GET, "/api/user-apis", &lister, None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 100);
    bench
        .measure(
            "GET /api/user-apis (100 APIs)",
            3000,
            Method::GET,
            "/api/user-apis",
            &lister,
            None,
        )
        .await;
}
