//! The SQS adapter. Queue URLs come from the environment; FIFO queues (URL ending in
//! `.fifo`) get the message group and deduplication ids, standard queues ignore them.
//! Dead-lettering is the queue's redrive policy, set by the infrastructure.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_sdk_sqs::Client;

use super::{Outgoing, Queue, QueueError, Received, MAX_RECEIVE};

pub struct SqsQueue {
    client: Client,
    url: String,
    fifo: bool,
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(err).to_string())
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            fifo: url.ends_with(".fifo"),
            client,
            url,
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: Outgoing) -> Result<(), QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body);
        if let Some(delay) = message.delay.filter(|d| !d.is_zero()) {
            if self.fifo {
                return Err(QueueError::Invalid(
                    "FIFO queues don't take per-message delays".into(),
                ));
            }
            let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            request = request.delay_seconds(secs.min(900) as i32);
        }
        if self.fifo {
            let group = message
                .group
                .ok_or_else(|| QueueError::Invalid("a FIFO queue needs a message group".into()))?;
            request = request
                .message_group_id(group)
                .set_message_deduplication_id(message.dedup_id);
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        if max == 0 || max > MAX_RECEIVE {
            return Err(QueueError::Invalid(format!(
                "receive 1..={MAX_RECEIVE} messages"
            )));
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(Received {
                    id: m.message_id?,
                    body: m.body.unwrap_or_default(),
                    receipt: m.receipt_handle?,
                    receive_count,
                })
            })
            .collect())
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        // The same call as a retry: on SQS a message in flight keeps its receipt.
        self.retry(receipt, visibility).await
    }

    async fn retry(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(delay.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
