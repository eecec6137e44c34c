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

use crate::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
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
        // A SIMD parser without path tracking first (a half-megabyte menu: 0.8 ms, against
        // 1.4 ms for serde_json and a fifth more for axum's parse, which tracks the path of
        // every field to name a bad one). It accepts and refuses exactly what serde_json
        // does (`tests::sonic_and_serde_json_agree`); only a body that fails is parsed again
        // by axum, for the message that names the field.
        if let Ok(value) = sonic_rs::from_slice(&bytes) {
            return Ok(ApiJson(value));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {}", inner(&e.body_text())),
            )),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::bad_request("invalid_body", inner(&e.body_text())))
            }
            Err(other) => Err(ApiError::bad_request("invalid_body", other.body_text())),
        }
    }
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
    use std::fmt::Debug;

    use crate::domain::bot_config::ConfigPatchRequest;
    use crate::domain::menu::{ItemPatch, Menu};
    use crate::domain::profile::StoreProfile;
    use crate::domain::user_api::{CreateUserApiRequest, UpdateUserApiRequest};

    /// Whether sonic-rs and serde_json accept the same bodies as `T`, with the same value.
    fn disagreements<T: serde::de::DeserializeOwned + Debug>(bodies: &[&[u8]]) -> Vec<String> {
        bodies
            .iter()
            .filter_map(|body| {
                let serde = serde_json::from_slice::<T>(body).map(|v| format!("{v:?}"));
                let sonic = sonic_rs::from_slice::<T>(body).map(|v| format!("{v:?}"));
                let agree = match (&serde, &sonic) {
                    (Ok(a), Ok(b)) => a == b,
                    (Err(_), Err(_)) => true,
                    _ => false,
                };
                (!agree).then(|| {
                    format!(
                        "{}: serde_json {:?}, sonic-rs {:?}",
                        String::from_utf8_lossy(body),
                        serde.map_err(|e| e.to_string()),
                        sonic.map_err(|e| e.to_string())
                    )
                })
            })
            .collect()
    }

    /// `ApiJson` takes sonic-rs's answer when it parses: it must refuse every body
    /// serde_json refuses (syntax, encoding, types, unknown or duplicate fields, numbers that
    /// don't fit) and read the same value from every body serde_json reads.
    #[test]
    fn sonic_and_serde_json_agree() {
        let item = |extra: &str| {
            format!(
                r#"{{"categories":[{{"id":"c","name":"C","items":[{{"id":"i","name":"Pizza","priceCents":4590{extra}}}]}}]}}"#
            )
        };
        let menu_owned: Vec<String> = [
            "",
            r#","available":false"#,
            r#","available":null"#,
            r#","description":null"#,
            r#","description":"Molho \"caseiro\" \\ \/ \b\f\n\r\t \u00e9 \ud83c\udf55""#,
            r#","description":"\ud800""#,
            r#","description":"\udc00\ud800""#,
            r#","description":"\u0000""#,
            r#","priceCents":1"#,
            r#","optionGroups":[{"id":"t","name":"Tamanho","min":1,"max":1,"options":[{"id":"g","name":"Grande","priceCents":1000}]}]"#,
            r#","optionGroups":[{"id":"t","name":"T","min":-1,"max":1,"options":[]}]"#,
            r#","optionGroups":[{"id":"t","name":"T","min":4294967296,"max":1,"options":[]}]"#,
            r#","extra":1"#,
        ]
        .iter()
        .map(|extra| item(extra))
        .chain(
            [
                "1e3", "1.0", "-0", "01", "+1", "9223372036854775807", "9223372036854775808",
                "-9223372036854775809", "99999999999999999999", "1e400", "\"1\"", "true", "null",
            ]
            .iter()
            // A second item with that price.
            .map(|price| item(&format!(r#"}},{{"id":"j","name":"n","priceCents":{price}"#))),
        )
        .collect();
        let mut menus: Vec<&[u8]> = menu_owned.iter().map(|s| s.as_bytes()).collect();
        menus.extend([
            &br#"{"categories":[]}"#[..],
            br#"  {"categories" : [ ] }  "#,
            br#"{"categories":[]} x"#,
            br#"{"categories":[]}/"#,
            br#"{"categories":[],}"#,
            br#"{"categories":[],"updatedAt":null}"#,
            br#"{"categories":[],"updatedAt":"2026-01-01T00:00:00Z"}"#,
            br#"{"categories":[],"categories":[]}"#,
            br#"{"categories":[{"id":"a","name":"x",}]}"#,
            br#"[]"#,
            br#""#,
            br#"null"#,
            b"\xef\xbb\xbf{\"categories\":[]}",
            b"{\"categories\":[{\"id\":\"a\xff\",\"name\":\"x\"}]}",
            b"{\"categories\":[{\"id\":\"a\xed\xa0\x80\",\"name\":\"x\"}]}",
            b"{\"categories\":[{\"id\":\"a\x01\",\"name\":\"x\"}]}",
            br#"{"categories":[{"id":"a","name":"x"}"#,
        ]);
        let mut problems = disagreements::<Menu>(&menus);
        problems.extend(disagreements::<ItemPatch>(&[
            br#"{"available":false}"#,
            br#"{"priceCents":1990}"#,
            br#"{"priceCents":null}"#,
            br#"{"priceCents":19.9}"#,
            br#"{"available":"false"}"#,
            br#"{}"#,
            br#"{"available":true,"available":false}"#,
        ]));
        problems.extend(disagreements::<ConfigPatchRequest>(&[
            br#"{"botName":"Maria","messageLimit":30}"#,
            br#"{"botName":null,"messageLimit":null,"botEnabled":false}"#,
            br#"{"updatedAt":{"nested":[1,2,{"a":null}]}}"#,
            br#"{"updatedAt":1e400}"#,
            br#"{"updatedAt":"\ud800"}"#,
            br#"{"updatedAt":[1,}"#,
            br#"{"messageLimit":1e2}"#,
            br#"{"basePrompt":"linha 1\nlinha 2 \u00e7\u00e3o"}"#,
        ]));
        problems.extend(disagreements::<StoreProfile>(&[
            br#"{}"#,
            br#"{"address":"Rua A, 1","hours":{"weekly":{"mon":[{"open":"18:00","close":"02:00"}]},"exceptions":[{"date":"2026-12-25","intervals":[]}]},"delivery":{"pickup":true,"zones":[{"name":"Centro","neighborhoods":["Centro"],"feeCents":500,"minOrderCents":0,"etaMinutes":40}]},"payments":{"cash":true,"card":false}}"#,
            br#"{"hours":{"weekly":{"funday":[]}}}"#,
            br#"{"payments":{"pix":{"key":"a@b.co","keyType":"email","merchantName":"X","merchantCity":"Y"},"cash":1}}"#,
        ]));
        problems.extend(disagreements::<CreateUserApiRequest>(&[
            br#"{"name":"Loja","type":"whatsapp"}"#,
            br#"{"name":"Loja","type":"saipos","apiKey":"t\u00e9","timezone":null}"#,
            br#"{"name":"Loja"}"#,
        ]));
        problems.extend(disagreements::<UpdateUserApiRequest>(&[
            br#"{"name":"Outra"}"#,
            br#"{"name":1}"#,
        ]));
        problems.extend(disagreements::<serde_json::Value>(&[
            br#"{"a":[1,-1,1.5,1e400,18446744073709551615,18446744073709551616,"x",null,true]}"#,
            br#"{"a":1,"a":2}"#,
            br#"-1e-400"#,
        ]));
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
