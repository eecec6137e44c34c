//! The platform's own secrets (not the owners'): the LLM key and Meta's app secret and
//! verify token, and the settings of the services they open (the LLM, the Graph API).
//!
//! In AWS they are two Secrets Manager secrets, one per part that needs them, so a part
//! can't read what it doesn't use: the webhook reads only Meta's
//! (`PLATEFULL_META_SECRET_ARN`, `{"metaAppSecret","metaVerifyToken"}`), bot-reply only the
//! LLM key and the optional speech-to-text key (`PLATEFULL_OPENROUTER_SECRET_ARN`,
//! `{"openrouterApiKey","transcribeApiKey"?}`). A secret holding a
//! field of the other one is refused at start rather than loaded, so putting a key in the
//! wrong secret fails loudly instead of widening who can read it. Without those variables
//! (the local stack, tests) the same fields come from `OPENROUTER_API_KEY`,
//! `META_APP_SECRET` and `META_VERIFY_TOKEN`, and each loader keeps only its part's.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::env::optional;
use super::ConfigError;

/// The platform's own secrets. Never logged; `Debug` shows which are set, not their values.
#[derive(Clone, Default)]
pub struct PlatformSecrets {
    pub openrouter_api_key: Option<String>,
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
    /// Resend's API key, for alert e-mails (bot-reply's secret).
    pub resend_api_key: Option<String>,
    /// The transcription service's key (`TRANSCRIBE_API_KEY`), bot-reply's like the LLM's.
    pub transcribe_api_key: Option<String>,
}

impl std::fmt::Debug for PlatformSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSecrets")
            .field("openrouter_api_key", &self.openrouter_api_key.is_some())
            .field("meta_app_secret", &self.meta_app_secret.is_some())
            .field("meta_verify_token", &self.meta_verify_token.is_some())
            .field("resend_api_key", &self.resend_api_key.is_some())
            .field("transcribe_api_key", &self.transcribe_api_key.is_some())
            .finish()
    }
}

/// The webhook's secret: Meta's, and nothing else.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetaSecret {
    meta_app_secret: Option<String>,
    meta_verify_token: Option<String>,
}

/// bot-reply's secret: the LLM key, and nothing else.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OpenRouterSecret {
    openrouter_api_key: Option<String>,
    resend_api_key: Option<String>,
    transcribe_api_key: Option<String>,
}

// The JSON shapes of the two secrets, for errors.
const META_SHAPE: &str = "{\"metaAppSecret\",\"metaVerifyToken\"}";
const OPENROUTER_SHAPE: &str = "{\"openrouterApiKey\",\"resendApiKey\"?,\"transcribeApiKey\"?}";

impl PlatformSecrets {
    /// All of them from the environment (the local stack: one process runs every part).
    pub fn from_env() -> Self {
        Self {
            openrouter_api_key: optional("OPENROUTER_API_KEY"),
            meta_app_secret: optional("META_APP_SECRET"),
            meta_verify_token: optional("META_VERIFY_TOKEN"),
            resend_api_key: optional("RESEND_API_KEY"),
            transcribe_api_key: optional("TRANSCRIBE_API_KEY"),
        }
    }

    /// The webhook's: Meta's app secret and verify token, from the secret named by `var`
    /// (`PLATEFULL_META_SECRET_ARN`, given by the webhook's builder; one call, at cold
    /// start), or from the environment when that isn't set. Never the LLM key.
    pub async fn meta(aws: &aws_config::SdkConfig, var: &'static str) -> Result<Self, ConfigError> {
        let secret: Option<MetaSecret> = read_secret(aws, var, META_SHAPE).await?;
        let (app_secret, verify_token) = match secret {
            Some(s) => (s.meta_app_secret, s.meta_verify_token),
            None => (optional("META_APP_SECRET"), optional("META_VERIFY_TOKEN")),
        };
        Ok(Self {
            meta_app_secret: app_secret.filter(|v| !v.is_empty()),
            meta_verify_token: verify_token.filter(|v| !v.is_empty()),
            ..Self::default()
        })
    }

    /// bot-reply's: the LLM key, from the secret named by `var`
    /// (`PLATEFULL_OPENROUTER_SECRET_ARN`, given by bot-reply's builder; one call, at cold
    /// start), or from the environment when that isn't set. Never Meta's secrets.
    pub async fn openrouter(
        aws: &aws_config::SdkConfig,
        var: &'static str,
    ) -> Result<Self, ConfigError> {
        let secret: Option<OpenRouterSecret> = read_secret(aws, var, OPENROUTER_SHAPE).await?;
        let (key, resend, transcribe) = match secret {
            Some(s) => (s.openrouter_api_key, s.resend_api_key, s.transcribe_api_key),
            None => (
                optional("OPENROUTER_API_KEY"),
                optional("RESEND_API_KEY"),
                optional("TRANSCRIBE_API_KEY"),
            ),
        };
        Ok(Self {
            openrouter_api_key: key.filter(|v| !v.is_empty()),
            resend_api_key: resend.filter(|v| !v.is_empty()),
            transcribe_api_key: transcribe.filter(|v| !v.is_empty()),
            ..Self::default()
        })
    }
}

/// The Secrets Manager secret named by `var`, parsed as `T`; `None` when `var` is unset.
/// Errors name the variable and the expected shape, never the secret's content.
async fn read_secret<T: DeserializeOwned>(
    aws: &aws_config::SdkConfig,
    var: &'static str,
    shape: &str,
) -> Result<Option<T>, ConfigError> {
    let Some(arn) = optional(var) else {
        return Ok(None);
    };
    let out = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| {
            ConfigError::Invalid(format!(
                "could not read the secret {var} names: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ))
        })?;
    let text = out.secret_string().unwrap_or_default();
    serde_json::from_str(text).map(Some).map_err(|_| {
        ConfigError::Invalid(format!(
            "the secret {var} names must be JSON {shape}, with no other field"
        ))
    })
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
