//! The bot worker: handles one [`BotJob`] at a time, the same code in the `bot-reply`
//! Lambda function (SQS batches) and in the local stack's in-process loop.
//!
//! Per customer message: read the config, record the message once (a redelivery stops
//! there), then either answer now (debounce 0) or queue a `TurnDue` for the end of the
//! debounce window. When a turn is due and its message is still the chat's latest, read the
//! chat, reserve a model call from the chat's ration ([`TurnLimit`]; a used-up ration
//! queues the turn again for when a call is free, as a new job so a flood never pushes it
//! towards the dead letters), ask the LLM, claim the turn, and hand the reply over. Every
//! failure returns the job to the queue with a delay (and, after a few tries, to its
//! dead-letter queue).
//!
//! Storage round trips per reply: config read, record, chat read, reservation, claim, and
//! the sender's delivery mark = 6.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::chat::{self, ChatRef, ChatState, OwnerAction, Reservation, Turn, TurnLimit};
use super::cloud_api::{self, GraphClient, SendError};
use super::llm::{Llm, LlmError};
use super::prompt;
use super::reply;
use crate::crypto::SecretBox;
use crate::domain::bot_config::BotConfig;
use crate::ids::now_ms;
use crate::jobs::{BotJob, ChatMessage, Line, OutboundReply};
use crate::queue::consumer::{self, Concurrency, Consumer, Outcome, RetryAfter};
use crate::queue::Queue;
use crate::store::keys::{store_pk, CONFIG_SK};
use crate::store::{Store, StoreError};

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
    /// Model calls one chat may cost (default 6 a minute).
    pub turn_limit: TurnLimit,
}

pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

impl Bot {
    fn store_failed(&self, err: StoreError) -> RetryAfter {
        tracing::warn!(error = %err, "store unavailable; the job will be retried");
        RetryAfter(self.backoff)
    }

    /// Retry after `times` × the backoff unit.
    fn later(&self, times: u32) -> RetryAfter {
        RetryAfter(self.backoff * times)
    }

    /// Handles one job; `Err(RetryAfter(delay))`: deliver it again after `delay`.
    pub async fn handle(&self, job: BotJob) -> Outcome {
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

    async fn config(&self, store_id: &str) -> Result<Option<BotConfig>, RetryAfter> {
        let item = self
            .store
            .get(&store_pk(store_id), CONFIG_SK)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(item.and_then(|item| serde_json::from_value(item.into()).ok()))
    }

    async fn on_message(&self, store_id: &str, line: &Line, message: &ChatMessage) -> Outcome {
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
            config: Box::new(config),
        };
        // If this send fails the message is retried, and queues the turn then.
        if let Err(err) = self.inbound.send(due.outgoing()).await {
            tracing::warn!(error = %err, "could not queue the turn; retrying");
            return Err(self.later(1));
        }
        Ok(())
    }

