//! axum's extractors with our error contract, so a request axum itself rejects still gets
//! `{"error":{"code","message"}}` that says what to fix:
//!
//! - `ApiJson<T>`: a body that isn't JSON, has the wrong types or unknown fields, lacks the
//!   JSON content type, or exceeds the body limit;
//! - `ApiPath<T>`: path parameters that don't decode (`%ff%fe` is not UTF-8) or don't parse
//!   (`invalid_path`, 400);
//! - `ApiQuery<T>`: a query string that doesn't deserialize (`invalid_query`, 400).
//!
//! Handlers take these, never axum's own `Json`, `Path` or `Query` (whose rejections are
//! `text/plain`); `super::json_errors` is the net under whatever else the framework answers.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
        // serde alone first: axum's parse tracks the path of every field it reads (to name
        // the bad one), which costs a fifth more on a half-megabyte menu. Only a body that
        // fails is parsed again by axum, for the message that names the field.
        match parse_fast(&bytes) {
            Some(value) => Ok(ApiJson(value)),
            None => Err(refusal::<T>(&bytes)),
        }
    }
}

/// The bytes of a JSON body, not parsed yet: for a handler that parses it borrowing from
/// it ([`parse_fast`] into a type of borrowed text, [`refusal`] for the error). Refused
/// as [`ApiJson`] refuses it when the content type isn't JSON or the body is too large.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::bad_request("invalid_body", rejection.body_text())
            }
        })?;
        Ok(JsonBody(bytes))
    }
}

/// Why `body` isn't a `T`: axum's parse again, which names the bad field
/// (`invalid_json` for a syntax error, `invalid_body` for the wrong shape).
pub fn refusal<T: DeserializeOwned>(body: &[u8]) -> ApiError {
    match Json::<T>::from_bytes(body) {
        Ok(_) => ApiError::Internal("the body parsed on the second try".into()),
        Err(JsonRejection::JsonSyntaxError(e)) => ApiError::bad_request(
            "invalid_json",
            format!("the body is not valid JSON: {}", inner(&e.body_text())),
        ),
        Err(JsonRejection::JsonDataError(e)) => {
            ApiError::bad_request("invalid_body", inner(&e.body_text()))
        }
        Err(other) => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// A body as `T` by the parse `ApiJson` tries first; `None` if it fails (the extractor then
/// parses it again for the error message). The whole body is checked as UTF-8 once, then
/// parsed as a `str`: from bytes, serde_json checks each string on its own, which made a
/// 500-item menu's parse half as slow again (1.45 ms against 1.0 ms). It accepts exactly
/// what a parse of the bytes accepts: JSON is UTF-8 inside strings and out. `T` may borrow
/// its strings from `body`.
pub fn parse_fast<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    let text = simdutf8::basic::from_utf8(body).ok()?;
    serde_json::from_str(text).ok()
}

/// Whether the request says its body is JSON, as axum's `Json` decides it:
/// `application/json` or any `application/…+json`, parameters allowed.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(mime) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    mime.type_() == "application"
        && (mime.subtype() == "json" || mime.suffix().is_some_and(|suffix| suffix == "json"))
}

/// `$name<T>`: axum's `$axum<T>` whose rejection is a 400 with `$code` ("$what: <axum's
/// reason>"), or a 500 for what only a route bug causes (a missing path parameter).
macro_rules! parts_extractor {
    ($name:ident, $axum:ident, $code:literal, $what:literal) => {
        pub struct $name<T>(pub T);

        impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for $name<T> {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                match $axum::<T>::from_request_parts(parts, state).await {
                    Ok($axum(value)) => Ok($name(value)),
                    Err(rejection) if rejection.status().is_server_error() => {
                        Err(ApiError::Internal(rejection.body_text()))
                    }
                    Err(rejection) => Err(ApiError::bad_request(
                        $code,
                        format!(concat!($what, ": {}"), inner(&rejection.body_text())),
                    )),
                }
            }
        }
    };
}

// e.g. "the URL's path is not valid: Invalid UTF-8 in `store_id`" (names the parameter).
parts_extractor!(ApiPath, Path, "invalid_path", "the URL's path is not valid");
parts_extractor!(
    ApiQuery,
    Query,
    "invalid_query",
    "the query string is not valid"
);

/// axum's messages read "Failed to deserialize the JSON body into the target type: <serde
/// message>"; keep the serde part, which names the field and the problem.
fn inner(text: &str) -> String {
    text.split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(text)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use crate::domain::borrowed::Borrowed;
    use crate::domain::menu::Menu;

    /// The first parse accepts and refuses what serde_json's parse of the bytes does, with
    /// the same value: invalid UTF-8 inside a string or out, lone surrogates, a BOM,
    /// trailing text, wrong types.
    #[test]
    fn parse_fast_agrees_with_serde_json_on_bytes() {
        let bodies: [&[u8]; 14] = [
            br#"{"categories":[{"id":"c","name":"Pizzas \"da casa\" \u00e9 \ud83c\udf55","items":[{"id":"i","name":"M\u00e9dia","priceCents":4590}]}]}"#,
            br#"  {"categories" : [ ] }  "#,
            br#"{"categories":[]} x"#,
            br#"{"categories":[],"extra":1}"#,
            br#"{"categories":[{"id":"a\ud800","name":"x"}]}"#,
            br#"{"categories":[{"id":"a","name":"x","items":[{"id":"i","name":"n","priceCents":1.0}]}]}"#,
            b"{\"categories\":[{\"id\":\"a\xff\",\"name\":\"x\"}]}",
            b"{\"categories\":[{\"id\":\"a\xed\xa0\x80\",\"name\":\"x\"}]}",
            b"{\"categories\":[{\"id\":\"a\",\"name\":\"M\xc3\xa9dia\"}]}",
            b"{\"categories\":[]}\xff",
            b"\xff{\"categories\":[]}",
            b"\xef\xbb\xbf{\"categories\":[]}",
            b"{\"categories\":[{\"id\":\"a\x01\",\"name\":\"x\"}]}",
            b"",
        ];
        for body in bodies {
            let fast = super::parse_fast::<Menu>(body);
            let serde = serde_json::from_slice::<Menu>(body).ok();
            assert_eq!(fast, serde, "{}", String::from_utf8_lossy(body));
            // Borrowing the text from the body changes nothing either: the same bodies
            // parse, to the same menu.
            let borrowed = super::parse_fast::<Menu<Borrowed>>(body);
            assert_eq!(
                borrowed.map(|menu| serde_json::to_value(menu).unwrap()),
                serde.map(|menu| serde_json::to_value(menu).unwrap()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(super::parse_fast::<Menu>(bodies[0]).is_some());
    }
}
