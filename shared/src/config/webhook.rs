//! The `whatsapp-webhook` function: the table (to route a number to its store), Meta's
//! secret (its own: not the LLM key) and the inbound queue. It verifies no user tokens and
//! opens no sealed secrets, so it reads no Stack Auth project and no data key.

use super::aws::dynamodb_action::GET_ITEM;
use super::aws::{aws_loader, dynamo_store, sqs_queue, TableGrant};
use super::env::required;
use super::platform::PlatformSecrets;
use super::ConfigError;
use crate::http::webhook::{WebhookSettings, WebhookState};

pub async fn webhook_state_from_env() -> Result<WebhookState, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let aws = aws_loader().load().await;
    let secrets = PlatformSecrets::meta(&aws, "PLATEFULL_META_SECRET_ARN").await?;
    let settings = WebhookSettings {
        app_secret: secrets.meta_app_secret.ok_or(ConfigError::Missing(
            "metaAppSecret (PLATEFULL_META_SECRET_ARN's secret) or META_APP_SECRET",
        ))?,
        verify_token: secrets.meta_verify_token.ok_or(ConfigError::Missing(
            "metaVerifyToken (PLATEFULL_META_SECRET_ARN's secret) or META_VERIFY_TOKEN",
        ))?,
        inbound: sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL")?,
    };
    Ok(WebhookState {
        store: dynamo_store(&aws, table),
        settings: Some(settings),
    })
}

/// The webhook's table grant: one read of a Cloud API number's route (`CLOUDNUM#`) per
/// delivery; nothing else, since anyone on the internet can call it.
pub const WEBHOOK_TABLE: &[TableGrant] = &[TableGrant {
    actions: &[GET_ITEM],
    partitions: &["CLOUDNUM#*"],
}];