    /// Answers the chat's turn if `message_id` is still its latest customer message: read the
    /// turn, see whether it still needs an answer, ask the model, claim the turn, hand the
    /// reply over.
    async fn answer(&self, chat: &ChatRef<'_>, message_id: &str, config: &BotConfig) -> Outcome {
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
        let latest_at = match self.still_to_answer(&turn, message_id, config, now) {
            Pending::Answer { latest_at } => latest_at,
            Pending::Resend { seq, chunks } => {
                return self
                    .deliver(chat, seq, chunks, turn.ephemeral_expiration)
                    .await
            }
            Pending::Nothing => return Ok(()),
        };
        let reserved = chat::reserve_model_call(
            self.store.as_ref(),
            chat,
            turn.state.as_ref(),
            self.turn_limit,
            now,
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        let state = match reserved {
            Reservation::Granted(state) => state,
            Reservation::Limited { until_ms } => {
                tracing::info!(store = %chat.store_id, line = %chat.line.key(), "the chat used its model calls for now; its turn waits");
                let wait = Duration::from_millis((until_ms - now).max(0) as u64);
                return self.answer_later(chat, message_id, config, wait).await;
            }
            // Another worker is on a turn of this chat: look again once it is done.
            Reservation::Lost => {
                return self
                    .answer_later(chat, message_id, config, Duration::ZERO)
                    .await
            }
        };
        let text = self.ask_model(chat, config, &turn, now).await?;
        let chunks = reply::split(&text, reply::MAX_MESSAGE_CHARS);
        let claimed = chat::claim_reply(
            self.store.as_ref(),
            chat,
            Some(&state),
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
            }) => {
                self.deliver(chat, reply.seq, reply.chunks, turn.ephemeral_expiration)
                    .await
            }
            // Someone else answered, or the owner took over while the model was thinking.
            _ => Ok(()),
        }
    }

    /// Queues the turn of `message_id` again, due after `wait` (whole seconds, at least one:
    /// SQS delays are whole seconds). A new job, so its receive count starts again.
    async fn answer_later(
        &self,
        chat: &ChatRef<'_>,
        message_id: &str,
        config: &BotConfig,
        wait: Duration,
    ) -> Outcome {
        let secs = wait.as_millis().div_ceil(1000).clamp(1, 900) as u64;
        let due = BotJob::TurnDue {
            store_id: chat.store_id.to_owned(),
            line: chat.line.clone(),
            chat: chat.chat.to_owned(),
            message_id: message_id.to_owned(),
            config: Box::new(config.clone()),
        };
        let outgoing = due.outgoing().delayed(Duration::from_secs(secs));
        if let Err(err) = self.inbound.send(outgoing).await {
            tracing::warn!(error = %err, "could not queue the turn again; retrying");
            return Err(self.later(1));
        }
        Ok(())
    }

    /// What a due turn still needs, given what the store knows of the chat.
    fn still_to_answer(
        &self,
        turn: &Turn,
        message_id: &str,
        config: &BotConfig,
        now: i64,
    ) -> Pending {
        let Some((latest_id, latest_at)) = turn.latest.clone() else {
            return Pending::Nothing;
        };
        if latest_id != message_id {
            return Pending::Nothing; // a newer message's turn will answer both
        }
        if let Some(state) = &turn.state {
            if state.replied_through >= latest_at {
                // Answered already; if a crash came between the claim and the hand-over,
                // hand the same reply over again (delivery is deduplicated by `seq`).
                return match &state.last_reply {
                    Some(last) if state.delivered_seq < last.seq => Pending::Resend {
                        seq: last.seq,
                        chunks: last.chunks.clone(),
                    },
                    _ => Pending::Nothing,
                };
            }
            if state.paused_until > now {
                return Pending::Nothing; // the owner has this chat
            }
        }
        if !config.bot_enabled {
            return Pending::Nothing;
        }
        Pending::Answer { latest_at }
    }

    /// The model's reply to the turn; a model that fails sends the turn back to the queue.
    async fn ask_model(
        &self,
        chat: &ChatRef<'_>,
        config: &BotConfig,
        turn: &Turn,
        now: i64,
    ) -> Result<String, RetryAfter> {
        let messages = prompt::build(config, &turn.history, now);
        let started = std::time::Instant::now();
        let text = match self.llm.complete(&messages).await {
            Ok(text) => text,
            Err(LlmError::Unavailable {
                message,
                retry_after,
            }) => {
                tracing::warn!(store = %chat.store_id, error = %message, "no reply from the model; the turn goes back to the queue");
                return Err(retry_after.map_or_else(|| self.later(5), RetryAfter));
            }
            Err(LlmError::Refused(message)) => {
                tracing::error!(store = %chat.store_id, error = %message, "the model refused the request; the turn goes back to the queue");
                return Err(self.later(30));
            }
        };
        let llm_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(store = %chat.store_id, line = %chat.line.key(), llm_ms, "reply generated");
        crate::metrics::millis("LlmLatency", llm_ms, &[("Service", "bot")]);
        Ok(text)
    }

    /// Hands a claimed reply to whoever sends from its line; on a linked number with the
    /// chat's disappearing-messages timer, if it has one.
    async fn deliver(
        &self,
        chat: &ChatRef<'_>,
        seq: i64,
        chunks: Vec<String>,
        ephemeral_expiration: Option<u32>,
    ) -> Outcome {
        match chat.line {
            Line::Web { slot } => {
                let Some(outbound) = &self.outbound else {
                    tracing::error!("no outbound queue: replies from linked numbers can't be sent");
                    return Err(self.later(30));
                };
                let reply = OutboundReply {
                    store_id: chat.store_id.to_owned(),
                    slot: *slot,
                    chat: chat.chat.to_owned(),
                    seq,
                    chunks,
                    ephemeral_expiration,
                };
                outbound.send(reply.outgoing()).await.map_err(|err| {
                    tracing::warn!(error = %err, "could not queue a reply; retrying");
                    self.later(1)
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
    ) -> Outcome {
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
        // The whole reply within the Graph client's per-turn deadline: a chunk still
        // pending then counts as a transient failure (the reply is given back, resent later).
        let deadline = tokio::time::Instant::now() + self.graph.deadline;
        for chunk in chunks {
            let sent = tokio::time::timeout_at(
                deadline,
                self.graph
                    .send_text(phone_number_id, &token, chat.chat, chunk),
            )
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "the reply took longer than {:?}",
                    self.graph.deadline
                )))
            });
            let retry = match sent {
                Ok(_) => continue,
                Err(SendError::OutsideWindow) => {
                    tracing::warn!(store = %chat.store_id, "the customer's 24-hour window closed; reply dropped");
                    return Ok(());
                }
                Err(SendError::RateLimited { retry_after, .. }) => RetryAfter(retry_after),
                Err(SendError::Transient(message)) => {
                    tracing::warn!(store = %chat.store_id, error = %message, "Cloud API send failed; retrying");
                    self.later(2)
                }
                Err(SendError::Refused(message)) => {
                    tracing::error!(store = %chat.store_id, error = %message, "Cloud API refused the reply");
                    self.later(30)
                }
            };
            let _ = chat::unmark_delivering(store, chat, seq).await;
            return Err(retry);
        }
        crate::metrics::count("RepliesSent", 1.0, &[("Service", "bot"), ("Line", "cloud")]);
        Ok(())
    }
}

