//! The API description (`docs/openapi.json`) against the code, so neither drifts:
//! (a) every public route the routers declare is documented, and every documented route
//!     is one of them (compared as method and path shape, `platefull_tests::routes`);
//! (b) answers of the real routers — a representative request of every documented
//!     operation, and the usual refusals — conform to the document: `scripts/check_openapi.py`
//!     validates each (status, body) with openapi-core, a third-party validator, against the
//!     schema the document gives for that status (an undocumented status fails, and so does
//!     an undocumented field where the schema closes the object);
//! (c) the local stack serves the document at `GET /openapi.json`.
//!
//! (b) runs the test venv's Python (`PLATEFULL_TEST_PYTHON`, default `.venv-test/bin/python`,
//! which `scripts/test.sh` creates with openapi-core); it fails, never skips, without it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use platefull::bot::cloud_api::GraphClient;
use platefull::http::SessionCommands;
use platefull::whatsapp::gateway::{GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::Simulator;
use platefull_tests::fake_saipos::{sale, sale_items, FakeSaipos, TOKEN};
use platefull_tests::routes::{code_routes, root, route_shape};
use platefull_tests::stack::{self, GatewayProcess};
use platefull_tests::{embedded_store, fake_graph, TestApp};
use serde_json::{json, Value};
use tower::ServiceExt;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    let path = root().join("docs/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// `(shape, path template)` of every documented operation.
fn documented(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.push((
                    route_shape(method, path),
                    method.to_uppercase(),
                    path.clone(),
                ));
            }
        }
    }
    out
}

// ------------------------------------------------------------------ (a) routes

#[test]
fn every_public_route_is_documented_and_every_documented_route_exists() {
    let doc = document();
    let documented: BTreeSet<String> = documented(&doc).into_iter().map(|(s, ..)| s).collect();
    let code = code_routes();
    let undocumented: Vec<&String> = code.difference(&documented).collect();
    let unrouted: Vec<&String> = documented.difference(&code).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "docs/openapi.json and the routers differ:\n  served but not documented: {undocumented:?}\n  documented but not served: {unrouted:?}"
    );
}

#[test]
fn route_shapes_ignore_parameter_names_and_forms() {
    assert_eq!(
        route_shape("get", "/api/client/{store_id}/orders/{order_id}"),
        route_shape("GET", "/api/client/{storeId}/orders/:orderId")
    );
    assert_ne!(
        route_shape("get", "/api/client/{storeId}/orders"),
        route_shape("post", "/api/client/{storeId}/orders")
    );
}

// ------------------------------------------------------------------ (c) served

