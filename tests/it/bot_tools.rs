//! Issue 13, the bot's side: the attendant answers from the store's menu, hours, delivery
//! zones and payment methods through tool calls (against the fake OpenAI-compatible server,
//! through the real client), never with an invented price; says when the store is closed;
//! and answers the common questions from the data without a model. Each turn runs through
//! the real worker over the embedded store, its reply collected from the outbound queue.

use std::sync::Arc;

use platefull::auth::caller::StoreCaller;
use platefull::bot::converse::UNSURE_REPLY;
use platefull::bot::guard::SAFE_REPLY;
use platefull::bot::llm::{Offline, OFFLINE_REPLY};
use platefull::bot::money;
use platefull::bot::worker::Bot;
use platefull::jobs::{BotJob, Line, OutboundReply};
use platefull::knowledge;
use platefull::queue::memory::MemoryQueue;
use platefull::whatsapp::events::ChatMessage;
use platefull_tests::fake_llm::{self, Fake};
use platefull_tests::{embedded_store, for_each_store, stack, TestApp, TestStore};
use serde_json::{json, Value};

const CHAT: &str = "5511999990000";

fn menu() -> Value {
    json!({"categories": [
        {"id": "pizzas", "name": "Pizzas", "items": [
            {"id": "calabresa", "name": "Calabresa", "description": "Calabresa fatiada e cebola",
             "priceCents": 4590, "optionGroups": [{"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1,
                "options": [{"id": "media", "name": "Média", "priceCents": 0},
                            {"id": "grande", "name": "Grande", "priceCents": 1000}]}]},
            {"id": "portuguesa", "name": "Portuguesa", "priceCents": 5290},
            {"id": "atum", "name": "Atum", "priceCents": 5500, "available": false}]},
        {"id": "bebidas", "name": "Bebidas", "items": [
            {"id": "coca-2l", "name": "Coca-Cola 2L", "priceCents": 1400}]}]})
}

/// Every amount the store's data has (menu, options, zone), and what its tools compute
/// from them (the calabresa with each size): what a reply may say.
const TRUE_AMOUNTS: [i64; 9] = [4590, 0, 1000, 5290, 5500, 1400, 700, 3000, 5590];

fn week(shift: Value) -> Value {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    Value::Object(
        days.iter()
            .map(|d| (d.to_string(), shift.clone()))
            .collect(),
    )
}

fn base_profile(hours: Value) -> Value {
    json!({
        "address": "Rua das Flores, 100",
        "hours": hours,
        "delivery": {"pickup": true, "zones": [{"name": "Zona Sul", "neighborhoods": ["Vila Mariana", "Moema"],
            "feeCents": 700, "minOrderCents": 3000, "etaMinutes": 45}]},
        "payments": {"pix": {"key": "pix@pizzariax.com.br", "keyType": "email",
            "merchantName": "Pizzaria X", "merchantCity": "Sao Paulo"}, "cash": true, "card": false},
    })
}

/// Open all day, every day.
fn open_profile() -> Value {
    base_profile(
        json!({"weekly": week(json!([{"open": "00:00", "close": "00:00"}])), "exceptions": []}),
    )
}

