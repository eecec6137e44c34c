//! The worker's step for a customer message with media, before it is recorded: carry out
//! the [`plan`](crate::media::plan) — ignore it, record an edit, turn a pin into text,
//! fetch and transcribe a voice note (once per message id: a redelivery is recognised
//! by its seen mark before anything is downloaded), let a vision model describe a picture
//! (shrunk first, [`picture`](crate::media::picture); one it can't open is handled as if
//! the model couldn't see),
//! or answer at once with a polite pt-BR reply. What comes out is a plain text message
//! that joins the turn like a typed one; the media's bytes are dropped here.
//!
//! Failures follow the chat model's discipline: a transient fetch or transcription error
//! sends the job back to the queue with a delay (and after a few deliveries to its dead
//! letters); nothing is recorded until the transcript exists, so a voice note followed by
//! a text still ends in one turn that sees both.

use std::time::{Duration, Instant};

use super::chat::{self, ChatRef, Role};
use super::llm::{LlmMessage, Tools};
use super::worker::{Bot, Pending};
use super::{cloud_api, receipts};
use crate::domain::bot_config::BotConfig;
use crate::ids::now_ms;
use crate::jobs::{ChatMessage, Line};
use crate::media::fetch::FetchError;
use crate::media::picture::{self, PictureError};
use crate::media::plan::{self, Plan};
use crate::media::transcribe::TranscribeError;
use crate::media::MediaPart;
use crate::queue::consumer::{Outcome, RetryAfter};

/// What a vision model is asked about a customer's picture.
const VISION_PROMPT: &str = "Você ajuda o atendente de um restaurante. Descreva em uma ou \
    duas frases, em português, o que a imagem do cliente mostra (se for um comprovante de \
    pagamento, diga o valor e o tipo).";

/// What the media step leaves for the turn.
pub(super) enum Step {
    /// Nothing more to do for this message.
    Done,
    /// Record this (text) message and take the turn as for a typed one.
    Turn(ChatMessage),
    /// A voice note's transcript: as [`Step::Turn`], and its `seconds` count in the day's
    /// usage with the record (once per message id: a redelivery records nothing).
    Heard { message: ChatMessage, seconds: i64 },
}

