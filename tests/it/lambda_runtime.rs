//! The function executables as Lambda runs them, not just their routers: each of the five
//! is spawned under the Runtime API emulator (`platefull_tests::lambda_runtime`) with
//! exactly the environment `infra/template.yaml` gives it (every `!Ref` stood in for by
//! moto's table, queues, KMS data key and Secrets Manager secrets, or by a fake of Stack
//! Auth, the Graph API or the LLM at the HTTP level; parameters at their defaults), and
//! answers the `events/` fixtures as the router tests (`lambda_events`, `bot`) expect. Each
//! function's init time (spawn to its first `GET …/next`) is printed.
//!
//! Which executables: `PLATEFULL_LAMBDA_BOOTSTRAPS=<dir>` runs `<dir>/<LogicalId>/bootstrap`,
//! what `sam build` leaves in `.aws-sam/build` (`scripts/package.sh` runs this test so);
//! by default the native builds of the function crates, built first by one
//! `cargo build -p <the five>` (nothing to do when they are up to date).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use platefull::bot::cloud_api;
use platefull_tests::fake_stack_auth::FakeStackAuth;
use platefull_tests::lambda_runtime::Function;
use platefull_tests::{fake_graph, fake_llm};
use serde_json::{json, Value};

use crate::lambda_events::{fixture_event, fixture_vars, CLOUD_NUMBER, CLOUD_TOKEN};
use crate::template_drift::{functions, ref_of, template};

const APP_SECRET: &str = "meta-app-secret-for-the-smoke-test";
const VERIFY_TOKEN: &str = "verify-token-for-the-smoke-test";
const LLM_KEY: &str = "sk-or-smoke-test";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Logical id -> the executable to run as that function.
fn executables(functions: &[(String, String)]) -> BTreeMap<String, PathBuf> {
    if let Some(dir) = std::env::var_os("PLATEFULL_LAMBDA_BOOTSTRAPS") {
        let dir = PathBuf::from(dir);
        return functions
            .iter()
            .map(|(logical, _)| {
                let bootstrap = dir.join(logical).join("bootstrap");
                assert!(bootstrap.is_file(), "{} is missing", bootstrap.display());
                (logical.clone(), bootstrap)
            })
            .collect();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-q", "--locked"]).current_dir(root());
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    // Not the variables cargo sets for this test (CARGO_PKG_*, CARGO_MANIFEST_DIR, …): build
    // scripts that watch them would run again, and the build would not be a no-op.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_")
            && !matches!(&*name, "CARGO_HOME" | "CARGO_TARGET_DIR")
            && !name.starts_with("CARGO_BUILD_")
            && !name.starts_with("CARGO_PROFILE_")
            && !name.starts_with("CARGO_REGISTRIES_")
        {
            build.env_remove(&*name);
        }
    }
    for (_, binary) in functions {
        build.args(["-p", binary]);
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build of the function crates failed"
    );
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    functions
        .iter()
        .map(|(logical, binary)| (logical.clone(), target.join(profile).join(binary)))
        .collect()
}

/// The environment the template gives `function`, each reference resolved by `stand_ins`
/// (or a parameter's default), plus the AWS SDK's endpoint and credentials for moto.
fn environment(
    t: &serde_norway::Value,
    env: &BTreeMap<String, serde_norway::Value>,
    stand_ins: &BTreeMap<&str, String>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("AWS_ENDPOINT_URL".to_owned(), platefull_tests::moto_url()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_DEFAULT_REGION".to_owned(), "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
    ];
    for (name, value) in env {
        // `ref_of` first: `as_str` sees through a tag (`!Ref X` reads as "X").
        let value = if let Some(reference) = ref_of(value) {
            match stand_ins.get(reference) {
                Some(v) => v.clone(),
                None => {
                    let default = &t["Parameters"][reference]["Default"];
                    match default.as_str() {
                        Some(s) => s.to_owned(),
                        None if default.is_number() => {
                            serde_norway::to_string(default).unwrap().trim().to_owned()
                        }
                        None => panic!("{name}: no stand-in for !Ref {reference}"),
                    }
                }
            }
        } else if let Some(literal) = value.as_str() {
            literal.to_owned()
        } else {
            // `!If [HasFallbackModel, …, !Ref AWS::NoValue]`: unset at the defaults.
            assert_eq!(name, "OPENROUTER_FALLBACK_MODEL", "{name}: {value:?}");
            continue;
        };
        out.push((name.clone(), value));
    }
    out
}

