//! The gateway (the Fargate task): the table, the data key (WhatsApp session keys are
//! sealed with it), its queues and its lease settings: everything `Gateway::new` takes but
//! the transport, which the entrypoint picks. It verifies no user tokens, so it reads no
//! Stack Auth project.

use std::sync::Arc;
use std::time::Duration;

use super::aws::dynamodb_action::{
    CONDITION_CHECK_ITEM, DELETE_ITEM, GET_ITEM, PUT_ITEM, QUERY, UPDATE_ITEM,
};
use super::aws::{aws_loader, data_key, dynamo_store, optional_sqs_queue, sqs_queue, TableGrant};
use super::env::{flag, parse, required};
use super::ConfigError;
use crate::crypto::SecretBox;
use crate::store::Store;
use crate::whatsapp::gateway::{GatewayConfig, GatewayQueues};

/// What a gateway is built from.
pub struct GatewayParts {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<SecretBox>,
    pub queues: GatewayQueues,
    pub config: GatewayConfig,
}

/// `PLATEFULL_COMMANDS_QUEUE_URL` is required; without `PLATEFULL_INBOUND_QUEUE_URL`
/// customers' messages are not forwarded, without `PLATEFULL_OUTBOUND_QUEUE_URL` no reply
/// is sent. A lease lasts `PLATEFULL_LEASE_SECS` (default 30, at least 3); a reply waits
/// up to `PLATEFULL_REPLY_WAIT_SECS` (default 180) for its slot to reconnect.
pub async fn gateway_from_env() -> Result<GatewayParts, ConfigError> {
    let table = required("PLATEFULL_TABLE")?;
    let ciphertext = required("PLATEFULL_DATA_KEY_CIPHERTEXT")?;
    let aws = aws_loader().load().await;
    let secrets = data_key(&aws, &ciphertext).await?;
    let queues = GatewayQueues {
        commands: sqs_queue(&aws, "PLATEFULL_COMMANDS_QUEUE_URL")?,
        inbound: optional_sqs_queue(&aws, "PLATEFULL_INBOUND_QUEUE_URL"),
        outbound: optional_sqs_queue(&aws, "PLATEFULL_OUTBOUND_QUEUE_URL"),
    };
    let lease_secs: u64 = parse("PLATEFULL_LEASE_SECS", 30, "seconds")?;
    let reply_wait_secs: u64 = parse("PLATEFULL_REPLY_WAIT_SECS", 180, "seconds")?;
    let silent_secs: u64 = parse("PLATEFULL_SILENT_SECS", 180, "seconds")?;
    let config = GatewayConfig {
        lease: Duration::from_secs(lease_secs.max(3)),
        reply_wait: Duration::from_secs(reply_wait_secs),
        // Below two keepalive reports (one a minute at most) a live slot would look silent.
        silent_after: Duration::from_secs(silent_secs.max(120)),
        print_qr: flag("PLATEFULL_PRINT_QR"),
        ..GatewayConfig::default()
    };
    Ok(GatewayParts {
        store: dynamo_store(&aws, table),
        secrets,
        queues,
        config,
    })
}

/// The gateway's table grant: slots read, listed and updated, chat states' delivery
/// marks updated, and slot incidents read and moved (`STORE#`); the connection's status set from its slots (`USER#`); slot
/// leases taken, renewed, released and listed (`LEASES`); linked devices' keys read,
/// written and wiped, the lease fence claimed with the lease and checked in every key-store
/// write (`WA#`).
pub const GATEWAY_TABLE: &[TableGrant] = &[
    TableGrant {
        actions: &[GET_ITEM, QUERY, UPDATE_ITEM],
        partitions: &["STORE#*"],
    },
    TableGrant {
        actions: &[UPDATE_ITEM],
        partitions: &["USER#*"],
    },
    TableGrant {
        actions: &[QUERY, PUT_ITEM, UPDATE_ITEM],
        partitions: &["LEASES"],
    },
    TableGrant {
        actions: &[GET_ITEM, QUERY, PUT_ITEM, DELETE_ITEM, CONDITION_CHECK_ITEM],
        partitions: &["WA#*"],
    },
];