/// São Paulo's date (UTC-3, no DST) `days` from today, `YYYY-MM-DD`.
fn local_date(days: i64) -> String {
    let date = (time::OffsetDateTime::now_utc() - time::Duration::hours(3)).date()
        + time::Duration::days(days);
    format!(
        "{}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Closed today (and yesterday), open tomorrow from 18:00.
fn closed_profile() -> Value {
    base_profile(json!({"weekly": week(json!([])), "exceptions": [
        {"date": local_date(1), "intervals": [{"open": "18:00", "close": "23:00"}]}]}))
}

struct Shop {
    app: TestApp,
    llm: Fake,
    store_id: String,
    outbound: Arc<MemoryQueue>,
    bot: Arc<Bot>,
}

impl Shop {
    /// A store with the menu and `profile`, answered through the fake model.
    async fn new(profile: Value) -> Self {
        Self::build(embedded_store().await, profile, false).await
    }

    /// The same without a model (no LLM key).
    async fn offline(profile: Value) -> Self {
        Self::build(embedded_store().await, profile, true).await
    }

    async fn build(t: TestStore, profile: Value, offline: bool) -> Self {
        let app = TestApp::new(t);
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let (status, body) = app
            .call(
                axum::http::Method::PUT,
                &format!("/api/client/{}/config", wa.store_id),
                Some(&wa.api_key),
                Some(json!({"debounceSeconds": 0, "botName": "Maria", "storeType": "pizzaria"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let llm = fake_llm::llm().await;
        let outbound = stack::fifo_queue();
        let bot = if offline {
            app.bot(Arc::new(Offline), stack::standard_queue(), outbound.clone())
        } else {
            app.bot_over_fake_llm(&llm.url, stack::standard_queue(), outbound.clone())
        };
        let shop = Self {
            store_id: wa.store_id,
            app,
            llm,
            outbound,
            bot: Arc::new(bot),
        };
        let store = shop.app.state.store.as_ref();
        let menu: platefull::domain::menu::Menu = serde_json::from_value(menu()).unwrap();
        knowledge::replace_menu(store, &shop.store_id, &StoreCaller::Key, &menu)
            .await
            .unwrap();
        shop.set_profile(profile).await;
        shop
    }

    async fn set_profile(&self, profile: Value) {
        let profile = serde_json::from_value(profile).unwrap();
        knowledge::replace_profile(
            self.app.state.store.as_ref(),
            &self.store_id,
            &StoreCaller::Key,
            profile,
            |_, _| Ok(()),
        )
        .await
        .unwrap();
    }

    fn job(&self, chat: &str, id: &str, text: &str) -> BotJob {
        BotJob::Message {
            store_id: self.store_id.clone(),
            line: Line::Web { slot: 1 },
            message: ChatMessage {
                id: id.into(),
                chat: chat.into(),
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

    /// The customer in `chat` writes `text` (message `id`): the one reply it gets.
    async fn ask(&self, chat: &str, id: &str, text: &str) -> String {
        let before = self.outbound.len();
        self.bot.handle(self.job(chat, id, text)).await.unwrap();
        let replies = replies_in(&self.outbound);
        assert_eq!(replies.len(), before + 1, "one reply per turn");
        replies.last().unwrap().chunks.join("\n\n")
    }
}

fn replies_in(outbound: &MemoryQueue) -> Vec<OutboundReply> {
    outbound
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

/// On both stores: the menu and profile a turn reads come from the one query.
async fn the_model_looks_prices_up_with_tools_and_answers_with_them(t: TestStore) {
    let shop = Shop::build(t, open_profile(), false).await;
    let script = &shop.llm.script;
    script.calls(&[("search_menu", r#"{"query":"CALABRESA"}"#)]);
    script.says("A calabresa sai por R$ 45,90.");
    let reply = shop.ask(CHAT, "W1", "quanto é a calabresa?").await;
    assert_eq!(reply, "A calabresa sai por R$ 45,90.");
    assert_eq!(script.count(), 2);
    // The tools offered, as OpenAI's function-calling shape.
    let first = script.request(1);
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["type"], "function");
            t["function"]["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "search_menu",
            "get_item",
            "store_status",
            "quote_delivery",
            "payment_methods",
            "add_to_cart",
            "update_cart_line",
            "remove_from_cart",
            "view_cart",
            "set_fulfillment",
            "set_payment",
            "request_confirmation",
            "place_order",
            "order_status"
        ]
    );
    assert_eq!(first["tool_choice"], "auto");
    assert_eq!(
        first["tools"][1]["function"]["parameters"]["required"],
        json!(["itemId"])
    );
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("- Pizzas: Calabresa, Portuguesa"),
        "{system}"
    );
    assert!(system.contains("Esgotados agora (não ofereça): Atum"));
    assert!(
        !system.contains("quanto é"),
        "customer text stays out of the system prompt"
    );
    // The call went back as the assistant's message, its result as a `tool` message.
    let second = script.request(2);
    let messages = second["messages"].as_array().unwrap();
    let call = &messages[messages.len() - 2];
    assert_eq!(call["role"], "assistant");
    assert_eq!(call["content"], Value::Null);
    assert_eq!(call["tool_calls"][0]["id"], "call_0");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "search_menu");
    let results = script.tool_results(2);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0, "call_0");
    let found = &results[0].1;
    assert_eq!(found["count"], 1, "accent- and case-insensitive: {found}");
    assert_eq!(found["items"][0]["id"], "calabresa");
    assert_eq!(found["items"][0]["priceCents"], 4590);
    assert_eq!(found["items"][0]["price"], "R$ 45,90");
    // The options of an item, with the item's price plus each option's.
    script.calls(&[("get_item", r#"{"itemId":"calabresa"}"#)]);
    script.says("A grande fica R$ 55,90.");
    let reply = shop.ask(CHAT, "W2", "e a grande?").await;
    assert_eq!(
        reply, "A grande fica R$ 55,90.",
        "a total from get_item is sayable"
    );
    let item = &script.tool_results(4)[0].1;
    let grande = &item["optionGroups"][0]["options"][1];
    assert_eq!(
        (grande["priceCents"].clone(), grande["totalCents"].clone()),
        (json!(1000), json!(5590))
    );
    assert_eq!(item["optionGroups"][0]["min"], 1);
    // Status, delivery, payments and sold-out items in one round.
    script.calls(&[
        ("store_status", "{}"),
        ("quote_delivery", r#"{"neighborhood":"vila  MARIANA"}"#),
        ("quote_delivery", r#"{"neighborhood":"Centro"}"#),
        ("payment_methods", ""),
        (
            "search_menu",
            r#"{"query":"atum","includeUnavailable":true}"#,
        ),
        ("search_menu", r#"{"query":"atum"}"#),
    ]);
    script.says("Tudo certo!");
    shop.ask(CHAT, "W3", "abertos? entregam? pix? atum?").await;
    let results: Vec<Value> = script.tool_results(6).into_iter().map(|r| r.1).collect();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0]["open"], true, "{}", results[0]);
    assert_eq!(results[0]["timezone"], "America/Sao_Paulo");
    assert_eq!(
        (
            results[1]["served"].clone(),
            results[1]["zone"].clone(),
            results[1]["feeCents"].clone()
        ),
        (json!(true), json!("Zona Sul"), json!(700))
    );
    assert_eq!(
        (
            results[1]["minOrderCents"].clone(),
            results[1]["etaMinutes"].clone()
        ),
        (json!(3000), json!(45))
    );
    assert_eq!(results[2]["served"], false);
    assert_eq!(results[2]["pickup"], true);
    assert_eq!(results[3]["pix"]["keyType"], "email");
    assert_eq!(results[3]["pix"]["key"], "pix@pizzariax.com.br");
    assert_eq!(
        (results[3]["cash"].clone(), results[3]["card"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(results[4]["items"][0]["available"], false);
    assert_eq!(
        results[5]["count"], 0,
        "sold-out items are hidden by default"
    );
}

for_each_store!(the_model_looks_prices_up_with_tools_and_answers_with_them);

#[tokio::test]
async fn malformed_arguments_and_unknown_tools_are_answered_to_the_model() {
    let shop = Shop::new(open_profile()).await;
    let script = &shop.llm.script;
    script.calls(&[
        ("get_item", r#"{"itemId": "calab"#),
        ("make_order", "{}"),
        ("search_menu", r#"{"query": 5}"#),
        ("get_item", r#"["calabresa"]"#),
        ("get_item", r#"{"itemId": "pizza-de-ouro"}"#),
    ]);
    script.says("Desculpe, não encontrei. Pode repetir?");
    let reply = shop.ask(CHAT, "W1", "quero a de ouro").await;
    assert_eq!(reply, "Desculpe, não encontrei. Pode repetir?");
    let codes: Vec<Value> = script
        .tool_results(2)
        .into_iter()
        .map(|(_, r)| r["error"]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            "invalid_arguments",
            "unknown_tool",
            "invalid_arguments",
            "invalid_arguments",
            "not_found"
        ]
    );
    assert_eq!(script.count(), 2, "a bad call is not a failed turn");
}

#[tokio::test]
async fn tool_rounds_are_bounded_and_the_last_call_must_answer() {
    let shop = Shop::new(open_profile()).await;
    let script = &shop.llm.script;
    for _ in 0..4 {
        script.calls(&[("store_status", "{}")]);
    }
    script.says("Estamos abertos!");
    assert_eq!(shop.ask(CHAT, "W1", "abertos?").await, "Estamos abertos!");
    assert_eq!(
        script.count(),
        5,
        "4 rounds, then one call that must answer"
    );
    assert_eq!(script.request(4)["tool_choice"], "auto");
    let last = script.request(5);
    assert_eq!(last["tool_choice"], "none");
    assert_eq!(
        last["tools"].as_array().unwrap().len(),
        14,
        "still listed (5 read tools, 9 order tools)"
    );
    assert_eq!(script.tool_results(5).len(), 4);
    // A model that keeps calling when told to answer: nothing it said goes out.
    for _ in 0..5 {
        script.calls(&[("store_status", "{}")]);
    }
    assert_eq!(shop.ask(CHAT, "W2", "e agora?").await, UNSURE_REPLY);
    assert_eq!(script.count(), 10);
}

#[tokio::test]
async fn an_invented_price_is_corrected_once_then_replaced_by_the_safe_reply() {
    let shop = Shop::new(open_profile()).await;
    let script = &shop.llm.script;
    script.says("A calabresa sai por R$ 39,90.");
    script.says("A calabresa sai por R$ 45,90.");
    let reply = shop.ask(CHAT, "W1", "quanto é a calabresa?").await;
    assert_eq!(reply, "A calabresa sai por R$ 45,90.");
    let correction = script.request(2);
    assert_eq!(correction["tool_choice"], "none");
    let messages = correction["messages"].as_array().unwrap();
    let asked = messages.last().unwrap();
    assert_eq!(asked["role"], "user");
    let text = asked["content"].as_str().unwrap();
    assert!(
        text.contains("R$ 39,90") && text.contains("não é o cliente"),
        "{text}"
    );
    assert_eq!(
        messages[messages.len() - 2]["content"],
        "A calabresa sai por R$ 39,90."
    );
    // Invented twice: the safe reply.
    script.says("Fica R$ 39,90.");
    script.says("Desculpe: são 39 reais.");
    assert_eq!(shop.ask(CHAT, "W2", "certeza?").await, SAFE_REPLY);
    assert_eq!(script.count(), 4);
    // A price that's only in the customer's words is not confirmed either.
    script.says("Isso, a calabresa sai por R$ 20,00!");
    script.says("Isso, R$ 20,00.");
    assert_eq!(
        shop.ask(CHAT, "W3", "a calabresa é R$ 20,00 né?").await,
        SAFE_REPLY
    );
}

/// A model that invents prices in many ways (and now and then corrects itself): not one
/// invented amount reaches a customer.
#[tokio::test]
async fn no_invented_amount_reaches_a_customer() {
    let shop = Shop::new(open_profile()).await;
    let script = &shop.llm.script;
    // (first try, second try); the invented amounts are everything but the data's.
    let batch: &[(&str, &str)] = &[
        (
            "A calabresa sai por R$ 39,90.",
            "A calabresa sai por R$ 45,90.",
        ),
        ("Custa R$45", "Custa R$ 45"),
        ("São 37 reais.", "A portuguesa sai R$ 52,90."),
        (
            "Quarenta e dois reais a calabresa.",
            "Quarenta e cinco reais e noventa centavos.",
        ),
        ("Fica 45,91 com a taxa.", "Fica 45,91."),
        ("R$ 45,90 + R$ 7,00 de entrega = R$ 52,90", "Total R$ 52,91"),
        ("2 calabresas: R$ 91,80", "Duas saem R$ 91,80"),
        ("A grande sai R$ 56,00", "A grande sai R$ 55,90"),
        ("R$ 1.234,50 o combo", "O combo custa 1.234,50"),
        ("Coca 2L por R$ 12", "Coca 2L por R$ 14,00"),
        ("A taxa é 8 reais", "A taxa é R$ 7,00 e o mínimo R$ 30,00"),
        (
            "Pedido mínimo de R$ 25",
            "Pedido mínimo de vinte e cinco reais",
        ),
        ("Atum por R$ 54,99", "Atum (esgotado) custava R$ 55,00"),
        ("Portuguesa R$ 52.9", "Portuguesa R$ 53"),
        ("Promoção: R$ 9,99 a coca!", "Sem promoção hoje."),
        ("Cem reais as três pizzas", "Cem reais as três"),
        ("R$ 0,50 de desconto", "Sem desconto."),
        (
            "A grande é 10 reais a mais: R$ 55,90",
            "A grande custa R$ 10,00 a mais.",
        ),
        ("R$ 45,90 cada, 3 por R$ 130", "R$ 45,90 cada"),
        ("Só 45 conto!", "Só R$ 4,59!"),
    ];
    let mut invented_offered = 0;
    let mut reached = Vec::new();
    for (n, (first, second)) in batch.iter().enumerate() {
        script.calls(&[("get_item", r#"{"itemId":"calabresa"}"#)]);
        script.says(first);
        script.says(second);
        let before = script.count();
        // A chat per turn: one chat's ration of model calls is 6 a minute.
        let chat = format!("55119000{n:05}");
        let reply = shop.ask(&chat, &format!("W{n}"), "quanto fica?").await;
        // The tool round, then the first try and perhaps the second.
        let tries = script.count() - before - 1;
        invented_offered += [*first, *second]
            .iter()
            .take(tries)
            .map(|text| {
                money::amounts(text)
                    .iter()
                    .filter(|c| !TRUE_AMOUNTS.contains(c))
                    .count()
            })
            .sum::<usize>();
        reached.extend(
            money::amounts(&reply)
                .into_iter()
                .filter(|c| !TRUE_AMOUNTS.contains(c)),
        );
        // Scripted answers this turn didn't use are dropped, so turns stay aligned.
        script.answers.lock().unwrap().clear();
        for text in [
            "39,90", "R$ 91,80", "52,91", "1.234,50", "R$ 130", "R$ 4,59",
        ] {
            assert!(
                !reply.contains(text),
                "{text} reached the customer: {reply}"
            );
        }
    }
    println!(
        "price guard: {invented_offered} invented amounts written by the model over {} turns, {} reached a customer",
        batch.len(),
        reached.len()
    );
    assert!(
        invented_offered >= 20,
        "the fake did invent ({invented_offered})"
    );
    assert_eq!(
        reached,
        Vec::<i64>::new(),
        "invented amounts reached a customer"
    );
}

#[tokio::test]
async fn a_closed_store_says_so_once_per_chat_and_still_answers() {
    let shop = Shop::new(closed_profile()).await;
    let first = shop.ask(CHAT, "W1", "Oi, qual o preço da calabresa?").await;
    assert_eq!(
        first,
        "Estamos fechados agora; abrimos amanhã às 18h.\n\nResposta 1"
    );
    let system = shop.llm.script.request(1)["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.contains("Situação da loja: fechada agora, abre amanhã às 18h"),
        "{system}"
    );
    assert!(system.contains("não aceite pedidos"));
    assert_eq!(shop.ask(CHAT, "W2", "E a portuguesa?").await, "Resposta 2");
    // Another chat gets it on its first reply; the owner's message replaces ours.
    assert!(shop
        .ask("5511988880000", "W3", "oi")
        .await
        .starts_with("Estamos fechados agora; abrimos amanhã às 18h.\n\n"));
    let mut profile = closed_profile();
    profile["closedMessage"] = json!("Fechadinhos! Voltamos amanhã às 18h.");
    shop.set_profile(profile).await;
    assert_eq!(
        shop.ask("5511977770000", "W4", "oi").await,
        "Fechadinhos! Voltamos amanhã às 18h.\n\nResposta 4"
    );
    // Open: no notice, and the model is told so.
    shop.set_profile(open_profile()).await;
    assert_eq!(shop.ask("5511966660000", "W5", "oi").await, "Resposta 5");
    let system = shop.llm.script.request(5)["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.contains("Situação da loja: aberta agora"),
        "{system}"
    );
}

#[tokio::test]
async fn without_a_model_the_data_answers_the_common_questions() {
    let shop = Shop::offline(open_profile()).await;
    let hours = shop
        .ask("5511900000001", "W1", "Qual o HORÁRIO de vocês?")
        .await;
    assert!(hours.starts_with("Estamos abertos agora."), "{hours}");
    assert!(hours.contains("Horário de hoje: 00:00–00:00"), "{hours}");
    let menu = shop.ask("5511900000002", "W2", "me manda o cardapio").await;
    assert!(
        menu.contains("*Pizzas*: Calabresa R$ 45,90; Portuguesa R$ 52,90"),
        "{menu}"
    );
    assert!(menu.contains("*Bebidas*: Coca-Cola 2L R$ 14,00"));
    assert!(!menu.contains("Atum"), "sold out: not offered");
    let fee = shop
        .ask("5511900000003", "W3", "Entregam na vila mariana?")
        .await;
    assert!(
        fee.contains("Zona Sul")
            && fee.contains("taxa R$ 7,00, pedido mínimo R$ 30,00, cerca de 45 min"),
        "{fee}"
    );
    let fee = shop.ask("5511900000004", "W4", "moema").await;
    assert!(fee.starts_with("Entregamos aí (Zona Sul)"), "{fee}");
    let zones = shop
        .ask("5511900000005", "W5", "qual a taxa de entrega?")
        .await;
    assert!(zones.contains("Zona Sul (Vila Mariana, Moema)"), "{zones}");
    let pix = shop.ask("5511900000006", "W6", "aceita pix?").await;
    assert!(
        pix.contains("Pix (chave e-mail: pix@pizzariax.com.br, em nome de Pizzaria X)")
            && pix.contains("dinheiro")
            && !pix.contains("cartão"),
        "{pix}"
    );
    assert_eq!(
        shop.ask("5511900000007", "W7", "oi, tudo bem?").await,
        OFFLINE_REPLY
    );
    // Closed: the hours answer is the notice, said once.
    let closed = Shop::offline(closed_profile()).await;
    assert_eq!(
        closed.ask(CHAT, "W1", "vocês estão abertos?").await,
        "Estamos fechados agora; abrimos amanhã às 18h. Hoje não abrimos."
    );
    assert_eq!(shop.llm.script.count() + closed.llm.script.count(), 0);
}

#[tokio::test]
async fn a_redelivered_tool_turn_resends_its_reply_without_asking_again() {
    let shop = Shop::new(open_profile()).await;
    shop.llm
        .script
        .calls(&[("search_menu", r#"{"query":"calabresa"}"#)]);
    shop.llm.script.says("R$ 45,90 a calabresa.");
    let reply = shop.ask(CHAT, "W1", "calabresa?").await;
    assert_eq!(reply, "R$ 45,90 a calabresa.");
    assert_eq!(shop.llm.script.count(), 2);
    // The hand-over was lost: the redelivered message resends the stored reply.
    let lost = stack::fifo_queue();
    let again = shop
        .app
        .bot_over_fake_llm(&shop.llm.url, stack::standard_queue(), lost.clone());
    again
        .handle(shop.job(CHAT, "W1", "calabresa?"))
        .await
        .unwrap();
    let resent = replies_in(&lost);
    assert_eq!(resent.len(), 1);
    assert_eq!(
        (resent[0].seq, resent[0].chunks.clone()),
        (1, vec!["R$ 45,90 a calabresa.".to_owned()])
    );
    assert_eq!(shop.llm.script.count(), 2, "no new model or tool call");
}
