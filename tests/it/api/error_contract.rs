//! One error contract for every router, the framework's own rejections included: a seeded,
//! deterministic fuzz of random methods, paths (percent-encodings that aren't UTF-8,
//! encoded slashes, huge segments), query strings, credentials, content types and bodies
//! over every router — each Lambda function's, the local stack's whole app, the dev
//! sign-in and simulator routes — in-process through tower's `oneshot`. Every response must
//! be below 500, and every error must be `{"error":{"code","message"}}` with a JSON content
//! type. Then the cases the fuzz first found, one by one: `%ff%fe` in a path parameter,
//! 405s on the dev routes, query and body-size rejections.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use platefull::auth::dev::DevSigner;
use platefull::http::webhook::WebhookState;
use platefull::http::BODY_LIMIT;
use platefull::whatsapp::simulator::Simulator;
use platefull_tests::{embedded_store, stack, Connection, TestApp};
use serde_json::Value;
use tower::ServiceExt;

/// The fuzz's seed: the same requests on every run (change it to explore further).
const SEED: u64 = 0x5eed_0018;
/// Requests against the local stack's whole app, and against each other router.
const LOCAL_REQUESTS: usize = 2_000;
const ROUTER_REQUESTS: usize = 400;

/// Every route's path, with `{s}` (storeId), `{n}` (slot) and `{i}` (user API id) to fill.
const TEMPLATES: &[&str] = &[
    "/health",
    "/api/user-apis",
    "/api/user-apis/{i}",
    "/api/user-apis/{i}/test",
    "/api/user-apis/{i}/rotate-key",
    "/api/user-apis/{i}/reports/sales",
    "/api/client/{s}/config",
    "/api/client/{s}/menu",
    "/api/client/{s}/menu/items/{n}",
    "/api/client/{s}/menu/import",
    "/api/client/{s}/profile",
    "/api/client/{s}/status",
    "/api/whatsapp/{s}/sessions",
    "/api/whatsapp/{s}/{n}/start",
    "/api/whatsapp/{s}/{n}/logout",
    "/api/whatsapp/{s}/cloud-api",
    "/webhooks/whatsapp",
    "/dev/sign-in",
    "/console-config.json",
    "/dev/simulator/{s}/{n}/pair",
    "/dev/simulator/{s}/{n}/pairing",
    "/dev/simulator/{s}/{n}/messages",
    "/dev/simulator/{s}/{n}/owner-messages",
    "/dev/simulator/{s}/{n}/outbox",
];

/// Path segments that have broken routers: bytes that aren't UTF-8 once decoded, broken
/// escapes, encoded separators, ids of the right shape that don't exist.
const SEGMENTS: &[&str] = &[
    "%ff%fe",
    "%ff",
    "a%ffb",
    "%c3%28",
    "%e2%82",
    "%00",
    "%2F",
    "%2e%2e",
    "..",
    "%25",
    "%",
    "%zz",
    "%20",
    "caf%C3%A9",
    "st_00000000000000000000",
    "api_00000000000000000000",
    "0",
    "4",
    "-1",
    "99999999999999999999",
    "",
];

/// The routes' methods weighted up, so more requests get past routing to the handlers.
const METHODS: &[&str] = &[
    "GET", "GET", "GET", "POST", "POST", "POST", "PUT", "PUT", "PATCH", "DELETE", "HEAD",
    "OPTIONS", "TRACE", "PURGE",
];

const QUERY_KEYS: &[&str] = &[
    "from",
    "to",
    "chat",
    "code",
    "phone",
    "hub.mode",
    "hub.challenge",
    "hub.verify_token",
    "x",
];
const QUERY_VALUES: &[&str] = &[
    "2024-01-01",
    "2024-13-40",
    "%ff%fe",
    "%",
    "subscribe",
    "",
    "5511999990000",
    "a+b",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
];

