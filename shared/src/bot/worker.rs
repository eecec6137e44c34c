//! The bot worker: handles one [`BotJob`] at a time, the same code in the `bot-reply`
//! Lambda function (SQS batches) and in the local stack's in-process loop.
//!
//! Per customer message: read the config; media first becomes text or is answered or
//! ignored ([`super::media`]: transcripts, pins, pictures); record the message once (a redelivery stops
//! there), then either answer now (debounce 0) or queue a `TurnDue` for the end of the
//! debounce window. When a turn is due and its message is still the chat's latest, read the
//! chat, reserve a model call from the chat's ration ([`TurnLimit`]; a used-up ration
//! queues the turn again for when a call is free, as a new job so a flood never pushes it
//! towards the dead letters), read the store's menu and profile once ([`knowledge::load`]),
//! ask the LLM (tool rounds over that data and the price guard: [`converse`]; without a
//! model, the keyword answers of [`offline`]), put the "we're closed" notice before the
//! chat's first reply of a closed period, claim the turn, and hand the reply over. Every
//! failure returns the job to the queue with a delay (and, after a few tries, to its
//! dead-letter queue).
//!
//! Storage round trips per reply: config read, record, chat read (with the chat's cart),
//! reservation, menu and profile read, claim (with the cart and the turn's usage), and the
//! sender's delivery mark = 7, however many tool rounds; placing an order adds 2 (the day's
//! counter read and the placing transaction); the inbox's view of the chat ([`inbox`]) adds
//! one read and one transaction for the customer's message and for the reply, and the
//! sender's "sent" mark one update and one change row. A `Notice` (an order's status,
//! [`crate::http::orders`]) is claimed like a reply and delivered the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cart_tools::{CartOutcome, TurnContext, TurnTools};
use super::chat::{
    self, ChatRef, ChatState, OwnerAction, PendingReply, Reservation, Role, Turn, TurnLimit,
};
use super::cloud_api::{self, GraphClient, SendError};
use super::converse::{self, Guarded};
use super::guard::Allowed;
use super::llm::{Llm, LlmError, Tools};
use super::prompt::{self, StoreContext};
use super::{offline, reply, status};
use crate::crypto::SecretBox;
use crate::domain::bot_config::BotConfig;
use crate::health::usage::{self, ModelUsage};
use crate::health::{alerts, budget, incidents, HealthSettings};
use crate::ids::now_ms;
use crate::inbox;
use crate::jobs::{BotJob, ChatMessage, Line, OutboundReply, ReplyImage};
use crate::knowledge::{self, Knowledge};
use crate::media::MediaTools;
use crate::orders;
use crate::queue::consumer::{self, Concurrency, Consumer, Outcome, RetryAfter};
use crate::queue::Queue;
use crate::store::keys::{store_pk, CONFIG_SK};
use crate::store::{Store, StoreError, WriteOp};

pub struct Bot {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<SecretBox>,
    pub llm: Arc<dyn Llm>,
    /// Where `TurnDue` jobs go (the inbound queue itself).
    pub inbound: Arc<dyn Queue>,
    /// The gateway's outbound queue (replies from linked numbers).
    pub outbound: Option<Arc<dyn Queue>>,
    /// The guarded client order webhooks are posted with (`order_webhook`).
    pub webhooks: crate::outbound::OutboundClient,
    /// Sends accepted orders to stores' Saipos POS (`saipos::orders`; its token cache).
    pub saipos_orders: Arc<crate::saipos::orders::OrderApi>,
    pub graph: GraphClient,
    /// The unit of retry delays: a store or queue hiccup waits this long, an unavailable
    /// model 5×, a refusing model or API 30× (default 2 s).
    pub backoff: Duration,
    /// Model calls one chat may cost (default 6 a minute).
    pub turn_limit: TurnLimit,
    /// Fetching, transcribing and seeing customers' media ([`super::media`]).
    pub media: Arc<MediaTools>,
    /// Usage prices, the platform's AI budget, alerts (issue 17).
    pub health: HealthSettings,
}

/// What the model (or the offline answers) made of a turn.
struct Asked {
    text: String,
    /// The closed period the reply announced, if it did.
    announced: Option<i64>,
    /// The model calls it took and what they cost.
    model: ModelUsage,
    /// The month's spend before this turn and the budget it is held to.
    spent_before: i64,
    budget: Option<i64>,
    month: String,
    /// What the turn did to the chat's cart (`None` without a model).
    outcome: Option<CartOutcome>,
    /// The attendant was failing before this turn (it answered: the incident closes).
    recovered: bool,
    /// Messages went to the dead letters before this turn (it answered: that closes).
    dead_letters_cleared: bool,
}

pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

/// The inbound queue's receives before the dead letters (the template's and the local
/// stack's `maxReceiveCount`).
pub const DEAD_LETTER_AFTER: u32 = 5;

impl Bot {
    pub(super) fn store_failed(&self, err: StoreError) -> RetryAfter {
        tracing::warn!(error = %err, "store unavailable; the job will be retried");
        RetryAfter(self.backoff)
    }

