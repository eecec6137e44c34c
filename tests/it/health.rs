//! Number health, alerts and usage (issue 17), end to end in-process over both stores: the
//! simulator's phone → gateway → incidents → alert jobs on the inbound queue → bot worker
//! → e-mail through a fake Resend API (HTTP level); a fake LLM (HTTP level) reporting
//! tokens and cost; the usage and incidents routes.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use platefull::bot::llm::OpenAiCompatible;
use platefull::bot::reply::Pacing;
use platefull::bot::worker::{self, Bot};
use platefull::health::resend::Resend;
use platefull::health::HealthSettings;
use platefull::jobs::{BotJob, ChatMessage, Line};
use platefull::queue::memory::MemoryQueue;
use platefull::queue::Queue;
use platefull::whatsapp::commands::SessionCommand;
use platefull::whatsapp::events::SlotKey;
use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::Simulator;
use platefull::whatsapp::slots;
use platefull_tests::fake_llm::{self, Fake};
use platefull_tests::fake_resend::{self, Email, FakeResend};
use platefull_tests::stack::{self, llm_settings};
use platefull_tests::{for_each_store, TestApp, TestStore};
use serde_json::{json, Value};
use tokio::sync::watch;

const CUSTOMER: &str = "5511999990000";
const PHONE: &str = "5511900000001";
const OWNER_EMAIL: &str = "dono@pizzariax.com.br";
/// The owner's personal phone (alerts' WhatsApp), as the profile's `alerts.phones` has it.
const OWNER_PHONE: &str = "5511988887777";

struct Rig {
    app: TestApp,
    sim: Arc<Simulator>,
    gateway: Arc<Gateway>,
    llm: Fake,
    resend: FakeResend,
    inbound: Arc<MemoryQueue>,
    dead: Arc<MemoryQueue>,
    store_id: String,
    api_key: String,
    _stop: watch::Sender<bool>,
}

/// What a test changes in the rig.
struct Options {
    failing_after: Duration,
    fallback_model: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            failing_after: Duration::from_secs(300),
            fallback_model: None,
        }
    }
}

impl Rig {
    async fn new(t: TestStore, options: Options) -> Self {
        let (llm, resend) = (fake_llm::llm().await, fake_resend::resend().await);
        let dead = Arc::new(MemoryQueue::standard(Duration::from_secs(1)));
        let inbound = Arc::new(
            MemoryQueue::standard(Duration::from_secs(5))
                .with_dead_letters(worker::DEAD_LETTER_AFTER, dead.clone()),
        );
        let outbound = stack::fifo_queue();
        let app = TestApp::new(t);
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let sim = Simulator::new("http://localhost");
        sim.set_heartbeat(Duration::from_millis(100));
        let mut settings = llm_settings(&llm.url);
        settings.fallback_model = options.fallback_model.map(str::to_owned);
        let bot = Arc::new(Bot {
            health: HealthSettings {
                failing_after: options.failing_after,
                resend: Some(Resend::new(
                    &resend.url,
                    "re_test_key",
                    "Platefull <alertas@example.com>",
                )),
                ..HealthSettings::default()
            },
            ..app.bot(
                Arc::new(OpenAiCompatible::new(settings)),
                inbound.clone(),
                outbound.clone(),
            )
        });
        let gateway = app.gateway(
            &sim,
            GatewayQueues {
                commands: stack::fifo_queue(),
                inbound: Some(inbound.clone()),
                outbound: Some(outbound),
            },
            GatewayConfig {
                pacing: Pacing::none(),
                backoff_base: Duration::from_millis(50),
                backoff_cap: Duration::from_millis(200),
                // Keepalives every 100 ms: 15 missed before a live number would look silent,
                // so a loaded machine (moto, parallel tests) doesn't fake a silence.
                silent_after: Duration::from_millis(1500),
                ..GatewayConfig::default()
            },
        );
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(gateway.clone().run(stopped.clone()));
        tokio::spawn(worker::run_local(bot, stopped));
        let rig = Self {
            app,
            sim,
            gateway,
            llm,
            resend,
            inbound,
            dead,
            store_id: wa.store_id,
            api_key: wa.api_key,
            _stop: stop,
        };
        rig.put("config", json!({"botName": "Maria", "debounceSeconds": 0}))
            .await;
        rig.put(
            "profile",
            json!({"alerts": {"emails": [OWNER_EMAIL], "phones": ["+5511988887777"]}}),
        )
        .await;
        rig
    }