#[tokio::test]
async fn the_local_stack_serves_the_document() {
    let router = platefull::http::openapi::router();
    let get = Request::get("/openapi.json").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let served: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(served, document(), "the embedded copy is the repository's");
    let post = Request::post("/openapi.json").body(Body::empty()).unwrap();
    let response = router.oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

// ------------------------------------------------------------------ (b) answers

/// Requests sent to the app, each answer kept as a sample for the validator.
struct Samples {
    app: TestApp,
    taken: Vec<Value>,
}

impl Samples {
    async fn send(
        &mut self,
        method: Method,
        uri: &str,
        auth: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method.clone()).uri(uri);
        if let Some(auth) = auth {
            req = req.header("authorization", format!("Bearer {auth}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some((content_type, bytes)) => req
                .header("content-type", content_type)
                .body(Body::from(bytes)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let response = self.app.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        self.taken.push(json!({
            "method": method.as_str(), "path": uri, "status": status.as_u16(),
            "contentType": content_type, "body": text,
        }));
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// A JSON request (or none) with `Authorization: Bearer <auth>`.
    async fn call(
        &mut self,
        method: Method,
        uri: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, uri, Some(auth), body, &[]).await
    }

    /// Like [`Samples::call`], asserting a 2xx.
    async fn ok(&mut self, method: Method, uri: &str, auth: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), uri, auth, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {value}");
        value
    }
}

/// Is `uri` (`/api/client/st_1/config?x=1`) a request of route `shape` (`GET /api/client/{}/config`)?
fn fills(shape: &str, method: &str, uri: &str) -> bool {
    let Some(template) = shape.strip_prefix(method).and_then(|s| s.strip_prefix(' ')) else {
        return false;
    };
    let path = uri.split('?').next().unwrap_or(uri);
    let (want, got): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| *w == "{}" || w == g)
}

/// The test venv's Python, with openapi-core.
fn python() -> String {
    let python = std::env::var("PLATEFULL_TEST_PYTHON").unwrap_or_else(|_| {
        root()
            .join(".venv-test/bin/python")
            .to_string_lossy()
            .into_owned()
    });
    assert!(
        std::path::Path::new(&python).is_file(),
        "{python} is missing: run ./scripts/test.sh once (it creates .venv-test with openapi-core), or set PLATEFULL_TEST_PYTHON"
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_answers_conform_to_the_document() {
    let graph = fake_graph::graph().await;
    let saipos = FakeSaipos::start(
        vec![sale(
            1,
            "2026-01-10",
            45.9,
            false,
            1,
            None,
            &[("Pix", 45.9)],
        )],
        vec![sale_items(1, "2026-01-10", &[("Pizza", 1.0, 45.9, false)])],
    )
    .await;
    let sim = Simulator::new("http://localhost");
    let commands = stack::fifo_queue();
    let outbound = stack::fifo_queue();
    let inbound = stack::standard_queue();
    let notices = stack::standard_queue();
    let graph_url = graph.url.clone();
    let app = TestApp::new(embedded_store().await)
        .with_webhook(inbound.clone())
        .with_state(|s| {
            s.graph = Arc::new(GraphClient::new(&graph_url));
            // The fake Saipos is on loopback: the local stack's policy lets it in.
            s.saipos.policy = platefull::outbound::Policy::LocalStack;
            s.notices = Some(notices.clone());
            s.sessions = Some(SessionCommands {
                queue: commands.clone(),
                wait: Duration::from_secs(3),
                outbound: Some(outbound.clone()),
            });
        });
    let gateway = GatewayProcess::spawn(app.gateway(
        &sim,
        GatewayQueues {
            commands,
            inbound: None,
            outbound: None,
        },
        GatewayConfig {
            lease: Duration::from_secs(3),
            ..GatewayConfig::default()
        },
    ));
    let owner = app.token("alice");
    let mut s = Samples {
        app,
        taken: Vec::new(),
    };
    use Method as M;

    // Health and the user APIs.
    let (status, _) = s.send(M::GET, "/health", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let wa = s
        .ok(
            M::POST,
            "/api/user-apis",
            &owner,
            Some(json!({"name": "Pizzaria X", "type": "whatsapp"})),
        )
        .await;
    let (api_id, store_id) = (
        wa["id"].as_str().unwrap().to_owned(),
        wa["storeId"].as_str().unwrap().to_owned(),
    );
    let key = wa["apiKey"].as_str().unwrap().to_owned();
    let sp = s
        .ok(
            M::POST,
            "/api/user-apis",
            &owner,
            Some(json!({"name": "Saipos", "type": "saipos", "apiKey": TOKEN, "baseUrl": saipos.url, "timezone": "America/Manaus"})),
        )
        .await;
    let saipos_id = sp["id"].as_str().unwrap().to_owned();
    s.ok(M::GET, "/api/user-apis", &owner, None).await;
    s.ok(M::GET, &format!("/api/user-apis/{api_id}"), &owner, None)
        .await;
    s.ok(
        M::PATCH,
        &format!("/api/user-apis/{saipos_id}"),
        &owner,
        Some(json!({"name": "Saipos Centro"})),
    )
    .await;
    s.ok(
        M::POST,
        &format!("/api/user-apis/{api_id}/test"),
        &owner,
        None,
    )
    .await;
    s.ok(
        M::POST,
        &format!("/api/user-apis/{saipos_id}/test"),
        &owner,
        None,
    )
    .await;
    s.ok(
        M::GET,
        &format!("/api/user-apis/{saipos_id}/reports/sales?from=2026-01-09&to=2026-01-11"),
        &owner,
        None,
    )
    .await;
    let rotated = s
        .ok(
            M::POST,
            &format!("/api/user-apis/{api_id}/rotate-key"),
            &owner,
            None,
        )
        .await;
    let key = rotated["apiKey"].as_str().map(str::to_owned).unwrap_or(key);
    let gone = s
        .ok(
            M::POST,
            "/api/user-apis",
            &owner,
            Some(json!({"name": "Outra", "type": "whatsapp"})),
        )
        .await;
    s.ok(
        M::DELETE,
        &format!("/api/user-apis/{}", gone["id"].as_str().unwrap()),
        &owner,
        None,
    )
    .await;

    // The store: config, menu, profile, status, usage, incidents.
    let client = format!("/api/client/{store_id}");
    s.ok(M::GET, &format!("{client}/config"), &key, None).await;
    s.ok(
        M::PUT,
        &format!("{client}/config"),
        &owner,
        Some(json!({"botName": "Maria", "storeType": "pizzaria", "takeoverMinutes": 30, "debounceSeconds": 0})),
    )
    .await;
    s.ok(M::GET, &format!("{client}/menu"), &key, None).await;
    let menu = json!({"categories": [{"id": "pizzas", "name": "Pizzas", "items": [
        {"id": "calabresa", "name": "Pizza Calabresa", "description": "Calabresa e cebola", "priceCents": 4590,
         "saiposCode": "C1", "optionGroups": [{"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1, "options": [
            {"id": "media", "name": "Média", "priceCents": 0}, {"id": "grande", "name": "Grande", "priceCents": 1000}]}]},
        {"id": "mussarela", "name": "Mussarela", "priceCents": 3990, "available": false}]}]});
    s.ok(M::PUT, &format!("{client}/menu"), &key, Some(menu))
        .await;
    s.ok(M::GET, &format!("{client}/menu"), &key, None).await;
    s.ok(
        M::PATCH,
        &format!("{client}/menu/items/calabresa"),
        &key,
        Some(json!({"available": false})),
    )
    .await;
    let csv = "categoria;item;preco;opcoes\nPizzas;Pizza Calabresa;45,90;\"Tamanho[1-1]: Média=0; Grande=10,00\"\nBebidas;Guaraná;6,00;\n";
    for query in ["?dryRun=true", ""] {
        let (status, body) = s
            .send(
                M::POST,
                &format!("{client}/menu/import{query}"),
                Some(&key),
                Some(("text/csv", csv.as_bytes().to_vec())),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let profile = json!({
        "name": "Pizzaria Bella", "address": "Rua A, 100",
        "hours": {"weekly": {"fri": [{"open": "18:00", "close": "02:00"}]}, "exceptions": [{"date": "2026-12-25", "intervals": []}]},
        "closedMessage": "Fechados.",
        "delivery": {"pickup": true, "zones": [{"name": "Perto", "neighborhoods": ["Vila Mariana"], "feeCents": 500, "minOrderCents": 3000, "etaMinutes": 40}]},
        "payments": {"pix": {"key": "pizzaria@exemplo.com.br", "keyType": "email", "merchantName": "Pizzaria Bella", "merchantCity": "Sao Paulo"}, "cash": true, "card": true},
        "alerts": {"emails": ["dono@exemplo.com.br"], "phones": []},
        "aiBudgetMicros": 5_000_000, "notifyPhones": ["+5511988887777"],
        "orderWebhook": {"url": "https://hooks.exemplo.com.br/pedidos", "secret": "a-secret-of-sixteen-chars"},
        "saiposOrders": {"partnerId": "p1", "storeCode": "s1", "secret": "partner-secret"},
    });
    s.ok(M::PUT, &format!("{client}/profile"), &key, Some(profile))
        .await;
    s.ok(M::GET, &format!("{client}/profile"), &owner, None)
        .await;
    s.ok(M::GET, &format!("{client}/status"), &key, None).await;
    s.ok(M::GET, &format!("{client}/usage"), &key, None).await;
    s.ok(M::GET, &format!("{client}/incidents"), &key, None)
        .await;

    // Orders.
    let store = s.app.state.store.clone();
    let order = crate::orders::place_direct_for(store.as_ref(), &store_id, "5511988887777").await;
    s.ok(M::GET, &format!("{client}/orders"), &key, None).await;
    let one = format!("{client}/orders/{}", order.id);
    s.ok(M::GET, &one, &key, None).await;
    s.ok(
        M::POST,
        &format!("{one}/status"),
        &key,
        Some(json!({"status": "accepted"})),
    )
    .await;
    s.ok(M::POST, &format!("{one}/paid"), &owner, None).await;
    let (status, _) = s
        .call(
            M::POST,
            &format!("{one}/status"),
            &key,
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "accepted → delivered");

    // WhatsApp: slots, the Cloud API number.
    let wa_routes = format!("/api/whatsapp/{store_id}");
    s.ok(M::GET, &format!("{wa_routes}/sessions"), &key, None)
        .await;
    let started = s
        .ok(M::POST, &format!("{wa_routes}/1/start"), &key, None)
        .await;
    assert_eq!(started["status"], "qrcode", "{started}");
    s.ok(M::POST, &format!("{wa_routes}/1/logout"), &key, None)
        .await;
    let number = "106540352242922";
    let token = "EAAG-token-for-the-openapi-test";
    graph.grant(token, number, "+55 11 98888-7777", "Pizzaria X");
    s.ok(
        M::PUT,
        &format!("{wa_routes}/cloud-api"),
        &key,
        Some(json!({"phoneNumberId": number, "accessToken": token})),
    )
    .await;

    // Meta's webhook: the handshake and a signed delivery for the attached number.
    let (status, _) = s
        .send(
            M::GET,
            &format!(
                "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
                stack::VERIFY_TOKEN
            ),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let payload = std::fs::read(root().join("events/whatsapp-webhook/text-message.json")).unwrap();
    let signature = platefull::bot::cloud_api::sign(stack::APP_SECRET, &payload);
    let (status, body) = s
        .send(
            M::POST,
            "/webhooks/whatsapp",
            None,
            Some(("application/json", payload)),
            &[("x-hub-signature-256", &signature)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.ok(M::DELETE, &format!("{wa_routes}/cloud-api"), &key, None)
        .await;

    // The inbox.
    platefull_tests::chats::seed_chat(store.as_ref(), &store_id, "5511988887777", 3, 1_000).await;
    let chat = format!("{wa_routes}/chats/w1:5511988887777");
    let feed = s
        .ok(M::GET, &format!("{wa_routes}/changes"), &key, None)
        .await;
    s.ok(M::GET, &format!("{wa_routes}/chats?limit=10"), &key, None)
        .await;
    s.ok(M::GET, &format!("{chat}/messages?limit=2"), &key, None)
        .await;
    s.ok(
        M::POST,
        &format!("{chat}/bot"),
        &owner,
        Some(json!({"mode": "paused", "minutes": 30})),
    )
    .await;
    s.ok(
        M::POST,
        &format!("{chat}/messages"),
        &owner,
        Some(json!({"text": "Oi! Já te atendo."})),
    )
    .await;
    s.ok(M::POST, &format!("{chat}/read"), &key, None).await;
    s.ok(
        M::GET,
        &format!(
            "{wa_routes}/changes?since={}",
            feed["cursor"].as_str().unwrap()
        ),
        &key,
        None,
    )
    .await;

    // The usual refusals.
    let other = s.app.whatsapp("bob", "Loja do Bob").await;
    for (method, uri, auth, body) in [
        (M::GET, format!("{client}/config"), None, None),
        (
            M::GET,
            format!("{client}/config"),
            Some("not-a-token"),
            None,
        ),
        (
            M::GET,
            format!("{client}/config"),
            Some(other.api_key.as_str()),
            None,
        ),
        (
            M::GET,
            "/api/user-apis".to_owned(),
            Some(key.as_str()),
            None,
        ),
        (
            M::GET,
            "/api/user-apis/api_nope".to_owned(),
            Some(owner.as_str()),
            None,
        ),
        (
            M::GET,
            format!("{client}/orders/20260101-0001"),
            Some(key.as_str()),
            None,
        ),
        (
            M::PUT,
            format!("{client}/config"),
            Some(key.as_str()),
            Some(("application/json", br#"{"messageLimit":0}"#.to_vec())),
        ),
        (
            M::PUT,
            format!("{client}/config"),
            Some(key.as_str()),
            Some(("application/json", b"{".to_vec())),
        ),
        (
            M::PUT,
            format!("{client}/config"),
            Some(key.as_str()),
            Some(("text/plain", b"{}".to_vec())),
        ),
        (
            M::PUT,
            format!("{client}/config"),
            Some(key.as_str()),
            Some(("application/json", vec![b' '; 70 * 1024])),
        ),
        (
            M::POST,
            format!("{client}/menu/import"),
            Some(key.as_str()),
            Some(("text/csv", b"categoria;item;preco\nPizzas;;abc\n".to_vec())),
        ),
        (
            M::PATCH,
            format!("{client}/menu/items/calabresa"),
            Some(key.as_str()),
            Some(("application/json", b"{}".to_vec())),
        ),
        (
            M::GET,
            format!("{client}/usage?from=2026-13-01"),
            Some(key.as_str()),
            None,
        ),
        (
            M::GET,
            format!("{wa_routes}/chats?limit=0"),
            Some(key.as_str()),
            None,
        ),
        // A token no header can carry is refused as such, not as Meta unreachable.
        (
            M::PUT,
            format!("{wa_routes}/cloud-api"),
            Some(key.as_str()),
            Some((
                "application/json",
                json!({"phoneNumberId": "77", "accessToken": "EAAG-token-with-ção-in-it"})
                    .to_string()
                    .into_bytes(),
            )),
        ),
        (
            M::POST,
            format!("{wa_routes}/chats/w9:x/read"),
            Some(key.as_str()),
            None,
        ),
        (
            M::GET,
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=no&hub.challenge=1".to_owned(),
            None,
            None,
        ),
    ] {
        let (status, body) = s.send(method.clone(), &uri, auth, body, &[]).await;
        assert!(status.is_client_error(), "{method} {uri}: {status} {body}");
    }
    let (status, _) = s
        .send(
            M::POST,
            "/webhooks/whatsapp",
            None,
            Some(("application/json", b"{}".to_vec())),
            &[("x-hub-signature-256", "sha256=00")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    gateway.shutdown();

    // Every documented operation answered at least once with a success.
    let doc = document();
    for (shape, method, path) in documented(&doc) {
        let answered = s.taken.iter().any(|t| {
            t["method"] == method
                && t["status"]
                    .as_u64()
                    .is_some_and(|c| (200..300).contains(&c))
                && fills(&shape, &method, t["path"].as_str().unwrap())
        });
        assert!(
            answered,
            "no successful sample of {method} {path}: add a request for it to this test"
        );
    }

    // ... and every answer as the document says, by openapi-core.
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples.json");
    std::fs::write(&samples, serde_json::to_vec_pretty(&s.taken).unwrap()).unwrap();
    let output = std::process::Command::new(python())
        .arg(root().join("scripts/check_openapi.py"))
        .arg(root().join("docs/openapi.json"))
        .arg(&samples)
        .output()
        .expect("run scripts/check_openapi.py");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "answers differ from docs/openapi.json:\n{report}"
    );
    assert!(
        report.contains(&format!("{} sample answers checked", s.taken.len())),
        "{report}"
    );
}
