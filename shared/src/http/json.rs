//! `ApiJson<T>`: axum's JSON extractor with our error contract. A body that isn't JSON, has
//! the wrong types or unknown fields, lacks the JSON content type, or exceeds the body
//! limit becomes a JSON 4xx that says what to fix.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
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
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                    "send the body as JSON with Content-Type: application/json".into(),
                ),
                JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                    "invalid_json",
                    format!("the body is not valid JSON: {}", inner(&e.body_text())),
                ),
                JsonRejection::JsonDataError(e) => {
                    ApiError::bad_request("invalid_body", inner(&e.body_text()))
                }
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::bad_request("invalid_body", other.body_text()),
            }),
        }
    }
}

/// axum's messages read "Failed to deserialize the JSON body into the target type: <serde
/// message>"; keep the serde part, which names the field and the problem.
fn inner(text: &str) -> String {
    text.split_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(text)
        .to_owned()
}
