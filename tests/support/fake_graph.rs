//! A fake Meta Graph API at the HTTP level, in Meta's documented shapes, for the two calls
//! we make:
//! - sending, `POST /{phone-number-id}/messages`: answered from `script` (canned answers
//!   first, then a success with a new wamid);
//! - reading a number, `GET /{phone-number-id}?fields=…` (how attaching proves a token):
//!   canned answers from `lookups` first, then as Meta answers for the numbers each token
//!   was [granted](FakeGraph::grant): the requested fields of the number (and its `id`);
//!   error 190 (`OAuthException`) for a token Meta doesn't know; error 100 subcode 33
//!   (`GraphMethodException`, "Unsupported get request") for a number the token can't
//!   read — Meta doesn't tell "doesn't exist" from "not yours".
//!
//! - uploading media, `POST /{phone-number-id}/media` (multipart/form-data with
//!   `messaging_product=whatsapp`, `type` and a `file` part): answers `{"id": "<media id>"}`
//!   and keeps the upload in [`FakeGraph::media`]; a body without those parts is a 400.
//!
//! All record every request (path, body, `Authorization`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::fake_llm::{answer, serve, Script};

/// A number as Meta holds it.
#[derive(Clone)]
struct Number {
    display_phone_number: String,
    verified_name: String,
}

#[derive(Default)]
struct Grants {
    /// token → the numbers it can read, by id.
    by_token: Mutex<HashMap<String, HashMap<String, Number>>>,
}

pub struct FakeGraph {
    pub url: String,
    /// Sends: canned answers and every request.
    pub script: Arc<Script>,
    /// Number reads: canned answers and every request.
    pub lookups: Arc<Script>,
    grants: Arc<Grants>,
    /// Every media upload that was accepted, in order.
    pub media: Arc<Mutex<Vec<Upload>>>,
}

/// One accepted media upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub number: String,
    pub id: String,
    /// The `type` field (a MIME type).
    pub kind: String,
    /// The file part's own content type.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The parts of a multipart/form-data body: name → (content type, bytes).
fn multipart_parts(content_type: &str, body: &[u8]) -> Option<HashMap<String, (String, Vec<u8>)>> {
    let boundary = content_type
        .strip_prefix("multipart/form-data")?
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let mut parts = HashMap::new();
    let mut at = find(body, &delimiter, 0)? + delimiter.len();
    loop {
        if body[at..].starts_with(b"--") {
            return Some(parts);
        }
        at += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", at)?;
        let head = std::str::from_utf8(&body[at..head_end])
            .ok()?
            .to_ascii_lowercase();
        let next = find(body, &delimiter, head_end)?;
        let content = body[head_end + 4..next - 2].to_vec(); // minus the CRLF before it
        let name = head.split("name=\"").nth(1)?.split('"').next()?.to_owned();
        let kind = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        parts.insert(name, (kind, content));
        at = next + delimiter.len();
    }
}

impl FakeGraph {
    /// Lets `token` read the number `phone_number_id`.
    pub fn grant(&self, token: &str, phone_number_id: &str, display: &str, verified_name: &str) {
        self.grants
            .by_token
            .lock()
            .unwrap()
            .entry(token.to_owned())
            .or_default()
            .insert(
                phone_number_id.to_owned(),
                Number {
                    display_phone_number: display.to_owned(),
                    verified_name: verified_name.to_owned(),
                },
            );
    }
}

fn graph_error(message: &str, kind: &str, code: i64, subcode: Option<i64>) -> Value {
    let mut error =
        json!({"message": message, "type": kind, "code": code, "fbtrace_id": "AZfake0trace"});
    if let Some(subcode) = subcode {
        error["error_subcode"] = subcode.into();
    }
    json!({ "error": error })
}

fn read_number(
    lookups: &Script,
    grants: &Grants,
    id: String,
    fields: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    lookups.requests.lock().unwrap().push((
        format!("/{id}"),
        json!({ "fields": fields }),
        auth.clone(),
    ));
    if let Some((status, body, _)) = lookups.answers.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    let token = auth.as_deref().and_then(|a| a.strip_prefix("Bearer "));
    let by_token = grants.by_token.lock().unwrap();
    let Some(numbers) = token.and_then(|t| by_token.get(t)) else {
        let body = graph_error(
            "Invalid OAuth access token - Cannot parse access token",
            "OAuthException",
            190,
            None,
        );
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    let Some(number) = numbers.get(&id) else {
        let body = graph_error(
            &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"),
            "GraphMethodException",
            100,
            Some(33),
        );
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    let all = json!({
        "verified_name": number.verified_name,
        "code_verification_status": "VERIFIED",
        "display_phone_number": number.display_phone_number,
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
    });
    let mut shown = Map::new();
    for (name, value) in all.as_object().unwrap() {
        if fields.is_none_or(|f| f.split(',').any(|field| field.trim() == name)) {
            shown.insert(name.clone(), value.clone());
        }
    }
    shown.insert("id".into(), id.into());
    (StatusCode::OK, Json(Value::Object(shown))).into_response()
}

/// The fake Graph API; every send succeeds with a new wamid unless scripted otherwise, and
/// no token can read any number until [granted](FakeGraph::grant).
pub async fn graph() -> FakeGraph {
    let script = Arc::new(Script::default());
    let lookups = Arc::new(Script::default());
    let grants = Arc::new(Grants::default());
    let media: Arc<Mutex<Vec<Upload>>> = Arc::default();
    let uploads = media.clone();
    let state = (script.clone(), lookups.clone(), grants.clone());
    type S = (Arc<Script>, Arc<Script>, Arc<Grants>);
    let router = Router::new()
        .route(
            "/{number}/messages",
            post(|State((s, _, _)): State<S>, Path(number): Path<String>, headers: HeaderMap, Json(body): Json<Value>| async move {
                let n = s.count() + 1;
                let ok = json!({"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":format!("wamid.OUT{n}")}]});
                answer(&s, format!("/{number}/messages"), &headers, body, ok)
            }),
        )
        .route(
            "/{number}/media",
            post(move |Path(number): Path<String>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let parts = multipart_parts(content_type, &body).unwrap_or_default();
                let text = |name: &str| {
                    parts
                        .get(name)
                        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
                };
                let (Some("whatsapp"), Some(kind), Some((file_type, file))) = (
                    text("messaging_product").as_deref(),
                    text("type"),
                    parts.get("file"),
                ) else {
                    let error = graph_error("(#100) The parameter messaging_product is required.", "OAuthException", 100, None);
                    return (StatusCode::BAD_REQUEST, Json(error)).into_response();
                };
                let mut uploads = uploads.lock().unwrap();
                let id = format!("{}", 900_000 + uploads.len());
                uploads.push(Upload {
                    number,
                    id: id.clone(),
                    kind,
                    content_type: file_type.clone(),
                    bytes: file.clone(),
                });
                (StatusCode::OK, Json(json!({ "id": id }))).into_response()
            }),
        )
        .route(
            "/{number}",
            get(|State((_, lookups, grants)): State<S>, Path(number): Path<String>, Query(query): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                read_number(&lookups, &grants, number, query.get("fields").map(String::as_str), &headers)
            }),
        )
        .with_state(state);
    FakeGraph {
        url: serve(router).await,
        script,
        lookups,
        grants,
        media,
    }
}
