//! The Lambda functions as AWS runs them: state built from the environment exactly as the
//! mains do (DynamoDB table and KMS data key on moto through the real AWS SDK, Stack Auth's
//! JWKS served by a fake at the HTTP level), and requests taken from the API Gateway v2
//! fixtures in `events/`, driven through each function's own router.

use axum::http::StatusCode;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::BodyExt;
use platefull::auth::dev::DevSigner;
use platefull::http::{client_config_router, sessions_router, user_apis_router, AppState};
use platefull_tests::fake_graph;
use platefull_tests::fake_stack_auth::FakeStackAuth;
use platefull_tests::process::alone_in_a_process;
use serde_json::Value;
use tower::ServiceExt;

/// The Cloud API number and token the fixtures attach.
pub(crate) const CLOUD_NUMBER: &str = "106540352242922";
pub(crate) const CLOUD_TOKEN: &str = "EAAG-system-user-token-from-fixture";

/// Loads `events/<name>`, fills its `{{placeholders}}` (also inside base64 bodies) and parses
/// it the way the Lambda runtime does.
fn fixture(name: &str, vars: &[(&str, &str)]) -> lambda_http::Request {
    let event = fixture_event(name, vars);
    lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What the fixtures' `{{placeholders}}` stand for, for the owner `user_token` and the
/// connection `id` / `store_id` the create fixture made, with `api_key` as its key (a
/// rotation changes it).
pub(crate) fn fixture_vars(
    user_token: &str,
    id: &str,
    store_id: &str,
    api_key: &str,
) -> Vec<(&'static str, String)> {
    [
        ("userToken", user_token),
        ("apiKey", api_key),
        ("id", id),
        ("storeId", store_id),
        ("saiposToken", "saipos-token-from-fixture"),
        ("phoneNumberId", CLOUD_NUMBER),
        ("cloudToken", CLOUD_TOKEN),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_owned()))
    .collect()
}

/// `events/<name>` with its `{{placeholders}}` filled (also inside base64 bodies), as JSON:
/// the event as Lambda delivers it.
pub(crate) fn fixture_event(name: &str, vars: &[(&str, &str)]) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fill = |s: &str| {
        vars.iter().fold(s.to_owned(), |s, (k, v)| {
            s.replace(&format!("{{{{{k}}}}}"), v)
        })
    };
    let mut event: Value = serde_json::from_str(&fill(&text)).expect("fixture is JSON");
    if event["isBase64Encoded"] == true {
        let body = STANDARD.decode(event["body"].as_str().unwrap()).unwrap();
        let body = fill(&String::from_utf8(body).unwrap());
        event["body"] = STANDARD.encode(body).into();
    }
    assert!(
        !event.to_string().contains("{{"),
        "{name}: unfilled placeholder"
    );
    event
}

async fn invoke(router: &Router, request: lambda_http::Request) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        },
    )
}

/// The mains read their settings from the process environment, which this test sets and
/// changes: it runs alone in a child process, so no other test's thread reads the
/// environment meanwhile.
#[test]
fn functions_serve_their_fixtures_from_the_aws_environment() {
    alone_in_a_process(
        module_path!(),
        "functions_serve_their_fixtures_from_the_aws_environment",
        || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(serve_fixtures_from_the_aws_environment())
        },
    );
}

