//! Who may do what, against fakes of the outside services at the HTTP level: attaching a
//! Meta Cloud API number needs a token the (fake) Graph API lets read that number, over
//! both store adapters; user tokens are checked for `nbf`/`iat`, verify with Stack Auth
//! keys whose coordinates lost their leading zeros, keep verifying from a stale JWKS while
//! the (fake) Stack Auth is slow or down, and restricted or anonymous users get their own
//! codes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use platefull::auth::dev::DevSigner;
use platefull::auth::jwt::{JwksTiming, UserTokens};
use platefull::bot::cloud_api::{self, GraphClient};
use platefull::store::keys;
use platefull_tests::fake_graph::{self, FakeGraph};
use platefull_tests::fake_stack_auth::{FakeStackAuth, Mode};
use platefull_tests::{assert_error, for_each_store, Connection, TestApp, TestStore};
use serde_json::{json, Value};

// --- Cloud API numbers: proven before they are attached ----------------------------------

const NUMBER: &str = "106540352242922";
const OTHER_NUMBER: &str = "106540352240000";
const OWNER_TOKEN: &str = "EAAG-owner-system-user-token-0001";

async fn attach(
    app: &TestApp,
    store_id: &str,
    key: &str,
    number: &str,
    token: &str,
) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/api/whatsapp/{store_id}/cloud-api"),
        Some(key),
        Some(json!({"phoneNumberId": number, "accessToken": token})),
    )
    .await
}

/// Which store `number` routes to, and the number `store_id` has attached.
async fn stored(app: &TestApp, store_id: &str, number: &str) -> (Option<String>, Option<String>) {
    let store = app.state.store.as_ref();
    (
        cloud_api::route(store, number).await.unwrap(),
        cloud_api::attached(store, store_id)
            .await
            .unwrap()
            .map(|(id, _)| id),
    )
}

/// Attaching `OTHER_NUMBER` answers 502 `graph_api_unavailable` and stores nothing.
async fn assert_unavailable(app: &TestApp, caller: &Connection, token: &str) {
    let (status, err) = attach(app, &caller.store_id, &caller.api_key, OTHER_NUMBER, token).await;
    assert_error(
        status,
        &err,
        StatusCode::BAD_GATEWAY,
        "graph_api_unavailable",
    );
    assert_eq!(
        stored(app, &caller.store_id, OTHER_NUMBER).await,
        (None, None)
    );
}

fn app_with_graph(t: TestStore, graph: &FakeGraph) -> TestApp {
    let url = graph.url.clone();
    TestApp::new(t).with_state(move |s| s.graph = Arc::new(GraphClient::new(&url)))
}

