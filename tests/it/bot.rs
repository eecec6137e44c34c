//! The bot pipeline end to end, in-process: the simulator's customer → gateway → inbound
//! queue → bot worker (fake LLM at the HTTP level) → outbound queue → gateway → the
//! simulator's outbox; and Meta's webhook → bot → fake Graph API. The store is the embedded
//! one or DynamoDB on moto; the durability test runs the inbound queue on SQS (moto).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use platefull::bot::chat::{self, ChatRef, TurnLimit};
use platefull::bot::cloud_api::{self, GraphClient};
use platefull::bot::llm::{Llm, LlmError, LlmMessage, OpenAiCompatible, Tools};
use platefull::bot::prompt;
use platefull::bot::reply::Pacing;
use platefull::bot::worker::{self, Bot};
use platefull::jobs::{BotJob, Line, OutboundReply};
use platefull::queue::memory::MemoryQueue;
use platefull::queue::{Outgoing, Queue};
use platefull::store::keys;
use platefull::whatsapp::commands::SessionCommand;
use platefull::whatsapp::events::{ChatMessage, SlotKey};
use platefull::whatsapp::gateway::{GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::Simulator;
use platefull::whatsapp::slots;
use platefull_tests::fake_graph::{self, FakeGraph};
use platefull_tests::fake_huge::{self, Mode};
use platefull_tests::fake_llm::{self, completion, Fake};
use platefull_tests::stack::{self, APP_SECRET, VERIFY_TOKEN};
use platefull_tests::{embedded_store, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};
use tokio::sync::watch;

pub(crate) const CUSTOMER: &str = "5511999990000";
pub(crate) const NUMBER_ID: &str = "106540352242922";

pub(crate) struct Pipeline {
    pub(crate) app: TestApp,
    pub(crate) sim: Arc<Simulator>,
    pub(crate) llm: Fake,
    pub(crate) graph: FakeGraph,
    pub(crate) inbound: Arc<MemoryQueue>,
    pub(crate) dead: Arc<MemoryQueue>,
    pub(crate) dead_replies: Arc<MemoryQueue>,
    pub(crate) store_id: String,
    pub(crate) api_key: String,
    pub(crate) _stop: watch::Sender<bool>,
}

impl Pipeline {
    pub(crate) async fn new(t: TestStore) -> Self {
        Self::with_pacing(t, Pacing::none()).await
    }

    pub(crate) async fn with_pacing(t: TestStore, pacing: Pacing) -> Self {
        Self::with(t, pacing, TurnLimit::default()).await
    }

    pub(crate) async fn with(t: TestStore, pacing: Pacing, turn_limit: TurnLimit) -> Self {
        Self::build(t, pacing, turn_limit, None).await
    }

    /// The pipeline, with `graph_client` instead of one aimed at the fake Graph API.
    pub(crate) async fn build(
        t: TestStore,
        pacing: Pacing,
        turn_limit: TurnLimit,
        graph_client: Option<GraphClient>,
    ) -> Self {
        let (llm, graph) = (fake_llm::llm().await, fake_graph::graph().await);
        let dead = Arc::new(MemoryQueue::standard(Duration::from_secs(1)));
        let dead_replies = Arc::new(MemoryQueue::fifo(Duration::from_secs(1)));
        let inbound = Arc::new(
            MemoryQueue::standard(Duration::from_secs(5)).with_dead_letters(3, dead.clone()),
        );
        let outbound = Arc::new(
            MemoryQueue::fifo(Duration::from_secs(5)).with_dead_letters(3, dead_replies.clone()),
        );
        let app = TestApp::new(t)
            .with_webhook(inbound.clone())
            .with_state(|s| {
                s.graph = Arc::new(GraphClient::new(&graph.url));
                // The console's messages go out through the gateway's outbound queue.
                s.sessions = Some(platefull::http::SessionCommands {
                    queue: stack::fifo_queue(),
                    wait: Duration::from_millis(100),
                    outbound: Some(outbound.clone()),
                });
            });
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let sim = Simulator::new("http://localhost");
        let bot = Arc::new(Bot {
            graph: graph_client.unwrap_or_else(|| GraphClient::new(&graph.url)),
            turn_limit,
            ..app.bot_over_fake_llm(&llm.url, inbound.clone(), outbound.clone())
        });
        let gateway = app.gateway(
            &sim,
            GatewayQueues {
                commands: stack::fifo_queue(),
                inbound: Some(inbound.clone()),
                outbound: Some(outbound.clone()),
            },
            GatewayConfig {
                pacing,
                // The outbound queue's visibility here (below): a reply waiting for its slot
                // is kept invisible at this pace.
                outbound_visibility: Duration::from_secs(5),
                reply_wait: Duration::from_secs(60),
                ..GatewayConfig::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(gateway.clone().run(stopped.clone()));
        tokio::spawn(worker::run_local(bot, stopped));
        let p = Self {
            api_key: wa.api_key,
            app,
            sim,
            llm,
            graph,
            inbound,
            dead,
            dead_replies,
            store_id: wa.store_id,
            _stop: stop,
        };
        p.configure(json!({
            "botName": "Maria", "storeType": "pizzaria",
            "basePrompt": "Temos pizza de calabresa por R$ 45.", "forbidden": "política",
            "debounceSeconds": 0
        }))
        .await;
        gateway
            .handle(SessionCommand::Start {
                slot: p.key(),
                pair_phone: None,
            })
            .await
            .unwrap();
        let mut paired = false;
        for _ in 0..200 {
            if p.sim
                .pair(&p.key(), None, Some("5511900000001"))
                .await
                .is_ok()
            {
                paired = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(paired, "the slot showed a QR code to pair");
        for _ in 0..200 {
            let item = slots::get_slot(p.app.state.store.as_ref(), &p.key())
                .await
                .unwrap();
            if item
                .and_then(|i| slots::slot_of(&i))
                .is_some_and(|s| s.is_active)
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("slot 1 never connected");
    }

    pub(crate) fn key(&self) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot: 1,
        }
    }

    pub(crate) async fn configure(&self, config: Value) {
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

    pub(crate) async fn customer(&self, chat: &str, text: &str, id: Option<&str>) {
        self.sim
            .customer_message(&self.key(), chat, text, id)
            .await
            .unwrap();
    }

    pub(crate) async fn owner(&self, chat: &str, text: &str) {
        self.sim
            .owner_message(&self.key(), chat, text)
            .await
            .unwrap();
    }

    pub(crate) fn outbox(&self, chat: &str) -> Vec<String> {
        self.sim
            .outbox(&self.key(), chat)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// Waits until `chat` received `n` replies (5 s at most), then a little longer so that
    /// any extra (duplicate) reply would show up too.
    pub(crate) async fn replies(&self, chat: &str, n: usize) -> Vec<String> {
        for _ in 0..500 {
            if self.outbox(chat).len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.settle().await;
        self.outbox(chat)
    }

    /// Lets every queued job run to the end.
    pub(crate) async fn settle(&self) {
        for _ in 0..500 {
            if self.inbound.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// The non-system messages of the LLM's `n`-th request (1-based).
    pub(crate) fn llm_history(&self, n: usize) -> Vec<(String, String)> {
        let (_, body, _) = self.llm.script.requests()[n - 1].clone();
        body["messages"].as_array().unwrap()[1..]
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

async fn a_customer_gets_exactly_one_reply_shaped_by_the_store(t: TestStore) {
    let p = Pipeline::new(t).await;
    for _ in 0..3 {
        // Delivered three times (WhatsApp/SQS redelivery): one reply.
        p.customer(
            CUSTOMER,
            "Oi, vocês têm pizza de calabresa?",
            Some("WAMID-1"),
        )
        .await;
    }
    assert_eq!(p.replies(CUSTOMER, 1).await, ["Resposta 1"]);
    assert_eq!(p.llm.script.count(), 1, "the model was asked once");
    let (_, request, auth) = p.llm.script.requests()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer test-key"));
    assert_eq!(request["model"], "test/primary");
    let system = request["messages"][0]["content"].as_str().unwrap();
    for part in ["Maria", "pizzaria", "calabresa por R$ 45", "política"] {
        assert!(system.contains(part), "{part} not in the system prompt");
    }
    assert!(
        !system.contains("vocês têm pizza"),
        "customer text stays out of the system prompt"
    );
    assert_eq!(
        p.llm_history(1),
        [("user".into(), "Oi, vocês têm pizza de calabresa?".into())]
    );
    // The next message is answered with the conversation so far.
    p.customer(CUSTOMER, "Quanto custa?", None).await;
    assert_eq!(p.replies(CUSTOMER, 2).await, ["Resposta 1", "Resposta 2"]);
    let history = p.llm_history(2);
    assert_eq!(
        history.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        ["user", "assistant", "user"]
    );
    assert_eq!(history[1].1, "Resposta 1");
}

for_each_store!(a_customer_gets_exactly_one_reply_shaped_by_the_store);

/// Media through the simulated phone and the real gateway: the job carries the media part
/// to the worker. This pipeline's bot has no transcription key (a "please type" reply) and
/// reads a pin as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_and_a_pin_from_the_simulated_phone_reach_the_bot() {
    use platefull::media::{Location, MediaHandle, MediaKind, MediaPart};
    let p = Pipeline::new(embedded_store().await).await;
    let voice = MediaPart {
        mimetype: Some("audio/ogg; codecs=opus".into()),
        seconds: Some(4),
        handle: Some(MediaHandle::Inline {
            base64: "T2dnUw==".into(),
        }),
        ..MediaPart::of(MediaKind::Voice)
    };
    p.sim
        .customer_media(&p.key(), CUSTOMER, voice, None)
        .await
        .unwrap();
    assert_eq!(
        p.replies(CUSTOMER, 1).await,
        [platefull::media::plan::PLEASE_TYPE_REPLY]
    );
    assert_eq!(p.llm.script.count(), 0);
    let pin = MediaPart {
        location: Some(Location {
            lat: -23.56,
            lng: -46.65,
            name: None,
            address: Some("Rua Augusta, 500".into()),
        }),
        ..MediaPart::of(MediaKind::Location)
    };
    p.sim
        .customer_media(&p.key(), CUSTOMER, pin, None)
        .await
        .unwrap();
    assert_eq!(p.replies(CUSTOMER, 2).await.len(), 2);
    let history = p.llm_history(1);
    assert!(
        history
            .iter()
            .any(|(_, text)| text.contains(r#""lat":-23.56"#) && text.contains("Rua Augusta, 500")),
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_messages_gets_one_reply() {
    let p = Pipeline::new(embedded_store().await).await;
    p.configure(json!({"debounceSeconds": 1})).await;
    for text in ["Oi", "quero uma pizza", "de calabresa"] {
        p.customer(CUSTOMER, text, None).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(p.replies(CUSTOMER, 1).await, ["Resposta 1"]);
    assert_eq!(p.llm.script.count(), 1);
    let texts: Vec<_> = p.llm_history(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["Oi", "quero uma pizza", "de calabresa"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_takes_over_a_chat_and_bot_commands_toggle_it() {
    let p = Pipeline::new(embedded_store().await).await;
    let (a, b) = ("5511911110000", "5511922220000");
    p.owner(a, "Oi! Aqui é o dono, já te atendo.").await;
    p.settle().await;
    p.customer(a, "Beleza, obrigado", None).await;
    p.customer(b, "Vocês abrem hoje?", None).await;
    assert_eq!(
        p.replies(b, 1).await.len(),
        1,
        "other chats are still answered"
    );
    assert!(
        p.outbox(a).is_empty(),
        "the bot is quiet where the owner talks"
    );
    assert_eq!(p.llm.script.count(), 1);
    // `#bot on` hands the chat back; `#bot off` silences another.
    p.owner(a, "#bot on").await;
    p.owner(b, "#BOT  off").await;
    p.settle().await;
    p.customer(a, "E a pizza?", None).await;
    p.customer(b, "Oi de novo", None).await;
    assert_eq!(p.replies(a, 1).await.len(), 1);
    assert_eq!(p.outbox(b).len(), 1, "no new reply in the silenced chat");
    // The owner's words are part of the conversation the model sees.
    let history = p.llm_history(2);
    assert!(history.contains(&(
        "assistant".into(),
        "Oi! Aqui é o dono, já te atendo.".into()
    )));
    assert!(!history.iter().any(|(_, t)| t.contains("#bot")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_show_typing_first_and_are_paced_per_number() {
    let pacing = Pacing {
        typing_per_char: Duration::from_millis(1),
        typing_cap: Duration::from_millis(30),
        per_second: 4.0,
        burst: 1.0,
    };
    let p = Pipeline::with_pacing(embedded_store().await, pacing).await;
    let chats = ["5511900000011", "5511900000012", "5511900000013"];
    for chat in chats {
        p.customer(chat, "Oi", None).await;
    }
    let mut sent = Vec::new();
    for chat in chats {
        assert_eq!(p.replies(chat, 1).await.len(), 1, "{chat}");
        assert_eq!(
            p.sim.typing_shown(&p.key(), chat),
            1,
            "typing… before the reply"
        );
        let at = p.sim.outbox(&p.key(), chat)[0].sent_at.clone();
        sent.push(
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .unwrap(),
        );
    }
    sent.sort();
    // Burst 1 at 4 per second: the second and third replies wait ~250 ms each.
    let spread = sent[2] - sent[0];
    assert!(
        spread >= time::Duration::milliseconds(450),
        "replies went out {spread} apart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_bot_answers_nothing() {
    let p = Pipeline::new(embedded_store().await).await;
    p.configure(json!({"botEnabled": false})).await;
    p.customer(CUSTOMER, "Alô?", None).await;
    p.settle().await;
    assert!(p.outbox(CUSTOMER).is_empty());
    assert_eq!(p.llm.script.count(), 0);
    // Turned back on, the next message is answered (with the earlier one as context).
    p.configure(json!({"botEnabled": true})).await;
    p.customer(CUSTOMER, "Tem alguém aí?", None).await;
    assert_eq!(p.replies(CUSTOMER, 1).await.len(), 1);
    let texts: Vec<_> = p.llm_history(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["Alô?", "Tem alguém aí?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_is_trimmed_by_count_and_by_time() {
    let p = Pipeline::new(embedded_store().await).await;
    p.configure(json!({"messageLimit": 3, "contextTime": 60}))
        .await;
    // A message from two hours ago is outside the context window.
    let line = Line::Web { slot: 1 };
    let chat = ChatRef {
        store_id: &p.store_id,
        line: &line,
        chat: CUSTOMER,
    };
    let old = ChatMessage {
        id: "OLD-1".into(),
        chat: CUSTOMER.into(),
        from_me: false,
        text: "mensagem antiga".into(),
        timestamp: 0,
        is_group: false,
        ephemeral_expiration: None,
        media: None,
        name: None,
        alias: None,
        received_ms: None,
    };
    let two_hours_ago = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - 7_200_000;
    chat::record_customer(
        p.app.state.store.as_ref(),
        &chat,
        &old,
        60,
        two_hours_ago,
        vec![],
    )
    .await
    .unwrap();
    p.customer(CUSTOMER, "primeira", None).await;
    assert_eq!(p.replies(CUSTOMER, 1).await.len(), 1);
    assert_eq!(p.llm_history(1), [("user".into(), "primeira".into())]);
    p.customer(CUSTOMER, "segunda", None).await;
    p.replies(CUSTOMER, 2).await;
    p.customer(CUSTOMER, "terceira", None).await;
    p.replies(CUSTOMER, 3).await;
    // Five messages so far (3 customer, 2 bot); the limit keeps the last three.
    let texts: Vec<_> = p.llm_history(3).into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["segunda", "Resposta 2", "terceira"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_keeps_refusing_sends_the_turn_to_the_dead_letters_not_the_customer() {
    let p = Pipeline::new(embedded_store().await).await;
    for _ in 0..10 {
        p.llm.script.push(
            401,
            json!({"error": {"code": 401, "message": "No auth credentials found"}}),
            None,
        );
    }
    p.customer(CUSTOMER, "Oi", None).await;
    for _ in 0..300 {
        if p.dead.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(p.dead.len(), 1, "the turn ends in the dead-letter queue");
    assert!(p.dead.bodies()[0].contains("Oi"));
    assert_eq!(
        p.llm.script.count(),
        3,
        "one call per delivery: a 401 is never retried in place"
    );
    assert!(
        p.outbox(CUSTOMER).is_empty(),
        "no error message spammed to the customer"
    );
}

// --- The LLM client against the fake server -------------------------------------------

fn ask() -> Vec<LlmMessage> {
    vec![LlmMessage::user("Oi")]
}

/// The text of one plain call (no tools).
async fn text(client: &OpenAiCompatible) -> Result<String, LlmError> {
    client
        .complete(&ask(), Tools::None)
        .await
        .map(|c| c.content)
}

#[tokio::test]
async fn the_llm_client_retries_what_can_succeed_and_nothing_else() {
    let fake = fake_llm::llm().await;
    let client = OpenAiCompatible::new(stack::llm_settings(&fake.url));
    // 429 with Retry-After, then success.
    fake.script.push(
        429,
        json!({"error": {"code": 429, "message": "Rate limited"}}),
        Some(0),
    );
    assert_eq!(text(&client).await.unwrap(), "Resposta 2");
    // An error inside a 200 body, a choice that failed mid-way, an empty reply: retried.
    fake.script.push(
        200,
        json!({"error": {"code": 502, "message": "Provider returned error"}}),
        None,
    );
    fake.script.push(200, json!({"choices": [{"finish_reason": "error", "error": {"code": 502, "message": "cut"}, "message": {"role": "assistant", "content": ""}}]}), None);
    assert_eq!(text(&client).await.unwrap(), "Resposta 5");
    fake.script.push(200, completion("   "), None);
    assert_eq!(text(&client).await.unwrap(), "Resposta 7");
    // Three 500s exhaust the tries.
    for _ in 0..3 {
        fake.script.push(
            500,
            json!({"error": {"code": 500, "message": "boom"}}),
            None,
        );
    }
    let err = text(&client).await.unwrap_err();
    assert!(matches!(err, LlmError::Unavailable { .. }), "{err:?}");
    assert_eq!(fake.script.count(), 10);
    // 400/401/402/403: one call, no retry.
    for status in [400, 401, 402, 403] {
        fake.script.push(
            status,
            json!({"error": {"code": status, "message": "no"}}),
            None,
        );
        let before = fake.script.count();
        let err = text(&client).await.unwrap_err();
        assert!(matches!(err, LlmError::Refused(_)), "{status}: {err:?}");
        assert_eq!(fake.script.count(), before + 1, "{status} is not retried");
    }
    // A Retry-After longer than the client waits: the turn goes back to the queue at once.
    fake.script.push(
        503,
        json!({"error": {"code": 503, "message": "busy"}}),
        Some(30),
    );
    let before = fake.script.count();
    let err = text(&client).await.unwrap_err();
    assert_eq!(
        err,
        LlmError::Unavailable {
            message: "HTTP 503: busy".into(),
            retry_after: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(fake.script.count(), before + 1);
}

#[tokio::test]
async fn the_fallback_model_answers_when_the_first_fails_but_not_for_a_bad_key() {
    let fake = fake_llm::llm().await;
    let mut settings = stack::llm_settings(&fake.url);
    settings.fallback_model = Some("test/fallback".into());
    let client = OpenAiCompatible::new(settings);
    for _ in 0..3 {
        fake.script.push(
            503,
            json!({"error": {"code": 503, "message": "no provider"}}),
            None,
        );
    }
    assert_eq!(text(&client).await.unwrap(), "Resposta 4");
    let models: Vec<_> = fake
        .script
        .requests()
        .iter()
        .map(|(_, b, _)| b["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        [
            "test/primary",
            "test/primary",
            "test/primary",
            "test/fallback"
        ]
    );
    fake.script.push(
        402,
        json!({"error": {"code": 402, "message": "Insufficient credits"}}),
        None,
    );
    assert!(matches!(text(&client).await, Err(LlmError::Refused(_))));
    assert_eq!(
        fake.script.count(),
        5,
        "the fallback isn't tried with the same dead key"
    );
}

#[tokio::test]
async fn the_llm_client_reads_at_most_its_cap_and_keeps_to_the_turns_deadline() {
    let mut settings = stack::llm_settings("http://unused");
    settings.max_body_bytes = 64 * 1024;
    settings.attempts = 1;
    for mode in [Mode::Length, Mode::Chunked] {
        let huge = fake_huge::start(mode, 64 << 20).await;
        settings.base_url = huge.url.clone();
        let err = text(&OpenAiCompatible::new(settings.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Unavailable { ref message, .. } if message.contains("larger than 65536 bytes")),
            "{mode:?}: {err:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            huge.written() < 16 << 20,
            "{mode:?}: the client stopped reading ({} bytes sent)",
            huge.written()
        );
    }
    // A reply that trickles forever: the turn's deadline ends it, whatever the tries left.
    let trickle = fake_huge::start(Mode::Trickle, 0).await;
    settings.base_url = trickle.url.clone();
    settings.timeout = Duration::from_secs(30);
    settings.attempts = 3;
    settings.deadline = Duration::from_millis(400);
    let started = std::time::Instant::now();
    let err = text(&OpenAiCompatible::new(settings)).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable { ref message, .. } if message.contains("deadline")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_graph_answer_over_its_cap_is_not_read() {
    let huge = fake_huge::start(Mode::Chunked, 64 << 20).await;
    let err = GraphClient::new(&huge.url)
        .send_text(NUMBER_ID, "token", CUSTOMER, "Oi")
        .await
        .unwrap_err();
    assert!(
        matches!(err, cloud_api::SendError::Transient(ref m) if m.contains("larger than")),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(huge.written() < 16 << 20, "{} bytes sent", huge.written());
}

/// A Graph API that accepts the request and never finishes its answer: each attempt ends at
/// the turn's deadline (300 ms here) instead of the 15 s request timeout, the reply is
/// given back and retried, and after its receives it rests in the dead letters, the model
/// asked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_api_that_never_answers_is_cut_at_the_turns_deadline() {
    let trickle = fake_huge::start(Mode::Trickle, 0).await;
    let graph = GraphClient::new(&trickle.url).with_deadline(Duration::from_millis(300));
    let p = Pipeline::build(
        embedded_store().await,
        Pacing::none(),
        TurnLimit::default(),
        Some(graph),
    )
    .await;
    attach_number(&p).await;
    let body = fixture("text-message.json");
    let (status, _) = webhook(&p, &body, Some(cloud_api::sign(APP_SECRET, &body))).await;
    assert_eq!(status, StatusCode::OK);
    // 3 receives × (0.3 s + the harness's short retry delay) ≈ 1.5 s; ≥ 45 s without the
    // deadline (3 × the 15 s request timeout).
    for _ in 0..240 {
        if p.dead.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.dead.len(), 1, "the reply's job rests in the dead letters");
    assert_eq!(p.llm.script.count(), 1, "retries resend the stored reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_message_costs_the_model_at_most_its_cap() {
    // Through Meta's webhook, which takes WhatsApp's full 65,536 characters.
    let p = Pipeline::new(embedded_store().await).await;
    attach_number(&p).await;
    let text = "pizza ".repeat(65_536 / 6);
    let body = String::from_utf8(fixture("text-message.json"))
        .unwrap()
        .replace("Oi, vocês têm pizza de calabresa?", &text);
    let (status, _) = webhook(
        &p,
        body.as_bytes(),
        Some(cloud_api::sign(APP_SECRET, body.as_bytes())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..400 {
        if p.llm.script.count() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.settle().await;
    assert_eq!(p.llm.script.count(), 1);
    let history = p.llm_history(1);
    assert_eq!(history.len(), 1);
    let sent = &history[0].1;
    assert!(sent.starts_with("pizza pizza"), "{}", &sent[..40]);
    assert!(
        sent.contains("[mensagem cortada: mais"),
        "a marker says it was cut"
    );
    assert!(
        sent.chars().count() <= prompt::MAX_MESSAGE_CHARS + 60,
        "{} characters reached the model",
        sent.chars().count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_flooding_messages_gets_its_ration_of_model_calls_and_its_last_message_answered() {
    let limit = TurnLimit {
        calls: 3,
        per: Duration::from_secs(2),
    };
    let p = Pipeline::with(embedded_store().await, Pacing::none(), limit).await;
    let started = std::time::Instant::now();
    // Paced so that each message is the chat's latest when its turn runs: without the
    // ration every one of them would cost a model call.
    for i in 1..=20 {
        p.customer(CUSTOMER, &format!("mensagem {i}"), None).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Within the first window: at most the ration, however many messages came.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let early = p.llm.script.count();
    if started.elapsed() < limit.per {
        assert!(early <= 3, "{early} model calls in the first window");
    }
    // The messages past the ration are answered by a later turn, which sees the whole
    // flood (every message recorded).
    let customer_texts = |n: usize| {
        p.llm_history(n)
            .into_iter()
            .filter(|(role, _)| role == "user")
            .count()
    };
    let mut whole = false;
    for _ in 0..800 {
        if (1..=p.llm.script.count()).any(|n| customer_texts(n) == 20) {
            whole = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(whole, "a turn answered the whole flood");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the last turn waited for the ration ({:?})",
        started.elapsed()
    );
    p.settle().await;
    let total = p.llm.script.count();
    assert!(total <= 6, "{total} model calls for one flood");
    let replies = p.outbox(CUSTOMER);
    assert!(!replies.is_empty() && replies.len() <= total, "{replies:?}");
    assert!(p.dead.is_empty(), "no turn went to the dead letters");
}

// --- Meta's Cloud API: webhook in, Graph API out ---------------------------------------

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../events/whatsapp-webhook/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

pub(crate) async fn webhook(
    p: &Pipeline,
    body: &[u8],
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/webhooks/whatsapp")
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        req = req.header("x-hub-signature-256", signature);
    }
    p.app
        .send(req.body(Body::from(body.to_vec())).unwrap())
        .await
}

pub(crate) async fn attach_number(p: &Pipeline) {
    let token = "EAAG-test-system-user-token";
    p.graph
        .grant(token, NUMBER_ID, "+55 11 98888-7777", "Pizzaria X");
    let (status, body) = p
        .app
        .call(
            Method::PUT,
            &format!("/api/whatsapp/{}/cloud-api", p.store_id),
            Some(&p.api_key),
            Some(json!({"phoneNumberId": NUMBER_ID, "accessToken": token})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["accessToken"], "********",
        "the token is never returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_handshake_checks_the_verify_token() {
    let p = Pipeline::new(embedded_store().await).await;
    let get = |token: &str| {
        Request::builder()
            .uri(format!("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}"))
            .body(Body::empty())
            .unwrap()
    };
    let response = tower::ServiceExt::oneshot(p.app.router.clone(), get(VERIFY_TOKEN))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"1158201444");
    let (status, body) = p.app.send(get("wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_api_messages_are_verified_queued_once_and_answered_through_the_graph_api() {
    let p = Pipeline::new(embedded_store().await).await;
    attach_number(&p).await;
    let body = fixture("text-message.json");
    // Bad or missing signatures are refused and queue nothing.
    let (status, err) = webhook(&p, &body, Some(cloud_api::sign("wrong-secret", &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
    assert_eq!(err["error"]["code"], "invalid_signature");
    assert_eq!(webhook(&p, &body, None).await.0, StatusCode::UNAUTHORIZED);
    assert!(p.inbound.is_empty());
    // Meta delivers the same webhook three times: one reply.
    for _ in 0..3 {
        let (status, ok) = webhook(&p, &body, Some(cloud_api::sign(APP_SECRET, &body))).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
        assert_eq!(ok["queued"], 1);
    }
    p.settle().await;
    let sent = p.graph.script.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (path, request, auth) = &sent[0];
    assert_eq!(path, &format!("/{NUMBER_ID}/messages"));
    assert_eq!(auth.as_deref(), Some("Bearer EAAG-test-system-user-token"));
    assert_eq!(request["to"], "5511988887777");
    assert_eq!(request["text"]["body"], "Resposta 1");
    assert_eq!(
        p.llm_history(1),
        [("user".into(), "Oi, vocês têm pizza de calabresa?".into())]
    );
    // A customer known only by a business-scoped id is answered through `recipient`.
    let body = fixture("username-message.json");
    webhook(&p, &body, Some(cloud_api::sign(APP_SECRET, &body))).await;
    p.settle().await;
    let sent = p.graph.script.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].1["recipient"], "BR.f00dcafe42");
    assert!(sent[1].1.get("to").is_none());
    // Delivery statuses are recorded.
    let body = fixture("status-read.json");
    webhook(&p, &body, Some(cloud_api::sign(APP_SECRET, &body))).await;
    p.settle().await;
    let status = p
        .app
        .state
        .store
        .get(
            &keys::store_pk(&p.store_id),
            &keys::status_sk(
                &Line::Cloud {
                    phone_number_id: NUMBER_ID.into(),
                }
                .key(),
                "wamid.OUT1",
            ),
        )
        .await
        .unwrap()
        .expect("status recorded");
    assert_eq!(status["status"], "read");
    // A number no store attached is acknowledged (so Meta stops) and dropped.
    let other = String::from_utf8(fixture("text-message.json"))
        .unwrap()
        .replace(NUMBER_ID, "999999999");
    let (status, ok) = webhook(
        &p,
        other.as_bytes(),
        Some(cloud_api::sign(APP_SECRET, other.as_bytes())),
    )
    .await;
    assert_eq!((status, ok["queued"].clone()), (StatusCode::OK, json!(0)));
    // Not JSON: a clear 400.
    let (status, err) = webhook(&p, b"{oops", Some(cloud_api::sign(APP_SECRET, b"{oops"))).await;
    assert_eq!(
        (status, err["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_json"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_api_rate_limits_are_retried_and_a_closed_window_is_not() {
    let p = Pipeline::new(embedded_store().await).await;
    attach_number(&p).await;
    p.graph.script.push(400, json!({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}}), None);
    let body = fixture("text-message.json");
    webhook(&p, &body, Some(cloud_api::sign(APP_SECRET, &body))).await;
    // Retried after the rate limit's pause (5 s): sent once, with the same reply.
    for _ in 0..400 {
        if p.graph.script.count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    p.settle().await;
    let sent = p.graph.script.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].1, sent[1].1);
    assert_eq!(
        p.llm.script.count(),
        1,
        "the reply is resent, not regenerated"
    );
    // Outside the 24-hour window: dropped, not retried.
    p.graph.script.push(
        400,
        json!({"error": {"message": "Re-engagement message", "code": 131047}}),
        None,
    );
    let body = fixture("username-message.json");
    webhook(&p, &body, Some(cloud_api::sign(APP_SECRET, &body))).await;
    p.settle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(p.graph.script.count(), 3);
    assert_eq!(p.dead.len(), 0);
    assert!(p.dead_replies.is_empty());
}

// --- Durability ---------------------------------------------------------------------

/// A bot worker over `inbound`, with outbound replies collected in a memory queue.
fn bot_over(
    app: &TestApp,
    llm: &Fake,
    inbound: Arc<dyn Queue>,
    outbound: Arc<MemoryQueue>,
) -> Arc<Bot> {
    Arc::new(app.bot_over_fake_llm(&llm.url, inbound, outbound))
}

/// A WhatsApp connection whose turns are answered at once (no debounce).
async fn store_with_connection(app: &TestApp) -> String {
    let wa = app.whatsapp("alice", "Loja").await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/client/{}/config", wa.store_id),
            Some(&wa.api_key),
            Some(json!({"debounceSeconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    wa.store_id
}

fn message_job(store_id: &str, id: &str, text: &str) -> BotJob {
    BotJob::Message {
        store_id: store_id.into(),
        line: Line::Web { slot: 1 },
        message: ChatMessage {
            id: id.into(),
            chat: CUSTOMER.into(),
            from_me: false,
            text: text.into(),
            timestamp: 1,
            is_group: false,
            ephemeral_expiration: None,
            media: None,
            name: None,
            alias: None,
            received_ms: None,
        },
    }
}

fn replies_in(outbound: &MemoryQueue) -> Vec<OutboundReply> {
    outbound
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_crash_between_receipt_and_reply_loses_nothing() {
    // The inbound queue is SQS (moto): a worker that dies holding a message doesn't ack it,
    // and SQS delivers it again after the visibility timeout.
    let aws = platefull_tests::aws_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = sqs
        .create_queue()
        .queue_name(platefull_tests::unique("inbound"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let inbound: Arc<dyn Queue> = Arc::new(platefull::queue::sqs::SqsQueue::new(sqs, url));
    let app = TestApp::new(embedded_store().await);
    let store_id = store_with_connection(&app).await;
    let llm = fake_llm::llm().await;
    let outbound = stack::fifo_queue();
    let job = message_job(&store_id, "WAMID-CRASH", "Oi, tem pizza?");
    inbound.send(Outgoing::new(job.to_json())).await.unwrap();
    // The first worker takes it and dies.
    let taken = inbound.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(taken.len(), 1);
    // A new worker starts; the message comes back to it and is answered once.
    let bot = bot_over(&app, &llm, inbound.clone(), outbound.clone());
    let (_stop, stopped) = watch::channel(false);
    tokio::spawn(worker::run_local(bot, stopped));
    for _ in 0..300 {
        if !outbound.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replies = replies_in(&outbound);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].chunks, ["Resposta 1"]);
    assert_eq!(
        (replies[0].slot, replies[0].chat.as_str(), replies[0].seq),
        (1, CUSTOMER, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_claim_resends_the_same_reply_without_asking_the_model_again() {
    let app = TestApp::new(embedded_store().await);
    let store_id = store_with_connection(&app).await;
    let llm = fake_llm::llm().await;
    let inbound = stack::standard_queue();
    let outbound = stack::fifo_queue();
    let bot = bot_over(&app, &llm, inbound.clone(), outbound.clone());
    let job = message_job(&store_id, "WAMID-CLAIM", "Oi");
    bot.handle(job.clone()).await.unwrap();
    assert_eq!(replies_in(&outbound).len(), 1);
    // The hand-over was lost (say the process died before the queue took it): the
    // redelivered job hands the stored reply over again, same sequence number, no new call.
    let lost = stack::fifo_queue();
    let again = bot_over(&app, &llm, inbound.clone(), lost.clone());
    again.handle(job.clone()).await.unwrap();
    let replies = replies_in(&lost);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        (replies[0].seq, replies[0].chunks.clone()),
        (1, vec!["Resposta 1".to_owned()])
    );
    assert_eq!(llm.script.count(), 1);
    // Once delivered (marked by the gateway), a redelivery does nothing at all.
    let line = Line::Web { slot: 1 };
    let chat = ChatRef {
        store_id: &store_id,
        line: &line,
        chat: CUSTOMER,
    };
    assert!(
        chat::mark_delivering(app.state.store.as_ref(), &chat, 1, i64::MAX / 2)
            .await
            .unwrap()
    );
    assert!(
        !chat::mark_delivering(app.state.store.as_ref(), &chat, 1, i64::MAX / 2)
            .await
            .unwrap()
    );
    let none = stack::fifo_queue();
    bot_over(&app, &llm, inbound, none.clone())
        .handle(job)
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// A linked number's sends are idempotent (each part carries the reply's own message id), so
/// its delivery mark lets the same reply be marked again after a crash cut it short, but
/// never a reply older than one delivered, nor one in a chat the owner took over.
#[tokio::test]
async fn a_linked_number_may_resend_a_reply_cut_short_but_never_an_older_one() {
    let app = TestApp::new(embedded_store().await);
    let store_id = store_with_connection(&app).await;
    let line = Line::Web { slot: 1 };
    let chat = ChatRef {
        store_id: &store_id,
        line: &line,
        chat: CUSTOMER,
    };
    let store = app.state.store.as_ref();
    let now = platefull::ids::now_ms();
    // The chat's state as the first claim leaves it: nothing delivered, not paused.
    let state = keys::item(
        keys::store_pk(&store_id),
        keys::chat_state_sk(&line.key(), CUSTOMER),
    )
    .set("deliveredSeq", 0)
    .set("pausedUntil", 0)
    .build();
    store
        .write(vec![platefull::store::WriteOp::Put {
            item: state,
            cond: platefull::store::Cond::None,
        }])
        .await
        .unwrap();
    assert!(chat::mark_sending(store, &chat, 1, now).await.unwrap());
    assert!(
        chat::mark_sending(store, &chat, 1, now).await.unwrap(),
        "the same reply again: resent under the same ids"
    );
    assert!(chat::mark_sending(store, &chat, 2, now).await.unwrap());
    assert!(
        !chat::mark_sending(store, &chat, 1, now).await.unwrap(),
        "an older reply after a newer one went out"
    );
    // The owner answers from the phone: the chat is paused for a while.
    store
        .update(
            &keys::store_pk(&store_id),
            &keys::chat_state_sk(&line.key(), CUSTOMER),
            platefull::store::Update {
                set: vec![("pausedUntil".into(), (now + 60_000).into())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        !chat::mark_sending(store, &chat, 3, now).await.unwrap(),
        "the owner has the chat"
    );
    let reply = OutboundReply {
        store_id: store_id.clone(),
        slot: 1,
        chat: CUSTOMER.into(),
        seq: 2,
        chunks: vec!["a".into(), "b".into()],
        ephemeral_expiration: None,
        image: None,
        owner: false,
        at: None,
    };
    let (first, second) = (reply.part_id(0), reply.part_id(1));
    assert_eq!(
        first,
        reply.clone().part_id(0),
        "the same id on every attempt"
    );
    assert_ne!(first, second);
    assert!(first.starts_with("3EB0") && first.len() == 22, "{first}");
    assert_ne!(first, OutboundReply { seq: 3, ..reply }.part_id(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_reply_function_reports_only_the_records_to_retry() {
    let app = TestApp::new(embedded_store().await);
    let store_id = store_with_connection(&app).await;
    let llm = fake_llm::llm().await;
    let inbound = stack::standard_queue();
    let outbound = stack::fifo_queue();
    let bot = bot_over(&app, &llm, inbound, outbound.clone());
    let text = std::fs::read_to_string(format!(
        "{}/../events/bot-reply/sqs-batch.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("{{storeId}}", &store_id);
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).unwrap();
    // The readable job is answered; the unreadable one is dropped, not retried forever.
    let response = worker::handle_sqs_batch(bot.clone(), event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(replies_in(&outbound).len(), 1);
    // A model that refuses: that record (a new message) is reported for retry.
    llm.script.push(
        401,
        json!({"error": {"code": 401, "message": "bad key"}}),
        None,
    );
    let mut event = event;
    let body = event.records[0]
        .body
        .clone()
        .unwrap()
        .replace("WAMID-SQS-1", "WAMID-SQS-2");
    event.records[0].body = Some(body);
    let response = worker::handle_sqs_batch(bot, event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["059f36b4-87a3-44ab-83d2-661975830a7d"]);
}

/// Issue 19, item 9: replies on a linked number whose connection is down for a while, or
/// whose send fails half-way, on both stores.
mod delivery {
    use super::*;

    /// Waits until `chat` received `n` messages (`secs` at most), then a little longer.
    async fn received(p: &Pipeline, chat: &str, n: usize, secs: u64) -> Vec<String> {
        for _ in 0..secs * 20 {
            if p.outbox(chat).len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        p.settle().await;
        p.outbox(chat)
    }

    /// The slot drops and stays down for longer than the outbound queue's visibility times
    /// its receives (the reply would have reached the dead letters by sending and failing
    /// every 3 s); it comes back within the wait, and the reply that waited is sent once.
    async fn a_reply_waits_for_its_slot_to_reconnect_and_is_sent_once(t: TestStore) {
        let p = Pipeline::new(t).await;
        p.configure(json!({"debounceSeconds": 1})).await;
        p.customer(CUSTOMER, "Vocês entregam no centro?", None)
            .await;
        // The phone loses its network before the turn is due: the gateway notices the drop
        // and reopens, but the connection stays connecting.
        p.sim.set_offline(&p.key(), true).await;
        p.sim.drop_connection(&p.key()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(p.outbox(CUSTOMER).is_empty(), "nothing sent while offline");
        assert!(p.dead_replies.is_empty(), "the waiting reply is not dead");
        assert_eq!(p.llm.script.count(), 1, "the reply was made, and waits");
        p.sim.set_offline(&p.key(), false).await;
        assert_eq!(received(&p, CUSTOMER, 1, 10).await, ["Resposta 1"]);
        assert_eq!(
            p.sim.send_attempts(&p.key(), CUSTOMER).len(),
            1,
            "sent once, when the slot was back"
        );
        assert!(p.dead_replies.is_empty());
        assert!(p.dead.is_empty());
    }

    /// A reply in three parts whose second part fails: the customer's typing indicator is
    /// cleared, and the retry sends the second and third parts only.
    async fn a_reply_whose_later_part_fails_does_not_send_its_earlier_parts_again(t: TestStore) {
        let p = Pipeline::new(t).await;
        let paragraph = |c: char| std::iter::repeat_n(c, 3_000).collect::<String>();
        let long = format!(
            "{}\n\n{}\n\n{}",
            paragraph('a'),
            paragraph('b'),
            paragraph('c')
        );
        p.llm.script.push(200, completion(&long), None);
        p.sim.fail_send_after(&p.key(), 1);
        p.customer(CUSTOMER, "Me conta tudo do cardápio", None)
            .await;
        let parts = received(&p, CUSTOMER, 3, 15).await;
        assert_eq!(
            parts,
            [paragraph('a'), paragraph('b'), paragraph('c')],
            "every part once, in order"
        );
        let attempts = p.sim.send_attempts(&p.key(), CUSTOMER);
        assert_eq!(
            attempts.len(),
            4,
            "{attempts:?}: part 2 failed once, then 2 and 3"
        );
        assert_eq!(
            attempts[1], attempts[2],
            "the failed part was sent again, same id"
        );
        assert_eq!(
            attempts.iter().filter(|id| **id == attempts[0]).count(),
            1,
            "the first part was not sent again"
        );
        assert_eq!(
            p.sim.paused_shown(&p.key(), CUSTOMER),
            1,
            "typing cleared after the failed send"
        );
        assert!(p.dead_replies.is_empty());
    }

    for_each_store!(
        a_reply_waits_for_its_slot_to_reconnect_and_is_sent_once,
        a_reply_whose_later_part_fails_does_not_send_its_earlier_parts_again,
    );
}