/// An API Gateway v2 answer: status and body (decoded when base64).
fn http(name: &str, answer: &Value) -> (u16, String) {
    let status = answer["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}: not an API Gateway v2 answer: {answer}"));
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"] == true {
        String::from_utf8(STANDARD.decode(body).unwrap()).unwrap()
    } else {
        body.to_owned()
    };
    (status as u16, body)
}

/// Invokes `f` with `event` and returns the answer's status and JSON body.
async fn call(f: &Function, event: Value) -> (u16, Value) {
    let name = event["routeKey"].as_str().unwrap_or("event").to_owned();
    let answer = f.respond(event).await;
    let (status, body) = http(&name, &answer);
    if body.is_empty() {
        return (status, Value::Null);
    }
    assert_eq!(
        answer["headers"]["content-type"], "application/json",
        "{name}: {answer}"
    );
    let body = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{name}: {body}"));
    (status, body)
}

/// An API Gateway v2 event for Meta's `POST /webhooks/whatsapp` carrying `body` (the
/// `events/whatsapp-webhook/` payloads are the bodies Meta posts), shaped like the
/// handshake fixture.
fn webhook_post(body: &str, signature: &str) -> Value {
    let mut event = fixture_event("whatsapp-webhook/verify.json", &[("verifyToken", "x")]);
    event["routeKey"] = "POST /webhooks/whatsapp".into();
    event["requestContext"]["routeKey"] = "POST /webhooks/whatsapp".into();
    event["requestContext"]["http"]["method"] = "POST".into();
    event["rawQueryString"] = "".into();
    event
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    event["headers"]["content-type"] = "application/json".into();
    event["headers"]["x-hub-signature-256"] = signature.into();
    event["body"] = body.into();
    event
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, fifo: bool) -> String {
    let mut create = sqs.create_queue().queue_name(if fifo {
        format!("{}.fifo", platefull_tests::unique(name))
    } else {
        platefull_tests::unique(name)
    });
    if fifo {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    create.send().await.unwrap().queue_url.unwrap()
}

async fn received(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let messages = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if messages.is_empty() && !out.is_empty() {
            break;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

async fn secret(aws: &aws_config::SdkConfig, value: Value) -> String {
    aws_sdk_secretsmanager::Client::new(aws)
        .create_secret()
        .name(platefull_tests::unique("platefull-secret"))
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_executable_answers_its_fixtures_under_the_lambda_runtime_api() {
    // The stack's resources, on moto.
    let (aws, table, ciphertext) = platefull_tests::table_and_data_key("platefull-runtime").await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let commands = queue(&sqs, "commands", true).await;
    let inbound = queue(&sqs, "inbound", false).await;
    let outbound = queue(&sqs, "outbound", true).await;
    let meta_secret = secret(
        &aws,
        json!({"metaAppSecret": APP_SECRET, "metaVerifyToken": VERIFY_TOKEN}),
    )
    .await;
    let llm_secret = secret(&aws, json!({"openrouterApiKey": LLM_KEY})).await;
    // What lies outside AWS, at the HTTP level.
    let project = "proj-runtime";
    let stack = FakeStackAuth::start(project).await;
    let graph = fake_graph::graph().await;
    graph.grant(CLOUD_TOKEN, CLOUD_NUMBER, "+55 11 98888-7777", "Pizzaria X");
    let llm = fake_llm::llm().await;

    let stand_ins: BTreeMap<&str, String> = [
        ("Table", table.clone()),
        ("DataKeyCiphertext", ciphertext),
        ("StackProjectId", project.to_owned()),
        ("StackApiUrl", stack.url.clone()),
        ("CommandsQueue", commands.clone()),
        ("InboundQueue", inbound.clone()),
        ("OutboundQueue", outbound.clone()),
        ("MetaSecret", meta_secret),
        ("OpenRouterSecret", llm_secret),
        ("OpenRouterBaseUrl", llm.url.clone()),
        ("MetaGraphUrl", graph.url.clone()),
    ]
    .into_iter()
    .collect();

    // Each function from spawn to its first GET /next, one at a time (a cold start each).
    let t = template();
    let fns = functions(&t);
    let names: Vec<(String, String)> = fns
        .iter()
        .map(|f| (f.logical.clone(), f.binary.clone()))
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let bins = executables(&names);
    let mut running = BTreeMap::new();
    let mut inits = Vec::new();
    for f in &fns {
        let env = environment(&t, &f.env, &stand_ins);
        let mut process = Function::spawn(&bins[&f.logical], &f.binary, &env).await;
        let init = process
            .ready(Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", f.binary));
        inits.push(format!("{} {} ms", f.binary, init.as_millis()));
        running.insert(f.binary.clone(), process);
    }
    println!(
        "lambda init ({}): {}",
        if std::env::var_os("PLATEFULL_LAMBDA_BOOTSTRAPS").is_some() {
            "packaged bootstraps"
        } else {
            "native builds"
        },
        inits.join(", ")
    );
    let user_apis = &running["user-apis"];
    let client_config = &running["client-config"];
    let sessions = &running["whatsapp-sessions"];
    let webhook = &running["whatsapp-webhook"];
    let bot = &running["bot-reply"];

    // user-apis
    let alice = stack.signer.token("user-alice", 600);
    let (status, health) = call(user_apis, fixture_event("health.json", &[])).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["checks"]["store"]["kind"], "dynamodb", "{health}");
    let (status, created) = call(
        user_apis,
        fixture_event("user-apis/create-whatsapp.json", &[("userToken", &alice)]),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let field = |name: &str| created[name].as_str().unwrap().to_owned();
    let (id, store_id, api_key) = (field("id"), field("storeId"), field("apiKey"));
    let vars = |key: &str| {
        let mut vars = fixture_vars(&alice, &id, &store_id, key);
        vars.push(("verifyToken", VERIFY_TOKEN.to_owned()));
        vars
    };
    let owned = vars(&api_key);
    let v: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let event = |name: &str| fixture_event(name, &v);

    let (status, saipos) = call(user_apis, event("user-apis/create-saipos.json")).await;
    assert_eq!(status, 201, "{saipos}");
    assert!(!saipos.to_string().contains("saipos-token-from-fixture"));
    let (status, err) = call(user_apis, event("user-apis/create-invalid.json")).await;
    assert_eq!(status, 400, "{err}");
    let (status, listed) = call(user_apis, event("user-apis/list.json")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let (status, err) = call(user_apis, event("user-apis/list-with-api-key.json")).await;
    assert_eq!(status, 401, "{err}");
    let (status, renamed) = call(user_apis, event("user-apis/rename.json")).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "Pizzaria X Centro");
    let (status, one) = call(user_apis, event("user-apis/get.json")).await;
    assert_eq!((status, &one["id"]), (200, &json!(id)), "{one}");
    assert!(one.get("apiKey").is_none(), "the key is shown once: {one}");

    // client-config
    let (status, config) = call(client_config, event("client-config/get-with-api-key.json")).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["messageLimit"], 30);
    let (status, config) = call(
        client_config,
        event("client-config/get-with-stack-header.json"),
    )
    .await;
    assert_eq!(status, 200, "{config}");
    let (status, config) = call(client_config, event("client-config/put.json")).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["botName"], "Maria");
    let (status, err) = call(client_config, event("client-config/put-invalid.json")).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "messageLimit");
    let (status, menu) = call(client_config, event("client-config/get-menu.json")).await;
    assert_eq!(status, 200, "{menu}");
    assert_eq!(menu["categories"], json!([]));
    // Turns answered at once, for bot-reply below.
    let mut no_wait = event("client-config/put.json");
    no_wait["body"] = json!({"debounceSeconds": 0}).to_string().into();
    let (status, config) = call(client_config, no_wait).await;
    assert_eq!(status, 200, "{config}");
    // Each function serves only its own routes.
    let (status, _) = call(user_apis, event("client-config/get-with-api-key.json")).await;
    assert_eq!(status, 404);
    let (status, _) = call(client_config, event("user-apis/list.json")).await;
    assert_eq!(status, 404);

    // whatsapp-sessions: start queues a command for the gateway (none runs: the answer,
    // after PLATEFULL_SESSION_WAIT_MS, is the slot as it stands).
    let (status, slots) = call(sessions, event("whatsapp-sessions/list.json")).await;
    assert_eq!(status, 200, "{slots}");
    assert_eq!(slots["data"].as_array().unwrap().len(), 3, "{slots}");
    let (status, started) = call(sessions, event("whatsapp-sessions/start.json")).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["status"], "disconnected", "{started}");
    assert_eq!(
        received(&sqs, &commands).await,
        [json!({"type": "start", "slot": {"storeId": store_id, "slot": 1}})]
    );
    let (status, out) = call(sessions, event("whatsapp-sessions/logout.json")).await;
    assert_eq!(status, 200, "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("nothing to do"),
        "{out}"
    );
    let (status, attached) = call(sessions, event("whatsapp-sessions/cloud-api-attach.json")).await;
    assert_eq!(status, 200, "{attached}");
    assert_eq!(attached["data"]["displayPhoneNumber"], "+55 11 98888-7777");
    assert_eq!(graph.lookups.count(), 1);

    // whatsapp-webhook: Meta's handshake with the verify token from its secret, then a
    // signed delivery for the number just attached, queued for the bot; a bad signature
    // queues nothing.
    let answer = webhook.respond(event("whatsapp-webhook/verify.json")).await;
    assert_eq!(http("verify", &answer), (200, "1158201444".to_owned()));
    let answer = webhook
        .respond(fixture_event(
            "whatsapp-webhook/verify.json",
            &[("verifyToken", "not-the-token")],
        ))
        .await;
    assert_eq!(http("verify", &answer).0, 403, "{answer}");
    let body =
        std::fs::read_to_string(root().join("events/whatsapp-webhook/text-message.json")).unwrap();
    let (status, err) = call(
        webhook,
        webhook_post(&body, &cloud_api::sign("wrong-secret", body.as_bytes())),
    )
    .await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["error"]["code"], "invalid_signature");
    let (status, ok) = call(
        webhook,
        webhook_post(&body, &cloud_api::sign(APP_SECRET, body.as_bytes())),
    )
    .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["queued"], 1, "{ok}");
    let jobs = received(&sqs, &inbound).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (&jobs[0]["type"], &jobs[0]["storeId"]),
        (&json!("message"), &json!(store_id)),
        "{jobs:?}"
    );

    // bot-reply: the customer's message is answered through the LLM (its key from
    // bot-reply's secret) and the reply queued for the gateway; the unreadable record is
    // dropped, not retried. Then a model that refuses: only that record is to retry.
    let batch = fixture_event("bot-reply/sqs-batch.json", &v);
    let answer = bot.respond(batch.clone()).await;
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let replies = received(&sqs, &outbound).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["chat"], "5511977776666");
    assert_eq!(replies[0]["chunks"], json!(["Resposta 1"]));
    let calls = llm.script.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].2.as_deref(), Some(&*format!("Bearer {LLM_KEY}")));
    llm.script.push(
        401,
        json!({"error": {"code": 401, "message": "bad key"}}),
        None,
    );
    let mut batch = batch;
    let record = batch["Records"][0]["body"]
        .as_str()
        .unwrap()
        .replace("WAMID-SQS-1", "WAMID-SQS-2");
    batch["Records"][0]["body"] = record.into();
    let answer = bot.respond(batch).await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]})
    );

    // State crosses functions through the table: a key rotated by user-apis stops at once
    // in client-config.
    let (status, rotated) = call(user_apis, event("user-apis/rotate-key.json")).await;
    assert_eq!(status, 200, "{rotated}");
    let (status, _) = call(client_config, event("client-config/get-with-api-key.json")).await;
    assert_eq!(status, 401);
    let owned = vars(rotated["apiKey"].as_str().unwrap());
    let v2: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = call(
        client_config,
        fixture_event("client-config/get-with-api-key.json", &v2),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(user_apis, fixture_event("user-apis/delete.json", &v2)).await;
    assert_eq!(status, 204);

    for (name, f) in &running {
        assert!(
            !f.logs().contains(LLM_KEY) && !f.logs().contains(APP_SECRET),
            "{name} logged a secret"
        );
    }

    // A data key KMS can't decrypt: the function stops at init, before asking for an
    // event, and says why.
    let user_apis_fn = fns.iter().find(|f| f.binary == "user-apis").unwrap();
    let mut env = environment(&t, &user_apis_fn.env, &stand_ins);
    for (name, value) in &mut env {
        if name == "PLATEFULL_DATA_KEY_CIPHERTEXT" {
            *value = STANDARD.encode([1u8; 64]);
        }
    }
    let mut broken = Function::spawn(&bins[&user_apis_fn.logical], "user-apis", &env).await;
    let err = broken
        .ready(Duration::from_secs(60))
        .await
        .expect_err("a bad data key stops the start");
    assert!(err.contains("KMS"), "{err}");
    assert_ne!(broken.exit(Duration::from_secs(10)).await, Some(0));
    assert!(!broken.polled());
}