    /// Retry after `times` × the backoff unit.
    pub(super) fn later(&self, times: u32) -> RetryAfter {
        RetryAfter(self.backoff * times)
    }

    /// Handles one job; `Err(RetryAfter(delay))`: deliver it again after `delay`. A turn
    /// that fails on the queue's last receive goes to the dead letters: the store's
    /// `deadLetters` incident opens (and alerts), until a turn is answered again.
    pub async fn handle(&self, job: BotJob) -> Outcome {
        let store_id = match &job {
            // A customer's turn, or an order's status message to the customer.
            BotJob::Message { store_id, .. }
            | BotJob::TurnDue { store_id, .. }
            | BotJob::Notice { store_id, .. } => Some(store_id.clone()),
            BotJob::Status { .. }
            | BotJob::Alert(_)
            | BotJob::OwnerNotice { .. }
            | BotJob::Webhook(_)
            | BotJob::SaiposOrder(_) => None,
        };
        let outcome = self.handle_job(job).await;
        if let (Err(_), Some(store_id)) = (&outcome, store_id) {
            if consumer::receive_count() >= DEAD_LETTER_AFTER {
                self.dead_lettered(&store_id).await;
            }
        }
        outcome
    }

    /// A customer's message is going to the dead letters: recorded on `CONFIG#HEALTH`
    /// (so the next answered turn closes it without a read) and the incident opened.
    async fn dead_lettered(&self, store_id: &str) {
        let now = now_ms();
        tracing::error!(store = %store_id, "a customer's message goes to the dead-letter queue");
        crate::metrics::count("DeadLettered", 1.0, &[("Service", "bot")]);
        let mark = crate::store::Update {
            set: vec![(crate::health::DEAD_LETTERS.into(), now.into())],
            upsert: true,
            ..Default::default()
        };
        let pk = crate::store::keys::store_pk(store_id);
        if let Err(err) = self
            .store
            .update(&pk, crate::store::keys::HEALTH_SK, mark)
            .await
        {
            tracing::warn!(error = %err, "could not record the dead letter");
        }
        let words = alerts::text::dead_letters();
        let why = "mensagens de clientes na fila de mensagens mortas";
        let opened = incidents::open(
            self.store.as_ref(),
            store_id,
            "deadLetters",
            why,
            (&words.0, &words.1),
            now,
        )
        .await;
        self.queue_alert(opened).await;
    }

