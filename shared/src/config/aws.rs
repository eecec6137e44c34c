//! The AWS pieces the builders share: the SDK configuration, the DynamoDB store, SQS
//! queues and the KMS-unwrapped data key.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use super::env::{optional, required};
use super::ConfigError;
use crate::crypto::SecretBox;
use crate::queue::sqs::SqsQueue;
use crate::queue::Queue;
use crate::store::dynamodb::DynamoStore;
use crate::store::Store;

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
