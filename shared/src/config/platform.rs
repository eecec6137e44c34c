//! The platform's own secrets (not the owners'): the LLM key and Meta's app secret and
//! verify token, from Secrets Manager in AWS or the environment locally; and the settings
//! of the services they open (the LLM, the Graph API).

use std::sync::Arc;

use super::env::optional;
use super::ConfigError;

/// The platform's own secrets. Never logged; `Debug` shows which are set, not their values.
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