impl Bot {
    /// Carries out the plan for `media` of the customer's `message`.
    pub(super) async fn media_step(
        &self,
        chat: &ChatRef<'_>,
        message: &ChatMessage,
        media: &MediaPart,
        config: &BotConfig,
    ) -> Result<Step, RetryAfter> {
        let tools = &self.media;
        let plan = plan::plan(
            media,
            &message.text,
            tools.transcriber.is_some(),
            tools.vision && !self.llm.offline(),
        );
        let with_text = |text: String| {
            Step::Turn(ChatMessage {
                text,
                media: None,
                ..message.clone()
            })
        };
        if plan::may_be_receipt(media)
            && receipts::proof_received(self.store.as_ref(), self.inbound.as_ref(), chat)
                .await
                .map_err(|e| self.store_failed(e))?
        {
            let text = "(o cliente enviou um comprovante de pagamento)".to_owned();
            self.reply_now(
                chat,
                &with_message(message, text),
                plan::PROOF_REPLY,
                config,
            )
            .await?;
            return Ok(Step::Done);
        }
        // Costly work (a transcript, a look at a picture) only for a chat the bot answers:
        // the bot switched off or the owner in the chat, it is recorded as it came.
        if matches!(plan, Plan::Transcribe | Plan::CannotListen | Plan::LookAt)
            && (!config.bot_enabled
                || chat::paused_until(self.store.as_ref(), chat)
                    .await
                    .map_err(|e| self.store_failed(e))?
                    > now_ms())
        {
            return Ok(with_text(match (&plan, media.caption()) {
                (Plan::LookAt, Some(caption)) => {
                    format!("(o cliente enviou uma foto com a legenda) {caption}")
                }
                (Plan::LookAt, None) => "(o cliente enviou uma foto)".into(),
                _ => plan::NOT_TRANSCRIBED.into(),
            }));
        }
        match plan {
            Plan::Ignore => Ok(Step::Done),
            Plan::Edit { .. } => {
                chat::record_edit(
                    self.store.as_ref(),
                    chat,
                    message,
                    config.history_keep_minutes(),
                    now_ms(),
                )
                .await
                .map_err(|e| self.store_failed(e))?;
                Ok(Step::Done)
            }
            Plan::Text(text) => Ok(with_text(text)),
            Plan::Reply { text, reply } => {
                self.reply_now(chat, &with_message(message, text), reply, config)
                    .await?;
                Ok(Step::Done)
            }
            Plan::CannotListen => {
                let text = "(o cliente enviou um áudio, que não pôde ser ouvido)".to_owned();
                let fresh = chat::record_customer(
                    self.store.as_ref(),
                    chat,
                    &with_message(message, text.clone()),
                    config.history_keep_minutes(),
                    now_ms(),
                    vec![],
                )
                .await
                .map_err(|e| self.store_failed(e))?;
                let once = fresh
                    && chat::first_time(self.store.as_ref(), chat, "please-type", now_ms())
                        .await
                        .map_err(|e| self.store_failed(e))?;
                if once {
                    self.reply_now(
                        chat,
                        &with_message(message, text),
                        plan::PLEASE_TYPE_REPLY,
                        config,
                    )
                    .await?;
                }
                Ok(Step::Done)
            }
            Plan::Transcribe => {
                if chat::seen(self.store.as_ref(), chat, &message.id)
                    .await
                    .map_err(|e| self.store_failed(e))?
                {
                    // A redelivery: transcribed and recorded before; the turn goes on as
                    // for any redelivered message (its record is refused as a duplicate).
                    return Ok(with_text(String::new()));
                }
                let started = Instant::now();
                let audio = match self.fetch(chat, media, plan::MAX_MEDIA_BYTES).await? {
                    Ok(audio) => audio,
                    Err(FetchError::TooLarge { .. }) => {
                        let text = "(o cliente enviou um áudio longo demais para ouvir)".to_owned();
                        self.reply_now(
                            chat,
                            &with_message(message, text),
                            plan::TOO_LONG_REPLY,
                            config,
                        )
                        .await?;
                        return Ok(Step::Done);
                    }
                    Err(err) => {
                        tracing::warn!(store = %chat.store_id, error = %err, "a voice note could not be fetched");
                        return Ok(with_text(
                            "(o cliente enviou um áudio que não pôde ser baixado)".into(),
                        ));
                    }
                };
                let fetch_ms = started.elapsed().as_secs_f64() * 1000.0;
                let transcriber = tools
                    .transcriber
                    .as_ref()
                    .expect("planned with a transcriber");
                let mimetype = media.mimetype.as_deref().unwrap_or("audio/ogg");
                let asked = Instant::now();
                let transcript = transcriber
                    .transcribe(&audio, mimetype)
                    .await
                    .map_err(|err| self.transcription_failed(chat, err))?;
                let seconds = media
                    .seconds
                    .or_else(|| crate::media::duration::ogg_opus_seconds(&audio))
                    .unwrap_or(0);
                drop(audio);
                let transcribe_ms = asked.elapsed().as_secs_f64() * 1000.0;
                tracing::info!(
                    store = %chat.store_id, line = %chat.line.key(), fetch_ms, transcribe_ms,
                    seconds = media.seconds, "voice note transcribed"
                );
                crate::metrics::millis("TranscribeLatency", transcribe_ms, &[("Service", "bot")]);
                crate::metrics::count("VoiceSeconds", f64::from(seconds), &[("Service", "bot")]);
                let text = if transcript.is_empty() {
                    "(o cliente enviou um áudio sem fala)".to_owned()
                } else {
                    plan::transcript_text(&transcript)
                };
                Ok(Step::Heard {
                    message: with_message(message, text),
                    seconds: i64::from(seconds),
                })
            }
            Plan::LookAt => {
                let image = match self.fetch(chat, media, plan::MAX_VISION_BYTES).await? {
                    Ok(image) => image,
                    Err(err) => {
                        tracing::warn!(store = %chat.store_id, error = %err, "a picture could not be fetched");
                        return Ok(with_text(match media.caption() {
                            Some(caption) => {
                                format!("(o cliente enviou uma foto com a legenda) {caption}")
                            }
                            None => "(o cliente enviou uma foto que não pôde ser vista)".into(),
                        }));
                    }
                };
                // Decoding is CPU work (and a corrupt file may even panic a decoder): off the
                // async threads, and any failure is a picture nobody could see.
                let started = Instant::now();
                let prepared = tokio::task::spawn_blocking(move || picture::prepare(&image))
                    .await
                    .unwrap_or_else(|_| {
                        Err(PictureError::Unreadable("the decoder panicked".into()))
                    });
                let prepared = match prepared {
                    Ok(prepared) => prepared,
                    Err(err) => {
                        tracing::warn!(store = %chat.store_id, error = %err, "a picture could not be shown to the model");
                        let too_big = matches!(err, PictureError::TooLarge(_));
                        return match (media.caption(), too_big) {
                            (Some(caption), _) => Ok(with_text(format!(
                                "(o cliente enviou uma foto com a legenda) {caption}"
                            ))),
                            (None, too_big) => {
                                let (text, reply) = if too_big {
                                    (
                                        "(o cliente enviou uma foto grande demais para abrir)",
                                        plan::PICTURE_TOO_BIG_REPLY,
                                    )
                                } else {
                                    (
                                        "(o cliente enviou uma foto que não pôde ser vista)",
                                        plan::PICTURE_REPLY,
                                    )
                                };
                                self.reply_now(
                                    chat,
                                    &with_message(message, text.into()),
                                    reply,
                                    config,
                                )
                                .await?;
                                Ok(Step::Done)
                            }
                        };
                    }
                };
                tracing::info!(
                    store = %chat.store_id, width = prepared.width, height = prepared.height,
                    bytes = prepared.bytes.len(), prepare_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "a picture prepared for the model"
                );
                let url = prepared.data_url();
                drop(prepared);
                let caption = media.caption().unwrap_or_default();
                let asked = [
                    LlmMessage::system(VISION_PROMPT),
                    LlmMessage::user_with_images(caption, vec![url]),
                ];
                let described = self
                    .llm
                    .complete(&asked, Tools::None)
                    .await
                    .map_err(|err| self.retry_after_model(chat, err))?;
                let mut text = format!("(o cliente enviou uma foto: {})", described.content.trim());
                if !caption.is_empty() {
                    text = format!("{text} {caption}");
                }
                Ok(with_text(text))
            }
        }
    }