    async fn handle_job(&self, job: BotJob) -> Outcome {
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
            BotJob::Notice {
                store_id,
                line,
                chat,
                key,
                text,
            } => {
                let chat = ChatRef {
                    store_id: &store_id,
                    line: &line,
                    chat: &chat,
                };
                self.notify(&chat, &key, &text).await
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
                let changed = chat::record_status(
                    self.store.as_ref(),
                    &store_id,
                    &line,
                    &message_id,
                    &status,
                    error.as_deref(),
                    now_ms(),
                )
                .await
                .map_err(|e| self.store_failed(e))?;
                if let Some(chat) = changed {
                    let at = inbox::At {
                        store_id: &store_id,
                        line: &line.key(),
                        chat: &chat,
                    };
                    if let Err(err) =
                        inbox::touch(self.store.as_ref(), at, inbox::Kind::Status, now_ms()).await
                    {
                        tracing::warn!(error = %err, "the inbox missed a delivery status");
                    }
                }
                Ok(())
            }
            BotJob::Alert(alert) => self.send_alert(&alert).await,
            BotJob::OwnerNotice {
                store_id,
                line,
                to,
                text,
                id,
            } => self.send_owner_notice(store_id, line, to, text, id).await,
            BotJob::Webhook(delivery) => self.post_webhook(delivery).await,
            BotJob::SaiposOrder(job) => {
                use crate::saipos::orders::{run, RunOutcome};
                let api = &self.saipos_orders;
                let (store, inbound) = (self.store.as_ref(), self.inbound.as_ref());
                match run(&job, store, inbound, &self.secrets, api, self.backoff * 5).await {
                    RunOutcome::Done => Ok(()),
                    RunOutcome::StoreFailed => Err(self.later(1)),
                    RunOutcome::GiveUp => Err(self.later(30)),
                }
            }
        }
    }

    /// One attempt of an order webhook; a failure queues the next attempt after a backoff
    /// (5 backoff units, doubling), the last one goes back to the queue (and so, in the
    /// end, to its dead letters).
    async fn post_webhook(&self, delivery: crate::order_webhook::Delivery) -> Outcome {
        use crate::order_webhook::DeliveryError;
        let now = now_ms() / 1000;
        let failure = match delivery.send(&self.webhooks, &self.secrets, now).await {
            Ok(status) => {
                tracing::info!(store = %delivery.store_id, event = %delivery.event, status, attempt = delivery.attempt, "order webhook delivered");
                crate::metrics::count("OrderWebhooksDelivered", 1.0, &[("Service", "bot")]);
                return Ok(());
            }
            Err(err @ (DeliveryError::Refused(_) | DeliveryError::Secret)) => {
                tracing::error!(store = %delivery.store_id, event = %delivery.event, error = %err, "order webhook not delivered; not retried");
                return Ok(());
            }
            Err(DeliveryError::Failed(why)) => why,
        };
        crate::metrics::count("OrderWebhookFailures", 1.0, &[("Service", "bot")]);
        let Some((next, delay)) = delivery.retry(self.backoff * 5) else {
            tracing::warn!(store = %delivery.store_id, event = %delivery.event, error = %failure, "order webhook failed again; left to the queue's retries and dead letters");
            return Err(self.later(30));
        };
        tracing::warn!(store = %delivery.store_id, event = %delivery.event, error = %failure, attempt = delivery.attempt, retry_in_ms = delay.as_millis() as u64, "order webhook failed; retrying");
        self.inbound
            .send(next.outgoing(Some(delay)))
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "could not queue the webhook's next attempt");
                self.later(1)
            })
    }

    /// Sends an owner notice (see `notify`): from a linked number through the gateway's
    /// outbound queue, from a Cloud API number through the Graph API.
    async fn send_owner_notice(
        &self,
        store_id: String,
        line: Line,
        to: String,
        text: String,
        id: String,
    ) -> Outcome {
        // A linked number reaches the owner's phone whatever its 24-hour window with the
        // Cloud API number: a Cloud notice goes from a connected slot when there is one
        // (one query; notices from a customer's Cloud API chat are queued without looking).
        let line = match line {
            Line::Cloud { phone_number_id } => {
                match crate::notify::connected_slot(self.store.as_ref(), &store_id)
                    .await
                    .map_err(|e| self.store_failed(e))?
                {
                    Some(slot) => Line::Web { slot },
                    None => Line::Cloud { phone_number_id },
                }
            }
            web => web,
        };
        let phone_number_id = match line {
            Line::Web { slot } => {
                let Some(outbound) = &self.outbound else {
                    tracing::error!(
                        "no outbound queue: owner notices from linked numbers can't be sent"
                    );
                    return Err(self.later(30));
                };
                let notice = crate::jobs::OutboundNotice {
                    store_id,
                    slot,
                    to,
                    text,
                    id,
                };
                return outbound.send(notice.outgoing()).await.map_err(|err| {
                    tracing::warn!(error = %err, "could not queue an owner notice; retrying");
                    self.later(1)
                });
            }
            Line::Cloud { phone_number_id } => phone_number_id,
        };
        let (store_id, phone_number_id, to, text) = (&*store_id, &*phone_number_id, &*to, &*text);
        let store = self.store.as_ref();
        let Some(token) = cloud_api::access_token(store, &self.secrets, store_id, phone_number_id)
            .await
            .map_err(|e| self.store_failed(e))?
        else {
            tracing::warn!(store = %store_id, "the Cloud API number was detached; owner notice dropped");
            return Ok(());
        };
        // The Graph API has no idempotency key: the mark makes a retry, or the same notice
        // queued twice, one message.
        if !crate::notify::mark_cloud_notice(store, store_id, &id, now_ms())
            .await
            .map_err(|e| self.store_failed(e))?
        {
            tracing::info!(store = %store_id, notice = %id, "owner notice sent before; not again");
            return Ok(());
        }
        let sent = self
            .graph
            .send_text(phone_number_id, &token, to, text)
            .await;
        if matches!(
            sent,
            Err(SendError::RateLimited { .. } | SendError::Transient(_) | SendError::Refused(_))
        ) {
            if let Err(err) = crate::notify::unmark_cloud_notice(store, store_id, &id).await {
                tracing::warn!(error = %err, "could not clear a failed notice's mark; its retry won't send it");
            }
        }
        match sent {
            Ok(_) => {
                crate::metrics::count("OwnerNoticesSent", 1.0, &[("Service", "bot")]);
                Ok(())
            }
            Err(SendError::OutsideWindow) => {
                tracing::warn!(store = %store_id, "the owner's phone has no open 24-hour window with the Cloud API number; owner notice dropped");
                Ok(())
            }
            Err(SendError::RateLimited { retry_after, .. }) => Err(RetryAfter(retry_after)),
            Err(SendError::Transient(message)) => {
                tracing::warn!(store = %store_id, error = %message, "owner notice failed; retrying");
                Err(self.later(2))
            }
            Err(SendError::Refused(message)) => {
                tracing::error!(store = %store_id, error = %message, "Cloud API refused an owner notice");
                Err(self.later(30))
            }
        }
    }

    /// Sends an owner's alert: e-mail (idempotent by the alert's id) and WhatsApp through
    /// `notify` (idempotent by the notice's id). Any failure sends the job back to the
    /// queue.
    async fn send_alert(&self, job: &incidents::AlertJob) -> Outcome {
        let addressed = alerts::address(self.store.as_ref(), job)
            .await
            .map_err(|e| self.store_failed(e))?;
        if let Err(err) = alerts::email(self.health.resend.as_ref(), job, &addressed).await {
            tracing::warn!(store = %job.store_id, alert = %job.alert_id, error = %err, "an alert's e-mail failed; retrying");
            return Err(self.later(5));
        }
        // WhatsApp from a connected line of the store (another number than the one that
        // dropped, since a dropped one isn't connected): one notice per phone, its id from
        // the alert's, so a retried alert is one message per phone.
        match crate::notify::notify_owner_phones(
            self.store.as_ref(),
            self.inbound.as_ref(),
            &job.store_id,
            None,
            &addressed.phones,
            &addressed.text,
            &format!("alert#{}", job.alert_id),
        )
        .await
        {
            Ok(crate::notify::Notified::NoLine) => {
                tracing::warn!(store = %job.store_id, alert = %job.alert_id, "no connected line: the alert went by e-mail only");
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(store = %job.store_id, alert = %job.alert_id, error = %err, "an alert's WhatsApp notice could not be queued; retrying");
                return Err(self.later(5));
            }
        }
        tracing::info!(store = %job.store_id, alert = %job.alert_id, emails = addressed.emails.len(), phones = addressed.phones.len(), "alert sent");
        crate::metrics::count("AlertsSent", 1.0, &[("Service", "bot")]);
        Ok(())
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
        let keep = i64::from(config.history_keep_minutes()) * 60;
        let rekeyed =
            super::identity::rekeyed(self.store.as_ref(), store_id, line, message, keep, now_ms())
                .await
                .map_err(|e| self.store_failed(e))?;
        let message = rekeyed.as_ref().unwrap_or(message);
        let chat = ChatRef {
            store_id,
            line,
            chat: &message.chat,
        };
        // The customer's message keeps the time it came, however long its media took
        // (strictly increasing here, so two messages of one instant keep their order and
        // their history keys). A redelivery (a voice note whose transcript failed) keeps the
        // time our side first got it (`receivedMs`, stamped before it was queued: two
        // messages of the same second in the order they arrived, never after a text sent
        // later), else the time WhatsApp stamped it (whole seconds), when plausible.
        let received = crate::ids::monotonic_ms();
        let plausible = |at: &i64| (received - 3_600_000..received).contains(at);
        let received = if consumer::receive_count() > 1 {
            message
                .received_ms
                .filter(plausible)
                .or(Some(message.timestamp.saturating_mul(1000)).filter(plausible))
                .unwrap_or(received)
        } else {
            received
        };
        let mut voice_seconds = 0;
        let owned;
        let message = match (&message.media, message.from_me) {
            (None, _) => message,
            // The owner's own media: a reaction or edit from the phone is nothing; a
            // picture or voice note is the owner talking to the customer.
            (Some(media), true) => {
                if media.kind.ignored() || media.kind == crate::media::MediaKind::Edit {
                    return Ok(());
                }
                owned = ChatMessage {
                    text: media
                        .caption()
                        .unwrap_or("(mídia enviada pelo dono)")
                        .to_owned(),
                    media: None,
                    ..message.clone()
                };
                &owned
            }
            (Some(media), false) => match self.media_step(&chat, message, media, &config).await? {
                super::media::Step::Done => return Ok(()),
                super::media::Step::Turn(text) => {
                    owned = text;
                    &owned
                }
                super::media::Step::Heard { message, seconds } => {
                    voice_seconds = seconds;
                    owned = message;
                    &owned
                }
            },
        };
        let now = now_ms();
        if message.from_me {
            let minutes = config.takeover_minutes.unwrap_or(config.context_time);
            let action = OwnerAction::of(&message.text, now + i64::from(minutes) * 60_000);
            let (day, _) = usage::day_and_month(&status::zone(&config.timezone), now);
            let counted = usage::add_op(store_id, &day, &usage::owner_message());
            let fresh = chat::record_owner(
                self.store.as_ref(),
                &chat,
                message,
                action,
                config.history_keep_minutes(),
                now,
                counted.into_iter().collect(),
            )
            .await
            .map_err(|e| self.store_failed(e))?;
            if fresh {
                let (text, paused) = match action {
                    OwnerAction::TakeOver { until_ms } => {
                        (Some(message.text.as_str()), Pause::AtLeast(until_ms))
                    }
                    OwnerAction::BotOff => (None, Pause::Set(chat::PAUSED_FOREVER_MS)),
                    OwnerAction::BotOn => (None, Pause::Set(0)),
                };
                self.to_inbox(&chat, &config, Role::Owner, text, now, Some(paused))
                    .await;
            }
            tracing::info!(store = %store_id, line = %line.key(), ?action, "the owner wrote in a chat");
            return Ok(());
        }
        let (day, _) = usage::day_and_month(&status::zone(&config.timezone), now);
        let counts = usage::Counts {
            voice_seconds,
            ..usage::customer_message()
        };
        let counted = usage::add_op(store_id, &day, &counts);
        let fresh = chat::record_customer_at(
            self.store.as_ref(),
            &chat,
            message,
            config.history_keep_minutes(),
            received,
            now,
            counted.into_iter().collect(),
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        if fresh {
            self.to_inbox_named(
                &chat,
                &config,
                Role::Customer,
                Some(&message.text),
                message.name.as_deref(),
                received,
                None,
            )
            .await;
        } else {
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
            Pending::Resend(reply) => {
                return self
                    .deliver(chat, reply, None, turn.ephemeral_expiration)
                    .await;
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
        let knowledge = knowledge::load(self.store.as_ref(), chat.store_id)
            .await
            .map_err(|e| self.store_failed(e))?;
        let cart = orders::cart_from(turn.cart.as_ref(), config.context_time, now)
            .map_err(|e| self.store_failed(e))?;
        let mut asked = self
            .ask_model(chat, config, &turn, &knowledge, cart, latest_at, now)
            .await?;
        let claim_at = now_ms().max(latest_at + 1);
        // The turn's usage rides in the claim: counted once per turn, no extra round trip.
        let (day, _) = usage::day_and_month(&status::zone(&config.timezone), now);
        let mut with: Vec<WriteOp> =
            usage::add_op(chat.store_id, &day, &usage::reply(&asked.model))
                .into_iter()
                .chain(usage::spend_op(
                    chat.store_id,
                    &asked.month,
                    asked.model.cost_micros,
                ))
                .collect();
        let outcome = asked.outcome.take();
        if let Some(outcome) = &outcome {
            if let Some(err) = &outcome.failed {
                return Err(self.store_failed(StoreError::Unavailable(err.to_string())));
            }
            if let Some(write) = outcome
                .write(chat, claim_at)
                .map_err(|e| self.store_failed(e))?
            {
                with.push(write);
            }
        }
        // An order placed by this turn: the kitchen hears of it before the customer's
        // confirmation is claimed (a retried turn finds the same order and tells the same
        // notices again, which their ids make one), and a Pix order's confirmation ends
        // with its QR image.
        let placed = outcome.as_ref().and_then(|o| o.placed.clone());
        let image = placed.as_ref().and_then(crate::order_events::pix_image);
        if let Some(order) = &placed {
            crate::order_events::placed(
                self.store.as_ref(),
                self.inbound.as_ref(),
                &knowledge.profile,
                chat.store_id,
                order,
            )
            .await
            .map_err(|err| {
                tracing::warn!(store = %chat.store_id, order = %order.id, error = %err, "could not tell the kitchen of a new order; the turn will be retried");
                self.later(1)
            })?;
        }
        // Our own text (the order summary or confirmation) goes after the model's words.
        let text = match outcome.and_then(|o| o.appendix) {
            Some(appendix) => format!("{}\n\n{appendix}", asked.text),
            None => asked.text.clone(),
        };
        let chunks = reply::split(&text, reply::MAX_MESSAGE_CHARS);
        let claimed = chat::claim_reply_with(
            self.store.as_ref(),
            chat,
            Some(&state),
            latest_at,
            chat::Claim { chunks, image },
            asked.announced,
            config.history_keep_minutes(),
            claim_at,
            with,
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        match claimed {
            Some(ChatState {
                last_reply: Some(reply),
                ..
            }) => {
                self.after_turn(chat.store_id, &asked).await;
                self.to_inbox(chat, config, Role::Bot, Some(&text), claim_at, None)
                    .await;
                self.deliver(chat, reply, Some(claim_at), turn.ephemeral_expiration)
                    .await
            }
            // The chat changed while the model was thinking: someone else answered, the
            // owner took over, or our code sent the customer a message (an order's status).
            // Look again: a turn still unanswered is answered then (an order it placed is
            // found, not placed again); otherwise that look ends it.
            _ => {
                self.answer_later(chat, message_id, config, Duration::ZERO)
                    .await
            }
        }
    }

    /// Sends a message our code wrote (an order's status change) as the chat's next reply,
    /// once per `key`, through the line's usual delivery.
    async fn notify(&self, chat: &ChatRef<'_>, key: &str, text: &str) -> Outcome {
        let keep = match self.config(chat.store_id).await? {
            Some(config) => config.history_keep_minutes(),
            None => return Ok(()), // the connection was deleted
        };
        let claimed = chat::claim_notice(self.store.as_ref(), chat, key, text, keep, now_ms())
            .await
            .map_err(|e| self.store_failed(e))?;
        match claimed {
            Some(ChatState {
                last_reply: Some(reply),
                ..
            }) => self.deliver(chat, reply, None, None).await,
            _ => Ok(()), // sent before
        }
    }

    /// Queues the turn of `message_id` again, due after `wait` (whole seconds, at least one:
    /// SQS delays are whole seconds). A new job, so its receive count starts again.
    pub(super) async fn answer_later(
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
    pub(super) fn still_to_answer(
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
                    Some(last) if state.delivered_seq < last.seq => Pending::Resend(last.clone()),
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

    /// The turn's reply, with the "we're closed" notice in front if this is the chat's first
    /// reply of a closed period (then also that period, for the claim to remember), what
    /// the turn did to the chat's cart (`None` without a model) and what it cost; a model
    /// that fails sends the turn back to the queue. A store past its monthly AI budget is
    /// answered by the fallback model, else by the offline answers.
    #[allow(clippy::too_many_arguments)]
    async fn ask_model(
        &self,
        chat: &ChatRef<'_>,
        config: &BotConfig,
        turn: &Turn,
        knowledge: &Knowledge,
        cart: orders::StoredCart,
        latest_at: i64,
        now: i64,
    ) -> Result<Asked, RetryAfter> {
        let tz = status::zone(&config.timezone);
        let at = status::instant(now);
        let open = status::status(&knowledge.profile, &tz, at);
        let (_, month) = usage::day_and_month(&tz, now);
        let budget = knowledge
            .profile
            .ai_budget_micros
            .or(self.health.default_budget_micros);
        let spent_before = knowledge.health.spend(&month);
        let llm: Arc<dyn Llm> = match budget::mode(budget, spent_before) {
            budget::Mode::Normal => self.llm.clone(),
            budget::Mode::Spent => self
                .llm
                .economy()
                .unwrap_or_else(|| Arc::new(super::llm::Offline)),
        };
        let mut model = ModelUsage::default();
        let mut outcome = None;
        let text = if llm.offline() {
            self.offline_reply(chat, turn, knowledge, &tz, at, llm.as_ref())
                .await?
        } else {
            let store = StoreContext {
                knowledge,
                status: open.as_ref(),
                tz: &tz,
            };
            let messages = prompt::build(config, Some(&store), &turn.history, now);
            let context = TurnContext {
                store: self.store.as_ref(),
                chat: chat.clone(),
                tz: tz.clone(),
                now: at,
                now_ms: now,
                latest_at_ms: latest_at,
                pin: super::cart_tools::latest_pin(&turn.history),
            };
            let tools = TurnTools::new(knowledge, context, cart);
            let allowed = Allowed::from_store(knowledge, config, &turn.history);
            let started = std::time::Instant::now();
            let answer = match converse::converse(llm.as_ref(), messages, &tools, allowed).await {
                Ok(answer) => answer,
                Err(err) => return Err(self.model_failed(chat, knowledge, err, now).await),
            };
            outcome = Some(tools.finish());
            let llm_ms = started.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(
                store = %chat.store_id, line = %chat.line.key(), llm_ms,
                model_calls = answer.model_calls, tool_calls = answer.tool_calls,
                guarded = ?answer.guarded, "reply generated"
            );
            crate::metrics::millis("LlmLatency", llm_ms, &[("Service", "bot")]);
            if answer.guarded != Guarded::Clean {
                crate::metrics::count("PriceGuard", 1.0, &[("Service", "bot")]);
            }
            model = ModelUsage {
                calls: answer.model_calls as i64,
                prompt_tokens: answer.usage.prompt_tokens,
                completion_tokens: answer.usage.completion_tokens,
                cost_micros: answer.usage.cost_micros.unwrap_or_else(|| {
                    self.health
                        .prices
                        .cost_micros(answer.usage.prompt_tokens, answer.usage.completion_tokens)
                }),
            };
            answer.text
        };
        let asked = |text, announced| Asked {
            text,
            announced,
            model,
            spent_before,
            budget,
            month: month.clone(),
            outcome,
            recovered: knowledge.health.attendant_failing_since().is_some(),
            dead_letters_cleared: knowledge.health.dead_letters_since().is_some(),
        };
        let announced = turn.state.as_ref().and_then(|s| s.closed_notice);
        match open
            .as_ref()
            .and_then(|s| Some((s, status::closed_period(s)?)))
        {
            Some((closed, period)) if announced != Some(period) => {
                let notice = status::closed_notice(&knowledge.profile, closed, &tz, at);
                if text.contains(&notice) {
                    // The offline answer about the hours says it already.
                    return Ok(asked(text, Some(period)));
                }
                Ok(asked(format!("{notice}\n\n{text}"), Some(period)))
            }
            _ => Ok(asked(text, None)),
        }
    }

    /// After a claimed turn: the budget thresholds it crossed alert the owner (once per
    /// month each), and an attendant that was failing is back. Best effort: a failure
    /// here is logged, the reply goes out anyway.
    async fn after_turn(&self, store_id: &str, asked: &Asked) {
        let store = self.store.as_ref();
        let now = now_ms();
        let after = asked.spent_before + asked.model.cost_micros;
        for percent in budget::crossed(asked.budget, asked.spent_before, after) {
            let budget = asked.budget.unwrap_or(0);
            let fallback = self.llm.economy().is_some();
            let words = alerts::text::budget(percent, after, budget, fallback);
            let id = budget::incident_id(percent, budget, &asked.month);
            let detail = words.1.clone();
            let opened =
                incidents::open(store, store_id, &id, &detail, (&words.0, &words.1), now).await;
            self.queue_alert(opened).await;
        }
        if asked.dead_letters_cleared {
            let cleared = crate::store::Update {
                remove: vec![crate::health::DEAD_LETTERS.into()],
                cond: crate::store::Cond::Exists,
                ..Default::default()
            };
            let pk = crate::store::keys::store_pk(store_id);
            let _ = self
                .store
                .update(&pk, crate::store::keys::HEALTH_SK, cleared)
                .await;
            let words = alerts::text::dead_letters_cleared();
            let closed =
                incidents::close(store, store_id, "deadLetters", (&words.0, &words.1), now).await;
            self.queue_alert(closed).await;
        }
        if asked.recovered {
            let cleared = crate::store::Update {
                remove: vec![crate::health::ATTENDANT_FAILING.into()],
                cond: crate::store::Cond::Exists,
                ..Default::default()
            };
            let _ = self
                .store
                .update(
                    &crate::store::keys::store_pk(store_id),
                    crate::store::keys::HEALTH_SK,
                    cleared,
                )
                .await;
            let words = alerts::text::attendant_back();
            let closed =
                incidents::close(store, store_id, "attendant", (&words.0, &words.1), now).await;
            self.queue_alert(closed).await;
        }
    }

    /// Queues an alert an incident transition asked for.
    async fn queue_alert(&self, alert: Result<Option<incidents::AlertJob>, StoreError>) {
        match alert {
            Ok(Some(alert)) => {
                if let Err(err) = self.inbound.send(BotJob::Alert(alert).outgoing()).await {
                    tracing::warn!(error = %err, "could not queue an alert");
                }
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "could not record an incident"),
        }
    }

    /// Without a model: the data's answer to the latest customer message, else the notice.
    async fn offline_reply(
        &self,
        chat: &ChatRef<'_>,
        turn: &Turn,
        knowledge: &Knowledge,
        tz: &jiff::tz::TimeZone,
        at: jiff::Timestamp,
        llm: &dyn Llm,
    ) -> Result<String, RetryAfter> {
        let latest = turn
            .history
            .iter()
            .rev()
            .find(|e| e.role == Role::Customer)
            .map(|e| e.text.as_str())
            .unwrap_or_default();
        if let Some(text) = offline::answer(knowledge, tz, at, latest) {
            return Ok(text);
        }
        match llm.complete(&[], Tools::None).await {
            Ok(notice) => Ok(notice.content),
            Err(err) => Err(self
                .model_failed(chat, knowledge, err, at.as_millisecond())
                .await),
        }
    }

    /// Where a turn whose model failed goes: back to the queue, later. The store's
    /// attendant is failing since its first failure (recorded on `CONFIG#HEALTH`); failing
    /// longer than `health.failing_after` opens the `attendant` incident, which alerts.
    async fn model_failed(
        &self,
        chat: &ChatRef<'_>,
        knowledge: &Knowledge,
        err: LlmError,
        now: i64,
    ) -> RetryAfter {
        let store = self.store.as_ref();
        match knowledge.health.attendant_failing_since() {
            None => {
                let since = crate::store::Update {
                    set: vec![(crate::health::ATTENDANT_FAILING.into(), now.into())],
                    upsert: true,
                    ..Default::default()
                };
                let pk = crate::store::keys::store_pk(chat.store_id);
                if let Err(e) = store
                    .update(&pk, crate::store::keys::HEALTH_SK, since)
                    .await
                {
                    tracing::warn!(error = %e, "could not record the attendant's failure");
                }
            }
            Some(since) if now - since >= self.health.failing_after.as_millis() as i64 => {
                let minutes = ((now - since) / 60_000).max(1) as u64;
                let why = match &err {
                    LlmError::Unavailable { .. } => "o modelo de IA não responde",
                    LlmError::Refused(m) if m.starts_with("HTTP 402") => {
                        "os créditos de IA acabaram"
                    }
                    LlmError::Refused(_) => "o modelo de IA recusou as mensagens",
                };
                let words = alerts::text::attendant_failing(minutes, why);
                let opened = incidents::open(
                    store,
                    chat.store_id,
                    "attendant",
                    why,
                    (&words.0, &words.1),
                    now,
                )
                .await;
                self.queue_alert(opened).await;
            }
            Some(_) => {}
        }
        self.retry_after_model(chat, err)
    }

    /// When a turn whose model failed comes back from the queue.
    pub(super) fn retry_after_model(&self, chat: &ChatRef<'_>, err: LlmError) -> RetryAfter {
        match err {
            LlmError::Unavailable {
                message,
                retry_after,
            } => {
                tracing::warn!(store = %chat.store_id, error = %message, "no reply from the model; the turn goes back to the queue");
                retry_after.map_or_else(|| self.later(5), RetryAfter)
            }
            LlmError::Refused(message) => {
                tracing::error!(store = %chat.store_id, error = %message, "the model refused the request; the turn goes back to the queue");
                self.later(30)
            }
        }
    }

    /// Keeps the inbox's view of the chat ([`inbox`]) up to date: a message that joined the
    /// history (`text`), a new pause. Best effort: the history is the record, the inbox a
    /// view of it, and a job retried for it would not record its message again.
    pub(super) async fn to_inbox(
        &self,
        chat: &ChatRef<'_>,
        config: &BotConfig,
        role: Role,
        text: Option<&str>,
        at_ms: i64,
        pause: Option<Pause>,
    ) {
        self.to_inbox_named(chat, config, role, text, None, at_ms, pause)
            .await
    }

    /// [`Self::to_inbox`] with the customer's name as their message told it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn to_inbox_named(
        &self,
        chat: &ChatRef<'_>,
        config: &BotConfig,
        role: Role,
        text: Option<&str>,
        name: Option<&str>,
        at_ms: i64,
        pause: Option<Pause>,
    ) {
        let keep = i64::from(config.history_keep_minutes()) * 60;
        let line = chat.line.key();
        let at = inbox::At {
            store_id: chat.store_id,
            line: &line,
            chat: chat.chat,
        };
        let store = self.store.as_ref();
        if let Some(text) = text {
            let noted = inbox::Noted {
                role,
                text,
                at_ms,
                name,
            };
            if let Err(err) = inbox::noted(store, at, noted, keep, now_ms()).await {
                tracing::warn!(store = %chat.store_id, error = %err, "the inbox missed a message");
            }
        }
        let paused = match pause {
            None => return,
            Some(Pause::Set(until)) => inbox::paused(store, at, until, keep, now_ms()).await,
            Some(Pause::AtLeast(until)) => {
                inbox::taken_over(store, at, until, keep, now_ms()).await
            }
        };
        if let Err(err) = paused {
            tracing::warn!(store = %chat.store_id, error = %err, "the inbox missed a pause");
        }
    }

    /// Hands a claimed reply to whoever sends from its line; on a linked number with the
    /// chat's disappearing-messages timer, if it has one.
    pub(super) async fn deliver(
        &self,
        chat: &ChatRef<'_>,
        reply: PendingReply,
        at: Option<i64>,
        ephemeral_expiration: Option<u32>,
    ) -> Outcome {
        let PendingReply { seq, chunks, image } = reply;
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
                    image,
                    owner: false,
                    at,
                };
                outbound.send(reply.outgoing()).await.map_err(|err| {
                    tracing::warn!(error = %err, "could not queue a reply; retrying");
                    self.later(1)
                })?;
                crate::metrics::count("RepliesQueued", 1.0, &[("Service", "bot")]);
                Ok(())
            }
            Line::Cloud { phone_number_id } => {
                self.send_cloud(
                    chat,
                    phone_number_id,
                    Sent { seq, at },
                    &chunks,
                    image.as_ref(),
                )
                .await
            }
        }
    }

    async fn send_cloud(
        &self,
        chat: &ChatRef<'_>,
        phone_number_id: &str,
        Sent { seq, at }: Sent,
        chunks: &[String],
        image: Option<&ReplyImage>,
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
        let mut ids = Vec::with_capacity(chunks.len() + 1);
        let parts = chunks.iter().map(Some).chain(image.map(|_| None));
        for chunk in parts {
            let send = async {
                match (chunk, image) {
                    (Some(chunk), _) => {
                        self.graph
                            .send_text(phone_number_id, &token, chat.chat, chunk)
                            .await
                    }
                    (None, Some(image)) => {
                        let png = image.png().map_err(|e| SendError::Refused(e.to_string()))?;
                        self.graph
                            .send_image(phone_number_id, &token, chat.chat, &png, &image.caption)
                            .await
                    }
                    (None, None) => unreachable!("an image part without an image"),
                }
            };
            let sent = tokio::time::timeout_at(deadline, send)
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::Transient(format!(
                        "the reply took longer than {:?}",
                        self.graph.deadline
                    )))
                });
            let retry = match sent {
                Ok(id) => {
                    ids.push(id);
                    continue;
                }
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
        if let Some(at) = at {
            let id = format!("reply{seq}");
            if let Err(err) = chat::sent_as(store, chat, &ids, at, &id, now_ms()).await {
                tracing::warn!(error = %err, "the reply's statuses won't reach the inbox");
            }
            inbox::delivered(store, chat, at, &id).await;
        }
        crate::metrics::count("RepliesSent", 1.0, &[("Service", "bot"), ("Line", "cloud")]);
        Ok(())
    }
}

/// A chat's new pause, for the inbox: exactly this, or at least this (a takeover).
pub(super) enum Pause {
    Set(i64),
    AtLeast(i64),
}

/// A claimed reply: its sequence number and, when known, when it joined the history.
struct Sent {
    seq: i64,
    at: Option<i64>,
}

/// What a due turn still needs.
pub(super) enum Pending {
    /// Nothing: answered, superseded by a newer message, paused, or the bot is off.
    Nothing,
    /// Answered, but the hand-over of the claimed reply may have been lost: hand it over again.
    Resend(PendingReply),
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
            let received = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let outcome = consumer::with_receive_count(
                received,
                consumer::handle_body(JOB_NAME, body, handle),
            )
            .await;
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
