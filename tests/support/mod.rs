//! Test support shared by the cross-crate suites (the `it` test binary) and the benches: the
//! two store adapters under test (the embedded store in a temp dir; DynamoDB through the
//! real AWS SDK against the moto server that `scripts/test.sh` starts), an app harness that
//! drives a router in-process, and the WhatsApp connection most tests start from. The other
//! modules: `stack` (gateway, queues and bot worker wired in-process), `bench` (latency
//! figures), `menus` (big menus), `process` (a test alone in a child process),
//! `faulty_store` (a write failing on demand), `routes` (the routes the routers declare),
//! `lambda_runtime` (a Lambda Runtime API emulator running a function's executable), and the
//! fakes.

pub mod bench;
pub mod chats;
pub mod fake_graph;
pub mod fake_huge;
pub mod fake_llm;
pub mod fake_media;
pub mod fake_resend;
pub mod fake_saipos;
pub mod fake_saipos_order;
pub mod fake_stack_auth;
pub mod fake_transcribe;
pub mod fake_wa_cdn;
pub mod fake_webhook;
pub mod faulty_store;
pub mod lambda_runtime;
pub mod menus;
pub mod process;
pub mod routes;
pub mod stack;

use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use platefull::auth::dev::DevSigner;
use platefull::crypto::SecretBox;
use platefull::http::AppState;
use platefull::store::counting::{CountingStore, Counts};
use platefull::store::dynamodb::DynamoStore;
use platefull::store::embedded::EmbeddedStore;
use platefull::store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The moto server's URL. Panics (fails the test) when it is not set: these tests must not
/// silently skip.
pub fn moto_url() -> String {
    std::env::var("PLATEFULL_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("PLATEFULL_TEST_MOTO_URL is not set: run the tests with ./scripts/test.sh, which starts a moto server")
    })
}

/// AWS SDK configuration pointing at the moto server, with test credentials.
pub async fn aws_config() -> SdkConfig {
    platefull::config::aws_loader()
        .endpoint_url(moto_url())
        .region(Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// The AWS resources every function needs, made on moto as the SAM template would: a new
/// table (named after `prefix`) and a KMS key's AES-256 data key. Returns the config, the
/// table's name and the data key's ciphertext in base64 (`PLATEFULL_DATA_KEY`).
pub async fn table_and_data_key(prefix: &str) -> (SdkConfig, String, String) {
    use base64::Engine;
    let aws = aws_config().await;
    let table = unique(prefix);
    DynamoStore::create_table(&aws_sdk_dynamodb::Client::new(&aws), &table)
        .await
        .expect("create table on moto");
    let kms = aws_sdk_kms::Client::new(&aws);
    let key_id = kms
        .create_key()
        .send()
        .await
        .expect("a KMS key")
        .key_metadata
        .expect("its metadata")
        .key_id;
    let data_key = kms
        .generate_data_key()
        .key_id(key_id)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await
        .expect("a data key");
    let ciphertext = base64::engine::general_purpose::STANDARD.encode(
        data_key
            .ciphertext_blob
            .expect("its ciphertext")
            .into_inner(),
    );
    (aws, table, ciphertext)
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    platefull::ids::new_id(prefix).replace('_', "-")
}

/// A store under test, with whatever must outlive it (the embedded store's temp dir).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// The same store behind a [`CountingStore`], with its counts (for round-trip figures).
    pub fn counted(self) -> (Self, Arc<Counts>) {
        let counting = CountingStore::new(self.store);
        let counts = counting.counts.clone();
        let store = Self {
            store: Arc::new(counting),
            _dir: self._dir,
        };
        (store, counts)
    }
}

pub async fn embedded_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).expect("embedded store");
    TestStore {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

pub async fn dynamo_store() -> TestStore {
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let table = unique("platefull-test");
    DynamoStore::create_table(&client, &table)
        .await
        .expect("create table on moto");
    TestStore {
        store: Arc::new(DynamoStore::new(client, table)),
        _dir: None,
    }
}

/// A router with its state and the signer whose tokens it accepts.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub signer: DevSigner,
    build: fn(AppState) -> Router,
    _store: TestStore,
}

/// A WhatsApp connection as `POST /api/user-apis` created it.
pub struct Connection {
    /// The created record, as returned (with its one-time `apiKey`).
    pub record: Value,
    pub id: String,
    pub store_id: String,
    pub api_key: String,
}

impl TestApp {
    /// Every route (as the local stack serves them) over `store`.
    pub fn new(store: TestStore) -> Self {
        Self::with_router(store, platefull::http::all_routes)
    }

    pub fn with_router(store: TestStore, build: fn(AppState) -> Router) -> Self {
        let signer = DevSigner::generate("test-issuer", "test-audience");
        let state = AppState {
            store: store.store.clone(),
            users: Arc::new(signer.verifier()),
            secrets: Arc::new(SecretBox::from_key(&[42; 32])),
            saipos: Default::default(),
            sessions: None,
            webhook: None,
            // A closed port: a test that attaches a number aims this at its fake Graph API.
            graph: Arc::new(platefull::bot::cloud_api::GraphClient::new(
                "http://127.0.0.1:9",
            )),
            notices: None,
        };
        Self {
            router: build(state.clone()),
            state,
            signer,
            build,
            _store: store,
        }
    }

    /// Changes the state, then builds the router again over it.
    pub fn with_state(mut self, change: impl FnOnce(&mut AppState)) -> Self {
        change(&mut self.state);
        self.router = (self.build)(self.state.clone());
        self
    }

    pub fn token(&self, user: &str) -> String {
        self.signer.token(user, 600)
    }

    /// Creates a WhatsApp connection named `name` for `user` (which must answer 201).
    pub async fn whatsapp(&self, user: &str, name: &str) -> Connection {
        let (status, record) = self
            .call(
                Method::POST,
                "/api/user-apis",
                Some(&self.token(user)),
                Some(json!({"name": name, "type": "whatsapp"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{record}");
        let field = |name: &str| {
            record[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} returned on create: {record}"))
                .to_owned()
        };
        Connection {
            id: field("id"),
            store_id: field("storeId"),
            api_key: field("apiKey"),
            record,
        }
    }

    /// Sends a request; `auth` is put in `Authorization: Bearer`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(auth) = auth {
            req = req.header("authorization", format!("Bearer {auth}"));
        }
        let req = match body {
            Some(body) => req
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router is infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        (status, value)
    }
}

/// Asserts an error answer: its status, its code and a non-empty message.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Declares each listed async test fn (taking a [`TestStore`]) once per store adapter, in
/// modules `embedded` and `dynamodb`.
#[macro_export]
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::embedded_store().await).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::dynamo_store().await).await
                }
            )*
        }
    };
}
