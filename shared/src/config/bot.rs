//! The `bot-reply` function's worker: table, data key, the platform's LLM key, both bot
//! queues and the Graph API.

use super::aws::{aws_loader, data_key, dynamo_store, sqs_queue};
use super::env::required;
use super::platform::{graph_url, llm, PlatformSecrets};
use super::ConfigError;
use crate::bot::worker::{Bot, DEFAULT_BACKOFF};

pub async fn bot_from_env() -> Result<Bot, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let ciphertext = required("PLATEFULL_DATA_KEY_CIPHERTEXT")?;
    let aws = aws_loader().load().await;
    let secrets = data_key(&aws, &ciphertext).await?;
    let platform = PlatformSecrets::load(&aws).await?;
    Ok(Bot {
        store: dynamo_store(&aws, table),
        secrets,
        llm: llm(&platform),
        inbound: sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL")?,
        outbound: Some(sqs_queue(&aws, "PLATEFULL_OUTBOUND_QUEUE_URL")?),
        graph: crate::bot::cloud_api::GraphClient::new(&graph_url()),
        backoff: DEFAULT_BACKOFF,
        turn_limit: Default::default(),
    })
}
