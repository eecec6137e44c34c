//! The AWS pieces the builders share: the SDK configuration, the DynamoDB store, SQS
//! queues and the KMS-unwrapped data key; and the shape of a part's table grant
//! ([`TableGrant`]), which each builder declares next to itself for the part it builds.
//!
//! A part's grant is the least its code needs: the DynamoDB actions the [`Store`] calls it
//! makes turn into (`get` = `GetItem`, `query`/`query_last` = `Query`, `update` =
//! `UpdateItem`, `write` = `PutItem`/`DeleteItem`/`ConditionCheckItem` per op, also inside a
//! transaction, where IAM checks each item), each limited with `dynamodb:LeadingKeys` to the partitions it
//! touches (patterns of `store::keys`, `*` for the variable part). infra/template.yaml
//! grants each function and the gateway exactly its declaration; tests/it/template_drift.rs
//! checks the two are equal and drives each part's routes or worker through a store that
//! refuses what the declaration doesn't allow, as IAM would.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use super::env::{optional, required};
use super::ConfigError;
use crate::crypto::SecretBox;
use crate::queue::sqs::SqsQueue;
use crate::queue::Queue;
use crate::store::dynamodb::DynamoStore;
use crate::store::Store;

/// DynamoDB's IAM actions, as a [`TableGrant`] names them.
pub mod dynamodb_action {
    pub const GET_ITEM: &str = "dynamodb:GetItem";
    pub const QUERY: &str = "dynamodb:Query";
    pub const PUT_ITEM: &str = "dynamodb:PutItem";
    pub const UPDATE_ITEM: &str = "dynamodb:UpdateItem";
    pub const DELETE_ITEM: &str = "dynamodb:DeleteItem";
    pub const CONDITION_CHECK_ITEM: &str = "dynamodb:ConditionCheckItem";
}

/// One statement of a part's grant on the table: these actions, on items whose partition
/// key matches one of `partitions` (IAM `StringLike` patterns: `STORE#*`; `HEALTH` is the
/// key the health check reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableGrant {
    pub actions: &'static [&'static str],
    pub partitions: &'static [&'static str],
}

/// Each deployed part's table grant, by the part's name (its binary; `gateway` for the
/// Fargate task).
pub const TABLE_GRANTS: &[(&str, &[TableGrant])] = &[
    ("user-apis", super::api::USER_APIS_TABLE),
    ("client-config", super::api::CLIENT_CONFIG_TABLE),
    ("whatsapp-sessions", super::api::WHATSAPP_SESSIONS_TABLE),
    ("whatsapp-webhook", super::webhook::WEBHOOK_TABLE),
    ("bot-reply", super::bot::BOT_TABLE),
    ("gateway", super::gateway::GATEWAY_TABLE),
];

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

/// The DynamoDB table `table` (the value of `PLATEFULL_TABLE`).
pub fn dynamo_store(aws: &SdkConfig, table: String) -> Arc<dyn Store> {
    Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table))
}

/// The data key for secrets at rest: `PLATEFULL_DATA_KEY_CIPHERTEXT`'s value, decrypted by KMS
/// (one call, at cold start).
pub async fn data_key(aws: &SdkConfig, ciphertext: &str) -> Result<Arc<SecretBox>, ConfigError> {
    SecretBox::from_kms(&aws_sdk_kms::Client::new(aws), ciphertext)
        .await
        .map(Arc::new)
        .map_err(|e| ConfigError::Invalid(e.to_string()))
}

/// An SQS queue from the URL in `var`, required.
pub fn sqs_queue(aws: &SdkConfig, var: &'static str) -> Result<Arc<dyn Queue>, ConfigError> {
    let url = required(var)?;
    Ok(Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), url)))
}

/// An SQS queue from the URL in `var`, when it is set.
pub fn optional_sqs_queue(aws: &SdkConfig, var: &'static str) -> Option<Arc<dyn Queue>> {
    optional(var)
        .map(|url| Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), url)) as Arc<dyn Queue>)
}
