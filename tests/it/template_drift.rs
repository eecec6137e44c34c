//! The SAM template (`infra/template.yaml`) against the code, so neither drifts from the
//! other:
//! (a) every crate in `functions/` is exactly one `AWS::Serverless::Function` (built with
//!     cargo-lambda from the workspace, binary = the crate's binary), and vice versa;
//! (b) every HttpApi route of a function is answered by that function's router, and every
//!     route of the routers in `shared/src/http/` is in the template;
//! (c) every environment variable the template sets is read by the code that runs there (its
//!     crate, the shared library and, of `shared/src/config/`, only its own settings builder),
//!     the ones each part needs are set, and none holds a literal secret;
//! (d) the queues are what the code expects: commands and outbound FIFO, inbound standard,
//!     each with a dead-letter queue of the same kind after 5 receives; the bot's event
//!     source reports partial batch failures;
//! (e) each function and the gateway are granted the table, keys, secret and queues they
//!     use, and no others: the table only with the actions and `dynamodb:LeadingKeys`
//!     partitions its settings builder declares (`platefull::config::aws::TABLE_GRANTS`),
//!     and only its own secret;
//! (f) the routes anyone may call (no user token, apiKey or signature needed) are exactly
//!     the ones with their own, lower throttles;
//! (g) the console's CloudFront distribution sends the security headers the local stack
//!     sends (`platefull::http::console_headers`), its CSP naming the stack's API and Stack Auth.
//!
//! The template uses CloudFormation's short forms (`!Ref`, `!GetAtt`, `!Sub`); the YAML
//! parser keeps them as tagged values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use platefull::http::AppState;
use platefull_tests::routes::{code_routes, route_shape};
use serde_norway::Value;
use tower::ServiceExt;

/// Variables read by libraries rather than by our code (`RUST_LOG`: tracing-subscriber's
/// `EnvFilter::try_from_default_env`, see `platefull::telemetry`).
const LIBRARY_ENV: &[&str] = &["RUST_LOG"];

/// The router each HTTP function hands to `lambda_http::run` (see `functions/*/src/main.rs`).
fn router_of(function: &str) -> Option<fn(AppState) -> Router> {
    match function {
        "user-apis" => Some(platefull::http::user_apis_router),
        "client-config" => Some(platefull::http::client_config_router),
        "whatsapp-sessions" => Some(platefull::http::sessions_router),
        "whatsapp-webhook" => Some(platefull::http::webhook_router),
        _ => None,
    }
}

/// What each part needs set to start and do its work.
fn required_env(part: &str) -> &'static [&'static str] {
    const CONTROL_PLANE: &[&str] = &[
        "PLATEFULL_TABLE",
        "STACK_PROJECT_ID",
        "PLATEFULL_DATA_KEY_CIPHERTEXT",
    ];
    match part {
        "user-apis" | "client-config" => CONTROL_PLANE,
        "whatsapp-sessions" => &[
            "PLATEFULL_TABLE",
            "STACK_PROJECT_ID",
            "PLATEFULL_DATA_KEY_CIPHERTEXT",
            "PLATEFULL_COMMANDS_QUEUE_URL",
        ],
        "whatsapp-webhook" => &[
            "PLATEFULL_TABLE",
            "PLATEFULL_INBOUND_QUEUE_URL",
            "PLATEFULL_META_SECRET_ARN",
        ],
        "bot-reply" => &[
            "PLATEFULL_TABLE",
            "PLATEFULL_DATA_KEY_CIPHERTEXT",
            "PLATEFULL_INBOUND_QUEUE_URL",
            "PLATEFULL_OUTBOUND_QUEUE_URL",
            "PLATEFULL_OPENROUTER_SECRET_ARN",
            "OPENROUTER_MODEL",
        ],
        "gateway" => &[
            "PLATEFULL_TABLE",
            "PLATEFULL_DATA_KEY_CIPHERTEXT",
            "PLATEFULL_COMMANDS_QUEUE_URL",
            "PLATEFULL_INBOUND_QUEUE_URL",
            "PLATEFULL_OUTBOUND_QUEUE_URL",
        ],
        other => panic!("no required variables listed for {other}"),
    }
}

/// Queue variables, the kind of queue the code expects behind each.
const QUEUES: &[(&str, bool)] = &[
    ("PLATEFULL_COMMANDS_QUEUE_URL", true),
    ("PLATEFULL_INBOUND_QUEUE_URL", false),
    ("PLATEFULL_OUTBOUND_QUEUE_URL", true),
];

// ------------------------------------------------------------------ the template

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub(crate) fn template() -> Value {
    let path = root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_norway::from_str(&text).expect("infra/template.yaml is YAML")
}

fn resources(t: &Value) -> &serde_norway::Mapping {
    t["Resources"].as_mapping().expect("Resources")
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["Resources"]
        .get(name)
        .unwrap_or_else(|| panic!("no resource {name} in the template"))
}

/// `!Ref X` or `{Ref: X}`.
pub(crate) fn ref_of(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// `!GetAtt X.Attr`, `!GetAtt [X, Attr]` or `{Fn::GetAtt: [X, Attr]}`.
fn getatt_of(v: &Value) -> Option<(String, String)> {
    let inner = match v {
        Value::Tagged(t) if t.tag == "GetAtt" => &t.value,
        Value::Mapping(m) if m.len() == 1 => m.get("Fn::GetAtt")?,
        _ => return None,
    };
    match inner {
        Value::String(s) => {
            let (res, att) = s.split_once('.')?;
            Some((res.to_owned(), att.to_owned()))
        }
        Value::Sequence(parts) if parts.len() == 2 => {
            Some((parts[0].as_str()?.to_owned(), parts[1].as_str()?.to_owned()))
        }
        _ => None,
    }
}

/// `!Sub "..."` (string form) or `{Fn::Sub: "..."}`.
fn sub_of(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Fn::Sub").and_then(Value::as_str),
        _ => None,
    }
}

fn is_intrinsic(v: &Value) -> bool {
    match v {
        Value::Tagged(_) => true,
        Value::Mapping(m) => {
            m.len() == 1
                && m.keys()
                    .next()
                    .and_then(Value::as_str)
                    .is_some_and(|k| k == "Ref" || k.starts_with("Fn::"))
        }
        _ => false,
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// A Lambda function of the template.
pub(crate) struct Function {
    pub(crate) logical: String,
    pub(crate) binary: String,
    properties: Value,
    pub(crate) env: BTreeMap<String, Value>,
}

pub(crate) fn functions(t: &Value) -> Vec<Function> {
    let globals = &t["Globals"]["Function"];
    let mut out = Vec::new();
    for (name, res) in resources(t) {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let logical = name.as_str().unwrap().to_owned();
        assert_eq!(
            res["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{logical}: Metadata.BuildMethod"
        );
        let binary = res["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{logical}: Metadata.BuildProperties.Binary"))
            .to_owned();
        let properties = res["Properties"].clone();
        let setting = |key: &str| {
            let own = &properties[key];
            if own.is_null() {
                globals[key].clone()
            } else {
                own.clone()
            }
        };
        assert_eq!(
            setting("Runtime").as_str(),
            Some("provided.al2023"),
            "{logical}"
        );
        assert_eq!(setting("Handler").as_str(), Some("bootstrap"), "{logical}");
        let mut env = BTreeMap::new();
        for source in [
            &globals["Environment"]["Variables"],
            &properties["Environment"]["Variables"],
        ] {
            if let Some(vars) = source.as_mapping() {
                for (k, v) in vars {
                    env.insert(k.as_str().unwrap().to_owned(), v.clone());
                }
            }
        }
        out.push(Function {
            logical,
            binary,
            properties,
            env,
        });
    }
    out
}

/// The gateway container's environment (name -> value).
fn gateway_env(t: &Value) -> BTreeMap<String, Value> {
    let containers = resource(t, "GatewayTaskDefinition")["Properties"]["ContainerDefinitions"]
        .as_sequence()
        .expect("ContainerDefinitions");
    assert_eq!(containers.len(), 1, "one container: the gateway");
    as_list(&containers[0]["Environment"])
        .into_iter()
        .map(|e| (e["Name"].as_str().unwrap().to_owned(), e["Value"].clone()))
        .collect()
}

// ------------------------------------------------------------------ the code

/// `functions/<dir>` -> the binaries its crate builds.
fn function_crates() -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).unwrap();
        out.insert(
            dir.file_name().unwrap().to_str().unwrap().to_owned(),
            binaries(&text),
        );
    }
    out
}