/// What a due turn still needs.
enum Pending {
    /// Nothing: answered, superseded by a newer message, paused, or the bot is off.
    Nothing,
    /// Answered, but the hand-over of the claimed reply may have been lost: hand it over again.
    Resend { seq: i64, chunks: Vec<String> },
    /// Ask the model, then claim the turn through the latest message's receipt time.
    Answer { latest_at: i64 },
}

/// What the consumers call a bot job in logs.
const JOB_NAME: &str = "bot job";

/// Deliveries of one job handled one after another within this process. The inbound
/// queue is a standard queue (in AWS and locally), which keeps no deduplication ids, so a
/// redelivery (Meta or WhatsApp sending a message again) can arrive while the first
/// delivery is still being answered. Made to wait, it then finds the turn answered instead
/// of asking the model a second time. Across processes the claim still decides: one reply.
#[derive(Clone, Default)]
struct SameJobInTurn(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl SameJobInTurn {
    async fn handle(&self, bot: &Bot, job: BotJob) -> Outcome {
        let key = format!("{}#{}", job.group(), job.dedup_id());
        let turn = self
            .0
            .lock()
            .expect("lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let outcome = {
            let _mine = turn.lock().await;
            bot.handle(job).await
        };
        let mut turns = self.0.lock().expect("lock");
        // Held by the map and by us only: nobody waits for this job any more.
        if Arc::strong_count(&turn) == 2 {
            turns.remove(&key);
        }
        outcome
    }
}

/// Handles one SQS batch of the `bot-reply` function: every record concurrently (two
/// deliveries of one job one after the other, see [`SameJobInTurn`]); a record
/// to try again gets its visibility set to the worker's delay and is reported as a batch
/// item failure, the others are deleted by Lambda.
pub async fn handle_sqs_batch(
    bot: Arc<Bot>,
    event: aws_lambda_events::event::sqs::SqsEvent,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
    let mut tasks = tokio::task::JoinSet::new();
    let in_turn = SameJobInTurn::default();
    for record in event.records {
        let (bot, in_turn) = (bot.clone(), in_turn.clone());
        tasks.spawn(async move {
            let body = record.body.as_deref().unwrap_or_default();
            let handle = |job| in_turn.handle(&bot, job);
            let outcome = consumer::handle_body(JOB_NAME, body, handle).await;
            let Err(RetryAfter(delay)) = outcome else {
                return None;
            };
            if let Some(receipt) = &record.receipt_handle {
                if let Err(err) = bot.inbound.retry(receipt, delay).await {
                    tracing::warn!(error = %err, "could not delay a retried record");
                }
            }
            Some(record.message_id.unwrap_or_default())
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
/// the inbound queue until `shutdown`, handles up to a batch concurrently (no new batch
/// while [`LOCAL_CONCURRENCY`] are in flight), then finishes the ones in flight.
pub async fn run_local(bot: Arc<Bot>, shutdown: tokio::sync::watch::Receiver<bool>) {
    tracing::info!(llm = %bot.llm.describe(), "bot worker started");
    let concurrency = Concurrency::Concurrent {
        limit: Some(LOCAL_CONCURRENCY),
    };
    let consumer = Consumer::new(bot.inbound.clone(), "inbound", JOB_NAME, concurrency);
    let in_turn = SameJobInTurn::default();
    let handle = move |job: BotJob| {
        let (bot, in_turn) = (bot.clone(), in_turn.clone());
        async move { in_turn.handle(&bot, job).await }
    };
    consumer.run(handle, shutdown).await;
}
