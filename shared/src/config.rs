//! Building the application state from a Lambda function's environment. Only
//! non-secret settings live in the environment: the table name, the Stack Auth project,
//! and the KMS-*encrypted* data key (useless without KMS access).
//!
//! | variable                        | meaning                                                   |
//! |---------------------------------|-----------------------------------------------------------|
//! | `PLATEFULL_TABLE`               | DynamoDB table name                                       |
//! | `STACK_PROJECT_ID`              | Stack Auth project id (token `aud`, issuer and JWKS URL)  |
//! | `STACK_API_URL`                 | Stack Auth API base (default `https://api.stack-auth.com`)|
//! | `PLATEFULL_DATA_KEY_CIPHERTEXT` | base64 KMS-encrypted 256-bit data key for secrets at rest |
//! | `PLATEFULL_COMMANDS_QUEUE_URL`  | SQS queue of session commands (whatsapp-sessions only)    |
//! | `PLATEFULL_SESSION_WAIT_MS`     | how long start/logout wait for the gateway (default 3000) |
//! | `AWS_ENDPOINT_URL`              | (optional) endpoint override, e.g. a moto server in tests |

use std::sync::Arc;

use aws_config::BehaviorVersion;

use crate::auth::jwt::UserTokens;
use crate::crypto::SecretBox;
use crate::http::AppState;
use crate::store::dynamodb::DynamoStore;

pub const DEFAULT_STACK_API_URL: &str = "https://api.stack-auth.com";

/// The AWS SDK configuration from the environment (region, credentials, endpoint), with an
/// HTTPS client on rustls + ring: the same TLS stack as our other HTTP calls, so the
/// binaries carry one crypto library, not two.
pub fn aws_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// The state of a Lambda function: DynamoDB, Stack Auth tokens, KMS-unwrapped data key.
pub async fn state_from_env() -> Result<AppState, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let project = required("STACK_PROJECT_ID")?;
    let data_key = required("PLATEFULL_DATA_KEY_CIPHERTEXT")?;
    let api_url =
        std::env::var("STACK_API_URL").unwrap_or_else(|_| DEFAULT_STACK_API_URL.to_owned());
    let aws = aws_loader().load().await;
    let secrets = SecretBox::from_kms(&aws_sdk_kms::Client::new(&aws), &data_key)
        .await
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let sessions = match std::env::var("PLATEFULL_COMMANDS_QUEUE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(url) => {
            let wait_ms = match std::env::var("PLATEFULL_SESSION_WAIT_MS") {
                Ok(v) => v.parse::<u64>().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "PLATEFULL_SESSION_WAIT_MS must be milliseconds, got {v:?}"
                    ))
                })?,
                Err(_) => 3000,
            };
            Some(crate::http::SessionCommands {
                queue: Arc::new(crate::queue::sqs::SqsQueue::new(
                    aws_sdk_sqs::Client::new(&aws),
                    url,
                )),
                wait: std::time::Duration::from_millis(wait_ms),
            })
        }
        None => None,
    };
    Ok(AppState {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
        users: Arc::new(UserTokens::stack_auth(&api_url, &project)),
        secrets: Arc::new(secrets),
        saipos: Default::default(),
        sessions,
    })
}
