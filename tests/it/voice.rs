//! Voice notes, pictures, pins and the kinds nobody answers, through the real bot worker:
//! jobs on an in-process inbound queue, the fake LLM, the fake transcription server and the
//! fake Cloud API media host at the HTTP level, replies read from the outbound queue (a
//! linked number) or the fake Graph API (a Cloud API number). The voice note is a real
//! Ogg/Opus clip (`tests/fixtures/voice-note.ogg`, espeak-ng + opusenc, 4 s).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine;
use platefull::bot::chat::{self, ChatRef, Role};
use platefull::bot::cloud_api::{self, GraphClient};
use platefull::bot::worker::{self, Bot};
use platefull::jobs::{BotJob, ChatMessage, Line, OutboundReply};
use platefull::media::fetch::{FetchError, MediaFetcher, WebMedia};
use platefull::media::plan::{
    NOT_TRANSCRIBED, PICTURE_REPLY, PICTURE_TOO_BIG_REPLY, PLEASE_TYPE_REPLY, TOO_LONG_REPLY,
};
use platefull::media::transcribe::{TranscribeSettings, Transcriber};
use platefull::media::{Location, MediaHandle, MediaKind, MediaPart, MediaTools};
use platefull::queue::memory::MemoryQueue;
use platefull::queue::Queue;
use platefull::whatsapp::whatsapp_web::CdnMedia;
use platefull_tests::fake_graph::{self, FakeGraph};
use platefull_tests::fake_llm::{self, Fake};
use platefull_tests::fake_media::{self, FakeMedia};
use platefull_tests::fake_transcribe::{self, FakeTranscribe};
use platefull_tests::fake_wa_cdn::{self, Encrypted, FakeCdn};
use platefull_tests::{embedded_store, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};
use tokio::sync::watch;
use whatsapp_rust::download::{MediaHost, MediaRoute};

const CUSTOMER: &str = "5511999990000";
const NUMBER_ID: &str = "106540352242922";
const CLOUD_TOKEN: &str = "EAAG-test-system-user-token";

fn clip() -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/voice-note.ogg",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the voice clip fixture")
}

struct Options {
    transcribe: bool,
    vision: bool,
    debounce: u32,
}

const PLAIN: Options = Options {
    transcribe: true,
    vision: false,
    debounce: 0,
};

struct Rig {
    app: TestApp,
    llm: Fake,
    graph: FakeGraph,
    media: FakeMedia,
    voice: FakeTranscribe,
    cdn: FakeCdn,
    inbound: Arc<MemoryQueue>,
    outbound: Arc<MemoryQueue>,
    dead: Arc<MemoryQueue>,
    store_id: String,
    api_key: String,
    _stop: watch::Sender<bool>,
}