async fn a_number_is_attached_only_with_a_token_that_can_read_it(t: TestStore) {
    let graph = fake_graph::graph().await;
    let app = app_with_graph(t, &graph);
    let owner = app.whatsapp("alice", "Pizzaria da Alice").await;
    let squatter = app.whatsapp("mallory", "Loja do Mallory").await;
    graph.grant(
        OWNER_TOKEN,
        NUMBER,
        "+55 11 98888-7777",
        "Pizzaria da Alice",
    );
    let mallory_token = "EAAG-mallory-token-for-own-number";
    graph.grant(
        mallory_token,
        OTHER_NUMBER,
        "+55 21 97777-6666",
        "Loja do Mallory",
    );

    // Squatting: a token Meta doesn't know, then Mallory's real token (which can't read the
    // owner's number). Refused, nothing stored.
    for token in ["EAAG-made-up-token-of-20-chars", mallory_token] {
        let (status, err) =
            attach(&app, &squatter.store_id, &squatter.api_key, NUMBER, token).await;
        assert_error(
            status,
            &err,
            StatusCode::BAD_REQUEST,
            "cloud_api_token_rejected",
        );
        assert!(
            !err.to_string().contains(token),
            "the token is never echoed: {err}"
        );
        assert_eq!(stored(&app, &squatter.store_id, NUMBER).await, (None, None));
    }
    // The proof is the Graph API's own read of that number, with the given token.
    let asked = graph.lookups.requests();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1].0, format!("/{NUMBER}"));
    assert_eq!(
        asked[1].2.as_deref(),
        Some(&*format!("Bearer {mallory_token}"))
    );
    assert_eq!(
        asked[1].1["fields"],
        "id,display_phone_number,verified_name"
    );

    // The owner's token reads the number: attached, with what Meta says of it.
    let (status, ok) = attach(&app, &owner.store_id, &owner.api_key, NUMBER, OWNER_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["data"]["accessToken"], "********");
    assert_eq!(ok["data"]["displayPhoneNumber"], "+55 11 98888-7777");
    assert_eq!(ok["data"]["verifiedName"], "Pizzaria da Alice");
    assert!(!ok.to_string().contains(OWNER_TOKEN));
    assert_eq!(
        stored(&app, &owner.store_id, NUMBER).await,
        (Some(owner.store_id.clone()), Some(NUMBER.to_owned()))
    );
    // The sealed token opens for the owner's store and is the one given.
    let opened = cloud_api::access_token(
        app.state.store.as_ref(),
        &app.state.secrets,
        &owner.store_id,
        NUMBER,
    )
    .await
    .unwrap();
    assert_eq!(opened.as_deref(), Some(OWNER_TOKEN));

    // A squatter who can't prove the number isn't told another store holds it.
    let (status, err) = attach(
        &app,
        &squatter.store_id,
        &squatter.api_key,
        NUMBER,
        "EAAG-made-up-token-of-20-chars",
    )
    .await;
    assert_error(
        status,
        &err,
        StatusCode::BAD_REQUEST,
        "cloud_api_token_rejected",
    );
    assert!(!err.to_string().contains("another store"), "{err}");
    // A caller who proves the number too (another system user of the same business) learns
    // it is taken; the owner keeps it.
    let colleague = app.whatsapp("bob", "Pizzaria da Alice (filial)").await;
    let colleague_token = "EAAG-second-system-user-token-02";
    graph.grant(
        colleague_token,
        NUMBER,
        "+55 11 98888-7777",
        "Pizzaria da Alice",
    );
    let (status, err) = attach(
        &app,
        &colleague.store_id,
        &colleague.api_key,
        NUMBER,
        colleague_token,
    )
    .await;
    assert_error(status, &err, StatusCode::CONFLICT, "conflict");
    assert!(err.to_string().contains("another store"), "{err}");
    assert_eq!(
        stored(&app, &colleague.store_id, NUMBER).await,
        (Some(owner.store_id.clone()), None)
    );

    // Meta answering for another object: the id differs, or it isn't a phone number (no
    // display number). Refused, nothing stored.
    for answer in [
        json!({"id": "999999999999999", "display_phone_number": "+55 21 97777-6666", "verified_name": "X"}),
        json!({"id": OTHER_NUMBER, "name": "A Facebook user"}),
    ] {
        graph.lookups.push(200, answer, None);
        let (status, err) = attach(
            &app,
            &squatter.store_id,
            &squatter.api_key,
            OTHER_NUMBER,
            mallory_token,
        )
        .await;
        assert_error(
            status,
            &err,
            StatusCode::BAD_REQUEST,
            "cloud_api_number_mismatch",
        );
        assert_eq!(
            stored(&app, &squatter.store_id, OTHER_NUMBER).await,
            (None, None)
        );
    }

    // The Graph API down (5xx, a transient code, throttled) or unreachable: a 502 with a
    // stable code, nothing stored.
    graph.lookups.push(
        500,
        json!({"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1, "fbtrace_id": "x"}}),
        None,
    );
    graph.lookups.push(
        400,
        json!({"error": {"message": "Application request limit reached", "type": "OAuthException", "code": 4, "fbtrace_id": "x"}}),
        None,
    );
    graph.lookups.push(503, json!({}), None);
    for _ in 0..3 {
        assert_unavailable(&app, &squatter, mallory_token).await;
    }
    let unreachable =
        app.with_state(|s| s.graph = Arc::new(GraphClient::new("http://127.0.0.1:9")));
    assert_unavailable(&unreachable, &squatter, mallory_token).await;
    // The owner's number is untouched by all of it.
    assert_eq!(
        stored(&unreachable, &owner.store_id, NUMBER).await,
        (Some(owner.store_id.clone()), Some(NUMBER.to_owned()))
    );
}

async fn bad_input_never_reaches_the_graph_api(t: TestStore) {
    let graph = fake_graph::graph().await;
    let app = app_with_graph(t, &graph);
    let owner = app.whatsapp("alice", "Pizzaria").await;
    let stranger = app.whatsapp("eve", "Outra").await;
    for (number, token, field) in [
        ("12ab", OWNER_TOKEN, "phoneNumberId"),
        (NUMBER, "short", "accessToken"),
        (NUMBER, "has spaces in the token value", "accessToken"),
    ] {
        let (status, err) = attach(&app, &owner.store_id, &owner.api_key, number, token).await;
        assert_error(status, &err, StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(err["error"]["field"], field);
    }
    // Another store's key: refused before any proof is asked for.
    let (status, _) = attach(
        &app,
        &owner.store_id,
        &stranger.api_key,
        NUMBER,
        OWNER_TOKEN,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(graph.lookups.count(), 0);
    let item = app
        .state
        .store
        .get(&keys::store_pk(&owner.store_id), keys::CLOUD_SK)
        .await
        .unwrap();
    assert!(item.is_none());
}

for_each_store!(
    a_number_is_attached_only_with_a_token_that_can_read_it,
    bad_input_never_reaches_the_graph_api,
);

// --- User tokens -------------------------------------------------------------------------

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn code_of(tokens: &UserTokens, token: &str) -> Result<String, (StatusCode, &'static str)> {
    tokens
        .verify(token)
        .await
        .map_err(|e| (e.status(), e.code()))
}

#[tokio::test]
async fn nbf_and_iat_are_checked_with_the_same_leeway_as_exp() {
    let signer = DevSigner::generate("test-issuer", "test-audience");
    let tokens = signer.verifier();
    let claims = |extra: Value| {
        let mut c = json!({"sub": "alice", "iss": "test-issuer", "aud": "test-audience", "exp": now() + 600});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        signer.sign(c)
    };
    let not_yet = Err((StatusCode::UNAUTHORIZED, "token_not_yet_valid"));
    assert_eq!(
        code_of(&tokens, &claims(json!({"nbf": now() + 120}))).await,
        not_yet
    );
    assert_eq!(
        code_of(&tokens, &claims(json!({"iat": now() + 120}))).await,
        not_yet
    );
    // Inside the 30 s leeway (clock skew), as for exp.
    for extra in [
        json!({"nbf": now() + 10}),
        json!({"iat": now() + 10}),
        json!({"iat": now() - 5, "nbf": now() - 5}),
        json!({"exp": now() - 10}),
    ] {
        assert_eq!(
            code_of(&tokens, &claims(extra.clone())).await,
            Ok("alice".into()),
            "{extra}"
        );
    }
    assert_eq!(
        code_of(&tokens, &claims(json!({"exp": now() - 120}))).await,
        Err((StatusCode::UNAUTHORIZED, "token_expired"))
    );
    // A refused token isn't remembered as verified.
    let early = claims(json!({"nbf": now() + 120}));
    for _ in 0..2 {
        assert_eq!(code_of(&tokens, &early).await, not_yet);
    }
}

/// The first seeded key with a coordinate whose first byte is zero (~1 in 128).
fn signer_with_a_short_coordinate(issuer: &str, audience: &str) -> DevSigner {
    (0u32..4096)
        .map(|seed| DevSigner::from_seed(&seed.to_be_bytes(), issuer, audience))
        .find(DevSigner::has_short_coordinate)
        .expect("a key with a leading zero byte within 4096 seeds")
}

#[tokio::test]
async fn a_jwks_coordinate_without_its_leading_zero_still_verifies() {
    let stack = FakeStackAuth::start("proj-short").await;
    let signer = signer_with_a_short_coordinate(&stack.issuer, &stack.project);
    stack.serve(&[&signer]);
    let jwks = signer.minimal_jwks();
    let lengths: Vec<usize> = ["x", "y"]
        .iter()
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(jwks["keys"][0][c].as_str().unwrap())
                .unwrap()
                .len()
        })
        .collect();
    assert!(
        lengths.iter().any(|l| *l < 32),
        "the served key has a short coordinate: {lengths:?}"
    );
    let tokens = UserTokens::stack_auth(&stack.url, &stack.project);
    assert_eq!(
        code_of(&tokens, &signer.token("alice", 600)).await,
        Ok("alice".into())
    );
    // The same from a static key set (the local stack's path).
    let local = UserTokens::with_keys(
        &stack.issuer,
        &stack.project,
        serde_json::from_value(jwks).unwrap(),
    );
    assert_eq!(
        code_of(&local, &signer.token("bob", 600)).await,
        Ok("bob".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_jwks_keeps_verifying_while_stack_auth_is_slow_or_down() {
    let stack = FakeStackAuth::start("proj-swr").await;
    let timing = JwksTiming {
        fresh_for: Duration::from_millis(200),
        max_stale: Duration::from_millis(1500),
        refetch_every: Duration::from_millis(100),
        fetch_timeout: Duration::from_millis(300),
    };
    let tokens = UserTokens::stack_auth_with(&stack.url, &stack.project, timing);
    // Each check uses a new token: a verified one is remembered and wouldn't look at keys.
    let mut n = 0;
    let mut token = || {
        n += 1;
        stack.signer.token(&format!("user-{n}"), 600)
    };
    let fetched_at = Instant::now();
    assert!(code_of(&tokens, &token()).await.is_ok());
    assert_eq!(stack.fetches(), 1);

    // Stale, and Stack Auth hangs: verified with the cached key.
    stack.set_mode(Mode::Hanging);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(code_of(&tokens, &token()).await.is_ok());
    // Stack Auth fails outright: still verified, and it is asked again in the background.
    stack.set_mode(Mode::Failing);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = stack.fetches();
    assert!(code_of(&tokens, &token()).await.is_ok());
    let mut asked = false;
    for _ in 0..100 {
        asked = stack.fetches() > before;
        if asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(asked, "a background refresh went out");
    assert!(
        fetched_at.elapsed() < timing.max_stale,
        "the checks above ran within the stale window"
    );

    // Past the longest stale age the keys are dropped: a clear 503 while it's down...
    tokio::time::sleep(
        timing.max_stale.saturating_sub(fetched_at.elapsed()) + Duration::from_millis(100),
    )
    .await;
    assert_eq!(
        code_of(&tokens, &token()).await,
        Err((StatusCode::SERVICE_UNAVAILABLE, "unavailable"))
    );
    // ...and back to normal once it answers.
    stack.set_mode(Mode::Up);
    assert!(code_of(&tokens, &token()).await.is_ok());

    // A rotated key is picked up by the refresh that a stale set triggers.
    let rotated = DevSigner::generate(&stack.issuer, &stack.project);
    stack.serve(&[&rotated]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = stack.fetches();
    assert!(
        code_of(&tokens, &token()).await.is_ok(),
        "the old key, stale"
    );
    for _ in 0..100 {
        if stack.fetches() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut accepted = false;
    for _ in 0..100 {
        accepted = code_of(&tokens, &rotated.token("carol", 600)).await.is_ok();
        if accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "the rotated key verifies");
}

#[tokio::test]
async fn with_no_cached_keys_stack_auth_down_is_a_503() {
    let stack = FakeStackAuth::start("proj-cold").await;
    stack.set_mode(Mode::Failing);
    let tokens = UserTokens::stack_auth(&stack.url, &stack.project);
    assert_eq!(
        code_of(&tokens, &stack.signer.token("alice", 600)).await,
        Err((StatusCode::SERVICE_UNAVAILABLE, "unavailable"))
    );
}

#[tokio::test]
async fn restricted_and_anonymous_users_get_their_own_codes() {
    let stack = FakeStackAuth::start("proj-users").await;
    let api = format!("{}/api/v1", stack.url);
    let project = &stack.project;
    // Stack Auth signs these with keys outside the project's JWKS.
    let restricted = DevSigner::generate(
        &format!("{api}/projects-restricted-users/{project}"),
        &format!("{project}:restricted"),
    );
    let anonymous = DevSigner::generate(
        &format!("{api}/projects-anonymous-users/{project}"),
        &format!("{project}:anon"),
    );
    let app = TestApp::new(platefull_tests::embedded_store().await).with_state(|s| {
        s.users = Arc::new(UserTokens::stack_auth(&stack.url, project));
    });
    for (token, code) in [
        (restricted.token("user-r", 600), "email_not_verified"),
        (anonymous.token("user-a", 600), "anonymous_user"),
    ] {
        let (status, err) = app
            .call(Method::GET, "/api/user-apis", Some(&token), None)
            .await;
        assert_error(status, &err, StatusCode::UNAUTHORIZED, code);
    }
    assert_eq!(
        stack.fetches(),
        0,
        "no JWKS fetch for a token refused by its claims"
    );
    // A verified user's token still works.
    let (status, body) = app
        .call(
            Method::GET,
            "/api/user-apis",
            Some(&stack.signer.token("user-v", 600)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