async fn serve_fixtures_from_the_aws_environment() {
    // Infrastructure as the SAM template would create it, on moto.
    let (aws, table, ciphertext) = platefull_tests::table_and_data_key("platefull-lambda").await;

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let commands_url = sqs
        .create_queue()
        .queue_name(platefull_tests::unique("commands"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let project = "proj-1234";
    let stack = FakeStackAuth::start(project).await;
    let graph = fake_graph::graph().await;
    graph.grant(CLOUD_TOKEN, CLOUD_NUMBER, "+55 11 98888-7777", "Pizzaria X");
    let (stack_url, signer) = (stack.url.clone(), &stack.signer);

    // The mains' environment (this process runs no other test).
    for (name, value) in [
        ("PLATEFULL_TABLE", table.as_str()),
        ("STACK_PROJECT_ID", project),
        ("STACK_API_URL", stack_url.as_str()),
        ("PLATEFULL_DATA_KEY_CIPHERTEXT", ciphertext.as_str()),
        ("AWS_ENDPOINT_URL", platefull_tests::moto_url().as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("PLATEFULL_COMMANDS_QUEUE_URL", commands_url.as_str()),
        ("PLATEFULL_SESSION_WAIT_MS", "300"),
        ("META_GRAPH_URL", graph.url.as_str()),
    ] {
        std::env::set_var(name, value);
    }
    let state: AppState = platefull::config::state_from_env()
        .await
        .expect("state from env");
    assert_eq!(state.store.kind(), "dynamodb");
    assert_eq!(
        state.saipos.policy,
        platefull::outbound::Policy::Strict,
        "a Lambda function's owner URLs reach only public https hosts"
    );
    let user_apis = user_apis_router(state.clone());
    let client_config = client_config_router(state.clone());
    let sessions = sessions_router(state.clone());

    let alice = signer.token("user-alice", 600);
    let (status, health) = invoke(&user_apis, fixture("health.json", &[])).await;
    assert_eq!(status, StatusCode::OK, "{health}");

    let (status, created) = invoke(
        &user_apis,
        fixture("user-apis/create-whatsapp.json", &[("userToken", &alice)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let store_id = created["storeId"].as_str().unwrap().to_owned();
    let api_key = created["apiKey"].as_str().unwrap().to_owned();
    let vars = |key: &str| fixture_vars(&alice, &id, &store_id, key);
    let owned = vars(&api_key);
    let v: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let (status, saipos) = invoke(&user_apis, fixture("user-apis/create-saipos.json", &v)).await;
    assert_eq!(status, StatusCode::CREATED, "{saipos}");
    assert_eq!(saipos["type"], "saipos");
    assert!(!saipos.to_string().contains("saipos-token-from-fixture"));
    let (status, err) = invoke(&user_apis, fixture("user-apis/create-invalid.json", &v)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, listed) = invoke(&user_apis, fixture("user-apis/list.json", &v)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let (status, err) = invoke(&user_apis, fixture("user-apis/list-with-api-key.json", &v)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    let (status, renamed) = invoke(&user_apis, fixture("user-apis/rename.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Pizzaria X Centro");

    let (status, config) = invoke(
        &client_config,
        fixture("client-config/get-with-api-key.json", &v),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["messageLimit"], 30);
    let (status, config) = invoke(
        &client_config,
        fixture("client-config/get-with-stack-header.json", &v),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    let (status, config) = invoke(&client_config, fixture("client-config/put.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["botName"], "Maria");
    let (status, err) = invoke(
        &client_config,
        fixture("client-config/put-invalid.json", &v),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "messageLimit");
    let (status, menu) = invoke(&client_config, fixture("client-config/get-menu.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{menu}");
    assert_eq!(menu["categories"], serde_json::json!([]));
    let (status, slots) = invoke(&sessions, fixture("whatsapp-sessions/list.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{slots}");
    assert_eq!(slots["data"].as_array().unwrap().len(), 3);
    // Start enqueues a command for the gateway (none runs here: the answer is "starting").
    let (status, started) = invoke(&sessions, fixture("whatsapp-sessions/start.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status"], "disconnected");
    let queued = sqs
        .receive_message()
        .queue_url(&commands_url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(queued.len(), 1);
    let command: Value = serde_json::from_str(queued[0].body().unwrap()).unwrap();
    assert_eq!(
        command,
        serde_json::json!({"type": "start", "slot": {"storeId": store_id, "slot": 1}})
    );
    let (status, out) = invoke(&sessions, fixture("whatsapp-sessions/logout.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("nothing to do"),
        "{out}"
    );

    // A Cloud API number is proven through the Graph API at META_GRAPH_URL before it is
    // attached; a token Meta refuses attaches nothing.
    let (status, attached) = invoke(
        &sessions,
        fixture("whatsapp-sessions/cloud-api-attach.json", &v),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    assert_eq!(attached["data"]["displayPhoneNumber"], "+55 11 98888-7777");
    assert_eq!(graph.lookups.count(), 1);
    let refused: Vec<(&str, &str)> = v
        .iter()
        .map(|(k, val)| {
            (
                *k,
                if *k == "cloudToken" {
                    "EAAG-a-token-meta-does-not-know"
                } else {
                    val
                },
            )
        })
        .collect();
    let (status, err) = invoke(
        &sessions,
        fixture("whatsapp-sessions/cloud-api-attach.json", &refused),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["code"], "cloud_api_token_rejected");

    // Each function serves only its own routes.
    let (status, _) = invoke(
        &user_apis,
        fixture("client-config/get-with-api-key.json", &v),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = invoke(&client_config, fixture("user-apis/list.json", &v)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Rotation: the old key stops at once, the new one works.
    let (status, rotated) = invoke(&user_apis, fixture("user-apis/rotate-key.json", &v)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (status, _) = invoke(
        &client_config,
        fixture("client-config/get-with-api-key.json", &v),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let owned = vars(rotated["apiKey"].as_str().unwrap());
    let v2: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = invoke(
        &client_config,
        fixture("client-config/get-with-api-key.json", &v2),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The JWKS was fetched once and cached; a token from an unknown key is refused without
    // hammering Stack Auth.
    assert_eq!(stack.fetches(), 1);
    let stranger = DevSigner::generate(&signer.issuer, project).token("user-alice", 600);
    for _ in 0..3 {
        let (status, err) = invoke(
            &user_apis,
            fixture("user-apis/list.json", &[("userToken", &stranger)]),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    }
    assert!(
        stack.fetches() <= 2,
        "unknown kids refetch at most once a minute"
    );

    let (status, _) = invoke(&user_apis, fixture("user-apis/delete.json", &v2)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = invoke(
        &client_config,
        fixture("client-config/get-with-api-key.json", &v2),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A data key that KMS can't decrypt stops the function at start, with a clear error.
    std::env::set_var("PLATEFULL_DATA_KEY_CIPHERTEXT", STANDARD.encode([1u8; 64]));
    let err = platefull::config::state_from_env()
        .await
        .err()
        .expect("bad data key refused");
    assert!(err.to_string().contains("KMS"), "{err}");
    std::env::remove_var("PLATEFULL_TABLE");
    let err = platefull::config::state_from_env()
        .await
        .err()
        .expect("missing table refused");
    assert_eq!(
        err.to_string(),
        "environment variable PLATEFULL_TABLE is required"
    );
}