/// Bodies that are almost right, plainly wrong, or of the wrong kind. (None creates a
/// Saipos account: its routes would call Saipos.)
const BODIES: &[&str] = &[
    "{}",
    "{",
    "null",
    "[]",
    "\"text\"",
    r#"{"name":"Loja","type":"whatsapp"}"#,
    r#"{"name":"","type":"fax"}"#,
    r#"{"botName":"Maria","messageLimit":30}"#,
    r#"{"messageLimit":"thirty"}"#,
    r#"{"temperature":1}"#,
    r#"{"userId":"alice"}"#,
    r#"{"userId":"a b"}"#,
    r#"{"from":"5511999990000","text":"oi"}"#,
    r#"{"to":"5511999990000","text":"oi"}"#,
    r#"{"phone":"5511988887777"}"#,
    r#"{"phoneNumber":"123"}"#,
    r#"{"phoneNumberId":"1","accessToken":"t"}"#,
    r#"{"object":"whatsapp_business_account","entry":[]}"#,
];

/// What the fuzz fills templates and credentials with: one real connection of alice's.
struct Fixture {
    connection: Connection,
    alice: String,
    bob: String,
}

/// One generated request, kept printable for the failure message.
struct Case {
    method: Method,
    uri: String,
    auth: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(120).collect();
        write!(
            f,
            "{} {} auth={} content-type={:?} body({} bytes)={body:?}",
            self.method,
            self.uri,
            self.auth
                .as_deref()
                .map_or("none", |a| &a[..a.len().min(12)]),
            self.content_type,
            self.body.len(),
        )
    }
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn random_segment(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..10) {
        0 => (0..rng.usize(1..40)).map(|_| rng.alphanumeric()).collect(),
        1 => "x".repeat(rng.usize(1_000..5_000)),
        _ => pick(rng, SEGMENTS).to_owned(),
    }
}

fn generate(rng: &mut fastrand::Rng, fixture: &Fixture) -> Case {
    let path = if rng.u8(..10) == 0 {
        // Somewhere no route is.
        let segments: Vec<String> = (0..rng.usize(1..5)).map(|_| random_segment(rng)).collect();
        format!("/{}", segments.join("/"))
    } else {
        // A route's path, each parameter right half the time.
        let template = pick(rng, TEMPLATES);
        let slot = ["1", "2", "3"][rng.usize(..3)];
        let mut fill = |right: &str| {
            if rng.bool() {
                right.to_owned()
            } else {
                random_segment(rng)
            }
        };
        template
            .replace("{s}", &fill(&fixture.connection.store_id))
            .replace("{i}", &fill(&fixture.connection.id))
            .replace("{n}", &fill(slot))
    };
    let query = if rng.u8(..3) == 0 {
        let pairs: Vec<String> = (0..rng.usize(1..4))
            .map(|_| format!("{}={}", pick(rng, QUERY_KEYS), pick(rng, QUERY_VALUES)))
            .collect();
        format!("?{}", pairs.join("&"))
    } else {
        String::new()
    };
    let auth = match rng.u8(..7) {
        0 => None,
        1 | 2 => Some(fixture.alice.clone()),
        3 => Some(fixture.bob.clone()),
        4 => Some(fixture.connection.api_key.clone()),
        5 => Some("pfk_not-a-real-key".to_owned()),
        _ => Some("e30.e30.e30".to_owned()),
    };
    let content_type = match rng.u8(..5) {
        0 => None,
        _ => Some(pick(rng, CONTENT_TYPES)),
    };
    let body = match rng.u8(..20) {
        0..=3 => Vec::new(),
        4 => (0..rng.usize(1..200)).map(|_| rng.u8(..)).collect(),
        5 => vec![0xff, 0xfe, b'{', b'}'],
        6 => vec![b'a'; BODY_LIMIT + 1],
        7 => format!("{{\"name\":\"{}\"}}", "x".repeat(BODY_LIMIT)).into_bytes(),
        _ => pick(rng, BODIES).as_bytes().to_vec(),
    };
    Case {
        method: Method::from_bytes(pick(rng, METHODS).as_bytes()).unwrap(),
        uri: format!("{path}{query}"),
        auth,
        content_type,
        body,
    }
}

/// A response as the contract sees it.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