    fn key(&self) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot: 1,
        }
    }

    async fn put(&self, what: &str, body: Value) {
        let path = format!("/api/client/{}/{what}", self.store_id);
        let (status, body) = self
            .app
            .call(Method::PUT, &path, Some(&self.api_key), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let path = format!("/api/client/{}/{path}", self.store_id);
        self.app
            .call(Method::GET, &path, Some(&self.api_key), None)
            .await
    }

    /// Starts slot 1 and pairs the simulated phone; waits until it is connected.
    async fn link(&self) {
        self.link_slot(1, PHONE).await;
        self.until_status("connected").await;
    }

    fn slot(&self, slot: u8) -> SlotKey {
        SlotKey {
            store_id: self.store_id.clone(),
            slot,
        }
    }

    /// Starts slot `slot` and pairs it as `phone`; waits until it is active.
    async fn link_slot(&self, slot: u8, phone: &str) {
        let key = self.slot(slot);
        self.gateway
            .handle(SessionCommand::Start {
                slot: key.clone(),
                pair_phone: None,
            })
            .await
            .unwrap();
        let mut paired = false;
        for _ in 0..300 {
            if self.sim.pair(&key, None, Some(phone)).await.is_ok() {
                paired = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(paired, "slot {slot} showed a QR code to pair");
        for _ in 0..500 {
            let item = slots::get_slot(self.app.state.store.as_ref(), &key)
                .await
                .unwrap();
            if item
                .and_then(|i| slots::slot_of(&i))
                .is_some_and(|s| s.is_active)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("slot {slot} never connected");
    }

    /// What the owner's phone received on WhatsApp from slot `slot`.
    fn owner_whatsapp(&self, slot: u8) -> Vec<String> {
        self.sim
            .outbox(&self.slot(slot), OWNER_PHONE)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    async fn status(&self) -> Option<String> {
        let item = slots::get_slot(self.app.state.store.as_ref(), &self.key())
            .await
            .unwrap();
        item.and_then(|i| slots::slot_of(&i)).map(|s| {
            serde_json::to_value(s.status)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
    }

    async fn until_status(&self, status: &str) {
        for _ in 0..500 {
            if self.status().await.as_deref() == Some(status) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "slot 1 never became {status} (is {:?})",
            self.status().await
        );
    }

    /// Waits until `n` e-mails were sent (10 s at most), then a little longer so that an
    /// extra one (a storm, a duplicate) would show up too.
    async fn emails(&self, n: usize) -> Vec<Email> {
        for _ in 0..1000 {
            if self.resend.sent().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.settle().await;
        self.resend.sent()
    }

    async fn settle(&self) {
        for _ in 0..500 {
            if self.inbound.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    /// The open incidents once there are some, polling up to `tries` times 10 ms apart.
    async fn until_incidents(&self, tries: usize) -> Vec<String> {
        for _ in 0..tries {
            if !self.open_incidents().await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.open_incidents().await
    }

    async fn open_incidents(&self) -> Vec<String> {
        let (status, body) = self.get("incidents").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn customer(&self, text: &str, id: &str) {
        self.sim
            .customer_message(&self.key(), CUSTOMER, text, Some(id))
            .await
            .unwrap();
    }

    async fn replies(&self, n: usize) -> Vec<String> {
        for _ in 0..500 {
            if self.sim.outbox(&self.key(), CUSTOMER).len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.settle().await;
        self.sim
            .outbox(&self.key(), CUSTOMER)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    /// Slot 1's state as the local `/health` lists it.
    async fn health_state(&self) -> String {
        let (status, health) = self.app.call(Method::GET, "/health", None, None).await;
        assert_eq!(status, StatusCode::OK, "{health}");
        let slot = health["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["storeId"] == self.store_id.as_str() && s["slot"] == 1)
            .cloned()
            .unwrap_or_else(|| panic!("slot 1 not in /health: {health}"));
        assert!(slot["silentSeconds"].as_i64().is_some(), "{slot}");
        slot["state"].as_str().unwrap().to_owned()
    }

    /// `GET …/usage` for today (the store's zone: São Paulo by default).
    async fn usage_today(&self) -> Value {
        let (status, body) = self.get("usage").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

async fn an_unlinked_number_alerts_once_and_its_return_once(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    rig.link().await;
    // A second number of the store: it carries the WhatsApp alert when number 1 is down.
    rig.link_slot(2, "5511900000002").await;
    assert!(rig.open_incidents().await.is_empty());
    // The phone removes the linked device (the simulator's unlink route does the same).
    rig.sim.unlink_from_phone(&rig.key()).await.unwrap();
    let sent = rig.emails(1).await;
    assert_eq!(sent.len(), 1, "one alert: {sent:?}");
    let down = &sent[0];
    assert_eq!(down.body["to"], json!([OWNER_EMAIL]));
    assert_eq!(down.authorization.as_deref(), Some("Bearer re_test_key"));
    assert_eq!(
        down.text(),
        "O número 1 (5511…0001) da Pizzaria X desconectou: desconectado pelo celular. \
         Abra Conexões para reconectar."
    );
    assert!(
        down.subject().starts_with("Pizzaria X"),
        "{}",
        down.subject()
    );
    assert_eq!(rig.open_incidents().await, ["slot1"]);
    // The same words on the owner's phone, from number 2 (number 1 is the one down).
    for _ in 0..300 {
        if !rig.owner_whatsapp(2).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rig.owner_whatsapp(2), [down.text().to_owned()]);
    assert!(rig.owner_whatsapp(1).is_empty());
    // The owner links the number again: one "voltou".
    rig.link().await;
    let sent = rig.emails(2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1].text().contains("voltou a funcionar"),
        "{}",
        sent[1].text()
    );
    assert!(rig.open_incidents().await.is_empty());
    // "Voltou" by WhatsApp too, once, from the lowest connected number (1 again).
    for _ in 0..300 {
        if !rig.owner_whatsapp(1).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rig.settle().await;
    assert_eq!(rig.owner_whatsapp(1), [sent[1].text().to_owned()]);
    assert_eq!(
        rig.owner_whatsapp(2).len(),
        1,
        "no second message from number 2"
    );
    // Each alert had its own idempotency key.
    assert_ne!(sent[0].idempotency_key, sent[1].idempotency_key);
    assert!(sent[0].idempotency_key.is_some());
}

async fn a_silent_number_is_found_and_a_flapping_one_alerts_no_storm(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    rig.link().await;
    // Connected and answering: keepalives keep it alive past the silence threshold.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        rig.resend.sent().is_empty(),
        "a live number raised an alert"
    );
    assert_eq!(rig.status().await.as_deref(), Some("connected"));
    assert_eq!(rig.health_state().await, "connected");
    for round in 0..3 {
        // The connection stops answering without closing: found silent, reconnected.
        rig.sim.silence(&rig.key(), true).await.unwrap();
        rig.until_status("connecting").await;
        assert_eq!(rig.until_incidents(300).await, ["slot1"], "round {round}");
        let item = slots::get_slot(rig.app.state.store.as_ref(), &rig.key())
            .await
            .unwrap()
            .unwrap();
        let shown = item["lastError"].as_str().unwrap_or_default();
        assert!(shown.contains("sem sinal"), "{shown}");
        assert_eq!(rig.health_state().await, "silent", "round {round}");
        rig.sim.silence(&rig.key(), false).await.unwrap();
        rig.until_status("connected").await;
    }
    let sent = rig.emails(2).await;
    // Three drops within the minimum interval: told once, and its return once.
    assert_eq!(
        sent.len(),
        2,
        "{:?}",
        sent.iter().map(Email::text).collect::<Vec<_>>()
    );
    assert!(
        sent[0].text().contains("sem sinal do WhatsApp"),
        "{}",
        sent[0].text()
    );
    assert!(sent[1].text().contains("voltou"), "{}", sent[1].text());
    assert!(rig.open_incidents().await.is_empty());
}

async fn a_number_that_cant_reconnect_alerts_once_and_its_return_once(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    rig.link().await;
    // The phone loses its network and the connection drops: a routine drop at first (no
    // alert), but the reconnects stay "connecting" past the silence threshold.
    rig.sim.set_offline(&rig.key(), true).await;
    rig.sim.drop_connection(&rig.key()).await.unwrap();
    rig.until_status("connecting").await;
    assert!(
        rig.open_incidents().await.is_empty(),
        "a routine drop is no incident yet"
    );
    assert_eq!(rig.until_incidents(1000).await, ["slot1"]);
    // Still down much longer: told once, not once per reconnect.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let sent = rig.emails(1).await;
    assert_eq!(
        sent.len(),
        1,
        "{:?}",
        sent.iter().map(Email::text).collect::<Vec<_>>()
    );
    assert!(
        sent[0].text().contains("sem conexão com o WhatsApp"),
        "{}",
        sent[0].text()
    );
    // The network is back: connected, the incident closed, its return told once.
    rig.sim.set_offline(&rig.key(), false).await;
    rig.until_status("connected").await;
    let sent = rig.emails(2).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[1].text().contains("voltou"), "{}", sent[1].text());
    assert!(rig.open_incidents().await.is_empty());
}

async fn a_failing_model_alerts_the_owner_and_its_return(t: TestStore) {
    let rig = Rig::new(
        t,
        Options {
            failing_after: Duration::from_millis(200),
            ..Options::default()
        },
    )
    .await;
    rig.link().await;
    // The model answers 503 for a while: 3 tries per receive, 4 receives of the turn about
    // 120 ms apart (within the chat's ration of 6 model calls a minute).
    for _ in 0..12 {
        rig.llm.script.push(
            503,
            json!({"error": {"message": "down", "code": 503}}),
            None,
        );
    }
    rig.customer("Oi, tem pizza?", "WAMID-F1").await;
    let sent = rig.emails(1).await;
    assert!(!sent.is_empty(), "no alert while the model failed");
    assert!(
        sent[0].text().contains("não consegue responder"),
        "{}",
        sent[0].text()
    );
    // The model comes back: the turn is answered, and the owner hears it's back.
    assert_eq!(
        rig.replies(1).await.len(),
        1,
        "the turn was answered at last"
    );
    let sent = rig.emails(2).await;
    assert_eq!(
        sent.len(),
        2,
        "{:?}",
        sent.iter().map(Email::text).collect::<Vec<_>>()
    );
    assert!(
        sent[1].text().contains("voltou a responder"),
        "{}",
        sent[1].text()
    );
    assert!(rig.open_incidents().await.is_empty());
}

async fn a_message_in_the_dead_letters_alerts_the_owner(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    rig.link().await;
    // The model fails every try of every receive: the turn goes to the dead letters.
    for _ in 0..(3 * worker::DEAD_LETTER_AFTER) {
        rig.llm.script.push(
            503,
            json!({"error": {"message": "down", "code": 503}}),
            None,
        );
    }
    rig.customer("Oi, tem pizza?", "WAMID-D1").await;
    let sent = rig.emails(1).await;
    assert_eq!(
        sent.len(),
        1,
        "{:?}",
        sent.iter().map(Email::text).collect::<Vec<_>>()
    );
    assert!(
        sent[0].text().contains("não puderam ser respondidas"),
        "{}",
        sent[0].text()
    );
    assert_eq!(rig.dead.len(), 1, "the message is in the dead letters");
    assert_eq!(rig.open_incidents().await, ["deadLetters"]);
    // The next message is answered: the incident closes, the owner is told once.
    rig.customer("Alô?", "WAMID-D2").await;
    assert_eq!(rig.replies(1).await.len(), 1);
    let sent = rig.emails(2).await;
    assert_eq!(
        sent.len(),
        2,
        "{:?}",
        sent.iter().map(Email::text).collect::<Vec<_>>()
    );
    assert!(
        sent[1].text().contains("voltou a responder"),
        "{}",
        sent[1].text()
    );
    assert!(rig.open_incidents().await.is_empty());
}

async fn usage_counts_once_under_redelivery(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    rig.link().await;
    // The model reports its cost in dollars, as OpenRouter does.
    let mut answer = fake_llm::completion("Temos sim!");
    answer["usage"] = json!({"prompt_tokens": 120, "completion_tokens": 30, "cost": 0.000_42});
    rig.llm.script.push(200, answer, None);
    for _ in 0..3 {
        rig.customer("Oi, tem pizza?", "WAMID-U1").await;
    }
    assert_eq!(rig.replies(1).await, ["Temos sim!"]);
    // The same job delivered again to the worker (past the gateway's filter): no count.
    let job = BotJob::Message {
        store_id: rig.store_id.clone(),
        line: Line::Web { slot: 1 },
        message: ChatMessage {
            id: "WAMID-U1".into(),
            chat: CUSTOMER.into(),
            text: "Oi, tem pizza?".into(),
            timestamp: 1,
            ..Default::default()
        },
    };
    for _ in 0..2 {
        rig.inbound.send(job.outgoing()).await.unwrap();
    }
    rig.sim
        .owner_message(&rig.key(), CUSTOMER, "Já te atendo")
        .await
        .unwrap();
    rig.settle().await;
    let usage = rig.usage_today().await;
    let days = usage["days"].as_array().unwrap();
    assert_eq!(days.len(), 30, "the last 30 days by default");
    let today = days.last().unwrap();
    let expected = json!({
        "customerMessages": 1, "replies": 1, "ownerMessages": 1, "orders": 0,
        "ordersTotalCents": 0, "voiceSeconds": 0, "modelCalls": 1, "promptTokens": 120,
        "completionTokens": 30, "aiCostMicros": 420,
    });
    for (field, value) in expected.as_object().unwrap() {
        assert_eq!(&today[field], value, "{field}: {today}");
        assert_eq!(&usage["totals"][field], value, "totals.{field}: {usage}");
    }
    assert_eq!(usage["budget"], json!({"usedMicros": 420}));
    assert_eq!(rig.llm.script.count(), 1, "the model was asked once");
    // An order counted by the orders work lands on the same day.
    let date = today["date"].as_str().unwrap().to_owned();
    platefull::health::usage::count_order(
        rig.app.state.store.as_ref(),
        &rig.store_id,
        &date,
        4_590,
    )
    .await
    .unwrap();
    let usage = rig.usage_today().await;
    assert_eq!(usage["totals"]["orders"], 1);
    assert_eq!(usage["totals"]["ordersTotalCents"], 4_590);
}

async fn the_usage_route_checks_its_input_and_its_caller(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    let bad = [
        ("usage?from=2026-13-01", "from"),
        ("usage?from=2026-12-01&to=2026-11-01", "from"),
        ("usage?to=yesterday", "to"),
        ("usage?from=2024-01-01&to=2026-01-01", "from"),
    ];
    for (path, field) in bad {
        let (status, body) = rig.get(path).await;
        platefull_tests::assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    let (status, body) = rig.get("usage?from=2026-12-01&to=2026-12-03").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dates: Vec<&str> = body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-12-01", "2026-12-02", "2026-12-03"]);
    // Another owner's token: the store is not theirs.
    let other = rig.app.token("mallory");
    let path = format!("/api/client/{}/usage", rig.store_id);
    let (status, body) = rig.app.call(Method::GET, &path, Some(&other), None).await;
    platefull_tests::assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // A budget out of range is refused and changes nothing.
    let path = format!("/api/client/{}/profile", rig.store_id);
    let (status, body) = rig
        .app
        .call(
            Method::PUT,
            &path,
            Some(&rig.api_key),
            Some(json!({"aiBudgetMicros": -1})),
        )
        .await;
    platefull_tests::assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let (status, body) = rig
        .app
        .call(
            Method::PUT,
            &path,
            Some(&rig.api_key),
            Some(json!({"alerts": {"emails": ["not-an-email"]}})),
        )
        .await;
    platefull_tests::assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["error"]["field"], "alerts.emails[0]");
    let (_, profile) = rig.get("profile").await;
    assert_eq!(profile["alerts"]["emails"], json!([OWNER_EMAIL]));
}

/// The model's answer `text`, costing 500 micro-dollars.
fn paid_answer(text: &str) -> serde_json::Value {
    let mut answer = fake_llm::completion(text);
    answer["usage"] = json!({"prompt_tokens": 100, "completion_tokens": 20, "cost": 0.0005});
    answer
}

/// Turns that cost 500 micro-dollars each against a budget of 1,000.
async fn spend_a_budget(rig: &Rig, turns: usize) {
    for n in 0..turns {
        rig.llm
            .script
            .push(200, paid_answer(&format!("Resposta paga {n}")), None);
        rig.customer(&format!("Pergunta {n}"), &format!("WAMID-B{n}"))
            .await;
        rig.replies(n + 1).await;
    }
}

async fn the_budget_alerts_at_80_and_100_percent_then_the_notice_answers(t: TestStore) {
    let rig = Rig::new(t, Options::default()).await;
    rig.put(
        "profile",
        json!({"alerts": {"emails": [OWNER_EMAIL]}, "aiBudgetMicros": 1_000}),
    )
    .await;
    rig.link().await;
    spend_a_budget(&rig, 2).await;
    let sent = rig.emails(2).await;
    let texts: Vec<&str> = sent.iter().map(Email::text).collect();
    assert_eq!(sent.len(), 2, "{texts:?}");
    // The two alerts are two jobs: either may be sent first.
    let eighty = texts
        .iter()
        .find(|t| t.contains("80% do orçamento mensal de IA"));
    let full = texts
        .iter()
        .find(|t| t.contains("100% do orçamento mensal de IA"));
    assert!(eighty.is_some(), "{texts:?}");
    assert!(
        full.is_some_and(|t| t.contains("aviso")),
        "no fallback model: {texts:?}"
    );
    let usage = rig.usage_today().await;
    assert_eq!(
        usage["budget"],
        json!({"monthlyMicros": 1_000, "usedMicros": 1_000})
    );
    let open = rig.open_incidents().await;
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(open.iter().all(|i| i.starts_with("budget")), "{open:?}");
    // Past the budget, without a fallback model: the offline notice, the model not asked.
    rig.customer("Mais uma pergunta", "WAMID-B9").await;
    let replies = rig.replies(3).await;
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[2], platefull::bot::llm::OFFLINE_REPLY);
    assert_eq!(
        rig.llm.script.count(),
        2,
        "the model was not asked past the budget"
    );
    // The owner raises the budget: the model answers again.
    rig.put(
        "profile",
        json!({"alerts": {"emails": [OWNER_EMAIL]}, "aiBudgetMicros": 2_000}),
    )
    .await;
    assert!(
        rig.open_incidents().await.is_empty(),
        "the budget was raised"
    );
    rig.llm
        .script
        .push(200, paid_answer("Resposta paga de novo"), None);
    rig.customer("E agora?", "WAMID-B10").await;
    assert_eq!(rig.replies(4).await.len(), 4);
    assert_eq!(rig.llm.script.count(), 3);
    assert_eq!(
        rig.emails(2).await.len(),
        2,
        "75% of the new budget: no alert"
    );
    // Within the same month the spend crosses the raised budget's lines: told again.
    rig.llm
        .script
        .push(200, paid_answer("Resposta paga de novo"), None);
    rig.customer("E mais?", "WAMID-B11").await;
    assert_eq!(rig.replies(5).await.len(), 5);
    let sent = rig.emails(4).await;
    assert_eq!(sent.len(), 4, "the raised budget alerts again");
    // The two alerts are two jobs: either may be sent first.
    let again: Vec<&str> = sent[2..].iter().map(Email::text).collect();
    assert!(
        again
            .iter()
            .any(|t| t.contains("80% do orçamento mensal de IA"))
            && again
                .iter()
                .any(|t| t.contains("100% do orçamento mensal de IA")),
        "{again:?}"
    );
    let open = rig.open_incidents().await;
    assert_eq!(
        open.len(),
        2,
        "only the current budget's incidents: {open:?}"
    );
}

async fn past_the_budget_the_fallback_model_answers(t: TestStore) {
    let rig = Rig::new(
        t,
        Options {
            fallback_model: Some("test/cheap"),
            ..Options::default()
        },
    )
    .await;
    rig.put("profile", json!({"aiBudgetMicros": 500})).await;
    rig.link().await;
    spend_a_budget(&rig, 1).await;
    rig.customer("Mais uma", "WAMID-C2").await;
    assert_eq!(rig.replies(2).await.len(), 2);
    let requests = rig.llm.script.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].1["model"], "test/primary");
    assert_eq!(
        requests[1].1["model"], "test/cheap",
        "past the budget: the fallback"
    );
}

for_each_store!(
    an_unlinked_number_alerts_once_and_its_return_once,
    a_silent_number_is_found_and_a_flapping_one_alerts_no_storm,
    a_number_that_cant_reconnect_alerts_once_and_its_return_once,
    a_failing_model_alerts_the_owner_and_its_return,
    a_message_in_the_dead_letters_alerts_the_owner,
    usage_counts_once_under_redelivery,
    the_usage_route_checks_its_input_and_its_caller,
    the_budget_alerts_at_80_and_100_percent_then_the_notice_answers,
    past_the_budget_the_fallback_model_answers,
    the_simulator_routes_unlink_and_silence_a_number,
);

/// Counting usage costs a turn no round trip: with the counters in the record's and the
/// claim's transactions, a reply still costs the worker 3 reads (config, chat, menu and
/// profile with the month's spend) and 3 writes (record, model-call reservation, claim).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_usage_adds_no_round_trip_to_a_turn() {
    let (t, counts) = platefull_tests::embedded_store().await.counted();
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria X").await;
    let llm = fake_llm::llm().await;
    let outbound = stack::fifo_queue();
    let bot = app.bot(
        Arc::new(OpenAiCompatible::new(llm_settings(&llm.url))),
        stack::standard_queue(),
        outbound.clone(),
    );
    let path = format!("/api/client/{}/config", wa.store_id);
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&wa.api_key),
            Some(json!({"debounceSeconds": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let n = 20;
    let before = counts.snapshot();
    for i in 0..n {
        let job = BotJob::Message {
            store_id: wa.store_id.clone(),
            line: Line::Web { slot: 1 },
            message: ChatMessage {
                id: format!("WAMID-R{i}"),
                chat: format!("55119000{i:05}"),
                text: "Oi".into(),
                timestamp: 1,
                ..Default::default()
            },
        };
        bot.handle(job).await.unwrap();
    }
    let after = counts.snapshot();
    assert_eq!(outbound.len(), n as usize, "one reply per message");
    let per_reply = |a: u64, b: u64| (a - b) as f64 / n as f64;
    let (reads, writes) = (per_reply(after.0, before.0), per_reply(after.1, before.1));
    println!(
        "storage round trips per reply with usage counted: {reads:.2} reads + {writes:.2} writes"
    );
    // 3 + 3 for the turn itself (config, chat, reservation; record, claim, delivery mark),
    // + 2 + 2 for the inbox's view of the message and of the reply: usage adds none.
    assert_eq!((reads, writes), (5.0, 5.0));
    // And every one of them was counted.
    let (status, usage) = app
        .call(
            Method::GET,
            &format!("/api/client/{}/usage", wa.store_id),
            Some(&wa.api_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["totals"]["customerMessages"], n);
    assert_eq!(usage["totals"]["replies"], n);
    assert_eq!(usage["totals"]["promptTokens"], 10 * n);
}

/// The simulator's dev routes for the two incidents: `unlink` and `silence`.
async fn the_simulator_routes_unlink_and_silence_a_number(t: TestStore) {
    use tower::ServiceExt;
    let rig = Rig::new(t, Options::default()).await;
    rig.link().await;
    let router = platefull::http::simulator::router(rig.sim.clone(), rig.app.state.clone());
    let post = |path: String, body: Option<Value>| {
        let router = router.clone();
        async move {
            let request = axum::http::Request::post(path)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    body.map(|b| b.to_string()).unwrap_or_default(),
                ))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let base = format!("/dev/simulator/{}/1", rig.store_id);
    let (status, body) = post(format!("{base}/silence"), None).await;
    assert_eq!(
        (status, &body["silent"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );
    rig.until_status("connecting").await;
    let (status, body) = post(format!("{base}/silence"), Some(json!({"silent": "no"}))).await;
    platefull_tests::assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, body) = post(format!("{base}/silence"), Some(json!({"silent": false}))).await;
    assert_eq!(
        (status, &body["silent"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );
    rig.until_status("connected").await;
    let (status, body) = post(format!("{base}/unlink"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.until_status("disconnected").await;
    // Nothing linked any more: nothing to unlink or silence.
    let (status, body) = post(format!("{base}/unlink"), None).await;
    platefull_tests::assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = post(format!("{base}/silence"), None).await;
    platefull_tests::assert_error(status, &body, StatusCode::CONFLICT, "conflict");
}
