//! A fake Stack Auth at the HTTP level: one project's JWKS at
//! `/api/v1/projects/<id>/.well-known/jwks.json`, published as Stack Auth does (EC
//! coordinates without leading zero bytes), with the signer of its tokens. It counts
//! fetches and can be taken down: failing (503) or hanging (answers after a minute, as a
//! slow or unreachable server looks to a client with a timeout).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use platefull::auth::dev::DevSigner;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Up,
    Failing,
    Hanging,
}

struct Served {
    jwks: Mutex<Value>,
    mode: Mutex<Mode>,
    fetches: AtomicUsize,
}

pub struct FakeStackAuth {
    /// What `STACK_API_URL` would be.
    pub url: String,
    pub project: String,
    /// The issuer of the project's (verified users') tokens.
    pub issuer: String,
    /// Signs the project's tokens; its key is the one served, until [`FakeStackAuth::serve`].
    pub signer: DevSigner,
    served: Arc<Served>,
}

impl FakeStackAuth {
    pub async fn start(project: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let issuer = format!("{url}/api/v1/projects/{project}");
        let signer = DevSigner::generate(&issuer, project);
        let served = Arc::new(Served {
            jwks: Mutex::new(signer.minimal_jwks()),
            mode: Mutex::new(Mode::Up),
            fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(
                &format!("/api/v1/projects/{project}/.well-known/jwks.json"),
                get(jwks),
            )
            .with_state(served.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            project: project.to_owned(),
            issuer,
            signer,
            served,
        }
    }

    /// Serves the keys of `signers` (as Stack Auth encodes them) from now on.
    pub fn serve(&self, signers: &[&DevSigner]) {
        let keys: Vec<Value> = signers
            .iter()
            .flat_map(|s| s.minimal_jwks()["keys"].as_array().unwrap().clone())
            .collect();
        *self.served.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.served.mode.lock().unwrap() = mode;
    }

    /// JWKS requests received (answered or not).
    pub fn fetches(&self) -> usize {
        self.served.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks(State(served): State<Arc<Served>>) -> Response {
    served.fetches.fetch_add(1, Ordering::SeqCst);
    let mode = *served.mode.lock().unwrap();
    match mode {
        Mode::Up => {}
        Mode::Failing => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"code": "UNAVAILABLE"})),
            )
                .into_response()
        }
        Mode::Hanging => tokio::time::sleep(Duration::from_secs(60)).await,
    }
    let body = served.jwks.lock().unwrap().clone();
    Json(body).into_response()
}
