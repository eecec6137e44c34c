//! The local stack's sign-in for the web console, mounted by `platefull dev` and never by a
//! Lambda function:
//!
//! - `POST /dev/sign-in` `{"userId":"alice"}` → `{"token":"…","userId":"alice","expiresIn":43200}`:
//!   a user token minted by the data dir's signer, the same one `platefull dev-token` uses;
//! - `GET /console-config.json` → `{"auth":"dev","simulator":true|false}`: tells the console's
//!   static assets how to sign in. In AWS the same path is a static file naming Stack Auth.
//!
//! Anyone who reaches these routes can sign in as anyone: the local stack listens on
//! loopback only (unless `--public`) and mounts them behind `dev_host::guard`.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::ApiJson;
use crate::auth::dev::DevSigner;
use crate::ApiError;

/// How long a console sign-in lasts.
pub const TOKEN_TTL_SECS: i64 = 12 * 3600;
pub const USER_ID_MAX: usize = 64;

#[derive(Clone)]
struct DevConsole {
    signer: Arc<DevSigner>,
    simulator: bool,
}

/// The dev sign-in and console config routes. `simulator` says whether the simulator's
/// routes are mounted (the console then shows its panel).
pub fn router(signer: Arc<DevSigner>, simulator: bool) -> Router {
    super::error_contract(
        Router::new()
            .route("/dev/sign-in", post(sign_in))
            .route("/console-config.json", get(console_config)),
    )
    .layer(DefaultBodyLimit::max(super::BODY_LIMIT))
    .with_state(DevConsole { signer, simulator })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignIn {
    user_id: String,
}

/// A user id is 1 to 64 characters: letters, digits, `.`, `_`, `-` and `@`.
pub fn validate_user_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(ApiError::invalid("userId", "userId is required"));
    }
    if id.chars().count() > USER_ID_MAX {
        return Err(ApiError::invalid(
            "userId",
            format!("userId must be at most {USER_ID_MAX} characters"),
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(ApiError::invalid(
            "userId",
            "userId may contain only letters, digits and . _ - @",
        ));
    }
    Ok(id.to_owned())
}

async fn sign_in(
    State(console): State<DevConsole>,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Json<Value>, ApiError> {
    let user_id = validate_user_id(&body.user_id)?;
    let token = console.signer.token(&user_id, TOKEN_TTL_SECS);
    tracing::info!(user_id = %user_id, "dev sign-in");
    Ok(Json(
        json!({ "token": token, "userId": user_id, "expiresIn": TOKEN_TTL_SECS }),
    ))
}

async fn console_config(State(console): State<DevConsole>) -> Json<Value> {
    Json(json!({ "auth": "dev", "simulator": console.simulator }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_checked() {
        assert_eq!(validate_user_id(" alice ").unwrap(), "alice");
        assert!(validate_user_id("a.b_c-d@e1").is_ok());
        assert!(validate_user_id("").is_err());
        assert!(validate_user_id("   ").is_err());
        assert!(validate_user_id(&"a".repeat(65)).is_err());
        assert!(validate_user_id(&"a".repeat(64)).is_ok());
        assert!(validate_user_id("alice bob").is_err());
        assert!(validate_user_id("al/ice").is_err());
        assert!(validate_user_id("ålice").is_err());
    }
}