impl Rig {
    async fn new(t: TestStore, options: Options) -> Self {
        let (llm, graph, media, voice, cdn) = (
            fake_llm::llm().await,
            fake_graph::graph().await,
            fake_media::media().await,
            fake_transcribe::transcribe().await,
            fake_wa_cdn::cdn().await,
        );
        let dead = Arc::new(MemoryQueue::standard(Duration::from_secs(1)));
        let inbound = Arc::new(
            MemoryQueue::standard(Duration::from_secs(5)).with_dead_letters(4, dead.clone()),
        );
        let outbound = Arc::new(MemoryQueue::fifo(Duration::from_secs(30)));
        let app = TestApp::new(t).with_state(|s| s.graph = Arc::new(GraphClient::new(&graph.url)));
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let transcriber = options.transcribe.then(|| {
            let mut settings = TranscribeSettings::new(&voice.url, "sk-transcribe", "whisper-1");
            settings.backoff_base = Duration::from_millis(10);
            Transcriber::new(settings)
        });
        let bot = Arc::new(Bot {
            graph: GraphClient::new(&graph.url),
            media: Arc::new(MediaTools {
                fetcher: MediaFetcher::new(&media.url, Some(Arc::new(cdn_media(&cdn)))),
                transcriber,
                vision: options.vision,
            }),
            ..app.bot_over_fake_llm(&llm.url, inbound.clone(), outbound.clone())
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(worker::run_local(bot, stopped));
        let rig = Self {
            app,
            llm,
            graph,
            media,
            voice,
            cdn,
            inbound,
            outbound,
            dead,
            store_id: wa.store_id,
            api_key: wa.api_key,
            _stop: stop,
        };
        let (status, body) = rig
            .app
            .call(
                Method::PUT,
                &format!("/api/client/{}/config", rig.store_id),
                Some(&rig.api_key),
                Some(json!({"botName": "Maria", "storeType": "pizzaria",
                    "basePrompt": "Temos pizza de calabresa por R$ 45.",
                    "debounceSeconds": options.debounce})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        rig
    }

    async fn send(&self, line: Line, message: ChatMessage) {
        let job = BotJob::Message {
            store_id: self.store_id.clone(),
            line,
            message,
        };
        self.inbound.send(job.outgoing()).await.unwrap();
    }

    async fn web(&self, message: ChatMessage) {
        self.send(Line::Web { slot: 1 }, message).await;
    }

    /// The replies handed to the gateway, each joined.
    fn replies(&self) -> Vec<String> {
        self.outbound
            .bodies()
            .iter()
            .map(|b| {
                serde_json::from_str::<OutboundReply>(b)
                    .unwrap()
                    .chunks
                    .join("\n\n")
            })
            .collect()
    }

    /// Waits until the inbound queue is empty (every job and its retries done).
    async fn settle(&self) {
        for _ in 0..600 {
            if self.inbound.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// The customer texts (`user` role) the LLM's `n`-th request carried.
    fn llm_user_texts(&self, n: usize) -> Vec<String> {
        self.llm.script.request(n)["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| match &m["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    /// The usage route's totals (the last 30 days).
    async fn usage_totals(&self) -> Value {
        let (status, body) = self
            .app
            .call(
                Method::GET,
                &format!("/api/client/{}/usage", self.store_id),
                Some(&self.api_key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["totals"].clone()
    }

    /// The chat's history on slot 1 as the store keeps it (oldest first): role and text.
    async fn history(&self) -> Vec<(Role, String)> {
        let line = Line::Web { slot: 1 };
        let chat = ChatRef {
            store_id: &self.store_id,
            line: &line,
            chat: CUSTOMER,
        };
        let turn = chat::load_turn(
            self.app.state.store.as_ref(),
            &chat,
            50,
            60,
            platefull::ids::now_ms(),
        )
        .await
        .unwrap();
        turn.history.into_iter().map(|e| (e.role, e.text)).collect()
    }

    async fn config(&self, patch: Value) {
        let mut config = json!({"botName": "Maria", "storeType": "pizzaria",
            "basePrompt": "Temos pizza de calabresa por R$ 45."});
        for (k, v) in patch.as_object().unwrap() {
            config[k] = v.clone();
        }
        let (status, body) = self
            .app
            .call(
                Method::PUT,
                &format!("/api/client/{}/config", self.store_id),
                Some(&self.api_key),
                Some(config),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn attach_number(&self) {
        self.graph
            .grant(CLOUD_TOKEN, NUMBER_ID, "+55 11 98888-7777", "Pizzaria X");
        let (status, body) = self
            .app
            .call(
                Method::PUT,
                &format!("/api/whatsapp/{}/cloud-api", self.store_id),
                Some(&self.api_key),
                Some(json!({"phoneNumberId": NUMBER_ID, "accessToken": CLOUD_TOKEN})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..800 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn message(id: &str, text: &str, media: Option<MediaPart>) -> ChatMessage {
    ChatMessage {
        id: id.into(),
        chat: CUSTOMER.into(),
        from_me: false,
        text: text.into(),
        timestamp: 1_700_000_000,
        is_group: false,
        ephemeral_expiration: None,
        media: media.map(Box::new),
        name: None,
        alias: None,
        received_ms: None,
    }
}

fn voice(bytes: &[u8], seconds: u32) -> MediaPart {
    MediaPart {
        mimetype: Some("audio/ogg; codecs=opus".into()),
        size: Some(bytes.len() as u64),
        seconds: Some(seconds),
        handle: Some(MediaHandle::Inline {
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
        ..MediaPart::of(MediaKind::Voice)
    }
}

// --- Voice notes ---------------------------------------------------------------------

async fn a_voice_note_is_transcribed_and_answered_once(t: TestStore) {
    let rig = Rig::new(t, PLAIN).await;
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    rig.settle().await;
    let heard = rig.voice.heard();
    assert_eq!(heard.len(), 1);
    let h = &heard[0];
    assert_eq!(
        (h.file_name.as_str(), h.content_type.as_str()),
        ("audio.ogg", "audio/ogg")
    );
    assert_eq!((h.model.as_str(), h.language.as_str()), ("whisper-1", "pt"));
    assert_eq!(h.file_len, clip().len(), "the whole clip went");
    assert_eq!(&h.file_head[..4], b"OggS", "a real Ogg file");
    assert_eq!(h.auth.as_deref(), Some("Bearer sk-transcribe"));
    assert_eq!(rig.llm.script.count(), 1);
    let texts = rig.llm_user_texts(1);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("(áudio transcrito) oi, queria uma pizza grande de calabresa")),
        "{texts:?}"
    );
    assert_eq!(rig.replies().len(), 1, "one reply");
    // Redelivered (WhatsApp sends it again): not transcribed again, not answered again.
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    rig.settle().await;
    assert_eq!(
        rig.voice.heard().len(),
        1,
        "transcribed once per message id"
    );
    assert_eq!(rig.llm.script.count(), 1);
    assert_eq!(rig.replies().len(), 1);
    // Billed once: its 4 seconds and one customer message, the redelivery nothing.
    let totals = rig.usage_totals().await;
    assert_eq!(totals["voiceSeconds"], 4, "{totals}");
    assert_eq!(totals["customerMessages"], 1, "{totals}");
    // A typed message counts no voice.
    rig.web(message("T1", "e uma coca", None)).await;
    until("the second reply", || rig.replies().len() == 2).await;
    rig.settle().await;
    let totals = rig.usage_totals().await;
    assert_eq!(totals["voiceSeconds"], 4, "{totals}");
    assert_eq!(totals["customerMessages"], 2, "{totals}");
}

async fn a_voice_note_and_a_text_in_one_burst_get_one_reply_seeing_both(t: TestStore) {
    let rig = Rig::new(
        t,
        Options {
            debounce: 1,
            ..PLAIN
        },
    )
    .await;
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    rig.web(message("T1", "e uma coca de 2 litros", None)).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rig.settle().await;
    assert_eq!(rig.llm.script.count(), 1, "one turn");
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(
        texts.contains("calabresa") && texts.contains("coca de 2 litros"),
        "{texts}"
    );
    assert_eq!(rig.replies().len(), 1);
}

async fn no_transcription_key_asks_to_type_once_per_chat(t: TestStore) {
    let rig = Rig::new(
        t,
        Options {
            transcribe: false,
            ..PLAIN
        },
    )
    .await;
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    rig.web(message("V2", "", Some(voice(&clip(), 4)))).await;
    rig.settle().await;
    assert_eq!(rig.replies(), vec![PLEASE_TYPE_REPLY.to_owned()]);
    assert_eq!(rig.llm.script.count(), 0, "the model isn't asked");
    assert!(rig.voice.heard().is_empty());
    // A typed message afterwards is answered as usual, seeing that audio came.
    rig.web(message("T1", "quero uma pizza", None)).await;
    until("the typed reply", || rig.replies().len() == 2).await;
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(
        texts.contains("áudio") && texts.contains("quero uma pizza"),
        "{texts}"
    );
}

async fn pins_become_text_for_the_model(t: TestStore) {
    let rig = Rig::new(t, PLAIN).await;
    let pin = MediaPart {
        location: Some(Location {
            lat: -23.5613,
            lng: -46.6565,
            name: Some("MASP".into()),
            address: Some("Av. Paulista, 1578".into()),
        }),
        ..MediaPart::of(MediaKind::Location)
    };
    rig.web(message("L1", "", Some(pin))).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(
        texts.contains(r#""lat":-23.5613"#)
            && texts.contains(r#""lng":-46.6565"#)
            && texts.contains("Av. Paulista, 1578"),
        "{texts}"
    );
}

async fn ignored_kinds_get_no_reply_and_edits_no_second_one(t: TestStore) {
    let rig = Rig::new(t, PLAIN).await;
    rig.web(message("T1", "quero uma pizza", None)).await;
    until("the first reply", || rig.replies().len() == 1).await;
    for (n, kind) in [
        MediaKind::Reaction,
        MediaKind::Sticker,
        MediaKind::Deleted,
        MediaKind::Call,
        MediaKind::Protocol,
    ]
    .into_iter()
    .enumerate()
    {
        let part = MediaPart {
            target: Some("T1".into()),
            ..MediaPart::of(kind)
        };
        rig.web(message(&format!("I{n}"), "", Some(part))).await;
    }
    let edit = MediaPart {
        target: Some("T1".into()),
        ..MediaPart::of(MediaKind::Edit)
    };
    rig.web(message("E1", "quero duas pizzas", Some(edit)))
        .await;
    rig.settle().await;
    assert_eq!(
        rig.replies().len(),
        1,
        "no reply to reactions, stickers, deletions, calls, protocol messages or the edit"
    );
    assert_eq!(rig.llm.script.count(), 1);
    // The edit is in the history the next turn sees.
    rig.web(message("T2", "pode ser?", None)).await;
    until("the next reply", || rig.replies().len() == 2).await;
    let texts = rig.llm_user_texts(2).join("\n");
    assert!(
        texts.contains("editou") && texts.contains("quero duas pizzas"),
        "{texts}"
    );
    assert!(!texts.contains('👍'));
}

async fn voice_notes_are_not_transcribed_for_a_bot_switched_off_or_a_paused_chat(t: TestStore) {
    let rig = Rig::new(t, PLAIN).await;
    rig.config(json!({"botEnabled": false})).await;
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    rig.settle().await;
    assert!(rig.voice.heard().is_empty(), "nothing transcribed");
    assert!(rig.outbound.is_empty(), "nothing answered");
    assert_eq!(
        rig.history().await,
        [(Role::Customer, NOT_TRANSCRIBED.to_owned())],
        "recorded for the inbox"
    );
    // The bot on again, but the owner writing in this chat: paused, still not transcribed.
    rig.config(json!({"botEnabled": true})).await;
    rig.web(ChatMessage {
        from_me: true,
        ..message("O1", "oi, aqui é o dono", None)
    })
    .await;
    rig.settle().await;
    rig.web(message("V2", "", Some(voice(&clip(), 6)))).await;
    rig.settle().await;
    assert!(rig.voice.heard().is_empty(), "nothing transcribed");
    assert!(rig.outbound.is_empty(), "nothing answered");
    assert_eq!(rig.llm.script.count(), 0);
    let history = rig.history().await;
    assert_eq!(history.len(), 3, "{history:?}");
    assert_eq!(history[2], (Role::Customer, NOT_TRANSCRIBED.to_owned()));
    let totals = rig.usage_totals().await;
    assert_eq!(totals["voiceSeconds"], 0, "{totals}");
    assert_eq!(totals["customerMessages"], 2, "{totals}");
}

async fn a_voice_note_then_a_text_keep_their_order_while_it_is_transcribed(t: TestStore) {
    let rig = Rig::new(
        t,
        Options {
            debounce: 1,
            ..PLAIN
        },
    )
    .await;
    // The transcript comes back after the text was recorded.
    rig.voice.slow(Duration::from_millis(700));
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    rig.web(message("T1", "e uma coca de 2 litros", None)).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rig.settle().await;
    assert_eq!(rig.llm.script.count(), 1, "one turn");
    let history = rig.history().await;
    let texts: Vec<&str> = history.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[0].contains("calabresa"),
        "the voice note first: {texts:?}"
    );
    assert_eq!(texts[1], "e uma coca de 2 litros", "{texts:?}");
    assert_eq!(history[2].0, Role::Bot);
    // The model saw them in that order too.
    let seen = rig.llm_user_texts(1).join("\n");
    let (voice_at, text_at) = (seen.find("calabresa"), seen.find("coca de 2 litros"));
    assert!(
        voice_at.is_some() && text_at.is_some() && voice_at < text_at,
        "{seen}"
    );
    assert_eq!(rig.replies().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_retried_from_the_queue_still_reads_before_a_later_text() {
    let rig = Rig::new(
        embedded_store().await,
        Options {
            // Longer than the retry's 1 s: the voice note is back and transcribed before the
            // text's turn closes, however loaded the machine.
            debounce: 4,
            ..PLAIN
        },
    )
    .await;
    // The first delivery's three tries fail, the last asking for a second: the job comes
    // back from the queue after the text was recorded.
    for _ in 0..2 {
        rig.voice
            .script
            .push(503, json!({"error": {"message": "busy"}}), None);
    }
    rig.voice
        .script
        .push(429, json!({"error": {"message": "slow down"}}), Some(1));
    let sent = platefull::ids::now_ms() / 1000;
    rig.web(ChatMessage {
        timestamp: sent,
        ..message("V1", "", Some(voice(&clip(), 4)))
    })
    .await;
    until("the first delivery's tries", || {
        rig.voice.heard().len() == 3
    })
    .await;
    rig.web(ChatMessage {
        timestamp: sent,
        ..message("T1", "e uma coca de 2 litros", None)
    })
    .await;
    until("a reply", || !rig.outbound.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rig.settle().await;
    assert_eq!(rig.voice.heard().len(), 4);
    let history = rig.history().await;
    let texts: Vec<&str> = history.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        texts[0].contains("calabresa"),
        "the voice note first: {texts:?}"
    );
    assert_eq!(texts[1], "e uma coca de 2 litros", "{texts:?}");
    assert_eq!(rig.replies().len(), 1, "one reply seeing both");
}

/// The chat's timeline as the console reads it (`GET …/chats/{chatId}/messages`): id and
/// role of each message, oldest first.
async fn timeline(rig: &Rig) -> Vec<(String, String)> {
    let (status, page) = rig
        .app
        .call(
            Method::GET,
            &format!(
                "/api/whatsapp/{}/chats/w1:{CUSTOMER}/messages",
                rig.store_id
            ),
            Some(&rig.api_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap().to_owned();
            (field("id"), field("role"))
        })
        .collect()
}

async fn two_voice_notes_of_the_same_second_both_redelivered_keep_their_arrival_order(
    t: TestStore,
) {
    let rig = Rig::new(t, PLAIN).await;
    // Both first deliveries fail (three tries each): both are recorded on a redelivery,
    // when only their stamps say which came first.
    for _ in 0..6 {
        rig.voice
            .script
            .push(503, json!({"error": {"message": "busy"}}), None);
    }
    let sent = platefull::ids::now_ms() / 1000;
    // Ids that sort the other way round, and one WhatsApp second for both; the receipt
    // times as the gateway's commit stamps a batch.
    for id in ["ZZ-first", "AA-second"] {
        rig.web(ChatMessage {
            timestamp: sent,
            received_ms: Some(platefull::ids::monotonic_ms()),
            ..message(id, "", Some(voice(&clip(), 4)))
        })
        .await;
    }
    for _ in 0..1_500 {
        let seen = timeline(&rig).await;
        if seen.iter().filter(|(_, role)| role == "bot").count() >= 1
            && seen.iter().filter(|(_, role)| role == "customer").count() == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.settle().await;
    assert!(rig.voice.heard().len() >= 8, "both were redelivered");
    let seen = timeline(&rig).await;
    let customers: Vec<&str> = seen
        .iter()
        .filter(|(_, role)| role == "customer")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(customers, ["ZZ-first", "AA-second"], "{seen:?}");
    assert_eq!(seen[0].0, "ZZ-first", "{seen:?}");
    assert_eq!(seen[1].0, "AA-second", "{seen:?}");
    assert!(seen[2..].iter().all(|(_, role)| role == "bot"), "{seen:?}");
    // Delivered once more: still once in the timeline.
    rig.web(ChatMessage {
        timestamp: sent,
        received_ms: Some(platefull::ids::monotonic_ms()),
        ..message("ZZ-first", "", Some(voice(&clip(), 4)))
    })
    .await;
    rig.settle().await;
    assert_eq!(timeline(&rig).await[..2], seen[..2]);
    assert_eq!(timeline(&rig).await.len(), seen.len());
}

async fn an_oversize_voice_note_and_a_text_get_the_polite_reply_and_an_answer(t: TestStore) {
    let rig = Rig::new(
        t,
        Options {
            debounce: 1,
            ..PLAIN
        },
    )
    .await;
    rig.llm.script.says("Anotado: uma coca de 2 litros.");
    rig.web(message("T1", "quero uma coca de 2 litros", None))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    rig.web(message("V1", "", Some(voice(&clip(), 301)))).await;
    until("two replies", || rig.replies().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rig.settle().await;
    let replies = rig.replies();
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0], TOO_LONG_REPLY);
    assert_eq!(replies[1], "Anotado: uma coca de 2 litros.");
    assert_eq!(rig.llm.script.count(), 1, "one turn for the text");
    let seen = rig.llm_user_texts(1).join("\n");
    assert!(seen.contains("quero uma coca de 2 litros"), "{seen}");
    assert!(
        rig.voice.heard().is_empty(),
        "the long note was not transcribed"
    );
}

for_each_store!(
    two_voice_notes_of_the_same_second_both_redelivered_keep_their_arrival_order,
    voice_notes_are_not_transcribed_for_a_bot_switched_off_or_a_paused_chat,
    a_voice_note_then_a_text_keep_their_order_while_it_is_transcribed,
    an_oversize_voice_note_and_a_text_get_the_polite_reply_and_an_answer,
    a_voice_note_is_transcribed_and_answered_once,
    a_voice_note_and_a_text_in_one_burst_get_one_reply_seeing_both,
    no_transcription_key_asks_to_type_once_per_chat,
    pins_become_text_for_the_model,
    ignored_kinds_get_no_reply_and_edits_no_second_one,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcription_429_and_5xx_are_retried_then_the_job_goes_back_to_the_queue() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    // Three failures use up the first delivery's tries; the job comes back from the queue
    // and the fourth failure then a success end in one reply.
    rig.voice
        .script
        .push(429, json!({"error": {"message": "rate limited"}}), Some(0));
    rig.voice
        .script
        .push(500, json!({"error": {"message": "boom"}}), None);
    rig.voice
        .script
        .push(503, json!({"error": {"message": "busy"}}), None);
    rig.voice
        .script
        .push(502, json!({"error": {"message": "bad gateway"}}), None);
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    rig.settle().await;
    assert_eq!(rig.voice.heard().len(), 5);
    assert_eq!(rig.replies().len(), 1);
    assert_eq!(rig.llm.script.count(), 1);
    assert!(rig.dead.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_transcription_service_ends_in_the_dead_letters_unanswered() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    for _ in 0..10 {
        rig.voice
            .script
            .push(401, json!({"error": {"message": "bad key"}}), None);
    }
    rig.web(message("V1", "", Some(voice(&clip(), 4)))).await;
    until("the dead letter", || rig.dead.len() == 1).await;
    assert!(rig.outbound.is_empty());
    assert_eq!(rig.llm.script.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_voice_notes_get_a_polite_reply_and_no_download() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    rig.attach_number().await;
    rig.media.require_token(CLOUD_TOKEN);
    rig.media.put("555", "audio/ogg", clip());
    let long = MediaPart {
        seconds: Some(301),
        handle: Some(MediaHandle::Cloud {
            media_id: "555".into(),
        }),
        ..MediaPart::of(MediaKind::Voice)
    };
    let line = Line::Cloud {
        phone_number_id: NUMBER_ID.into(),
    };
    rig.send(line, message("wamid.LONG", "", Some(long))).await;
    until("the reply", || rig.graph.script.count() == 1).await;
    rig.settle().await;
    let sent = rig.graph.script.request(1);
    assert_eq!(sent["text"]["body"], TOO_LONG_REPLY);
    assert!(rig.media.downloads().is_empty(), "nothing downloaded");
    assert!(rig.voice.heard().is_empty());
    assert_eq!(rig.llm.script.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_file_that_hid_its_size_is_cut_at_the_cap() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    rig.attach_number().await;
    // 256 MB behind a media id that declares no size (nor does the message).
    rig.media.put_generated("666", "audio/ogg", 256 << 20, None);
    let part = MediaPart {
        handle: Some(MediaHandle::Cloud {
            media_id: "666".into(),
        }),
        ..MediaPart::of(MediaKind::Voice)
    };
    let line = Line::Cloud {
        phone_number_id: NUMBER_ID.into(),
    };
    rig.send(line, message("wamid.HUGE", "", Some(part))).await;
    until("the reply", || rig.graph.script.count() == 1).await;
    assert_eq!(rig.graph.script.request(1)["text"]["body"], TOO_LONG_REPLY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The cap (16 MB) plus what socket buffers took ahead of the reader.
    assert!(
        rig.media.bytes_sent() < 32 << 20,
        "{} bytes sent of 256 MB",
        rig.media.bytes_sent()
    );
    assert!(rig.voice.heard().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_api_voice_note_from_metas_fixture_is_fetched_with_the_token_and_answered() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    rig.attach_number().await;
    rig.media.require_token(CLOUD_TOKEN);
    rig.media.put("1010101010101010", "audio/ogg", clip());
    let payload: Value = serde_json::from_slice(&fixture("audio-message.json")).unwrap();
    let events = cloud_api::parse_webhook(&payload).unwrap();
    assert_eq!(events.len(), 1);
    let job = events.into_iter().next().unwrap().into_job(&rig.store_id);
    rig.inbound.send(job.outgoing()).await.unwrap();
    until("the reply", || rig.graph.script.count() == 1).await;
    assert_eq!(rig.media.downloads(), ["1010101010101010"]);
    assert_eq!(&rig.voice.heard()[0].file_head[..4], b"OggS");
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(texts.contains("(áudio transcrito)"), "{texts}");
    // Meta declares no duration: the file's own (4 s) is counted.
    rig.settle().await;
    assert_eq!(rig.usage_totals().await["voiceSeconds"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_by_caption_or_a_short_reply_without_vision() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    let picture = |caption: Option<&str>| MediaPart {
        mimetype: Some("image/jpeg".into()),
        caption: caption.map(str::to_owned),
        handle: Some(MediaHandle::Inline {
            base64: "/9j/4AAQSkZJRgABAQ==".into(),
        }),
        ..MediaPart::of(MediaKind::Image)
    };
    rig.web(message("P1", "", Some(picture(None)))).await;
    until("the short reply", || rig.replies().len() == 1).await;
    assert_eq!(rig.replies()[0], PICTURE_REPLY);
    assert_eq!(rig.llm.script.count(), 0);
    rig.web(message("P2", "", Some(picture(Some("tem dessa?")))))
        .await;
    until("the captioned reply", || rig.replies().len() == 2).await;
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(texts.contains("foto com a legenda) tem dessa?"), "{texts}");
}

/// A `width` × `height` PNG of a smooth gradient (small on disk, many pixels).
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().unwrap();
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&[(x / 12) as u8, (y / 8) as u8, 128]);
        }
    }
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// A PNG whose header declares `width` × `height` and which holds no pixels at all (a
/// "decompression bomb" as the decoder would see it: a few bytes asking for gigabytes).
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    let mut writer = encoder.write_header().unwrap();
    // The first data chunk, an empty zlib stream: where a decoder stops reading the header.
    writer
        .write_chunk(
            png::chunk::IDAT,
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        )
        .unwrap();
    drop(writer);
    out
}

fn picture(bytes: &[u8], mimetype: &str, caption: Option<&str>) -> MediaPart {
    MediaPart {
        mimetype: Some(mimetype.into()),
        size: Some(bytes.len() as u64),
        caption: caption.map(str::to_owned),
        handle: Some(MediaHandle::Inline {
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
        ..MediaPart::of(MediaKind::Image)
    }
}

async fn vision_rig() -> Rig {
    Rig::new(
        embedded_store().await,
        Options {
            vision: true,
            ..PLAIN
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_vision_a_picture_is_shrunk_described_by_the_model_then_answered() {
    let rig = vision_rig().await;
    rig.llm.script.says("Uma pizza de calabresa com cebola.");
    let photo = png(3000, 2000);
    rig.web(message("P1", "", Some(picture(&photo, "image/png", None))))
        .await;
    until("the reply", || rig.replies().len() == 1).await;
    assert_eq!(rig.llm.script.count(), 2, "a look, then the turn");
    let look = rig.llm.script.request(1);
    let parts = &look["messages"][1]["content"];
    assert_eq!(parts[1]["type"], "image_url");
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    let b64 = url
        .strip_prefix("data:image/jpeg;base64,")
        .unwrap_or_else(|| panic!("a JPEG data URL: {}", &url[..40.min(url.len())]));
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(
        jpeg.len() < photo.len(),
        "{} of {} bytes",
        jpeg.len(),
        photo.len()
    );
    let seen = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
    // 3000 × 2000 → 1024 on the long side, the proportions kept.
    assert_eq!((seen.width(), seen.height()), (1024, 683));
    let texts = rig.llm_user_texts(2).join("\n");
    assert!(
        texts.contains("(o cliente enviou uma foto: Uma pizza de calabresa com cebola.)"),
        "{texts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_declaring_too_many_pixels_is_refused_politely_without_a_look() {
    let rig = vision_rig().await;
    let bomb = png_header(100_000, 100_000);
    assert!(bomb.len() < 100, "a tiny file: {} bytes", bomb.len());
    rig.web(message("B1", "", Some(picture(&bomb, "image/png", None))))
        .await;
    until("the polite reply", || rig.replies().len() == 1).await;
    assert_eq!(rig.replies()[0], PICTURE_TOO_BIG_REPLY);
    assert_eq!(rig.llm.script.count(), 0, "no look, no turn");
    // With a caption, the caption is answered (as without vision).
    rig.web(message(
        "B2",
        "",
        Some(picture(&bomb, "image/png", Some("tem dessa?"))),
    ))
    .await;
    until("the captioned reply", || rig.replies().len() == 2).await;
    assert_eq!(rig.llm.script.count(), 1, "the turn only");
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(texts.contains("foto com a legenda) tem dessa?"), "{texts}");
    assert!(rig.dead.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_picture_goes_on_as_one_the_model_cannot_see() {
    let rig = vision_rig().await;
    let mut cut = png(600, 400);
    cut.truncate(cut.len() / 2);
    let not_a_jpeg = b"\xff\xd8\xff\xe0 not really".to_vec();
    for (n, (id, bytes)) in [("C1", cut.clone()), ("C2", not_a_jpeg)]
        .into_iter()
        .enumerate()
    {
        rig.web(message(id, "", Some(picture(&bytes, "image/jpeg", None))))
            .await;
        until("the short reply", || rig.replies().len() == n + 1).await;
    }
    assert_eq!(rig.replies(), [PICTURE_REPLY, PICTURE_REPLY]);
    assert_eq!(rig.llm.script.count(), 0, "no look, no turn");
    rig.web(message(
        "C3",
        "",
        Some(picture(&cut, "image/png", Some("quanto custa?"))),
    ))
    .await;
    until("the captioned reply", || rig.replies().len() == 3).await;
    assert_eq!(rig.llm.script.count(), 1, "no look: the turn only");
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(
        texts.contains("foto com a legenda) quanto custa?"),
        "{texts}"
    );
    assert!(rig.dead.is_empty());
}

// --- WhatsApp Web's CDN ---------------------------------------------------------------

/// The WhatsApp Web transport's downloader (whatsapp-rust's `MediaDownloader` and ureq
/// client), its one CDN host the fake.
fn cdn_media(cdn: &FakeCdn) -> CdnMedia {
    CdnMedia::new(
        cdn.client(),
        MediaRoute::unauthenticated(vec![MediaHost::new(fake_wa_cdn::HOST)]),
    )
}

fn web_handle(direct_path: &str, sealed: &Encrypted, media_type: &str) -> MediaHandle {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    MediaHandle::Web {
        direct_path: direct_path.into(),
        media_key: b64(&sealed.media_key),
        file_sha256: b64(&sealed.file_sha256),
        file_enc_sha256: b64(&sealed.file_enc_sha256),
        media_type: media_type.into(),
    }
}

const VOICE_PATH: &str = "/v/t62.7117-24/11111_22222_voice.enc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_web_media_is_fetched_from_the_cdn_decrypted_and_checked() {
    let cdn = fake_wa_cdn::cdn().await;
    let media = cdn_media(&cdn);
    let limit = platefull::media::plan::MAX_MEDIA_BYTES;
    let clip = clip();
    let sealed = fake_wa_cdn::encrypt(&clip, [7; 32], "WhatsApp Audio Keys");
    assert_ne!(&sealed.blob[..64], &clip[..64], "encrypted");
    cdn.put(VOICE_PATH, sealed.blob.clone());
    let voice = web_handle(VOICE_PATH, &sealed, "audio");
    assert_eq!(media.download(&voice, limit).await.unwrap(), clip);
    // The URL is the direct path on a CDN host, its token the blob's hash.
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed.file_enc_sha256);
    assert_eq!(cdn.requests(), [format!("{VOICE_PATH}?token={token}")]);

    // A picture, under its own keys.
    let photo = png(64, 48);
    let picture = fake_wa_cdn::encrypt(&photo, [9; 32], "WhatsApp Image Keys");
    cdn.put("/v/t62.7118-24/photo.enc", picture.blob.clone());
    let handle = web_handle("/v/t62.7118-24/photo.enc", &picture, "image");
    assert_eq!(media.download(&handle, limit).await.unwrap(), photo);

    // The same blob taken for another media type derives other keys: its MAC fails.
    let as_image = web_handle(VOICE_PATH, &sealed, "image");
    let err = media.download(&as_image, limit).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Unavailable(m) if m.contains("MAC")),
        "{err:?}"
    );
    // A blob altered on the way: its MAC fails.
    let mut altered = sealed.blob.clone();
    altered[100] ^= 1;
    cdn.put("/v/t62.7117-24/altered.enc", altered);
    let err = media
        .download(
            &web_handle("/v/t62.7117-24/altered.enc", &sealed, "audio"),
            limit,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Unavailable(m) if m.contains("MAC")),
        "{err:?}"
    );
    // A file that isn't the one its message hashed (the MAC holds: same key).
    let other = fake_wa_cdn::encrypt(b"not the voice note", [7; 32], "WhatsApp Audio Keys");
    cdn.put("/v/t62.7117-24/other.enc", other.blob.clone());
    let lying = Encrypted {
        file_sha256: sealed.file_sha256,
        ..other
    };
    let err = media
        .download(
            &web_handle("/v/t62.7117-24/other.enc", &lying, "audio"),
            limit,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Gone(m) if m.contains("hash")),
        "{err:?}"
    );
    // Over the cap: refused, nothing handed on.
    let err = media
        .download(&voice, clip.len() as u64 - 1)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::TooLarge {
            limit: clip.len() as u64 - 1
        }
    );
    // A reference the CDN doesn't know (expired): gone, not retried.
    let err = media
        .download(
            &web_handle("/v/t62.7117-24/expired.enc", &sealed, "audio"),
            limit,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Gone(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_web_voice_note_from_the_cdn_is_transcribed_and_answered() {
    let rig = Rig::new(embedded_store().await, PLAIN).await;
    let clip = clip();
    let sealed = fake_wa_cdn::encrypt(&clip, [5; 32], "WhatsApp Audio Keys");
    rig.cdn.put(VOICE_PATH, sealed.blob.clone());
    let note = MediaPart {
        mimetype: Some("audio/ogg; codecs=opus".into()),
        size: Some(clip.len() as u64),
        seconds: Some(4),
        handle: Some(web_handle(VOICE_PATH, &sealed, "audio")),
        ..MediaPart::of(MediaKind::Voice)
    };
    rig.web(message("W1", "", Some(note))).await;
    until("a reply", || !rig.outbound.is_empty()).await;
    let heard = rig.voice.heard();
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].file_len, clip.len(), "the decrypted clip, whole");
    assert_eq!(heard[0].file_head, clip[..heard[0].file_head.len()]);
    let texts = rig.llm_user_texts(1).join("\n");
    assert!(texts.contains("(áudio transcrito)"), "{texts}");
}

// --- Meta's webhook payloads ------------------------------------------------------------

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../events/whatsapp-webhook/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

#[test]
fn metas_documented_payloads_become_media_parts() {
    let part = |name: &str| {
        let payload: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let events = cloud_api::parse_webhook(&payload).unwrap();
        match events.into_iter().next().unwrap() {
            cloud_api::CloudEvent::Message { message, .. } => message,
            other => panic!("{other:?}"),
        }
    };
    let audio = part("audio-message.json").media.unwrap();
    assert_eq!(audio.kind, MediaKind::Voice);
    assert_eq!(audio.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
    let image = part("image-message.json").media.unwrap();
    assert_eq!(
        (image.kind, image.caption.as_deref()),
        (MediaKind::Image, Some("Tem essa pizza?"))
    );
    let document = part("document-message.json").media.unwrap();
    assert_eq!(document.file_name.as_deref(), Some("comprovante-pix.pdf"));
    assert!(platefull::media::plan::may_be_receipt(&document));
    assert_eq!(
        part("sticker-message.json").media.unwrap().kind,
        MediaKind::Sticker
    );
    let location = part("location-message.json")
        .media
        .unwrap()
        .location
        .unwrap();
    assert_eq!(
        (location.lat, location.name.as_deref()),
        (-23.5613, Some("MASP"))
    );
    let reaction = part("reaction-message.json").media.unwrap();
    assert_eq!(reaction.kind, MediaKind::Reaction);
    assert!(reaction.target.unwrap().starts_with("wamid."));
    let edit = part("edited-message.json");
    assert_eq!(edit.media.as_ref().unwrap().kind, MediaKind::Edit);
    assert_eq!(
        edit.text,
        "Oi, vocês têm pizza de calabresa e de mussarela?"
    );
}

// --- The simulator ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_route_takes_one_of_text_audio_image_or_location() {
    let sim = platefull::whatsapp::simulator::Simulator::new("http://localhost");
    let app = TestApp::new(embedded_store().await).with_sessions(
        platefull_tests::stack::fifo_queue(),
        Duration::from_millis(50),
        &sim,
    );
    let path = "/dev/simulator/st_x/1/messages";
    let b64 = base64::engine::general_purpose::STANDARD.encode(clip());
    for body in [
        json!({"from": CUSTOMER}),
        json!({"from": CUSTOMER, "text": "oi", "audio": {"base64": b64}}),
    ] {
        let (status, answer) = app.call(Method::POST, path, None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], "validation_error");
    }
    let (status, answer) = app
        .call(
            Method::POST,
            path,
            None,
            Some(json!({"from": CUSTOMER, "location": {"lat": 123.0, "lng": 0.0}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["field"], "location");
    // Well-formed, but no simulated phone is linked to that slot: refused by the simulator
    // itself (the media reached it).
    for body in [
        json!({"from": CUSTOMER, "audio": {"base64": b64, "mimetype": "audio/ogg; codecs=opus"}}),
        json!({"from": CUSTOMER, "image": {"base64": "iVBORw0KGgo=", "caption": "essa"}}),
        json!({"from": CUSTOMER, "location": {"lat": -23.56, "lng": -46.65, "name": "MASP"}}),
    ] {
        let (status, answer) = app.call(Method::POST, path, None, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    }
}
