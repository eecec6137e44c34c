//! The one error type every route returns. It renders as the JSON error contract
//! `{"error":{"code":"...","message":"..."}}` with the matching HTTP status, so callers
//! (the console, existing frontends, scripts) can branch on `code` and show `message`.
//! Internal failures are logged with their cause and answered with a generic message:
//! nothing about storage, keys or secrets leaks to the client.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that fails validation. `field` names the offending JSON field when there is one.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<Cow<'static, str>>,
    },
    /// A file (the menu's CSV) with bad rows: code `invalid_csv`, every row listed in
    /// `error.rows` as `{"row","field","message"}`.
    #[error("{message}")]
    InvalidRows {
        message: String,
        rows: serde_json::Value,
    },
    #[error("{0}")]
    Unauthorized(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit of this route (64 KiB; 2 MiB for the menu)")]
    PayloadTooLarge,
    /// A document over its own size limit (e.g. the menu); the message says which.
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// A third-party service (Saipos, ...) failed; the message says which and why.
    #[error("{1}")]
    Upstream(&'static str, String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: "validation_error",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized("unauthorized", message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidRows { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(..) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::InvalidRows { .. } => "invalid_csv",
            ApiError::Unauthorized(code, _) => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Upstream(code, _) => code,
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ConditionFailed => {
                ApiError::Conflict("the record changed or was removed meanwhile; retry".into())
            }
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => tracing::debug!(
                code = self.code(),
                status = status.as_u16(),
                "request rejected"
            ),
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let ApiError::BadRequest {
            field: Some(field), ..
        } = &self
        {
            error["field"] = json!(field);
        }
        if let ApiError::InvalidRows { rows, .. } = &self {
            error["rows"] = rows.clone();
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}