async fn send(router: &Router, case: &Case) -> Answer {
    let mut request = Request::builder()
        .method(case.method.clone())
        .uri(&case.uri);
    if let Some(auth) = &case.auth {
        request = request.header(header::AUTHORIZATION, format!("Bearer {auth}"));
    }
    if let Some(content_type) = case.content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request
        .body(Body::from(case.body.clone()))
        .unwrap_or_else(|e| panic!("the generator built a bad request ({e}): {case:?}"));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// The contract: no 5xx; an error is JSON `{"error":{"code","message"}}`, both non-empty
/// strings (a HEAD response has no body, so only its content type is checked).
fn check(router: &str, case: &Case, answer: &Answer) {
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        !answer.status.is_server_error(),
        "{router}: {case:?} → {} {body}",
        answer.status
    );
    if !answer.status.is_client_error() {
        return;
    }
    assert!(
        answer.content_type.starts_with("application/json"),
        "{router}: {case:?} → {} with content-type {:?}: {body}",
        answer.status,
        answer.content_type
    );
    if case.method == Method::HEAD {
        return;
    }
    let json: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|_| panic!("{router}: {case:?} → {} not JSON: {body}", answer.status));
    for field in ["code", "message"] {
        assert!(
            json["error"][field].as_str().is_some_and(|s| !s.is_empty()),
            "{router}: {case:?} → {} without error.{field}: {body}",
            answer.status
        );
    }
}