/// The binaries a manifest builds: its `[[bin]]` names, or the package name for
/// `src/main.rs`. (A small reader for the few keys needed, not a TOML parser.)
fn binaries(manifest: &str) -> Vec<String> {
    let mut section = String::new();
    let mut package = None;
    let mut bins = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        if let Some(value) = line.strip_prefix("name").map(str::trim_start) {
            if let Some(value) = value.strip_prefix('=') {
                let value = value.trim().trim_matches('"').to_owned();
                match section.as_str() {
                    "[package]" => package = Some(value),
                    "[[bin]]" => bins.push(value),
                    _ => {}
                }
            }
        }
    }
    if bins.is_empty() {
        bins.extend(package);
    }
    bins
}

fn rust_sources(dir: &Path, skip: &[PathBuf], out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if skip.contains(&path) {
            continue;
        }
        if path.is_dir() {
            rust_sources(&path, skip, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
            out.push('\n');
        }
    }
}

/// The settings builders of `shared/src/config/`, one per part (see that module's table).
const CONFIG_BUILDERS: &[(&str, &str)] = &[
    ("user-apis", "api.rs"),
    ("client-config", "api.rs"),
    ("whatsapp-sessions", "api.rs"),
    ("whatsapp-webhook", "webhook.rs"),
    ("bot-reply", "bot.rs"),
    ("gateway", "gateway.rs"),
];

/// The Rust code that runs in a part: its own crate and the shared library, of whose
/// settings builders only the part's own (so a variable only another part's builder reads
/// counts as not read here).
fn code_of(part: &str, crate_dir: &Path) -> String {
    let config = root().join("shared/src/config");
    let own = CONFIG_BUILDERS
        .iter()
        .find(|(p, _)| *p == part)
        .unwrap_or_else(|| panic!("no settings builder listed for {part}"))
        .1;
    let skip: Vec<PathBuf> = CONFIG_BUILDERS
        .iter()
        .filter(|(_, file)| *file != own)
        .map(|(_, file)| config.join(file))
        .collect();
    for path in &skip {
        assert!(path.is_file(), "{path:?}: a settings builder is missing");
    }
    let mut code = String::new();
    rust_sources(&crate_dir.join("src"), &[], &mut code);
    rust_sources(&root().join("shared/src"), &skip, &mut code);
    code
}

// ------------------------------------------------------------------ (a) functions

#[test]
fn every_function_crate_is_one_template_function_and_back() {
    let t = template();
    let crates = function_crates();
    let functions = functions(&t);
    let workspace = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();

    for (dir, bins) in &crates {
        assert!(
            workspace.contains(&format!("\"functions/{dir}\"")),
            "functions/{dir} is not a workspace member"
        );
        assert_eq!(
            bins.len(),
            1,
            "functions/{dir} should build one binary: {bins:?}"
        );
        let matching: Vec<&str> = functions
            .iter()
            .filter(|f| bins.contains(&f.binary))
            .map(|f| f.logical.as_str())
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "functions/{dir} (binary {}) should be exactly one function of infra/template.yaml, found {matching:?}",
            bins[0]
        );
    }
    for f in &functions {
        // sam build runs `cargo lambda build --release --bin <Binary>` in CodeUri: the
        // workspace root, relative to the template.
        let code_uri = f.properties["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: CodeUri", f.logical));
        let dir = root().join("infra").join(code_uri);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap_or_else(|_| panic!("{}: CodeUri {code_uri} has no Cargo.toml", f.logical));
        assert!(
            manifest.contains("[workspace]"),
            "{}: CodeUri {code_uri} should be the workspace root",
            f.logical
        );
        let owner = crates.iter().find(|(_, bins)| bins.contains(&f.binary));
        match owner {
            Some((dir, _)) => assert_eq!(
                dir, &f.binary,
                "{}: the binary is named after its folder",
                f.logical
            ),
            None => panic!(
                "{}: no crate in functions/ builds the binary {}",
                f.logical, f.binary
            ),
        }
    }
}