    /// The media's bytes, at most `limit`: the outer error retries the job, the inner one
    /// says why this media can't be had.
    async fn fetch(
        &self,
        chat: &ChatRef<'_>,
        media: &MediaPart,
        limit: u64,
    ) -> Result<Result<Vec<u8>, FetchError>, RetryAfter> {
        let Some(handle) = &media.handle else {
            return Ok(Err(FetchError::Gone("no handle".into())));
        };
        let token = match chat.line {
            Line::Cloud { phone_number_id } => cloud_api::access_token(
                self.store.as_ref(),
                &self.secrets,
                chat.store_id,
                phone_number_id,
            )
            .await
            .map_err(|e| self.store_failed(e))?,
            Line::Web { .. } => None,
        };
        match self
            .media
            .fetcher
            .fetch(handle, token.as_deref(), limit)
            .await
        {
            Err(FetchError::Unavailable(message)) => {
                tracing::warn!(store = %chat.store_id, error = %message, "media fetch failed; the message goes back to the queue");
                Err(self.later(2))
            }
            other => Ok(other),
        }
    }

    fn transcription_failed(&self, chat: &ChatRef<'_>, err: TranscribeError) -> RetryAfter {
        match err {
            TranscribeError::Unavailable {
                message,
                retry_after,
            } => {
                tracing::warn!(store = %chat.store_id, error = %message, "no transcript; the voice note goes back to the queue");
                retry_after.map_or_else(|| self.later(5), RetryAfter)
            }
            TranscribeError::Refused(message) => {
                tracing::error!(store = %chat.store_id, error = %message, "the transcription service refused the request; the voice note goes back to the queue");
                self.later(30)
            }
        }
    }

    /// Records `message` and answers it at once with `reply` (no model): claimed like any
    /// reply, so a redelivery hands the same reply over again instead of a second one.
    pub(super) async fn reply_now(
        &self,
        chat: &ChatRef<'_>,
        message: &ChatMessage,
        reply: &str,
        config: &BotConfig,
    ) -> Outcome {
        let now = now_ms();
        let fresh = chat::record_customer(
            self.store.as_ref(),
            chat,
            message,
            config.history_keep_minutes(),
            now,
            vec![],
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        if fresh {
            let name = message.name.as_deref();
            self.to_inbox_named(
                chat,
                config,
                Role::Customer,
                Some(&message.text),
                name,
                now,
                None,
            )
            .await;
        }
        let turn = chat::load_turn(
            self.store.as_ref(),
            chat,
            config.message_limit,
            config.context_time,
            now,
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        let latest_at = match self.still_to_answer(&turn, &message.id, config, now) {
            Pending::Answer { latest_at } => latest_at,
            Pending::Resend(last) => {
                return self
                    .deliver(chat, last, None, turn.ephemeral_expiration)
                    .await
            }
            Pending::Nothing => return Ok(()),
        };
        // A typed message of the same burst, not answered yet: the polite reply answers
        // only what came before it, and the turn goes on for the rest (below).
        let answered = turn.state.as_ref().map_or(0, |s| s.replied_through);
        let waiting = turn
            .history
            .iter()
            .filter(|e| e.role == Role::Customer && e.at_ms > answered && e.at_ms < latest_at)
            .map(|e| e.at_ms)
            .min();
        let through = waiting.map_or(latest_at, |at| at - 1);
        let claim_at = now_ms().max(latest_at + 1);
        let claimed = chat::claim_reply(
            self.store.as_ref(),
            chat,
            turn.state.as_ref(),
            through,
            vec![reply.to_owned()],
            None,
            config.history_keep_minutes(),
            claim_at,
            vec![],
        )
        .await
        .map_err(|e| self.store_failed(e))?;
        match claimed {
            Some(chat::ChatState {
                last_reply: Some(last),
                ..
            }) => {
                self.to_inbox(chat, config, Role::Bot, Some(reply), claim_at, None)
                    .await;
                self.deliver(chat, last, Some(claim_at), turn.ephemeral_expiration)
                    .await?;
                if waiting.is_some() {
                    let wait = Duration::from_secs(u64::from(config.debounce_seconds));
                    return self.answer_later(chat, &message.id, config, wait).await;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// `message` as text `text` (its media dropped).
fn with_message(message: &ChatMessage, text: String) -> ChatMessage {
    ChatMessage {
        text,
        media: None,
        ..message.clone()
    }
}
