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
//! | `PLATEFULL_INBOUND_QUEUE_URL`   | the bot's inbound queue (webhook, bot-reply, gateway)     |
//! | `PLATEFULL_OUTBOUND_QUEUE_URL`  | the gateway's reply queue (bot-reply, gateway)            |
//! | `PLATEFULL_PLATFORM_SECRET_ARN` | Secrets Manager secret `{"openrouterApiKey","metaAppSecret","metaVerifyToken"}` |
//! | `OPENROUTER_MODEL`              | model id (default `openai/gpt-4o-mini`)                   |
//! | `OPENROUTER_FALLBACK_MODEL`     | (optional) model tried when the first one fails           |
//! | `OPENROUTER_BASE_URL`           | any OpenAI-compatible API (default OpenRouter)            |
//! | `META_GRAPH_URL`                | Graph API base (default `https://graph.facebook.com/v25.0`) |
//! | `AWS_ENDPOINT_URL`              | (optional) endpoint override, e.g. a moto server in tests |
//!
//! Without `PLATEFULL_PLATFORM_SECRET_ARN` (the local stack, tests) the platform secrets
//! are read from `OPENROUTER_API_KEY`, `META_APP_SECRET` and `META_VERIFY_TOKEN`.

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
        webhook: None,
    })
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The platform's own secrets (not the owners'): the LLM key and Meta's app secret and
/// verify token. Never logged; `Debug` shows which are set, not their values.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSecrets {
    pub openrouter_api_key: Option<String>,
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
}

impl std::fmt::Debug for PlatformSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSecrets")
            .field("openrouter_api_key", &self.openrouter_api_key.is_some())
            .field("meta_app_secret", &self.meta_app_secret.is_some())
            .field("meta_verify_token", &self.meta_verify_token.is_some())
            .finish()
    }
}

impl PlatformSecrets {
    /// From the environment (local stack, tests).
    pub fn from_env() -> Self {
        Self {
            openrouter_api_key: optional("OPENROUTER_API_KEY"),
            meta_app_secret: optional("META_APP_SECRET"),
            meta_verify_token: optional("META_VERIFY_TOKEN"),
        }
    }

    /// From the Secrets Manager secret named by `PLATEFULL_PLATFORM_SECRET_ARN`, or from
    /// the environment when that isn't set.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let Some(arn) = optional("PLATEFULL_PLATFORM_SECRET_ARN") else {
            return Ok(Self::from_env());
        };
        let out = aws_sdk_secretsmanager::Client::new(aws)
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| {
                ConfigError::Invalid(format!(
                    "could not read the platform secret: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ))
            })?;
        let text = out.secret_string().unwrap_or_default();
        serde_json::from_str(text).map_err(|_| {
            ConfigError::Invalid(
                "the platform secret must be JSON {\"openrouterApiKey\",\"metaAppSecret\",\"metaVerifyToken\"}".into(),
            )
        })
    }
}

/// The LLM from `OPENROUTER_*`: the OpenAI-compatible client when there is a key, the
/// offline stand-in otherwise.
pub fn llm(secrets: &PlatformSecrets) -> Arc<dyn crate::bot::llm::Llm> {
    use crate::bot::llm::{OpenAiCompatible, OpenAiSettings, DEFAULT_BASE_URL, DEFAULT_MODEL};
    let Some(key) = secrets.openrouter_api_key.as_deref() else {
        return Arc::new(crate::bot::llm::Offline);
    };
    let base = optional("OPENROUTER_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into());
    let model = optional("OPENROUTER_MODEL").unwrap_or_else(|| DEFAULT_MODEL.into());
    let mut settings = OpenAiSettings::new(&base, key, &model);
    settings.fallback_model = optional("OPENROUTER_FALLBACK_MODEL");
    Arc::new(OpenAiCompatible::new(settings))
}

/// The Graph API base URL (`META_GRAPH_URL`).
pub fn graph_url() -> String {
    optional("META_GRAPH_URL").unwrap_or_else(|| crate::bot::cloud_api::DEFAULT_GRAPH_URL.into())
}

/// An SQS queue from the URL in `var`, required.
pub fn sqs_queue(
    aws: &aws_config::SdkConfig,
    var: &'static str,
) -> Result<Arc<dyn crate::queue::Queue>, ConfigError> {
    let url = required(var)?;
    Ok(Arc::new(crate::queue::sqs::SqsQueue::new(
        aws_sdk_sqs::Client::new(aws),
        url,
    )))
}

/// The state of the `whatsapp-webhook` function: the table, Meta's secrets and the
/// inbound queue. It verifies no user tokens, so it needs no Stack Auth project.
pub async fn webhook_state_from_env() -> Result<crate::http::AppState, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let aws = aws_loader().load().await;
    let secrets = PlatformSecrets::load(&aws).await?;
    let settings = crate::http::webhook::WebhookSettings {
        app_secret: secrets.meta_app_secret.ok_or(ConfigError::Missing(
            "metaAppSecret (platform secret) or META_APP_SECRET",
        ))?,
        verify_token: secrets.meta_verify_token.ok_or(ConfigError::Missing(
            "metaVerifyToken (platform secret) or META_VERIFY_TOKEN",
        ))?,
        inbound: sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL")?,
    };
    Ok(crate::http::AppState {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
        // Never consulted: no route of this function takes user tokens.
        users: Arc::new(UserTokens::stack_auth(DEFAULT_STACK_API_URL, "unused")),
        secrets: Arc::new(SecretBox::from_key(&crate::ids::random_bytes())),
        saipos: Default::default(),
        sessions: None,
        webhook: Some(settings),
    })
}

/// The `bot-reply` function's worker: table, data key, LLM, queues, Graph API.
pub async fn bot_from_env() -> Result<crate::bot::worker::Bot, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let data_key = required("PLATEFULL_DATA_KEY_CIPHERTEXT")?;
    let aws = aws_loader().load().await;
    let sealed = SecretBox::from_kms(&aws_sdk_kms::Client::new(&aws), &data_key)
        .await
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let platform = PlatformSecrets::load(&aws).await?;
    Ok(crate::bot::worker::Bot {
        store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
        secrets: Arc::new(sealed),
        llm: llm(&platform),
        inbound: sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL")?,
        outbound: Some(sqs_queue(&aws, "PLATEFULL_OUTBOUND_QUEUE_URL")?),
        graph: crate::bot::cloud_api::GraphClient::new(&graph_url()),
        backoff: crate::bot::worker::DEFAULT_BACKOFF,
    })
}
