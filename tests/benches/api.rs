//! Latency of the control-plane API in-process, through the same router the local stack
//! serves, over the embedded store (fsync on every commit), and the number of store round
//! trips each request makes; GET and PUT of a 500-item menu among them, and the order
//! board's list of a day of 1,000 orders, 1 in 10 accepted (target: p99 < 10 ms). Run: `cargo bench -p platefull-tests --bench api`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use platefull::domain::menu::Menu;
use platefull::store::counting::Counts;
use platefull_tests::bench::Latencies;
use platefull_tests::menus::big_menu;
use platefull_tests::{embedded_store, TestApp};
use serde_json::{json, Value};
use tower::ServiceExt;

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

    /// Like [`Bench::measure`], to the last byte of the response body without parsing it
    /// (a 500-item menu is half a megabyte: the client's own JSON parse isn't the router's
    /// latency), with the request bodies as bytes made beforehand and sent in turn (none:
    /// no body).
    async fn measure_raw(
        &self,
        label: &str,
        n: usize,
        method: Method,
        path: &str,
        auth: &str,
        bodies: Vec<Vec<u8>>,
    ) {
        let bodies: Vec<axum::body::Bytes> =
            bodies.into_iter().map(axum::body::Bytes::from).collect();
        let mut turn = 0;
        let mut request = || {
            turn += 1;
            let body = (!bodies.is_empty()).then(|| bodies[turn % bodies.len()].clone());
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("authorization", format!("Bearer {auth}"))
                .header("content-type", "application/json");
            req.body(body.map(Body::from).unwrap_or_else(Body::empty))
                .unwrap()
        };
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + n / 10 {
            let req = request();
            let started = Instant::now();
            let response = self.app.router.clone().oneshot(req).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let elapsed = started.elapsed();
            assert!(status.is_success(), "{label}: {status} {bytes:?}");
            if i >= n / 10 {
                samples.push(elapsed);
            }
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

    // The store's knowledge: a 500-item menu (each item with a size group and 8 extras).
    let store_id = api["storeId"].as_str().unwrap();
    let menu_path = format!("/api/client/{store_id}/menu");
    let menu = big_menu(500);
    println!(
        "== 500-item menu: {} bytes of JSON",
        serde_json::to_string(&menu).unwrap().len()
    );
    bench
        .round_trips(
            "PUT menu (500 items)",
            Method::PUT,
            &menu_path,
            &owner,
            Some(menu.clone()),
        )
        .await;
    bench
        .round_trips("GET menu (500 items)", Method::GET, &menu_path, &key, None)
        .await;
    // Where the time of a PUT goes, in-process without the store.
    let text = serde_json::to_string(&menu).unwrap();
    let time = |label: &str, n: usize, f: &mut dyn FnMut()| {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            f();
            samples.push(started.elapsed());
        }
        println!("{label:<44} {}", Latencies::new(samples).summary());
    };
    let parsed: Menu = serde_json::from_str(&text).unwrap();
    time("  parse the menu's JSON (serde_json)", 300, &mut || {
        let m: Menu = serde_json::from_str(&text).unwrap();
        std::hint::black_box(m);
    });
    time("  parse it as ApiJson does (UTF-8 once)", 300, &mut || {
        let m: Menu = platefull::http::json::parse_fast(text.as_bytes()).unwrap();
        std::hint::black_box(m);
    });
    time("  parse it borrowed, as PUT /menu does", 300, &mut || {
        let m: Menu<platefull::domain::borrowed::Borrowed> =
            platefull::http::json::parse_fast(text.as_bytes()).unwrap();
        std::hint::black_box(m);
    });
    time("  validate it", 300, &mut || {
        parsed.validate().unwrap();
    });
    time("  encode it for the store", 300, &mut || {
        std::hint::black_box(platefull::knowledge::encode_menu(&parsed).unwrap());
    });
    for (label, auth) in [("apiKey", &key), ("owner token", &owner)] {
        bench
            .measure_raw(
                &format!("GET menu (500 items, {label})"),
                2000,
                Method::GET,
                &menu_path,
                auth,
                vec![],
            )
            .await;
    }
    // An owner's save from the console: the whole menu as GET gives it (the console sends
    // GET's key order, so the API parses only the categories that changed), one price
    // edited since the last save (two menus sent in turn); then the same with every price
    // changed (every chunk of the stored menu rewritten, every category parsed); then one
    // price edited by a client that sorts keys (serde_json; the whole body parsed).
    let console = |menu: &Value| -> Vec<u8> {
        let menu: Menu = serde_json::from_value(menu.clone()).unwrap();
        let json = platefull::knowledge::encode_menu(&menu).unwrap();
        [br#"{"categories":"#.as_slice(), json.as_bytes(), b"}"].concat()
    };
    let sorted = |menu: &Value| serde_json::to_vec(menu).unwrap();
    let mut edited = menu.clone();
    edited["categories"][7]["items"][2]["priceCents"] = json!(4590);
    let mut repriced = menu.clone();
    for category in repriced["categories"].as_array_mut().unwrap() {
        for item in category["items"].as_array_mut().unwrap() {
            item["priceCents"] = json!(item["priceCents"].as_i64().unwrap() + 100);
        }
    }
    type Form<'a> = &'a dyn Fn(&Value) -> Vec<u8>;
    let saves: [(&str, &String, &Value, Form); 4] = [
        (
            "PUT menu (500 items, 1 price edited, owner)",
            &owner,
            &edited,
            &console,
        ),
        (
            "PUT menu (500 items, 1 price edited, apiKey)",
            &key,
            &edited,
            &console,
        ),
        (
            "PUT menu (500 items, every price changed)",
            &owner,
            &repriced,
            &console,
        ),
        (
            "PUT menu (500 items, 1 price, keys sorted)",
            &owner,
            &edited,
            &sorted,
        ),
    ];
    for (label, auth, other, form) in saves {
        bench
            .measure_raw(
                label,
                500,
                Method::PUT,
                &menu_path,
                auth,
                vec![form(&menu), form(other)],
            )
            .await;
    }
    bench
        .measure(
            "PATCH menu item (500-item menu)",
            500,
            Method::PATCH,
            &format!("/api/client/{store_id}/menu/items/item-42"),
            &owner,
            Some(json!({"available": false})),
        )
        .await;

    // The order board: one day with 1,000 orders.
    let day = "2026-01-15";
    let line = platefull::jobs::Line::Web { slot: 1 };
    for n in 0..1000 {
        let chat = format!("55119{n:08}");
        let chat_ref = platefull::bot::chat::ChatRef {
            store_id,
            line: &line,
            chat: &chat,
        };
        let stored = platefull::orders::StoredCart {
            cart: platefull::domain::order::Cart::fresh(platefull::orders::new_cart_id(), None),
            rev: None,
        };
        let build = |number: u32| -> platefull::domain::order::Order {
            serde_json::from_value(json!({
                "id": platefull::domain::order::order_id(day, number), "number": number,
                "status": if number.is_multiple_of(10) { "accepted" } else { "new" },
                "line": "w1", "chat": chat,
                "items": [{"itemId": "item-1", "name": "Pizza de calabresa grande", "quantity": 2,
                    "options": [{"groupId": "tamanho", "optionId": "grande", "name": "Grande", "priceCents": 1000}],
                    "unitPriceCents": 5590, "totalCents": 11180},
                    {"itemId": "item-2", "name": "Coca-Cola 2L", "quantity": 1, "options": [],
                    "unitPriceCents": 1400, "totalCents": 1400}],
                "subtotalCents": 12580, "deliveryFeeCents": 700, "totalCents": 13280,
                "fulfillment": {"mode": "delivery", "address": "Rua das Acácias, 10, apto 31", "neighborhood": "Vila Mariana"},
                "payment": {"method": "pix", "paid": false, "pixCode": "0".repeat(150)},
                "history": [{"status": "new", "at": "2026-01-15T12:00:00Z"}],
                "createdAt": "2026-01-15T12:00:00Z", "updatedAt": "2026-01-15T12:00:00Z",
            }))
            .unwrap()
        };
        let placed = platefull::orders::place(
            bench.app.state.store.as_ref(),
            &chat_ref,
            &stored,
            day,
            1,
            build,
            platefull::ids::now_ms(),
        )
        .await
        .unwrap();
        assert!(matches!(
            placed,
            platefull::orders::Placement::Placed { .. }
        ));
    }
    let orders_path = format!("/api/client/{store_id}/orders?date={day}");
    println!("== order board: a day of 1,000 orders");
    bench
        .round_trips(
            "GET orders (a day, first page)",
            Method::GET,
            &orders_path,
            &key,
            None,
        )
        .await;
    for (label, path) in [
        ("GET orders (1,000 a day, first 100)", orders_path.clone()),
        (
            "GET orders (1,000 a day, status=new)",
            format!("{orders_path}&status=new"),
        ),
        (
            "GET orders (1,000 a day, status=accepted: 1 in 10)",
            format!("{orders_path}&status=accepted"),
        ),
        (
            "GET orders (1,000 a day, last page)",
            format!("{orders_path}&cursor=101"),
        ),
    ] {
        bench
            .measure_raw(label, 1000, Method::GET, &path, &key, vec![])
            .await;
    }
}
