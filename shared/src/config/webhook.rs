//! The `whatsapp-webhook` function: the table (to route a number to its store), Meta's
//! secrets and the inbound queue. It verifies no user tokens and opens no sealed secrets,
//! so it reads no Stack Auth project and no data key.

use super::aws::{aws_loader, dynamo_store, sqs_queue};
use super::env::required;
use super::platform::PlatformSecrets;
use super::ConfigError;
use crate::http::webhook::{WebhookSettings, WebhookState};

pub async fn webhook_state_from_env() -> Result<WebhookState, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let aws = aws_loader().load().await;
    let secrets = PlatformSecrets::load(&aws).await?;
    let settings = WebhookSettings {
        app_secret: secrets.meta_app_secret.ok_or(ConfigError::Missing(
            "metaAppSecret (platform secret) or META_APP_SECRET",
        ))?,
        verify_token: secrets.meta_verify_token.ok_or(ConfigError::Missing(
            "metaVerifyToken (platform secret) or META_VERIFY_TOKEN",
        ))?,
        inbound: sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL")?,
    };
    Ok(WebhookState {
        store: dynamo_store(&aws, table),
        settings: Some(settings),
    })
}
