//! The control-plane API functions (`user-apis`, `client-config`, `whatsapp-sessions`):
//! the table, Stack Auth's user tokens, the data key, the Graph API (`META_GRAPH_URL`: the
//! cloud-api route proves a number's token there) and, where session commands are sent,
//! the gateway's command queue.

use std::sync::Arc;
use std::time::Duration;

use super::aws::{aws_loader, data_key, dynamo_store, sqs_queue};
use super::env::{optional, parse, required};
use super::platform::graph_url;
use super::{ConfigError, DEFAULT_STACK_API_URL};
use crate::auth::jwt::UserTokens;
use crate::bot::cloud_api::GraphClient;
use crate::http::{AppState, SessionCommands};

/// The state of an API function: DynamoDB, Stack Auth tokens, KMS-unwrapped data key, and
/// the session commands when `PLATEFULL_COMMANDS_QUEUE_URL` is set.
pub async fn state_from_env() -> Result<AppState, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let project = required("STACK_PROJECT_ID")?;
    let ciphertext = required("PLATEFULL_DATA_KEY_CIPHERTEXT")?;
    let api_url = optional("STACK_API_URL").unwrap_or_else(|| DEFAULT_STACK_API_URL.to_owned());
    let aws = aws_loader().load().await;
    let secrets = data_key(&aws, &ciphertext).await?;
    let sessions = match optional("PLATEFULL_COMMANDS_QUEUE_URL") {
        Some(_) => Some(SessionCommands {
            queue: sqs_queue(&aws, "PLATEFULL_COMMANDS_QUEUE_URL")?,
            wait: Duration::from_millis(parse(
                "PLATEFULL_SESSION_WAIT_MS",
                3000u64,
                "milliseconds",
            )?),
        }),
        None => None,
    };
    Ok(AppState {
        store: dynamo_store(&aws, table),
        users: Arc::new(UserTokens::stack_auth(&api_url, &project)),
        secrets,
        // AWS: an owner's base URL may only reach public https hosts.
        saipos: crate::saipos::client::Settings {
            policy: crate::outbound::Policy::Strict,
            ..Default::default()
        },
        sessions,
        webhook: None,
        graph: Arc::new(GraphClient::new(&graph_url())),
    })
}