/// The local stack's app (every function's routes with sessions and the webhook on, the
/// simulator's and the dev sign-in's routes), every function's own router, and the dev
/// routers alone; with the connection the fuzz aims at.
async fn routers() -> (TestApp, Vec<(&'static str, Router)>, Fixture) {
    let sim = Simulator::new("http://localhost");
    let app = TestApp::new(embedded_store().await)
        .with_webhook(stack::standard_queue())
        .with_sessions(stack::fifo_queue(), Duration::from_millis(5), &sim);
    // The console's signer (its tokens aren't what this fuzz is about).
    let signer = Arc::new(DevSigner::generate("test-issuer", "test-audience"));
    let dev_sign_in = || platefull::http::dev_sign_in::router(signer.clone(), true);
    let local = app.router.clone().merge(dev_sign_in());
    let state = app.state.clone();
    let webhook = WebhookState {
        store: state.store.clone(),
        settings: state.webhook.clone(),
    };
    let routers = vec![
        ("local stack", local),
        (
            "user-apis",
            platefull::http::user_apis_router(state.clone()),
        ),
        (
            "client-config",
            platefull::http::client_config_router(state.clone()),
        ),
        (
            "whatsapp-sessions",
            platefull::http::sessions_router(state.clone()),
        ),
        ("whatsapp-webhook", platefull::http::webhook_router(webhook)),
        ("dev sign-in", dev_sign_in()),
        (
            "simulator",
            platefull::http::simulator::router(sim.clone(), state.clone()),
        ),
    ];
    let connection = app.whatsapp("alice", "Pizzaria X").await;
    let fixture = Fixture {
        connection,
        alice: app.token("alice"),
        bob: app.token("bob"),
    };
    (app, routers, fixture)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fuzz_of_every_router_gets_only_json_errors_and_no_5xx() {
    let (_app, routers, fixture) = routers().await;
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (name, router) in &routers {
        let requests = if *name == "local stack" {
            LOCAL_REQUESTS
        } else {
            ROUTER_REQUESTS
        };
        for _ in 0..requests {
            let case = generate(&mut rng, &fixture);
            let answer = send(router, &case).await;
            check(name, &case, &answer);
            *statuses.entry(answer.status.as_u16()).or_default() += 1;
        }
    }
    println!("seed {SEED:#x}: statuses {statuses:?}");
    // The fuzz reaches each kind of rejection, so the contract was checked on each.
    for status in [400, 401, 403, 404, 405, 413, 415] {
        assert!(
            statuses.contains_key(&status),
            "no {status} among {statuses:?}: the generator misses a kind of rejection"
        );
    }
}

/// One request through `router`: status, and the JSON body (which must be JSON).
async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let case = Case {
        method,
        uri: uri.to_owned(),
        auth: auth.map(str::to_owned),
        content_type: Some("application/json"),
        body,
    };
    let answer = send(router, &case).await;
    check("targeted", &case, &answer);
    (answer.status, serde_json::from_slice(&answer.body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_parameters_that_are_not_utf8_get_a_json_400_naming_the_parameter() {
    let (app, routers, fixture) = routers().await;
    let local = &routers[0].1;
    let store = &fixture.connection.store_id;
    let cases = [
        (
            Method::GET,
            "/api/client/%ff%fe/config".to_owned(),
            "store_id",
        ),
        (
            Method::PUT,
            "/api/client/%ff%fe/config".to_owned(),
            "store_id",
        ),
        (
            Method::GET,
            "/api/whatsapp/%ff%fe/sessions".to_owned(),
            "store_id",
        ),
        (
            Method::POST,
            "/api/whatsapp/%ff%fe/1/start".to_owned(),
            "store_id",
        ),
        (
            Method::POST,
            format!("/api/whatsapp/{store}/%ff%fe/logout"),
            "slot",
        ),
        (
            Method::PUT,
            "/api/whatsapp/%ff%fe/cloud-api".to_owned(),
            "store_id",
        ),
        (Method::GET, "/api/user-apis/%ff%fe".to_owned(), "id"),
        (
            Method::GET,
            "/api/user-apis/%ff%fe/reports/sales".to_owned(),
            "id",
        ),
        (
            Method::GET,
            "/dev/simulator/%ff%fe/1/outbox?chat=1".to_owned(),
            "store_id",
        ),
        (
            Method::POST,
            format!("/dev/simulator/{store}/%ff%fe/pair"),
            "slot",
        ),
    ];
    for (method, uri, parameter) in cases {
        let (status, body) = call(
            local,
            method.clone(),
            &uri,
            Some(&fixture.alice),
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {body}");
        assert_eq!(
            body["error"]["code"], "invalid_path",
            "{method} {uri}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{method} {uri}: {message}"
        );
    }
    // Nothing changed: alice still has the one connection, its config untouched.
    let (status, list) = app
        .call(Method::GET, "/api/user-apis", Some(&fixture.alice), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_unknown_routes_queries_and_big_bodies_get_json_errors_on_every_router() {
    let (_app, routers, fixture) = routers().await;
    let store = &fixture.connection.store_id;
    let alice = Some(fixture.alice.as_str());
    let by_name = |name: &str| &routers.iter().find(|(n, _)| *n == name).unwrap().1;
    // 405 on the dev routes (once bodiless), alone and inside the local stack's app.
    let wrong_methods = [
        ("dev sign-in", Method::GET, "/dev/sign-in".to_owned()),
        (
            "dev sign-in",
            Method::POST,
            "/console-config.json".to_owned(),
        ),
        (
            "simulator",
            Method::DELETE,
            format!("/dev/simulator/{store}/1/messages"),
        ),
        (
            "simulator",
            Method::PUT,
            format!("/dev/simulator/{store}/1/outbox"),
        ),
        ("local stack", Method::DELETE, "/health".to_owned()),
    ];
    for (name, method, uri) in wrong_methods {
        for router in [by_name(name), by_name("local stack")] {
            let (status, body) = call(router, method.clone(), &uri, None, Vec::new()).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{name}: {method} {uri}: {body}"
            );
            assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        }
    }
    // 404 of an unknown route, on every router (the dev routers have no fallback of their
    // own: axum's bodiless 404 is answered as JSON).
    for (name, router) in &routers {
        let (status, body) = call(router, Method::GET, "/no/such/route", None, Vec::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{name}: {body}");
    }
    // A query string that doesn't deserialize (a repeated field).
    let local = by_name("local stack");
    for uri in [
        "/webhooks/whatsapp?hub.mode=subscribe&hub.mode=subscribe".to_owned(),
        format!("/dev/simulator/{store}/1/outbox?chat=1&chat=2"),
    ] {
        let (status, body) = call(local, Method::GET, &uri, None, Vec::new()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{uri}: {body}");
    }
    // Bodies over the limit, read as JSON or as raw bytes.
    let big = vec![b' '; BODY_LIMIT + 1];
    for uri in [
        format!("/api/whatsapp/{store}/1/start"),
        format!("/dev/simulator/{store}/1/pair"),
        "/dev/sign-in".to_owned(),
        format!("/api/client/{store}/config"),
    ] {
        let method = if uri.ends_with("/config") {
            Method::PUT
        } else {
            Method::POST
        };
        let (status, body) = call(local, method, &uri, alice, big.clone()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "payload_too_large", "{uri}: {body}");
    }
}
