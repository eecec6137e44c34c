//! The control-plane API functions (`user-apis`, `client-config`, `whatsapp-sessions`):
//! the table, Stack Auth's user tokens, the data key, the Graph API (`META_GRAPH_URL`: the
//! cloud-api route proves a number's token there) and, where session commands are sent,
//! the gateway's command queue.

use std::sync::Arc;
use std::time::Duration;

use super::aws::dynamodb_action::{DELETE_ITEM, GET_ITEM, PUT_ITEM, QUERY, UPDATE_ITEM};
use super::aws::{aws_loader, data_key, dynamo_store, optional_sqs_queue, sqs_queue, TableGrant};
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
            outbound: match optional("PLATEFULL_OUTBOUND_QUEUE_URL") {
                Some(_) => Some(sqs_queue(&aws, "PLATEFULL_OUTBOUND_QUEUE_URL")?),
                None => None,
            },
        }),
        None => None,
    };
    // The order routes leave the customer's status messages on the bot's queue.
    let notices = optional_sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL");
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
        notices,
    })
}

/// `user-apis`' table grant: the owner's APIs (`USER#`: list, read, create, patch, status,
/// delete), their key grants (`KEY#`: created, swapped on rotate, deleted), a WhatsApp
/// connection's config and slots (`STORE#`: created and deleted with it, slots listed by
/// the test route, its Cloud API number read on delete), that number's route (`CLOUDNUM#`:
/// deleted with it), Saipos report days (`REPORT#`: read, cached, forgotten on delete) and
/// the health check's read of `HEALTH`.
pub const USER_APIS_TABLE: &[TableGrant] = &[
    TableGrant {
        actions: &[GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, DELETE_ITEM],
        partitions: &["USER#*"],
    },
    TableGrant {
        actions: &[PUT_ITEM, DELETE_ITEM],
        partitions: &["KEY#*"],
    },
    TableGrant {
        actions: &[GET_ITEM, QUERY, PUT_ITEM, DELETE_ITEM],
        partitions: &["STORE#*"],
    },
    TableGrant {
        actions: &[DELETE_ITEM],
        partitions: &["CLOUDNUM#*"],
    },
    TableGrant {
        actions: &[QUERY, PUT_ITEM, DELETE_ITEM],
        partitions: &["REPORT#*"],
    },
    TableGrant {
        actions: &[GET_ITEM],
        partitions: &["HEALTH"],
    },
];

/// `client-config`'s table grant: an apiKey's grant read (`KEY#`), the store's config read
/// and updated, its menu and profile read with it (one query) and written (the menu's
/// chunks put and deleted in one transaction), its orders listed, read and rewritten on a
/// status change, a chat's latest message read (the Cloud API window) (`STORE#`).
pub const CLIENT_CONFIG_TABLE: &[TableGrant] = &[
    TableGrant {
        actions: &[GET_ITEM],
        partitions: &["KEY#*"],
    },
    TableGrant {
        actions: &[GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, DELETE_ITEM],
        partitions: &["STORE#*"],
    },
];

/// `whatsapp-sessions`' table grant: an apiKey's grant read (`KEY#`); the store's slots
/// listed and read, its config read (the owner check) and its Cloud API number read,
/// attached and detached (`STORE#`); that number's route written and deleted
/// (`CLOUDNUM#`, in the same transaction); the inbox (`STORE#`: chat list, messages, change
/// feed read; an owner's message claimed, recorded and marked delivered, a chat's pause
/// and summary written). The slots themselves are written by the gateway.
pub const WHATSAPP_SESSIONS_TABLE: &[TableGrant] = &[
    TableGrant {
        actions: &[GET_ITEM],
        partitions: &["KEY#*"],
    },
    TableGrant {
        actions: &[GET_ITEM, QUERY, PUT_ITEM, UPDATE_ITEM, DELETE_ITEM],
        partitions: &["STORE#*"],
    },
    TableGrant {
        actions: &[PUT_ITEM, DELETE_ITEM],
        partitions: &["CLOUDNUM#*"],
    },
];
