//! The bot worker: handles one [`BotJob`] at a time, the same code in the `bot-reply`
//! Lambda function (SQS batches) and in the local stack's in-process loop.
//!
//! Per customer message: read the config, record the message once (a redelivery stops
//! there), then either answer now (debounce 0) or queue a `TurnDue` for the end of the
//! debounce window. When a turn is due and its message is still the chat's latest, read the
//! chat, ask the LLM, claim the turn, and hand the reply over. Every failure returns the job
//! to the queue with a delay (and, after a few tries, to its dead-letter queue).

use std::sync::Arc;
use std::time::Duration;

use super::chat::{self, ChatRef, ChatState, OwnerAction};
use super::cloud_api::{self, GraphClient, SendError};
use super::jobs::{BotJob, Line};
use super::llm::{Llm, LlmError};
use super::prompt;
use super::reply::{self, OutboundReply};
use crate::crypto::SecretBox;
use crate::domain::bot_config::BotConfig;
use crate::queue::{Outgoing, Queue};
use crate::store::keys::{store_pk, CONFIG_SK};
use crate::store::{Store, StoreError};
use crate::whatsapp::events::ChatMessage;

pub struct Bot {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<SecretBox>,
    pub llm: Arc<dyn Llm>,
    /// Where `TurnDue` jobs go (the inbound queue itself).
    pub inbound: Arc<dyn Queue>,
    /// The gateway's outbound queue (replies from linked numbers).
    pub outbound: Option<Arc<dyn Queue>>,
    pub graph: GraphClient,
    /// The unit of retry delays: a store or queue hiccup waits this long, an unavailable
    /// model 5×, a refusing model or API 30× (default 2 s).
    pub backoff: Duration,
}

pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Bot {
    fn store_failed(&self, err: StoreError) -> Duration {
        tracing::warn!(error = %err, "store unavailable; the job will be retried");
        self.backoff
    }

    /// Handles one queue message; `Err(delay)`: deliver it again after `delay`. Unreadable
    /// messages are logged and dropped (retrying can't fix them).
    pub async fn handle_body(&self, body: &str) -> Result<(), Duration> {
        match serde_json::from_str::<BotJob>(body) {
            Ok(job) => self.handle(job).await,
            Err(err) => {
                tracing::error!(error = %err, "dropping an unreadable bot job");
                Ok(())
            }
        }
    }

    pub async fn handle(&self, job: BotJob) -> Result<(), Duration> {
        match job {
            BotJob::Message {
                store_id,
                line,
                message,
            } => self.on_message(&store_id, &line, &message).await,
            BotJob::TurnDue {
                store_id,
                line,
                chat,
                message_id,
                config,
            } => {
                let chat = ChatRef {
                    store_id: &store_id,
                    line: &line,
                    chat: &chat,
                };
                self.answer(&chat, &message_id, &config).await
            }
            BotJob::Status {
                store_id,
                line,
                message_id,
                status,
                error,
                ..
            } => {
                if let Some(error) = &error {
                    tracing::warn!(store = %store_id, message = %message_id, %status, %error, "Cloud API delivery failed");
                }
                chat::record_status(
                    self.store.as_ref(),
                    &store_id,
                    &line,
                    &message_id,
                    &status,
                    error.as_deref(),
                    now_ms(),
                )
                .await
                .map_err(|e| self.store_failed(e))
            }
        }
    }

    async fn config(&self, store_id: &str) -> Result<Option<BotConfig>, Duration> {
        let item = self
            .store
            .get(&store_pk(store_id), CONFIG_SK)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(item.and_then(|item| serde_json::from_value(item.into()).ok()))
    }

    async fn on_message(
        &self,
        store_id: &str,
        line: &Line,
        message: &ChatMessage,
    ) -> Result<(), Duration> {
        if message.is_group {
            return Ok(());
        }
        let Some(config) = self.config(store_id).await? else {
            tracing::info!(store = %store_id, "message for a deleted connection; dropped");
            return Ok(());
        };
        let chat = ChatRef {
            store_id,
            line,
            chat: &message.chat,
        };
        let now = now_ms();
        if message.from_me {
            let minutes = config.takeover_minutes.unwrap_or(config.context_time);
            let action = OwnerAction::of(&message.text, now + i64::from(minutes) * 60_000);
            chat::record_owner(
                self.store.as_ref(),
                &chat,
                message,
                action,
                config.context_time,
                now,
            )
            .await
            .map_err(|e| self.store_failed(e))?;
            tracing::info!(store = %store_id, line = %line.key(), ?action, "the owner wrote in a chat");
            return Ok(());
        }
        let fresh = chat::record_customer(
            self.store.as_ref(),
            &chat,
            message,
            config.context_time,
            now,
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        if !fresh {
            // A redelivery. Its turn may never have been queued (a crash or a failed send
            // right after the record), so go on: answering a turn is idempotent.
            tracing::info!(store = %store_id, message = %message.id, "duplicate delivery");
        }
        if !config.bot_enabled {
            return Ok(());
        }
        if config.debounce_seconds == 0 {
            return self.answer(&chat, &message.id, &config).await;
        }
        let due = BotJob::TurnDue {
            store_id: store_id.to_owned(),
            line: line.clone(),
            chat: message.chat.clone(),
            message_id: message.id.clone(),
            config: Box::new(config.clone()),
        };
        let outgoing = Outgoing::new(due.to_json())
            .delayed(Duration::from_secs(config.debounce_seconds.into()));
        // If this send fails the message is retried, and queues the turn then.
        if let Err(err) = self.inbound.send(outgoing).await {
            tracing::warn!(error = %err, "could not queue the turn; retrying");
            return Err(self.backoff);
        }
        Ok(())
    }

    /// Answers the chat's turn if `message_id` is still its latest customer message.
    async fn answer(
        &self,
        chat: &ChatRef<'_>,
        message_id: &str,
        config: &BotConfig,
    ) -> Result<(), Duration> {
        let now = now_ms();
        let turn = chat::load_turn(
            self.store.as_ref(),
            chat,
            config.message_limit,
            config.context_time,
            now,
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        let Some((latest_id, latest_at)) = turn.latest.clone() else {
            return Ok(());
        };
        if latest_id != message_id {
            return Ok(()); // a newer message's turn will answer both
        }
        if let Some(state) = &turn.state {
            if state.replied_through >= latest_at {
                // Answered already; if a crash came between the claim and the hand-over,
                // hand the same reply over again (delivery is deduplicated by `seq`).
                return match &state.last_reply {
                    Some(last) if state.delivered_seq < last.seq => {
                        self.deliver(chat, last.seq, last.chunks.clone()).await
                    }
                    _ => Ok(()),
                };
            }
            if state.paused_until > now {
                return Ok(()); // the owner has this chat
            }
        }
        if !config.bot_enabled {
            return Ok(());
        }
        let messages = prompt::build(config, &turn.history, now);
        let started = std::time::Instant::now();
        let text = match self.llm.complete(&messages).await {
            Ok(text) => text,
            Err(LlmError::Unavailable {
                message,
                retry_after,
            }) => {
                tracing::warn!(store = %chat.store_id, error = %message, "no reply from the model; the turn goes back to the queue");
                return Err(retry_after.unwrap_or(self.backoff * 5));
            }
            Err(LlmError::Refused(message)) => {
                tracing::error!(store = %chat.store_id, error = %message, "the model refused the request; the turn goes back to the queue");
                return Err(self.backoff * 30);
            }
        };
        let llm_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(store = %chat.store_id, line = %chat.line.key(), llm_ms, "reply generated");
        crate::metrics::millis("LlmLatency", llm_ms, &[("Service", "bot")]);
        let chunks = reply::split(&text, reply::MAX_MESSAGE_CHARS);
        let claimed = chat::claim_reply(
            self.store.as_ref(),
            chat,
            turn.state.as_ref(),
            latest_at,
            chunks,
            config.context_time,
            now_ms(),
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        match claimed {
            Some(ChatState {
                last_reply: Some(reply),
                ..
            }) => self.deliver(chat, reply.seq, reply.chunks).await,
            // Someone else answered, or the owner took over while the model was thinking.
            _ => Ok(()),
        }
    }

    /// Hands a claimed reply to whoever sends from its line.
    async fn deliver(
        &self,
        chat: &ChatRef<'_>,
        seq: i64,
        chunks: Vec<String>,
    ) -> Result<(), Duration> {
        match chat.line {
            Line::Web { slot } => {
                let Some(outbound) = &self.outbound else {
                    tracing::error!("no outbound queue: replies from linked numbers can't be sent");
                    return Err(self.backoff * 30);
                };
                let reply = OutboundReply {
                    store_id: chat.store_id.to_owned(),
                    slot: *slot,
                    chat: chat.chat.to_owned(),
                    seq,
                    chunks,
                };
                let (group, dedup) = reply.group_and_dedup();
                let body = serde_json::to_string(&reply).expect("replies serialize");
                outbound
                    .send(Outgoing::new(body).in_group(group, dedup))
                    .await
                    .map_err(|err| {
                        tracing::warn!(error = %err, "could not queue a reply; retrying");
                        self.backoff
                    })?;
                crate::metrics::count("RepliesQueued", 1.0, &[("Service", "bot")]);
                Ok(())
            }
            Line::Cloud { phone_number_id } => {
                self.send_cloud(chat, phone_number_id, seq, &chunks).await
            }
        }
    }

    async fn send_cloud(
        &self,
        chat: &ChatRef<'_>,
        phone_number_id: &str,
        seq: i64,
        chunks: &[String],
    ) -> Result<(), Duration> {
        let store = self.store.as_ref();
        let Some(token) =
            cloud_api::access_token(store, &self.secrets, chat.store_id, phone_number_id)
                .await
                .map_err(|e| self.store_failed(e))?
        else {
            tracing::info!(store = %chat.store_id, "the Cloud API number was detached; reply dropped");
            return Ok(());
        };
        if !chat::mark_delivering(store, chat, seq, now_ms())
            .await
            .map_err(|e| self.store_failed(e))?
        {
            return Ok(()); // delivered already, or the owner took over
        }
        for chunk in chunks {
            let sent = self
                .graph
                .send_text(phone_number_id, &token, chat.chat, chunk)
                .await;
            let retry = match sent {
                Ok(_) => continue,
                Err(SendError::OutsideWindow) => {
                    tracing::warn!(store = %chat.store_id, "the customer's 24-hour window closed; reply dropped");
                    return Ok(());
                }
                Err(SendError::RateLimited { retry_after, .. }) => retry_after,
                Err(SendError::Transient(message)) => {
                    tracing::warn!(store = %chat.store_id, error = %message, "Cloud API send failed; retrying");
                    self.backoff * 2
                }
                Err(SendError::Refused(message)) => {
                    tracing::error!(store = %chat.store_id, error = %message, "Cloud API refused the reply");
                    self.backoff * 30
                }
            };
            let _ = chat::unmark_delivering(store, chat, seq).await;
            return Err(retry);
        }
        crate::metrics::count("RepliesSent", 1.0, &[("Service", "bot"), ("Line", "cloud")]);
        Ok(())
    }
}

/// Handles one SQS batch of the `bot-reply` function: every record concurrently; a record
/// to try again gets its visibility set to the worker's delay and is reported as a batch
/// item failure, the others are deleted by Lambda.
pub async fn handle_sqs_batch(
    bot: Arc<Bot>,
    event: aws_lambda_events::event::sqs::SqsEvent,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
    let mut tasks = tokio::task::JoinSet::new();
    for record in event.records {
        let bot = bot.clone();
        tasks.spawn(async move {
            let id = record.message_id.clone().unwrap_or_default();
            let body = record.body.as_deref().unwrap_or_default();
            match bot.handle_body(body).await {
                Ok(()) => None,
                Err(delay) => {
                    if let Some(receipt) = &record.receipt_handle {
                        if let Err(err) = bot.inbound.retry(receipt, delay).await {
                            tracing::warn!(error = %err, "could not delay a retried record");
                        }
                    }
                    Some(id)
                }
            }
        });
    }
    let mut response = SqsBatchResponse::default();
    while let Some(done) = tasks.join_next().await {
        // Release builds abort on panic: the whole batch then comes back (never lost).
        let failed = match done {
            Ok(failed) => failed,
            Err(err) => {
                tracing::error!(error = %err, "a bot job panicked");
                continue;
            }
        };
        if let Some(id) = failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Jobs the local worker runs at once.
const LOCAL_CONCURRENCY: usize = 32;

/// The local stack's bot loop (the `bot-reply` function's job, in-process): takes jobs from
/// the inbound queue until `shutdown`, handles up to a batch concurrently, then finishes
/// the ones in flight.
pub async fn run_local(bot: Arc<Bot>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    tracing::info!(llm = %bot.llm.describe(), "bot worker started");
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        // Take no more than can be worked on: a job held too long would come back.
        while in_flight.len() >= LOCAL_CONCURRENCY {
            in_flight.join_next().await;
        }
        let batch = tokio::select! {
            _ = shutdown.changed() => break,
            batch = bot.inbound.receive(crate::queue::MAX_RECEIVE, Duration::from_secs(1)) => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(error = %err, "inbound queue unavailable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in batch {
            let bot = bot.clone();
            in_flight.spawn(async move {
                let _ = match bot.handle_body(&message.body).await {
                    Ok(()) => bot.inbound.ack(&message.receipt).await,
                    Err(delay) => bot.inbound.retry(&message.receipt, delay).await,
                };
            });
        }
    }
    while in_flight.join_next().await.is_some() {}
}
