//! The `bot-reply` function's worker: table, data key, the platform's LLM key (its own
//! secret: not Meta's app secret), both bot queues and the Graph API.

use super::aws::dynamodb_action::{DELETE_ITEM, GET_ITEM, PUT_ITEM, QUERY, UPDATE_ITEM};
use super::aws::{aws_loader, data_key, dynamo_store, sqs_queue, TableGrant};
use super::env::required;
use super::platform::{graph_url, llm, PlatformSecrets};
use super::ConfigError;
use crate::bot::worker::{Bot, DEFAULT_BACKOFF};

pub async fn bot_from_env() -> Result<Bot, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let ciphertext = required("PLATEFULL_DATA_KEY_CIPHERTEXT")?;
    let aws = aws_loader().load().await;
    let secrets = data_key(&aws, &ciphertext).await?;
    let platform = PlatformSecrets::openrouter(&aws, "PLATEFULL_OPENROUTER_SECRET_ARN").await?;
    Ok(Bot {
        store: dynamo_store(&aws, table),
        secrets,
        llm: llm(&platform),
        inbound: sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL")?,
        outbound: Some(sqs_queue(&aws, "PLATEFULL_OUTBOUND_QUEUE_URL")?),
        graph: crate::bot::cloud_api::GraphClient::new(&graph_url()),
        backoff: DEFAULT_BACKOFF,
        turn_limit: Default::default(),
        health: super::health::health_settings(platform.resend_api_key.as_deref())?,
        webhooks: crate::outbound::OutboundClient::for_webhooks(crate::outbound::Policy::Strict),
        saipos_orders: std::sync::Arc::new(crate::saipos::orders::OrderApi::from_env(
            crate::outbound::Policy::Strict,
        )),
        media: std::sync::Arc::new(crate::media::MediaTools::from_env(
            &graph_url(),
            platform.transcribe_api_key.as_deref(),
            web_media(),
        )),
    })
}

/// WhatsApp Web's media CDN (linked numbers' voice notes and pictures), where the
/// WhatsApp Web client is linked in (bot-reply builds with `whatsapp-web` for it); without
/// it such media is answered as media that can't be fetched.
fn web_media() -> Option<std::sync::Arc<dyn crate::media::fetch::WebMedia>> {
    #[cfg(feature = "whatsapp-web")]
    return Some(std::sync::Arc::new(
        crate::whatsapp::whatsapp_web::CdnMedia::default(),
    ));
    #[cfg(not(feature = "whatsapp-web"))]
    None
}

/// bot-reply's table grant, all within the store's partition (`STORE#`): its config and a
/// Cloud API number's sealed token read, a chat's newest items queried, messages, turns,
/// seen marks and delivery statuses put (create-only or conditional), the chat state's
/// claim, reservation and delivery marks updated, usage counters added, incidents moved,
/// the inbox's chat summary and entry written (an entry moved: deleted and put again); and
/// an alert reads the store's name from its user API. Old chat items expire by TTL.
pub const BOT_TABLE: &[TableGrant] = &[
    TableGrant {
        actions: &[GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, DELETE_ITEM],
        partitions: &["STORE#*"],
    },
    // An owner's alert names the store as the owner named its connection.
    TableGrant {
        actions: &[GET_ITEM],
        partitions: &["USER#*"],
    },
];