#[test]
fn the_gateway_image_builds_the_gateway_crate() {
    let manifest = std::fs::read_to_string(root().join("gateway/Cargo.toml")).unwrap();
    let bins = binaries(&manifest);
    assert_eq!(bins.len(), 1, "{bins:?}");
    let dockerfile = std::fs::read_to_string(root().join("infra/gateway.Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("--bin {}", bins[0])),
        "infra/gateway.Dockerfile should build --bin {}",
        bins[0]
    );
    assert!(
        dockerfile.contains(&format!("target/server/{}", bins[0])),
        "infra/gateway.Dockerfile should copy target/server/{} (the unwinding profile)",
        bins[0]
    );
}

// ------------------------------------------------------------------ (b) routes

/// `(function, "METHOD /path")` for every HttpApi event of the template.
fn template_routes(t: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for f in functions(t) {
        let Some(events) = f.properties["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let p = &event["Properties"];
            assert_eq!(
                ref_of(&p["ApiId"]),
                Some("HttpApi"),
                "{}.{}: ApiId",
                f.logical,
                name.as_str().unwrap()
            );
            out.push((
                f.binary.clone(),
                p["Method"].as_str().unwrap().to_uppercase(),
                p["Path"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// A template route's path with its parameters filled in.
fn sample_uri(path: &str) -> String {
    path.replace("{id}", "api_drift")
        .replace("{storeId}", "st_drift")
        .replace("{slot}", "1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_template_route_is_answered_by_its_functions_router() {
    let t = template();
    let routes = template_routes(&t);
    assert!(!routes.is_empty());
    let mut seen = BTreeSet::new();
    for (function, method, path) in &routes {
        assert!(
            seen.insert(format!("{method} {path}")),
            "{method} {path} is routed twice"
        );
        let build = router_of(function).unwrap_or_else(|| {
            panic!("functions/{function} serves {method} {path}: add its router to router_of() in tests/it/template_drift.rs")
        });
        let app =
            platefull_tests::TestApp::with_router(platefull_tests::embedded_store().await, build);
        let uri = sample_uri(path);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = Request::builder().method(method.clone()).uri(&uri);
        let body = if [Method::POST, Method::PUT, Method::PATCH].contains(&method) {
            request = request.header("content-type", "application/json");
            Body::from("{}")
        } else {
            Body::empty()
        };
        let response = app
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND && json["error"]["message"] == "no such route");
        assert!(
            !unrouted,
            "{method} {path} is routed to {function} by the template, but its router answers {status} {json}"
        );
    }
}

#[test]
fn every_route_in_the_code_is_in_the_template() {
    let t = template();
    let deployed: BTreeSet<String> = template_routes(&t)
        .iter()
        .map(|(_, m, p)| route_shape(m, p))
        .collect();
    for route in code_routes() {
        assert!(
            deployed.contains(&route),
            "the code serves {route} but infra/template.yaml routes no function to it"
        );
    }
}

// ------------------------------------------------------------------ (c) environment

fn check_env(part: &str, crate_dir: &Path, env: &BTreeMap<String, Value>) {
    let code = code_of(part, crate_dir);
    for (name, value) in env {
        if !LIBRARY_ENV.contains(&name.as_str()) && !code.contains(&format!("\"{name}\"")) {
            panic!("{part}: the template sets {name}, which its code never reads");
        }
        // Values come from parameters and resources, or are plain numbers: never a secret.
        match value {
            Value::String(s) => assert!(
                !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
                "{part}: {name} is set to a literal {s:?}: use a parameter or a resource"
            ),
            v => assert!(is_intrinsic(v), "{part}: {name} = {v:?}"),
        }
    }
    for name in required_env(part) {
        assert!(
            env.contains_key(*name),
            "{part}: the template should set {name}"
        );
    }
}

#[test]
fn template_environment_matches_what_the_code_reads() {
    let t = template();
    for f in functions(&t) {
        let dir = root().join("functions").join(&f.binary);
        assert!(
            dir.is_dir(),
            "{}: functions/{} is missing",
            f.logical,
            f.binary
        );
        check_env(&f.binary, &dir, &f.env);
    }
    check_env("gateway", &root().join("gateway"), &gateway_env(&t));
}

// ------------------------------------------------------------------ (d) queues

fn queue_name(t: &Value, logical: &str) -> String {
    let p = &resource(t, logical)["Properties"];
    sub_of(&p["QueueName"])
        .or_else(|| p["QueueName"].as_str())
        .unwrap_or_else(|| panic!("{logical}: QueueName"))
        .to_owned()
}

fn is_fifo(t: &Value, logical: &str) -> bool {
    resource(t, logical)["Properties"]["FifoQueue"].as_bool() == Some(true)
}

#[test]
fn queues_are_the_kinds_the_code_expects_each_with_a_dead_letter_queue() {
    let t = template();
    // Which queue each variable names, the same queue wherever it is set.
    let mut parts: Vec<(String, BTreeMap<String, Value>)> = functions(&t)
        .into_iter()
        .map(|f| (f.logical, f.env))
        .collect();
    parts.push(("gateway".into(), gateway_env(&t)));
    let mut queue_of: BTreeMap<&str, String> = BTreeMap::new();
    for (part, env) in &parts {
        for (var, _) in QUEUES {
            if let Some(v) = env.get(*var) {
                let queue = ref_of(v)
                    .unwrap_or_else(|| panic!("{part}: {var} should be !Ref <queue>"))
                    .to_owned();
                let prev = queue_of.entry(var).or_insert_with(|| queue.clone());
                assert_eq!(prev, &queue, "{part}: {var} names another queue");
            }
        }
    }
    let mut dead_letter_queues = BTreeSet::new();
    for (var, fifo) in QUEUES {
        let queue = queue_of
            .get(var)
            .unwrap_or_else(|| panic!("no part is given {var}"));
        let r = resource(&t, queue);
        assert_eq!(r["Type"].as_str(), Some("AWS::SQS::Queue"), "{queue}");
        let name = queue_name(&t, queue);
        assert_eq!(is_fifo(&t, queue), *fifo, "{queue}: FifoQueue");
        assert_eq!(name.ends_with(".fifo"), *fifo, "{queue}: name {name}");
        if *fifo {
            // The code sends its own deduplication ids.
            assert_eq!(
                r["Properties"]["ContentBasedDeduplication"].as_bool(),
                Some(false),
                "{queue}: ContentBasedDeduplication"
            );
        }
        let redrive = &r["Properties"]["RedrivePolicy"];
        assert_eq!(
            redrive["maxReceiveCount"].as_u64(),
            Some(5),
            "{queue}: maxReceiveCount"
        );
        let (dlq, att) = getatt_of(&redrive["deadLetterTargetArn"])
            .unwrap_or_else(|| panic!("{queue}: deadLetterTargetArn"));
        assert_eq!(att, "Arn");
        assert_eq!(is_fifo(&t, &dlq), *fifo, "{dlq}: same kind as {queue}");
        assert_eq!(
            queue_name(&t, &dlq).ends_with(".fifo"),
            *fifo,
            "{dlq}: name"
        );
        assert!(dead_letter_queues.insert(dlq.clone()), "{dlq} shared");
    }
    // Every queue of the template is one of these or their dead-letter queues.
    for (name, r) in resources(&t) {
        if r["Type"].as_str() == Some("AWS::SQS::Queue") {
            let name = name.as_str().unwrap().to_owned();
            assert!(
                queue_of.values().any(|q| q == &name) || dead_letter_queues.contains(&name),
                "{name}: a queue no code uses"
            );
        }
    }

    // The bot consumes the inbound queue in batches, reporting failures one by one, and
    // the queue hides a message long enough for retries inside one invocation.
    let bot = functions(&t)
        .into_iter()
        .find(|f| f.binary == "bot-reply")
        .expect("bot-reply function");
    let sqs_events: Vec<&Value> = bot.properties["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|e| e["Type"].as_str() == Some("SQS"))
        .collect();
    assert_eq!(sqs_events.len(), 1);
    let p = &sqs_events[0]["Properties"];
    let (source, _) = getatt_of(&p["Queue"]).unwrap();
    assert_eq!(&source, &queue_of["PLATEFULL_INBOUND_QUEUE_URL"]);
    assert_eq!(p["BatchSize"].as_u64(), Some(10));
    assert!(as_list(&p["FunctionResponseTypes"])
        .iter()
        .any(|v| v.as_str() == Some("ReportBatchItemFailures")));
    let timeout = bot.properties["Timeout"]
        .as_u64()
        .expect("bot-reply Timeout");
    let visibility = resource(&t, &source)["Properties"]["VisibilityTimeout"]
        .as_u64()
        .expect("inbound VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout,
        "inbound visibility {visibility} s < 6 x bot-reply timeout {timeout} s"
    );
}

// ------------------------------------------------------------------ (e) permissions

/// The stack's managed policies each variable calls for.
const POLICY_FOR_ENV: &[(&str, &str)] = &[
    ("PLATEFULL_DATA_KEY_CIPHERTEXT", "DataKeyDecryptPolicy"),
    ("PLATEFULL_META_SECRET_ARN", "MetaSecretReadPolicy"),
    (
        "PLATEFULL_OPENROUTER_SECRET_ARN",
        "OpenRouterSecretReadPolicy",
    ),
];

/// The platform's secrets: the variable naming each, the only part that reads it, and the
/// fields it holds (shared/src/config/platform.rs refuses any other).
const SECRETS: &[(&str, &str, &[&str])] = &[
    (
        "PLATEFULL_META_SECRET_ARN",
        "whatsapp-webhook",
        &["metaAppSecret", "metaVerifyToken"],
    ),
    (
        "PLATEFULL_OPENROUTER_SECRET_ARN",
        "bot-reply",
        &["openrouterApiKey", "resendApiKey", "transcribeApiKey"],
    ),
];

fn expected_policies(env: &BTreeMap<String, Value>) -> BTreeSet<String> {
    POLICY_FOR_ENV
        .iter()
        .filter(|(var, _)| env.contains_key(*var))
        .map(|(_, policy)| policy.to_string())
        .collect()
}

/// `(action, queue)` for every SQS grant in these policy statements.
fn sqs_grants(statements: &[&Value]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for s in statements {
        for action in as_list(&s["Action"]) {
            let action = action.as_str().unwrap();
            if !action.starts_with("sqs:") {
                continue;
            }
            for resource in as_list(&s["Resource"]) {
                let (queue, _) = getatt_of(resource)
                    .unwrap_or_else(|| panic!("{action} on {resource:?}: name one queue"));
                out.insert((action.to_owned(), queue));
            }
        }
    }
    out
}

#[test]
fn each_part_is_granted_what_it_uses_and_nothing_else() {
    let t = template();
    for f in functions(&t) {
        let mut managed = BTreeSet::new();
        let mut statements = Vec::new();
        for policy in as_list(&f.properties["Policies"]) {
            if let Some(name) = ref_of(policy) {
                managed.insert(name.to_owned());
            } else if let Some(list) = policy["Statement"].as_sequence() {
                statements.extend(list.iter());
            } else {
                panic!(
                    "{}: policies are the stack's managed policies or statements: {policy:?}",
                    f.logical
                );
            }
        }
        assert_eq!(
            managed,
            expected_policies(&f.env),
            "{}: managed policies",
            f.logical
        );
        // Functions send to the queues they are given. A consumer also sets the visibility
        // of a record to retry later (`Queue::retry`) on its source queue; receiving and
        // deleting are its event source mapping's, granted by SAM.
        let mut expected: BTreeSet<(String, String)> = QUEUES
            .iter()
            .filter_map(|(var, _)| f.env.get(*var))
            .map(|v| ("sqs:SendMessage".to_owned(), ref_of(v).unwrap().to_owned()))
            .collect();
        if let Some(events) = f.properties["Events"].as_mapping() {
            for event in events.values() {
                if event["Type"].as_str() == Some("SQS") {
                    let (queue, _) = getatt_of(&event["Properties"]["Queue"]).unwrap();
                    expected.insert(("sqs:ChangeMessageVisibility".to_owned(), queue));
                }
            }
        }
        assert_eq!(
            sqs_grants(&statements),
            expected,
            "{}: queue grants",
            f.logical
        );
    }

    let role = &resource(&t, "GatewayTaskRole")["Properties"];
    let env = gateway_env(&t);
    let managed: BTreeSet<String> = as_list(&role["ManagedPolicyArns"])
        .into_iter()
        .map(|p| ref_of(p).expect("the stack's own policies").to_owned())
        .collect();
    assert_eq!(
        managed,
        expected_policies(&env),
        "gateway task role: managed policies"
    );
    let statements: Vec<&Value> = as_list(&role["Policies"])
        .into_iter()
        .flat_map(|p| as_list(&p["PolicyDocument"]["Statement"]))
        .collect();
    let queue = |var: &str| ref_of(&env[var]).unwrap().to_owned();
    let mut expected = BTreeSet::new();
    for var in [
        "PLATEFULL_COMMANDS_QUEUE_URL",
        "PLATEFULL_OUTBOUND_QUEUE_URL",
    ] {
        for action in [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
        ] {
            expected.insert((action.to_owned(), queue(var)));
        }
    }
    expected.insert((
        "sqs:SendMessage".to_owned(),
        queue("PLATEFULL_INBOUND_QUEUE_URL"),
    ));
    assert_eq!(
        sqs_grants(&statements),
        expected,
        "gateway task role: queues"
    );
}

/// The secret resource `var` names, wherever a part is given it (the same everywhere).
fn secret_of(t: &Value, var: &str) -> String {
    let mut found = BTreeSet::new();
    for f in functions(t) {
        if let Some(v) = f.env.get(var) {
            found.insert(
                ref_of(v)
                    .unwrap_or_else(|| panic!("{}: {var} should be !Ref <secret>", f.logical))
                    .to_owned(),
            );
        }
    }
    assert_eq!(found.len(), 1, "{var} names one secret: {found:?}");
    let secret = found.pop_first().unwrap();
    assert_eq!(
        resource(t, &secret)["Type"].as_str(),
        Some("AWS::SecretsManager::Secret"),
        "{var} names {secret}"
    );
    secret
}

/// Every resource named by `!Ref`, `!GetAtt` or `${...}` of `!Sub` anywhere inside `v`.
fn names_in(v: &Value, out: &mut BTreeSet<String>) {
    if let Some(name) = ref_of(v) {
        out.insert(name.to_owned());
    }
    if let Some((name, _)) = getatt_of(v) {
        out.insert(name);
    }
    if let Some(text) = sub_of(v) {
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            let end = rest[at..].find('}').unwrap() + at;
            let name = rest[at + 2..end].split('.').next().unwrap();
            out.insert(name.to_owned());
            rest = &rest[end..];
        }
    }
    match v {
        Value::Tagged(t) => names_in(&t.value, out),
        Value::Sequence(items) => items.iter().for_each(|i| names_in(i, out)),
        Value::Mapping(m) => m.values().for_each(|i| names_in(i, out)),
        _ => {}
    }
}

/// The table grant of these policy statements, as `(actions, partitions)` per statement,
/// after checking each names the table alone, with a `dynamodb:LeadingKeys` condition.
fn table_grants(who: &str, statements: &[&Value]) -> BTreeSet<(Vec<String>, Vec<String>)> {
    let mut out = BTreeSet::new();
    for s in statements {
        let actions: Vec<String> = as_list(&s["Action"])
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let dynamo = actions
            .iter()
            .filter(|a| a.starts_with("dynamodb:"))
            .count();
        if dynamo == 0 {
            continue;
        }
        let sid = s["Sid"].as_str().unwrap_or("?");
        assert_eq!(dynamo, actions.len(), "{who} {sid}: table actions alone");
        assert_eq!(s["Effect"].as_str(), Some("Allow"), "{who} {sid}");
        let resources = as_list(&s["Resource"]);
        assert!(
            resources.len() == 1 && getatt_of(resources[0]) == Some(("Table".into(), "Arn".into())),
            "{who} {sid}: the table's items only (!GetAtt Table.Arn), no index, no wildcard"
        );
        let condition = s["Condition"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{who} {sid}: no dynamodb:LeadingKeys condition"));
        assert_eq!(condition.len(), 1, "{who} {sid}: one condition");
        let like = &s["Condition"]["ForAllValues:StringLike"];
        let keys = like
            .as_mapping()
            .filter(|m| m.len() == 1)
            .and_then(|_| like["dynamodb:LeadingKeys"].as_sequence())
            .unwrap_or_else(|| {
                panic!(
                    "{who} {sid}: Condition should be ForAllValues:StringLike dynamodb:LeadingKeys"
                )
            });
        let mut partitions: Vec<String> = keys
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        let mut actions = actions;
        actions.sort();
        partitions.sort();
        assert!(
            out.insert((actions, partitions)),
            "{who} {sid}: a statement twice"
        );
    }
    out
}

/// A part's table grant as `shared/src/config/` declares it.
fn declared_table_grants(part: &str) -> BTreeSet<(Vec<String>, Vec<String>)> {
    let grants = platefull::config::aws::TABLE_GRANTS
        .iter()
        .find(|(p, _)| *p == part)
        .unwrap_or_else(|| panic!("no table grant declared for {part} in TABLE_GRANTS"))
        .1;
    grants
        .iter()
        .map(|g| {
            let mut actions: Vec<String> = g.actions.iter().map(|a| a.to_string()).collect();
            let mut partitions: Vec<String> = g.partitions.iter().map(|p| p.to_string()).collect();
            actions.sort();
            partitions.sort();
            (actions, partitions)
        })
        .collect()
}

/// Each declared partition pattern is one of the table's partitions (`store::keys::KINDS`,
/// its `<...>` parts as `*`) or the health check's key; each action one the store makes.
#[test]
fn declared_table_grants_name_real_partitions_and_store_actions() {
    let mut partitions: BTreeSet<String> = platefull::store::keys::KINDS
        .iter()
        .map(|k| {
            // The constant head of the pattern, then `*` for the rest: `WA#<storeId>#<slot>`
            // is `WA#*`, `LEASES` stays itself.
            match k.pk.split_once('<') {
                Some((head, _)) => format!("{head}*"),
                None => k.pk.to_owned(),
            }
        })
        .collect();
    partitions.insert("HEALTH".into());
    use platefull::config::aws::dynamodb_action::*;
    let actions = [
        GET_ITEM,
        QUERY,
        PUT_ITEM,
        UPDATE_ITEM,
        DELETE_ITEM,
        CONDITION_CHECK_ITEM,
    ];
    for (part, grants) in platefull::config::aws::TABLE_GRANTS {
        assert!(!grants.is_empty(), "{part}: no table grant");
        for g in grants.iter() {
            for p in g.partitions {
                assert!(
                    partitions.contains(*p),
                    "{part}: {p} is no partition of the table ({partitions:?})"
                );
                // A `WA#*` device partition covers every slot; "*" alone would be everything.
                assert_ne!(*p, "*", "{part}: every partition");
            }
            for a in g.actions {
                assert!(actions.contains(a), "{part}: {a} is not a store action");
            }
        }
    }
    // The webhook, which anyone can call, only reads where a Cloud API number routes.
    assert_eq!(
        declared_table_grants("whatsapp-webhook"),
        BTreeSet::from([(
            vec!["dynamodb:GetItem".to_owned()],
            vec!["CLOUDNUM#*".to_owned()]
        )])
    );
}

#[test]
fn each_part_is_granted_the_table_exactly_as_its_builder_declares() {
    let t = template();
    for f in functions(&t) {
        let statements: Vec<&Value> = as_list(&f.properties["Policies"])
            .into_iter()
            .flat_map(|p| as_list(&p["Statement"]))
            .collect();
        assert_eq!(
            table_grants(&f.logical, &statements),
            declared_table_grants(&f.binary),
            "{}: table grant (left: infra/template.yaml, right: shared/src/config/)",
            f.logical
        );
    }
    let role = &resource(&t, "GatewayTaskRole")["Properties"];
    let statements: Vec<&Value> = as_list(&role["Policies"])
        .into_iter()
        .flat_map(|p| as_list(&p["PolicyDocument"]["Statement"]))
        .collect();
    assert_eq!(
        table_grants("GatewayTaskRole", &statements),
        declared_table_grants("gateway"),
        "gateway task role: table grant (left: infra/template.yaml, right: shared/src/config/)"
    );
    // No shared policy grants the table behind the parts' backs.
    for (name, r) in resources(&t) {
        if r["Type"].as_str() == Some("AWS::IAM::ManagedPolicy") {
            let statements = as_list(&r["Properties"]["PolicyDocument"]["Statement"]);
            assert!(
                table_grants(name.as_str().unwrap(), &statements).is_empty(),
                "{name:?}: a managed policy grants the table"
            );
        }
    }
}

/// Each function references only its own secret: the webhook can't read the LLM key,
/// bot-reply can't read Meta's app secret; and reading it decrypts through Secrets
/// Manager for that secret only.
#[test]
fn each_function_reads_only_its_own_secret() {
    let t = template();
    let secrets: BTreeSet<String> = resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SecretsManager::Secret"))
        .map(|(n, _)| n.as_str().unwrap().to_owned())
        .collect();
    let own: BTreeMap<&str, String> = SECRETS
        .iter()
        .map(|(var, part, _)| (*part, secret_of(&t, var)))
        .collect();
    assert_eq!(
        own.values().cloned().collect::<BTreeSet<_>>(),
        secrets,
        "every secret of the template is one part's own"
    );
    for f in functions(&t) {
        // Everything the function names, and everything its managed policies name.
        let mut named = BTreeSet::new();
        names_in(&f.properties, &mut named);
        for policy in as_list(&f.properties["Policies"]) {
            if let Some(managed) = ref_of(policy) {
                names_in(&resource(&t, managed)["Properties"], &mut named);
            }
        }
        let reached: BTreeSet<String> = named.intersection(&secrets).cloned().collect();
        let expected: BTreeSet<String> = own.get(f.binary.as_str()).cloned().into_iter().collect();
        assert_eq!(reached, expected, "{}: the secrets it can name", f.logical);
    }
    // The gateway reads no platform secret.
    let mut named = BTreeSet::new();
    names_in(&resource(&t, "GatewayTaskRole")["Properties"], &mut named);
    names_in(
        &resource(&t, "GatewayTaskDefinition")["Properties"],
        &mut named,
    );
    assert!(named.is_disjoint(&secrets), "the gateway names a secret");
    // Each read policy: GetSecretValue on its secret, kms:Decrypt only through Secrets
    // Manager and only for that secret.
    for (var, part, _) in SECRETS {
        let policy = POLICY_FOR_ENV.iter().find(|(v, _)| v == var).unwrap().1;
        let secret = &own[part];
        for s in as_list(&resource(&t, policy)["Properties"]["PolicyDocument"]["Statement"]) {
            match s["Action"].as_str() {
                Some("secretsmanager:GetSecretValue") => {
                    assert_eq!(ref_of(&s["Resource"]), Some(secret.as_str()), "{policy}")
                }
                Some("kms:Decrypt") => {
                    let cond = &s["Condition"]["StringEquals"];
                    assert!(
                        sub_of(&cond["kms:ViaService"]).is_some(),
                        "{policy}: ViaService"
                    );
                    assert_eq!(
                        ref_of(&cond["kms:EncryptionContext:SecretARN"]),
                        Some(secret.as_str()),
                        "{policy}: decrypts for its secret only"
                    );
                }
                other => panic!("{policy}: unexpected {other:?}"),
            }
        }
    }
}

// ------------------------------------------------------------------ (f) throttles

/// Valid bodies for the routes that check their body before the caller's credentials.
const SAMPLE_BODIES: &[(&str, &str)] = &[
    (
        "PUT /api/whatsapp/{storeId}/cloud-api",
        r#"{"phoneNumberId":"123456789012345","accessToken":"EAAGdriftdriftdriftdriftdrift"}"#,
    ),
    ("PUT /api/client/{storeId}/menu", r#"{"categories":[]}"#),
    (
        "POST /api/client/{storeId}/orders/{orderId}/status",
        r#"{"status":"accepted"}"#,
    ),
];

/// The routes that answer a caller with no credentials at all (no user token, apiKey or
/// Meta signature) with something other than 401: anyone on the internet can call them.
async fn public_routes(t: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (function, method, path) in template_routes(t) {
        let build = router_of(&function).expect("router");
        let app =
            platefull_tests::TestApp::with_router(platefull_tests::embedded_store().await, build);
        let uri = sample_uri(&path);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let route = format!("{method} {path}");
        let body = [Method::POST, Method::PUT, Method::PATCH]
            .contains(&m)
            .then(|| {
                SAMPLE_BODIES
                    .iter()
                    .find(|(r, _)| *r == route)
                    .map_or(serde_json::json!({}), |(_, b)| {
                        serde_json::from_str(b).unwrap()
                    })
            });
        let (status, json) = app.call(m, &uri, None, body).await;
        // A body refused before the credentials are looked at says nothing: give the route
        // a valid body in SAMPLE_BODIES.
        assert_ne!(
            status,
            StatusCode::BAD_REQUEST,
            "{route}: refused the probe's body ({json}); add a valid one to SAMPLE_BODIES"
        );
        if status != StatusCode::UNAUTHORIZED {
            out.insert(format!("{method} {path}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_anyone_may_call_have_their_own_lower_throttles() {
    let t = template();
    let api = &resource(&t, "HttpApi")["Properties"];
    let param_default = |v: &Value| -> u64 {
        let name = ref_of(v).unwrap_or_else(|| panic!("{v:?}: a parameter"));
        t["Parameters"][name]["Default"]
            .as_u64()
            .unwrap_or_else(|| panic!("parameter {name}: a numeric default"))
    };
    let defaults = &api["DefaultRouteSettings"];
    let default_rate = param_default(&defaults["ThrottlingRateLimit"]);
    let default_burst = param_default(&defaults["ThrottlingBurstLimit"]);
    let settings = api["RouteSettings"]
        .as_mapping()
        .expect("HttpApi RouteSettings");
    let throttled: BTreeSet<String> = settings
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for (route, s) in settings {
        let rate = param_default(&s["ThrottlingRateLimit"]);
        let burst = param_default(&s["ThrottlingBurstLimit"]);
        assert!(
            rate < default_rate && burst < default_burst,
            "{route:?}: {rate}/{burst} should be below the owners' routes' {default_rate}/{default_burst}"
        );
    }
    let public = public_routes(&t).await;
    assert!(public.contains("GET /health"), "{public:?}");
    assert_eq!(
        throttled, public,
        "RouteSettings (left) should be exactly the routes answering without credentials (right)"
    );
}

#[test]
fn nothing_secret_is_in_the_template_or_samconfig() {
    let template_text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let samconfig = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    for (file, text) in [
        ("infra/template.yaml", &template_text),
        ("samconfig.toml", &samconfig),
    ] {
        for pattern in [
            "sk-or-", // OpenRouter keys
            "AKIA",   // AWS access key ids
            "BEGIN PRIVATE",
            "aws_secret_access_key",
        ] {
            assert!(!text.contains(pattern), "{file} contains {pattern:?}");
        }
    }
    // The platform's secrets hold only placeholders (or a value Secrets Manager generates),
    // filled in by the operator; each holds exactly the fields its reader accepts.
    let t = template();
    for (var, part, fields) in SECRETS {
        let logical = secret_of(&t, var);
        let secret = &resource(&t, &logical)["Properties"];
        let generated = &secret["GenerateSecretString"];
        let text = secret["SecretString"]
            .as_str()
            .or_else(|| generated["SecretStringTemplate"].as_str())
            .unwrap_or_else(|| panic!("{logical}: SecretString or GenerateSecretString"));
        let shape: serde_json::Value = serde_json::from_str(text).unwrap();
        for (key, value) in shape.as_object().unwrap() {
            assert_eq!(
                value, "",
                "{logical}: {key} is a placeholder, filled in after deploy"
            );
        }
        let mut keys: Vec<String> = shape.as_object().unwrap().keys().cloned().collect();
        keys.extend(generated["GenerateStringKey"].as_str().map(str::to_owned));
        keys.sort();
        assert_eq!(&keys, fields, "{logical} (read by {part}): its fields");
    }
}

// ------------------------------------------------------------------ (g) console headers

#[test]
fn the_console_distribution_sends_the_consoles_security_headers() {
    use platefull::http::console_headers as headers;
    let t = template();
    let behavior = &resource(&t, "ConsoleDistribution")["Properties"]["DistributionConfig"]
        ["DefaultCacheBehavior"];
    assert_eq!(
        ref_of(&behavior["ResponseHeadersPolicyId"]),
        Some("ConsoleHeadersPolicy")
    );
    let config = &resource(&t, "ConsoleHeadersPolicy")["Properties"]["ResponseHeadersPolicyConfig"];
    let security = &config["SecurityHeadersConfig"];
    // connect-src: the API at the URL the stack outputs, and Stack Auth.
    let api = sub_of(&t["Outputs"]["ApiUrl"]["Value"]).expect("ApiUrl is a !Sub");
    assert_eq!(
        sub_of(&security["ContentSecurityPolicy"]["ContentSecurityPolicy"]),
        Some(headers::content_security_policy(&[api, "${StackApiUrl}"]).as_str())
    );
    assert_eq!(headers::CONTENT_TYPE_OPTIONS, "nosniff");
    assert!(security["ContentTypeOptions"].is_mapping());
    assert_eq!(
        security["FrameOptions"]["FrameOption"].as_str(),
        Some(headers::FRAME_OPTIONS)
    );
    assert_eq!(
        security["ReferrerPolicy"]["ReferrerPolicy"].as_str(),
        Some(headers::REFERRER_POLICY)
    );
    let custom: BTreeSet<(&str, &str)> = as_list(&config["CustomHeadersConfig"]["Items"])
        .into_iter()
        .map(|h| (h["Header"].as_str().unwrap(), h["Value"].as_str().unwrap()))
        .collect();
    assert_eq!(custom, headers::CUSTOM.iter().copied().collect());
    for header in [
        "ContentSecurityPolicy",
        "ContentTypeOptions",
        "FrameOptions",
        "ReferrerPolicy",
    ] {
        assert_eq!(
            security[header]["Override"].as_bool(),
            Some(true),
            "{header}"
        );
    }
}

// ------------------------------------------------------------------ event fixtures

/// Every fixture in `events/` (for `cargo lambda invoke --data-file`) belongs to a function
/// of the template: an API Gateway request names one of that function's routes, an SQS
/// batch goes to a function with an SQS event source. `events/health.json` is user-apis'.
#[test]
fn event_fixtures_match_the_template() {
    let t = template();
    let routes = template_routes(&t);
    let sqs_functions: BTreeSet<String> = functions(&t)
        .into_iter()
        .filter(|f| {
            f.properties["Events"]
                .as_mapping()
                .is_some_and(|e| e.values().any(|e| e["Type"].as_str() == Some("SQS")))
        })
        .map(|f| f.binary)
        .collect();
    let mut covered = BTreeSet::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).unwrap() {
                files.push(inner.unwrap().path());
            }
        } else {
            files.push(path);
        }
    }
    for path in files {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let parent = path.parent().unwrap();
        let function = if parent == root().join("events") {
            "user-apis".to_owned()
        } else {
            parent.file_name().unwrap().to_str().unwrap().to_owned()
        };
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if event["version"] == "2.0" && event["routeKey"].is_string() {
            let route_key = event["routeKey"].as_str().unwrap();
            assert!(
                routes
                    .iter()
                    .any(|(f, m, p)| f == &function && format!("{m} {p}") == route_key),
                "{name}: {route_key} is not a route of {function} in infra/template.yaml"
            );
            assert_eq!(event["requestContext"]["routeKey"], route_key, "{name}");
            let (method, route) = route_key.split_once(' ').unwrap();
            assert_eq!(event["requestContext"]["http"]["method"], method, "{name}");
            let raw_path = event["rawPath"].as_str().unwrap();
            let segments: Vec<&str> = raw_path.split('/').collect();
            let pattern: Vec<&str> = route.split('/').collect();
            assert!(
                segments.len() == pattern.len()
                    && segments
                        .iter()
                        .zip(&pattern)
                        .all(|(s, p)| s == p || (p.starts_with('{') && !s.is_empty())),
                "{name}: rawPath {raw_path} is not {route}"
            );
            // Parses as the Lambda runtime parses it, placeholders filled.
            let mut filled = String::new();
            let mut rest = text.as_str();
            while let Some(at) = rest.find("{{") {
                filled.push_str(&rest[..at]);
                let end = rest[at..].find("}}").expect("closed placeholder") + at;
                filled.push_str("x-");
                filled.push_str(&rest[at + 2..end]);
                rest = &rest[end + 2..];
            }
            filled.push_str(rest);
            lambda_http::request::from_str(&filled)
                .unwrap_or_else(|e| panic!("{name}: not an API Gateway v2 event: {e}"));
            covered.insert(function);
        } else if let Some(records) = event["Records"].as_array() {
            assert!(
                sqs_functions.contains(&function),
                "{name}: an SQS batch, but {function} has no SQS event source"
            );
            assert!(!records.is_empty(), "{name}: no records");
            for r in records {
                assert_eq!(r["eventSource"], "aws:sqs", "{name}");
            }
            covered.insert(function);
        }
        // Other JSON files are payloads for tests (e.g. bodies Meta posts to the webhook).
    }
    for f in functions(&t) {
        assert!(
            covered.contains(&f.binary),
            "events/{}/ has no fixture for {}",
            f.binary,
            f.logical
        );
    }
}

// ------------------------------------------------------------------ the secrets, read

/// Each part's loader reads its own secret (Secrets Manager on moto, the real SDK) and
/// keeps only its fields; a secret holding the other part's field is refused at start, so
/// the LLM key can't end up where the webhook reads. Changes the environment: alone in a
/// child process.
#[test]
fn each_part_loads_only_its_own_secret() {
    platefull_tests::process::alone_in_a_process(
        module_path!(),
        "each_part_loads_only_its_own_secret",
        || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(load_own_secrets())
        },
    );
}

async fn load_own_secrets() {
    use platefull::config::PlatformSecrets;
    let aws = platefull_tests::aws_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let secret = |value: &'static str| {
        let sm = sm.clone();
        async move {
            sm.create_secret()
                .name(platefull_tests::unique("platefull-secret"))
                .secret_string(value)
                .send()
                .await
                .unwrap()
                .arn
                .unwrap()
        }
    };
    let meta = secret(r#"{"metaAppSecret":"app-secret","metaVerifyToken":"verify"}"#).await;
    let llm = secret(r#"{"openrouterApiKey":"llm-key"}"#).await;
    let both = secret(
        r#"{"openrouterApiKey":"llm-key","metaAppSecret":"app-secret","metaVerifyToken":"verify"}"#,
    )
    .await;
    // The local stack's variables are set too: a loader given its secret ignores them all.
    for (name, value) in [
        ("OPENROUTER_API_KEY", "env-llm-key"),
        ("META_APP_SECRET", "env-app-secret"),
        ("META_VERIFY_TOKEN", "env-verify"),
        ("PLATEFULL_META_SECRET_ARN", meta.as_str()),
        ("PLATEFULL_OPENROUTER_SECRET_ARN", llm.as_str()),
    ] {
        std::env::set_var(name, value);
    }
    let webhook = PlatformSecrets::meta(&aws, "PLATEFULL_META_SECRET_ARN")
        .await
        .unwrap();
    assert_eq!(webhook.meta_app_secret.as_deref(), Some("app-secret"));
    assert_eq!(webhook.meta_verify_token.as_deref(), Some("verify"));
    assert_eq!(
        webhook.openrouter_api_key, None,
        "the webhook holds no LLM key"
    );
    let bot = PlatformSecrets::openrouter(&aws, "PLATEFULL_OPENROUTER_SECRET_ARN")
        .await
        .unwrap();
    assert_eq!(bot.openrouter_api_key.as_deref(), Some("llm-key"));
    assert_eq!(
        bot.meta_app_secret, None,
        "bot-reply holds no Meta app secret"
    );
    assert_eq!(bot.meta_verify_token, None);

    // The old combined secret, or a part pointed at the other's secret: refused, with the
    // variable and the expected shape named and no value shown.
    for (var, arn) in [
        ("PLATEFULL_META_SECRET_ARN", &both),
        ("PLATEFULL_META_SECRET_ARN", &llm),
        ("PLATEFULL_OPENROUTER_SECRET_ARN", &both),
        ("PLATEFULL_OPENROUTER_SECRET_ARN", &meta),
    ] {
        std::env::set_var(var, arn);
        let err = if var == "PLATEFULL_META_SECRET_ARN" {
            PlatformSecrets::meta(&aws, var).await.err()
        } else {
            PlatformSecrets::openrouter(&aws, var).await.err()
        }
        .unwrap_or_else(|| panic!("{var} = {arn}: loaded"))
        .to_string();
        assert!(err.contains(var) && err.contains("no other field"), "{err}");
        assert!(
            !err.contains("llm-key") && !err.contains("app-secret"),
            "{err}"
        );
    }

    // Without the variables (the local stack): the environment, still only the part's own.
    std::env::remove_var("PLATEFULL_META_SECRET_ARN");
    std::env::remove_var("PLATEFULL_OPENROUTER_SECRET_ARN");
    let webhook = PlatformSecrets::meta(&aws, "PLATEFULL_META_SECRET_ARN")
        .await
        .unwrap();
    assert_eq!(webhook.meta_app_secret.as_deref(), Some("env-app-secret"));
    assert_eq!(webhook.openrouter_api_key, None);
    let bot = PlatformSecrets::openrouter(&aws, "PLATEFULL_OPENROUTER_SECRET_ARN")
        .await
        .unwrap();
    assert_eq!(bot.openrouter_api_key.as_deref(), Some("env-llm-key"));
    assert_eq!(bot.meta_app_secret, None);
}

// ------------------------------------------------------------------ the grants, enforced

/// A store that refuses, as IAM would, every call outside one part's declared table grant
/// (`get` = GetItem, `query` = Query, `update` = UpdateItem, each op of a `write` = PutItem
/// or DeleteItem, each checked with its partition key against `dynamodb:LeadingKeys`). The
/// refusals are recorded, so a flow that worked around one still fails the test.
struct Policed {
    inner: Arc<dyn Store>,
    part: &'static str,
    denied: Arc<std::sync::Mutex<Vec<String>>>,
    /// `(action, partition pattern)` of the grant each allowed call used.
    used: Arc<std::sync::Mutex<BTreeSet<(String, String)>>>,
}

impl Policed {
    fn wrap(inner: &Arc<dyn Store>, part: &'static str) -> (Arc<dyn Store>, Self) {
        let me = Self {
            inner: inner.clone(),
            part,
            denied: Default::default(),
            used: Default::default(),
        };
        let shared = Self {
            inner: inner.clone(),
            part,
            denied: me.denied.clone(),
            used: me.used.clone(),
        };
        (Arc::new(shared), me)
    }

    fn check(&self, action: &str, pk: &str) -> Result<(), StoreError> {
        let grants = platefull::config::aws::TABLE_GRANTS
            .iter()
            .find(|(p, _)| *p == self.part)
            .unwrap()
            .1;
        let matched = grants.iter().find_map(|g| {
            g.actions.contains(&action).then_some(())?;
            g.partitions.iter().find(|p| match p.strip_suffix('*') {
                Some(head) => pk.starts_with(head),
                None => pk == **p,
            })
        });
        if let Some(pattern) = matched {
            let used = (action.to_owned(), pattern.to_string());
            self.used.lock().unwrap().insert(used);
            return Ok(());
        }
        let what = format!("{}: {action} on {pk}", self.part);
        self.denied.lock().unwrap().push(what.clone());
        Err(StoreError::Unavailable(format!(
            "AccessDeniedException: {what}"
        )))
    }

    /// Nothing was refused, and every `(action, partition)` of the grant was used, but
    /// for the ones `not_exercised` names (each with why this flow can't reach it).
    fn assert_exact(&self, not_exercised: &[(&str, &str, &str)]) {
        let denied = self.denied.lock().unwrap();
        assert!(
            denied.is_empty(),
            "calls outside the declared grant: {denied:?}"
        );
        let used = self.used.lock().unwrap();
        let grants = platefull::config::aws::TABLE_GRANTS
            .iter()
            .find(|(p, _)| *p == self.part)
            .unwrap()
            .1;
        for g in grants.iter() {
            for action in g.actions {
                for pattern in g.partitions {
                    let key = (action.to_string(), pattern.to_string());
                    let excused = not_exercised
                        .iter()
                        .any(|(p, a, k)| *p == self.part && a == action && k == pattern);
                    assert!(
                        used.contains(&key) || excused,
                        "{}: {action} on {pattern} is granted but the flow never used it (grant more narrowly, or list it in NOT_EXERCISED)",
                        self.part
                    );
                    assert!(
                        !(used.contains(&key) && excused),
                        "{}: {action} on {pattern} is used: remove it from NOT_EXERCISED",
                        self.part
                    );
                }
            }
        }
    }
}

use platefull::config::aws::dynamodb_action as act;
use platefull::queue::Queue;
use platefull::store::{Item, Store, StoreError, Update, WriteOp};

#[async_trait::async_trait]
impl Store for Policed {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.check(act::GET_ITEM, pk)?;
        self.inner.get(pk, sk).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.check(act::QUERY, pk)?;
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_last(&self, pk: &str, sk: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        self.check(act::QUERY, pk)?;
        self.inner.query_last(pk, sk, limit).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        for op in &ops {
            match op {
                WriteOp::Put { item, .. } => {
                    self.check(act::PUT_ITEM, item["pk"].as_str().unwrap_or_default())?
                }
                WriteOp::Delete { pk, .. } => self.check(act::DELETE_ITEM, pk)?,
                WriteOp::Check { pk, .. } => self.check(act::CONDITION_CHECK_ITEM, pk)?,
                WriteOp::Add { pk, .. } => self.check(act::UPDATE_ITEM, pk)?,
            }
        }
        self.inner.write(ops).await
    }
    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        self.check(act::UPDATE_ITEM, pk)?;
        self.inner.update(pk, sk, update).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        // Both adapters' health check is one read of `HEALTH`/`HEALTH`.
        self.check(act::GET_ITEM, "HEALTH")?;
        self.inner.health().await
    }
}

/// Granted actions the flow below doesn't reach, `(part, action, partition)`, each with why.
const NOT_EXERCISED: &[(&str, &str, &str)] = &[
    // Sales reports need a Saipos account answering (tests/it/saipos.rs); their cache
    // writes days and, on delete, forgets them.
    ("user-apis", act::PUT_ITEM, "REPORT#*"),
    ("user-apis", act::DELETE_ITEM, "REPORT#*"),
    // Attaching a number through the route is left to the suites that fake the Graph API;
    // the flow attaches with the same code directly.
    ("whatsapp-sessions", act::PUT_ITEM, "CLOUDNUM#*"),
    // A linked device's keys are read by whatsapp-rust through the whatsapp-web feature's
    // store (tests/it/wa_keys.rs drives it); the flow below takes a lease (which writes the
    // fence in `WA#`), checks the fence and wipes a device, but reads no key.
    ("gateway", act::GET_ITEM, "WA#*"),
];

/// Every part does its work through a store that allows only its declared grant: the
/// routes of each function, the bot worker and the gateway's slot, lease, chat and device
/// records, all over one store as they share the table in AWS. A grant missing an action
/// or a partition the code uses fails here (and would fail in AWS with AccessDenied).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_part_works_within_its_declared_grant() {
    use axum::http::Method as M;
    use serde_json::json;
    let app = platefull_tests::TestApp::with_router(
        platefull_tests::embedded_store().await,
        platefull::http::user_apis_router,
    );
    let inner = app.state.store.clone();
    let state_for = |store: Arc<dyn Store>| AppState {
        store,
        ..app.state.clone()
    };
    // Each part's router, called through the harness (whose own router is swapped out).
    let call = |router: &Router,
                method: M,
                uri: String,
                auth: Option<String>,
                body: Option<serde_json::Value>| {
        let router = router.clone();
        async move {
            let mut probe = platefull_tests::TestApp::with_router(
                platefull_tests::embedded_store().await,
                platefull::http::user_apis_router,
            );
            probe.router = router;
            probe.call(method, &uri, auth.as_deref(), body).await
        }
    };

    // The policing works: the webhook may not read a store's config.
    let (webhook_store, webhook_police) = Policed::wrap(&inner, "whatsapp-webhook");
    assert!(webhook_store.get("STORE#st_x", "CONFIG").await.is_err());
    assert_eq!(webhook_police.denied.lock().unwrap().len(), 1);
    webhook_police.denied.lock().unwrap().clear();

    // user-apis: health, create (both kinds), list, read, rename, rotate, test.
    let (store, user_apis_police) = Policed::wrap(&inner, "user-apis");
    let user_apis = platefull::http::user_apis_router(state_for(store));
    let owner = Some(app.token("alice"));
    let (status, body) = call(&user_apis, M::GET, "/health".into(), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, wa) = call(
        &user_apis,
        M::POST,
        "/api/user-apis".into(),
        owner.clone(),
        Some(json!({"name": "Loja", "type": "whatsapp"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{wa}");
    let (status, saipos) = call(
        &user_apis,
        M::POST,
        "/api/user-apis".into(),
        owner.clone(),
        Some(json!({"name": "PDV", "type": "saipos", "apiKey": "saipos-token-0123456789"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saipos}");
    let id = wa["id"].as_str().unwrap().to_owned();
    let store_id = wa["storeId"].as_str().unwrap().to_owned();
    for (method, uri, body) in [
        (M::GET, "/api/user-apis".to_owned(), None),
        (M::GET, format!("/api/user-apis/{id}"), None),
        (
            M::PATCH,
            format!("/api/user-apis/{id}"),
            Some(json!({"name": "Loja 2"})),
        ),
        (M::POST, format!("/api/user-apis/{id}/test"), None),
    ] {
        let (status, body) =
            call(&user_apis, method.clone(), uri.clone(), owner.clone(), body).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {body}");
    }
    let (status, rotated) = call(
        &user_apis,
        M::POST,
        format!("/api/user-apis/{id}/rotate-key"),
        owner.clone(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let key = Some(rotated["apiKey"].as_str().unwrap().to_owned());

    // client-config: read and write with the apiKey and with the owner's token.
    let (store, config_police) = Policed::wrap(&inner, "client-config");
    let client_config = platefull::http::client_config_router(state_for(store));
    for auth in [key.clone(), owner.clone()] {
        let uri = format!("/api/client/{store_id}/config");
        let (status, body) = call(&client_config, M::GET, uri.clone(), auth.clone(), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = call(
            &client_config,
            M::PUT,
            uri,
            auth,
            Some(json!({"botName": "Maria", "debounceSeconds": 0})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // ... and the store's knowledge: a chunked menu replaced by a small one (its stale
    // chunks deleted), a sold-out switch, the profile and the status.
    let menu = format!("/api/client/{store_id}/menu");
    let small = json!({"categories": [{"id": "c", "name": "C", "items": [
        {"id": "i", "name": "I", "priceCents": 100}]}]});
    for (method, uri, body) in [
        (
            M::PUT,
            menu.clone(),
            Some(platefull_tests::menus::big_menu(500)),
        ),
        (M::PUT, menu.clone(), Some(small)),
        (M::GET, menu.clone(), None),
        (
            M::PATCH,
            format!("{menu}/items/i"),
            Some(json!({"available": false})),
        ),
        (
            M::PUT,
            format!("/api/client/{store_id}/profile"),
            Some(json!({})),
        ),
        (M::GET, format!("/api/client/{store_id}/status"), None),
    ] {
        let (status, body) = call(
            &client_config,
            method.clone(),
            uri.clone(),
            key.clone(),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {body}");
    }

    // whatsapp-sessions: the slots (apiKey and owner); a Cloud API number detached.
    let (store, sessions_police) = Policed::wrap(&inner, "whatsapp-sessions");
    let sessions = platefull::http::sessions_router(state_for(store));
    for auth in [key.clone(), owner.clone()] {
        let (status, body) = call(
            &sessions,
            M::GET,
            format!("/api/whatsapp/{store_id}/sessions"),
            auth,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The inbox: a chat's list, page, pause (created, then updated), read and the feed.
    platefull_tests::chats::seed_chat(inner.as_ref(), &store_id, "5511988887777", 2, 1_000).await;
    let chat = "w1:5511988887777";
    let inbox_calls = [
        (M::GET, format!("/api/whatsapp/{store_id}/chats"), None),
        (
            M::GET,
            format!("/api/whatsapp/{store_id}/chats/{chat}/messages"),
            None,
        ),
        (
            M::POST,
            format!("/api/whatsapp/{store_id}/chats/{chat}/bot"),
            Some(json!({"mode": "paused"})),
        ),
        (
            M::POST,
            format!("/api/whatsapp/{store_id}/chats/{chat}/bot"),
            Some(json!({"mode": "active"})),
        ),
        (
            M::POST,
            format!("/api/whatsapp/{store_id}/chats/{chat}/read"),
            None,
        ),
        (M::GET, format!("/api/whatsapp/{store_id}/changes"), None),
    ];
    for (method, uri, body) in inbox_calls {
        let (status, answer) =
            call(&sessions, method.clone(), uri.clone(), owner.clone(), body).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {answer}");
    }
    let number = "106540352242922";
    let attach = |previous: Option<&'static str>| {
        let (inner, secrets, store_id) =
            (inner.clone(), app.state.secrets.clone(), store_id.clone());
        async move {
            platefull::bot::cloud_api::attach(
                inner.as_ref(),
                &secrets,
                &store_id,
                number,
                "EAAG-token-for-the-drift-test",
                previous,
                "2026-01-01T00:00:00Z",
            )
            .await
            .unwrap()
        }
    };
    attach(None).await;
    let (status, body) = call(
        &sessions,
        M::DELETE,
        format!("/api/whatsapp/{store_id}/cloud-api"),
        key.clone(),
        None,
    )
    .await;
    assert!(status.is_success(), "{status} {body}");

    // whatsapp-webhook: a signed delivery for an attached number, routed and queued.
    attach(None).await;
    let inbound = platefull_tests::stack::standard_queue();
    let webhook = platefull::http::webhook_router(AppState {
        store: webhook_store,
        webhook: Some(platefull::http::webhook::WebhookSettings {
            app_secret: platefull_tests::stack::APP_SECRET.into(),
            verify_token: platefull_tests::stack::VERIFY_TOKEN.into(),
            inbound: inbound.clone(),
        }),
        ..app.state.clone()
    });
    let payload = std::fs::read(root().join("events/whatsapp-webhook/text-message.json")).unwrap();
    let signature = platefull::bot::cloud_api::sign(platefull_tests::stack::APP_SECRET, &payload);
    let req = Request::builder()
        .method(M::POST)
        .uri("/webhooks/whatsapp")
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(Body::from(payload))
        .unwrap();
    let response = webhook.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let queued = inbound
        .receive(10, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "the delivery was queued");

    // bot-reply: a linked number's message answered (offline model), and the Cloud API
    // delivery the webhook queued (its Graph API send fails: a closed port).
    let (store, bot_police) = Policed::wrap(&inner, "bot-reply");
    let outbound = platefull_tests::stack::fifo_queue();
    let bot = platefull::bot::worker::Bot {
        store,
        ..app.bot(
            Arc::new(platefull::bot::llm::Offline),
            inbound.clone(),
            outbound.clone(),
        )
    };
    let job = platefull::jobs::BotJob::Message {
        store_id: store_id.clone(),
        line: platefull::jobs::Line::Web { slot: 1 },
        message: platefull::jobs::ChatMessage {
            id: "wamid.drift".into(),
            chat: "5511999990000".into(),
            from_me: false,
            text: "Oi".into(),
            timestamp: 1,
            is_group: false,
            ..Default::default()
        },
    };
    bot.handle(job).await.expect("the bot answered");
    let replies = outbound
        .receive(10, std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(replies.len(), 1, "one reply queued for the gateway");
    let cloud_job: platefull::jobs::BotJob = serde_json::from_str(&queued[0].body).unwrap();
    let _ = bot.handle(cloud_job).await;
    // A second, later message of the same chat: a turn after a reply.
    let owner_job = platefull::jobs::BotJob::Message {
        store_id: store_id.clone(),
        line: platefull::jobs::Line::Web { slot: 1 },
        message: platefull::jobs::ChatMessage {
            id: "wamid.owner".into(),
            chat: "5511999990000".into(),
            from_me: true,
            text: "Já te atendo".into(),
            timestamp: 2,
            is_group: false,
            ..Default::default()
        },
    };
    bot.handle(owner_job)
        .await
        .expect("the owner's message recorded");
    // An owner's alert: the store's name read from its user API (no e-mail service here).
    let alert = platefull::jobs::BotJob::Alert(platefull::health::incidents::AlertJob {
        store_id: store_id.clone(),
        alert_id: "drift-alert".into(),
        subject: "{loja}".into(),
        text: "{loja}: teste".into(),
    });
    bot.handle(alert).await.expect("the alert handled");

    // The gateway: leases, slots and the connection's status, a reply's delivery mark,
    // a device's records wiped.
    let (store, gateway_police) = Policed::wrap(&inner, "gateway");
    let slot = platefull::whatsapp::events::SlotKey {
        store_id: store_id.clone(),
        slot: 1,
    };
    use platefull::whatsapp::slots;
    let fence = slots::acquire_lease(store.as_ref(), &slot, "task-a", 30_000)
        .await
        .unwrap()
        .expect("the lease taken");
    // A key-store write, fenced by the lease (what the whatsapp-web store does).
    store.write(vec![fence.check()]).await.unwrap();
    assert!(slots::renew_lease(store.as_ref(), &slot, "task-a", 30_000)
        .await
        .unwrap());
    slots::wanted_slots(store.as_ref()).await.unwrap();
    slots::orphaned_slots(store.as_ref()).await.unwrap();
    slots::get_slot(store.as_ref(), &slot)
        .await
        .unwrap()
        .expect("slot 1");
    slots::save_credentials(
        store.as_ref(),
        &app.state.secrets,
        &slot,
        b"creds",
        "5511988887777",
    )
    .await
    .unwrap();
    slots::refresh_connection_status(store.as_ref(), &slot)
        .await
        .unwrap();
    slots::mark_logged_out(store.as_ref(), &slot, None)
        .await
        .unwrap();
    slots::release_lease(store.as_ref(), &slot, "task-a", false)
        .await
        .unwrap();
    slots::release_lease_of_dead_task(store.as_ref(), &slot)
        .await
        .unwrap();
    let line = platefull::jobs::Line::Web { slot: 1 };
    let chat = platefull::bot::chat::ChatRef {
        store_id: &store_id,
        line: &line,
        chat: "5511999990000",
    };
    platefull::bot::chat::mark_sending(store.as_ref(), &chat, 1, 10)
        .await
        .unwrap();
    platefull::bot::chat::unmark_delivering(store.as_ref(), &chat, 1)
        .await
        .unwrap();
    inner
        .write(vec![WriteOp::Put {
            item: platefull::store::keys::item(
                platefull::store::keys::wa_pk(&store_id, 1),
                "device",
            )
            .build(),
            cond: Default::default(),
        }])
        .await
        .unwrap();
    // What `wa_store::wipe` does (that module is built with the whatsapp-web feature only):
    // one query of the device's partition, then its records deleted.
    let pk = platefull::store::keys::wa_pk(&store_id, 1);
    let records = store.query(&pk, "").await.unwrap();
    assert_eq!(records.len(), 2, "the device and the lease fence");
    let deletes = records
        .iter()
        .map(|item| WriteOp::Delete {
            pk: pk.clone(),
            sk: item["sk"].as_str().unwrap().to_owned(),
            cond: Default::default(),
        })
        .collect();
    store.write(deletes).await.unwrap();

    // user-apis again: a report-less Saipos account and the connection (with its Cloud API
    // number) deleted.
    let saipos_id = saipos["id"].as_str().unwrap();
    for uri in [
        format!("/api/user-apis/{saipos_id}"),
        format!("/api/user-apis/{id}"),
    ] {
        let (status, body) = call(&user_apis, M::DELETE, uri, owner.clone(), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    for police in [
        user_apis_police,
        config_police,
        sessions_police,
        webhook_police,
        bot_police,
        gateway_police,
    ] {
        police.assert_exact(NOT_EXERCISED);
    }
}
