//! Issue 14, orders: the attendant builds the cart with tool calls (the fake
//! OpenAI-compatible server scripts them, through the real client and the real worker), our
//! code sends the summary and the confirmation, the order is placed exactly once with the
//! day's next number, and the owner moves it along through the routes while the customer is
//! told each step. Replies are collected from the outbound queue; the customer's status
//! messages go through the notices queue and the bot, like in the local stack.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use platefull::auth::caller::StoreCaller;
use platefull::bot::chat::ChatRef;
use platefull::bot::worker::Bot;
use platefull::domain::order::Order;
use platefull::jobs::{BotJob, ChatMessage, Line, OutboundReply};
use platefull::knowledge;
use platefull::orders::{self, StoredCart};
use platefull::queue::memory::MemoryQueue;
use platefull::queue::Queue;
use platefull::store::keys;
use platefull_tests::fake_llm::{self, Fake};
use platefull_tests::{assert_error, embedded_store, for_each_store, stack, TestApp, TestStore};
use serde_json::{json, Value};

const CHAT: &str = "5511999990000";

pub(super) fn menu() -> Value {
    json!({"categories": [
        {"id": "pizzas", "name": "Pizzas", "items": [
            {"id": "calabresa", "name": "Calabresa", "priceCents": 4590,
             "optionGroups": [{"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1,
                "options": [{"id": "media", "name": "Média", "priceCents": 0},
                            {"id": "grande", "name": "Grande", "priceCents": 1000}]}]},
            {"id": "portuguesa", "name": "Portuguesa", "priceCents": 5290},
            {"id": "atum", "name": "Atum", "priceCents": 5500, "available": false}]},
        {"id": "bebidas", "name": "Bebidas", "items": [
            {"id": "coca-2l", "name": "Coca-Cola 2L", "priceCents": 1400}]}]})
}

fn week(shift: Value) -> Value {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    Value::Object(
        days.iter()
            .map(|d| (d.to_string(), shift.clone()))
            .collect(),
    )
}

pub(super) fn profile(open: bool) -> Value {
    let shift = if open {
        json!([{"open": "00:00", "close": "00:00"}])
    } else {
        json!([])
    };
    json!({
        "address": "Rua das Flores, 100",
        // Closed: no weekly shifts, hours known from a far-off exception.
        "hours": {"weekly": week(shift), "exceptions": [
            {"date": "2099-01-01", "intervals": [{"open": "18:00", "close": "23:00"}]}]},
        "delivery": {"pickup": true, "zones": [{"name": "Zona Sul", "neighborhoods": ["Vila Mariana", "Moema"],
            "feeCents": 700, "minOrderCents": 3000, "etaMinutes": 45}]},
        "payments": {"pix": {"key": "pix@pizzariax.com.br", "keyType": "email",
            "merchantName": "Pizzaria X", "merchantCity": "Sao Paulo"}, "cash": true, "card": false},
    })
}

struct Shop {
    app: TestApp,
    llm: Fake,
    store_id: String,
    api_key: String,
    outbound: Arc<MemoryQueue>,
    notices: Arc<MemoryQueue>,
    bot: Arc<Bot>,
}

impl Shop {
    async fn new(t: TestStore, open: bool) -> Self {
        let notices = stack::standard_queue();
        let queue: Arc<dyn Queue> = notices.clone();
        let app = TestApp::new(t).with_state(|state| state.notices = Some(queue));
        let wa = app.whatsapp("alice", "Pizzaria X").await;
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/api/client/{}/config", wa.store_id),
                Some(&wa.api_key),
                Some(json!({"debounceSeconds": 0, "botName": "Maria"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let llm = fake_llm::llm().await;
        let outbound = stack::fifo_queue();
        let bot = app.bot_over_fake_llm(&llm.url, stack::standard_queue(), outbound.clone());
        let store = app.state.store.clone();
        let menu: platefull::domain::menu::Menu = serde_json::from_value(menu()).unwrap();
        knowledge::replace_menu(store.as_ref(), &wa.store_id, &StoreCaller::Key, &menu)
            .await
            .unwrap();
        let profile = serde_json::from_value(profile(open)).unwrap();
        knowledge::replace_profile(
            store.as_ref(),
            &wa.store_id,
            &StoreCaller::Key,
            profile,
            |_, _| Ok(()),
        )
        .await
        .unwrap();
        Self {
            app,
            llm,
            store_id: wa.store_id,
            api_key: wa.api_key,
            outbound,
            notices,
            bot: Arc::new(bot),
        }
    }

    fn job(&self, chat: &str, id: &str, text: &str) -> BotJob {
        BotJob::Message {
            store_id: self.store_id.clone(),
            line: Line::Web { slot: 1 },
            message: ChatMessage {
                id: id.into(),
                chat: chat.into(),
                text: text.into(),
                timestamp: 1,
                name: Some("Ana Souza".into()),
                ..ChatMessage::default()
            },
        }
    }

    /// Every message sent to the customers, oldest first.
    fn sent(&self) -> Vec<String> {
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

    /// The customer writes: the one reply it gets.
    async fn ask(&self, id: &str, text: &str) -> String {
        // A customer's answer comes after the reply it answers, by the clock: at least a
        // millisecond later (placing compares receipt and summary times).
        tokio::time::sleep(Duration::from_millis(2)).await;
        let before = self.outbound.len();
        self.bot.handle(self.job(CHAT, id, text)).await.unwrap();
        let sent = self.sent();
        assert_eq!(sent.len(), before + 1, "one reply per turn: {sent:?}");
        sent.last().unwrap().clone()
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!("/api/client/{}{path}", self.store_id);
        self.app
            .call(method, &path, Some(&self.api_key), body)
            .await
    }

    /// The console's change feed (`since`: a cursor it returned).
    async fn changes(&self, since: Option<&str>) -> Value {
        let mut path = format!("/api/whatsapp/{}/changes", self.store_id);
        if let Some(since) = since {
            path.push_str(&format!("?since={since}"));
        }
        let (status, body) = self
            .app
            .call(Method::GET, &path, Some(&self.api_key), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn orders(&self) -> Vec<Value> {
        let (status, body) = self.api(Method::GET, "/orders", None).await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    /// Hands every queued notice to the bot (as the worker would); how many there were.
    async fn drain_notices(&self) -> usize {
        let received = self
            .notices
            .receive(10, Duration::from_millis(10))
            .await
            .unwrap();
        for message in &received {
            let job: BotJob = serde_json::from_str(&message.body).unwrap();
            assert!(matches!(job, BotJob::Notice { .. }), "{}", message.body);
            self.bot.handle(job).await.unwrap();
            self.notices.ack(&message.receipt).await.unwrap();
        }
        received.len()
    }

    /// The codes of the error results request `n` (1-based) carried, in order (`ok` for a
    /// result that isn't an error).
    fn codes(&self, n: usize) -> Vec<String> {
        self.llm
            .script
            .tool_results(n)
            .into_iter()
            .map(|(_, r)| r["error"]["code"].as_str().unwrap_or("ok").to_owned())
            .collect()
    }

    /// A delivery order paid by Pix, through two turns; returns the confirmation.
    async fn delivery_order(&self, first: &str) -> String {
        let script = &self.llm.script;
        script.calls(&[
            ("add_to_cart", r#"{"itemId":"calabresa","quantity":1,"optionIds":["grande"]}"#),
            ("add_to_cart", r#"{"itemId":"coca-2l","quantity":1}"#),
            (
                "set_fulfillment",
                r#"{"mode":"delivery","address":"Rua das Acácias, 10","neighborhood":"vila mariana"}"#,
            ),
            ("set_payment", r#"{"method":"pix"}"#),
        ]);
        script.calls(&[("request_confirmation", "{}")]);
        script.says("Confere o resumo abaixo:");
        let summary = self
            .ask(
                &format!("{first}a"),
                "quero uma calabresa grande e uma coca 2L, entrega na Vila Mariana, Rua das Acácias 10, pago no pix",
            )
            .await;
        script.calls(&[("place_order", "{}")]);
        script.says("Pedido anotado!");
        let confirmation = self.ask(&format!("{first}b"), "pode mandar").await;
        assert!(summary.contains("*Resumo do pedido*"), "{summary}");
        confirmation
    }
}

pub(super) fn pix_code_in(text: &str) -> String {
    let (_, after) = text.split_once("Pix copia e cola").expect("a Pix code");
    after.lines().nth(1).unwrap().trim().to_owned()
}

fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

/// On both stores: delivery + Pix, from the first message to the order on the board.
async fn a_full_delivery_order_with_pix(t: TestStore) {
    let shop = Shop::new(t, true).await;
    let script = &shop.llm.script;
    let cursor = shop.changes(None).await["cursor"].clone();
    let confirmation = shop.delivery_order("M1").await;
    // The console's change feed hears of the order; the day's usage counts it.
    let feed = shop.changes(cursor.as_str()).await;
    assert!(
        feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "order"),
        "{feed}"
    );
    let (status, usage) = shop.api(Method::GET, "/usage", None).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(
        (
            &usage["totals"]["orders"],
            &usage["totals"]["ordersTotalCents"]
        ),
        (&json!(1), &json!(7690)),
        "{usage}"
    );
    // The summary: our text, after the model's words, with totals computed by our code.
    let summary = shop.sent()[0].clone();
    assert!(summary.starts_with("Confere o resumo abaixo:\n\n*Resumo do pedido*"));
    for line in [
        "1x Calabresa (Grande) — R$ 55,90",
        "1x Coca-Cola 2L — R$ 14,00",
        "Subtotal: R$ 69,90",
        "Taxa de entrega: R$ 7,00",
        "*Total: R$ 76,90*",
        "Entrega em: Rua das Acácias, 10 — Vila Mariana (cerca de 45 min)",
        "Pagamento: Pix",
        "Responda *sim* para confirmar",
    ] {
        assert!(summary.contains(line), "{line:?} in {summary}");
    }
    let results = script.tool_results(2);
    assert_eq!(results.len(), 4);
    let cart = &results[3].1;
    assert_eq!(cart["lines"][0]["lineId"], "l1");
    assert_eq!(cart["lines"][1]["lineId"], "l2");
    assert_eq!(
        (
            cart["subtotalCents"].clone(),
            cart["deliveryFeeCents"].clone(),
            cart["totalCents"].clone()
        ),
        (json!(6990), json!(700), json!(7690))
    );
    // The confirmation: number of the day and the Pix code of the exact total.
    assert!(
        confirmation.starts_with("Pedido anotado!\n\nPedido *#0001* confirmado! ✅"),
        "{confirmation}"
    );
    assert!(confirmation.contains("Total: R$ 76,90 — pagamento: Pix."));
    let code = pix_code_in(&confirmation);
    let (body, crc) = code.split_at(code.len() - 4);
    assert_eq!(
        format!("{:04X}", platefull::domain::pix::crc16(body.as_bytes())),
        crc
    );
    assert!(code.contains("0014br.gov.bcb.pix0120pix@pizzariax.com.br"));
    assert!(code.contains("540576.90"));
    // The board: the order in the contract's shape.
    let orders = shop.orders().await;
    assert_eq!(orders.len(), 1);
    let order = &orders[0];
    assert_eq!(
        keys_of(order),
        [
            "chat",
            "createdAt",
            "customerName",
            "deliveryFeeCents",
            "fulfillment",
            "history",
            "id",
            "items",
            "line",
            "number",
            "payment",
            "status",
            "subtotalCents",
            "totalCents",
            "updatedAt"
        ]
    );
    assert_eq!(order["number"], 1);
    assert_eq!(order["status"], "new");
    assert_eq!(order["line"], "w1");
    assert_eq!(order["chat"], CHAT);
    assert_eq!(
        order["items"][0],
        json!({"itemId": "calabresa", "name": "Calabresa", "quantity": 1,
            "options": [{"groupId": "tamanho", "optionId": "grande", "name": "Grande", "priceCents": 1000}],
            "unitPriceCents": 5590, "totalCents": 5590})
    );
    assert_eq!(
        (
            order["subtotalCents"].clone(),
            order["deliveryFeeCents"].clone(),
            order["totalCents"].clone()
        ),
        (json!(6990), json!(700), json!(7690))
    );
    assert_eq!(
        order["fulfillment"],
        json!({"mode": "delivery", "address": "Rua das Acácias, 10", "neighborhood": "Vila Mariana"})
    );
    assert_eq!(
        order["payment"],
        json!({"method": "pix", "paid": false, "pixCode": code})
    );
    assert_eq!(order["history"][0]["status"], "new");
    let id = order["id"].as_str().unwrap();
    assert!(id.ends_with("-0001") && id.len() == 13, "{id}");
    assert!(
        code.contains(&format!("0512{}", id.replace('-', ""))),
        "txid from the order id"
    );
    let (status, one) = shop.api(Method::GET, &format!("/orders/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(&one, order);
    // "Cadê meu pedido?" from the order's real status.
    script.calls(&[("order_status", "{}")]);
    script.says("Seu pedido foi recebido e aguarda a loja.");
    shop.ask("M2", "cadê meu pedido?").await;
    let status = &script.tool_results(7)[0].1;
    assert_eq!(status["orderId"], id);
    assert_eq!(status["number"], "#0001");
    assert_eq!(status["status"], "new");
    assert_eq!(status["statusText"], "recebido, aguardando a loja aceitar");
}

/// On both stores: a retried turn after a crash between placing and replying, and a
/// redelivered message, make one order and one confirmation; numbers have no gap.
async fn one_order_through_a_crash_and_a_redelivery(t: TestStore) {
    let shop = Shop::new(t, true).await;
    let script = &shop.llm.script;
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":1}"#),
        ("set_fulfillment", r#"{"mode":"pickup"}"#),
        ("set_payment", r#"{"method":"cash"}"#),
        ("request_confirmation", "{}"),
    ]);
    script.says("Confirma?");
    shop.ask("M1", "uma portuguesa pra retirar, pago em dinheiro")
        .await;
    // The order is placed, then the worker dies before any reply (the model's next call
    // fails: the turn goes back to the queue with the order already written).
    script.calls(&[("place_order", "{}")]);
    script.push(400, json!({"error": {"message": "boom"}}), None);
    let job = shop.job(CHAT, "M2", "sim");
    assert!(shop.bot.handle(job.clone()).await.is_err());
    assert_eq!(shop.sent().len(), 1, "no confirmation yet");
    assert_eq!(shop.orders().await.len(), 1, "the order is placed");
    // The queue delivers the turn again: the same order, confirmed once.
    script.calls(&[("place_order", "{}")]);
    script.says("Prontinho!");
    shop.bot.handle(job.clone()).await.unwrap();
    let sent = shop.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent[1].contains("Pedido *#0001* confirmado"), "{}", sent[1]);
    let placed = &script.tool_results(script.count())[0].1;
    assert_eq!(placed["number"], "#0001");
    // WhatsApp delivers the message once more: no model call, no second order or reply.
    let calls = script.count();
    shop.bot.handle(job).await.unwrap();
    assert_eq!(script.count(), calls);
    assert_eq!(shop.sent().len(), 2);
    assert_eq!(shop.orders().await.len(), 1);
    // The next order of the day is #0002: the retry used no number.
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"coca-2l","quantity":1}"#),
        ("set_fulfillment", r#"{"mode":"pickup"}"#),
        ("set_payment", r#"{"method":"pix"}"#),
        ("request_confirmation", "{}"),
    ]);
    script.says("Confirma?");
    shop.ask("M3", "e uma coca").await;
    script.calls(&[("place_order", "{}")]);
    script.says("Feito!");
    let second = shop.ask("M4", "sim").await;
    assert!(second.contains("Pedido *#0002* confirmado"), "{second}");
    let numbers: Vec<Value> = shop
        .orders()
        .await
        .iter()
        .map(|o| o["number"].clone())
        .collect();
    assert_eq!(numbers, [json!(2), json!(1)], "newest first");
}

/// On both stores: the owner moves the order along; the customer is told each step once.
async fn transitions_tell_the_customer(t: TestStore) {
    let shop = Shop::new(t, true).await;
    shop.delivery_order("M1").await;
    let id = shop.orders().await[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/orders/{id}/status");
    let change = |status: &str| Some(json!({ "status": status }));
    let (status, body) = shop
        .api(Method::POST, &path, change("out_for_delivery"))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let cursor = shop.changes(None).await["cursor"].clone();
    let (status, body) = shop.api(Method::POST, &path, change("accepted")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "accepted");
    let feed = shop.changes(cursor.as_str()).await;
    let kinds: Vec<&Value> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["kind"])
        .collect();
    assert_eq!(
        kinds,
        [&json!("order")],
        "the status change, in the feed: {feed}"
    );
    assert_eq!(body["history"].as_array().unwrap().len(), 2);
    assert_eq!(shop.drain_notices().await, 1);
    assert_eq!(
        shop.sent().last().unwrap(),
        "Seu pedido #0001 foi aceito! Logo entra em preparo."
    );
    // A repeated request: 200, and the customer is still told once.
    let (status, body) = shop.api(Method::POST, &path, change("accepted")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["history"].as_array().unwrap().len(), 2);
    let before = shop.sent().len();
    assert_eq!(shop.drain_notices().await, 1);
    assert_eq!(shop.sent().len(), before, "the same step is not told twice");
    for (step, told) in [
        ("preparing", "Seu pedido #0001 está em preparo. 👨‍🍳"),
        ("out_for_delivery", "Seu pedido #0001 saiu para entrega! 🛵"),
    ] {
        if step == "out_for_delivery" {
            // Pickup's step doesn't apply to a delivery.
            let (status, body) = shop
                .api(Method::POST, &path, change("ready_for_pickup"))
                .await;
            assert_error(status, &body, StatusCode::CONFLICT, "conflict");
            let (status, body) = shop.api(Method::POST, &path, change("cancelled")).await;
            assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
            assert_eq!(body["error"]["field"], "reason");
        }
        let (status, body) = shop.api(Method::POST, &path, change(step)).await;
        assert_eq!(status, 200, "{body}");
        shop.drain_notices().await;
        assert_eq!(shop.sent().last().unwrap(), told);
    }
    let (status, body) = shop
        .api(Method::POST, &format!("/orders/{id}/paid"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["payment"]["paid"], true);
    shop.drain_notices().await;
    assert_eq!(
        shop.sent().last().unwrap(),
        "Pagamento do pedido #0001 confirmado. Obrigado!"
    );
    let (status, _) = shop.api(Method::POST, &path, change("delivered")).await;
    assert_eq!(status, 200);
    shop.drain_notices().await;
    assert!(shop
        .sent()
        .last()
        .unwrap()
        .starts_with("Pedido #0001 entregue."));
    // A delivered order is finished.
    let (status, body) = shop
        .api(
            Method::POST,
            &path,
            Some(json!({"status": "cancelled", "reason": "tarde demais"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "conflict");
    let (status, body) = shop.api(Method::POST, &path, change("nope")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    let order = shop.orders().await[0].clone();
    let steps: Vec<Value> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].clone())
        .collect();
    assert_eq!(
        steps,
        [
            json!("new"),
            json!("accepted"),
            json!("preparing"),
            json!("out_for_delivery"),
            json!("delivered")
        ]
    );
    // A second order cancelled with a reason: the customer reads it.
    shop.delivery_order("M2").await;
    let second = shop.orders().await[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = shop
        .api(
            Method::POST,
            &format!("/orders/{second}/status"),
            Some(json!({"status": "cancelled", "reason": "acabou a calabresa"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["history"][1]["reason"], "acabou a calabresa");
    shop.drain_notices().await;
    assert_eq!(
        shop.sent().last().unwrap(),
        "Seu pedido #0002 foi cancelado. Motivo: acabou a calabresa"
    );
}

for_each_store!(
    a_full_delivery_order_with_pix,
    one_order_through_a_crash_and_a_redelivery,
    transitions_tell_the_customer
);

#[tokio::test]
async fn pickup_paid_in_cash_with_change() {
    let shop = Shop::new(embedded_store().await, true).await;
    let script = &shop.llm.script;
    script.calls(&[
        (
            "add_to_cart",
            r#"{"itemId":"portuguesa","quantity":2,"note":"bem assada"}"#,
        ),
        ("set_fulfillment", r#"{"mode":"pickup"}"#),
        ("set_payment", r#"{"method":"cash","changeForCents":20000}"#),
        ("request_confirmation", ""),
    ]);
    script.says("Confira:");
    let summary = shop
        .ask(
            "M1",
            "duas portuguesas bem assadas, retiro aí, troco pra 200",
        )
        .await;
    for line in [
        "2x Portuguesa — R$ 105,80\n   obs.: bem assada",
        "*Total: R$ 105,80*",
        "Retirada na loja",
        "Pagamento: dinheiro (troco para R$ 200,00)",
    ] {
        assert!(summary.contains(line), "{line:?} in {summary}");
    }
    assert!(!summary.contains("Taxa de entrega"));
    script.calls(&[("place_order", "{}")]);
    script.says("Certo!");
    let confirmation = shop.ask("M2", "sim").await;
    assert!(confirmation.contains("Pedido *#0001* confirmado"));
    assert!(confirmation
        .contains("Total: R$ 105,80 — pagamento: dinheiro. Levaremos troco para R$ 200,00."));
    assert!(!confirmation.contains("Pix"));
    let order = &shop.orders().await[0];
    // The name the customer's WhatsApp shows, as the inbox learned it.
    assert_eq!(order["customerName"], "Ana Souza");
    assert_eq!(order["fulfillment"], json!({"mode": "pickup"}));
    assert_eq!(
        order["payment"],
        json!({"method": "cash", "changeForCents": 20000, "paid": false})
    );
    assert_eq!(order["deliveryFeeCents"], 0);
    assert_eq!(order["items"][0]["note"], "bem assada");
    assert_eq!(order["items"][0]["unitPriceCents"], 5290);
    assert_eq!(order["items"][0]["totalCents"], 10580);
}

/// A location pin fills the delivery address (`useLocation`); without one it is refused.
#[tokio::test]
async fn a_location_pin_fills_the_delivery_address() {
    use platefull::media::{Location, MediaKind, MediaPart};
    let shop = Shop::new(embedded_store().await, true).await;
    let script = &shop.llm.script;
    script.calls(&[
        (
            "add_to_cart",
            r#"{"itemId":"calabresa","quantity":1,"optionIds":["grande"]}"#,
        ),
        (
            "set_fulfillment",
            r#"{"mode":"delivery","useLocation":true,"neighborhood":"vila mariana"}"#,
        ),
        ("set_fulfillment", r#"{"mode":"pickup","useLocation":true}"#),
    ]);
    script.says("Me manda a sua localização?");
    shop.ask("L1", "uma calabresa grande pra entrega").await;
    assert_eq!(shop.codes(2), ["ok", "no_location", "invalid_arguments"]);
    // The pin arrives as media; the model sees its text and asks for it as the address.
    script.calls(&[
        (
            "set_fulfillment",
            r#"{"mode":"delivery","useLocation":true,"neighborhood":"vila mariana"}"#,
        ),
        ("set_payment", r#"{"method":"pix"}"#),
        ("request_confirmation", "{}"),
    ]);
    script.says("Confere:");
    let pin = MediaPart {
        location: Some(Location {
            lat: -23.5613,
            lng: -46.6565,
            name: Some("MASP".into()),
            address: Some("Av. Paulista, 1578".into()),
        }),
        ..MediaPart::of(MediaKind::Location)
    };
    let job = BotJob::Message {
        store_id: shop.store_id.clone(),
        line: Line::Web { slot: 1 },
        message: ChatMessage {
            id: "L2".into(),
            chat: CHAT.into(),
            text: String::new(),
            timestamp: 2,
            media: Some(Box::new(pin)),
            ..ChatMessage::default()
        },
    };
    tokio::time::sleep(Duration::from_millis(2)).await;
    shop.bot.handle(job).await.unwrap();
    assert_eq!(shop.codes(4), ["ok", "ok", "ok"]);
    let address = "Av. Paulista, 1578 (mapa: https://maps.google.com/?q=-23.561300,-46.656500)";
    let cart = &shop.llm.script.tool_results(4)[0].1;
    assert_eq!(cart["fulfillment"]["address"], address, "{cart}");
    assert_eq!(cart["fulfillment"]["neighborhood"], "Vila Mariana");
    let summary = shop.sent().last().unwrap().clone();
    assert!(
        summary.contains(&format!("Entrega em: {address} — Vila Mariana")),
        "{summary}"
    );
}

#[tokio::test]
async fn every_invalid_tool_call_is_refused_and_changes_nothing() {
    let shop = Shop::new(embedded_store().await, true).await;
    let script = &shop.llm.script;
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":1}"#),
        ("add_to_cart", r#"{"itemId":"lasanha","quantity":1}"#),
        ("add_to_cart", r#"{"itemId":"atum","quantity":1}"#),
        ("add_to_cart", r#"{"itemId":"calabresa","quantity":1}"#),
        (
            "add_to_cart",
            r#"{"itemId":"calabresa","quantity":1,"optionIds":["media","grande"]}"#,
        ),
        (
            "add_to_cart",
            r#"{"itemId":"calabresa","quantity":1,"optionIds":["gigante"]}"#,
        ),
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":0}"#),
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":51}"#),
    ]);
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"portuguesa"}"#),
        (
            "add_to_cart",
            r#"{"itemId":"portuguesa","quantity":1,"price":1}"#,
        ),
        ("update_cart_line", r#"{"lineId":"l9","quantity":2}"#),
        ("update_cart_line", r#"{"lineId":"l1","quantity":0}"#),
        ("update_cart_line", r#"{"lineId":"l1"}"#),
        ("remove_from_cart", r#"{"lineId":"l9"}"#),
        (
            "set_fulfillment",
            r#"{"mode":"delivery","neighborhood":"Centro","address":"Rua A, 1"}"#,
        ),
        (
            "set_fulfillment",
            r#"{"mode":"delivery","neighborhood":"Moema"}"#,
        ),
    ]);
    script.calls(&[
        (
            "set_fulfillment",
            r#"{"mode":"delivery","address":"Rua A, 1"}"#,
        ),
        ("set_fulfillment", r#"{"mode":"drone"}"#),
        ("set_payment", r#"{"method":"card"}"#),
        ("set_payment", r#"{"method":"pix","changeForCents":5000}"#),
        ("set_payment", r#"{"method":"cash","changeForCents":-5}"#),
        ("request_confirmation", "{}"),
        ("place_order", "{}"),
        ("view_cart", "{}"),
    ]);
    script.says("Vamos ver.");
    shop.ask("M1", "quero pedir").await;
    assert_eq!(
        shop.codes(2),
        [
            "ok",
            "item_not_found",
            "item_unavailable",
            "invalid_options",
            "invalid_options",
            "invalid_options",
            "invalid_quantity",
            "invalid_quantity"
        ]
    );
    assert_eq!(
        shop.codes(3)[8..],
        [
            "invalid_arguments",
            "invalid_arguments",
            "line_not_found",
            "invalid_quantity",
            "nothing_to_update",
            "line_not_found",
            "not_served",
            "address_required"
        ]
    );
    assert_eq!(
        shop.codes(4)[16..],
        [
            "neighborhood_required",
            "invalid_arguments",
            "payment_not_accepted",
            "invalid_change",
            "invalid_change",
            "fulfillment_required",
            "not_confirmed",
            "ok"
        ]
    );
    // Every error says what to do, and the cart is as the one valid call left it.
    let results = script.tool_results(4);
    assert!(results[18].1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("payment_methods"));
    let cart = &results[23].1;
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    assert_eq!(cart["lines"][0]["quantity"], 1);
    assert_eq!(cart["totalCents"], 5290);
    assert_eq!(cart["fulfillment"], Value::Null);
    assert_eq!(cart["payment"], Value::Null);
    // Stored with the reply: one change (version 1), no summary shown.
    let stored = shop
        .app
        .state
        .store
        .get(
            &keys::store_pk(&shop.store_id),
            &keys::chat_cart_sk("w1", CHAT),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["version"], 1);
    assert!(stored.get("shown").is_none());
    // The minimum order of the zone, checked at confirmation.
    script.calls(&[
        ("remove_from_cart", r#"{"lineId":"l1"}"#),
        ("add_to_cart", r#"{"itemId":"coca-2l","quantity":1}"#),
        (
            "set_fulfillment",
            r#"{"mode":"delivery","neighborhood":"Moema","address":"Rua B, 2"}"#,
        ),
        ("set_payment", r#"{"method":"pix"}"#),
        ("request_confirmation", "{}"),
    ]);
    script.says("O pedido mínimo é maior.");
    let reply = shop.ask("M2", "só uma coca").await;
    assert_eq!(shop.codes(6), ["ok", "ok", "ok", "ok", "below_minimum"]);
    assert!(!reply.contains("Resumo"), "no summary for a refused cart");
    assert_eq!(shop.orders().await.len(), 0);
}

#[tokio::test]
async fn a_closed_store_takes_no_order() {
    let shop = Shop::new(embedded_store().await, false).await;
    let script = &shop.llm.script;
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":1}"#),
        ("set_fulfillment", r#"{"mode":"pickup"}"#),
        ("set_payment", r#"{"method":"cash"}"#),
        ("request_confirmation", "{}"),
    ]);
    script.says("Estamos fechados agora.");
    let reply = shop.ask("M1", "uma portuguesa").await;
    assert_eq!(shop.codes(2), ["ok", "ok", "ok", "store_closed"]);
    assert!(!reply.contains("Resumo"));
}

#[tokio::test]
async fn placing_needs_the_customers_confirmation_of_that_exact_cart() {
    let shop = Shop::new(embedded_store().await, true).await;
    let script = &shop.llm.script;
    // A model that places in the same turn as the summary is refused.
    script.calls(&[
        ("add_to_cart", r#"{"itemId":"portuguesa","quantity":1}"#),
        ("set_fulfillment", r#"{"mode":"pickup"}"#),
        ("set_payment", r#"{"method":"cash"}"#),
        ("request_confirmation", "{}"),
        ("place_order", "{}"),
    ]);
    script.says("Confirma?");
    let first = shop.ask("M1", "uma portuguesa, retiro, dinheiro").await;
    assert_eq!(shop.codes(2), ["ok", "ok", "ok", "ok", "not_confirmed"]);
    assert!(first.contains("1x Portuguesa — R$ 52,90"));
    // The customer changes the cart after the summary: that summary no longer confirms.
    script.calls(&[
        ("update_cart_line", r#"{"lineId":"l1","quantity":2}"#),
        ("place_order", "{}"),
    ]);
    script.calls(&[("request_confirmation", "{}")]);
    script.says("Novo resumo:");
    let second = shop.ask("M2", "na verdade quero duas, pode fechar").await;
    assert_eq!(shop.codes(4), ["ok", "not_confirmed"]);
    assert!(second.contains("2x Portuguesa — R$ 105,80"), "{second}");
    assert_eq!(shop.orders().await.len(), 0);
    // A model that asks to place without a new confirmation is refused again.
    let stored = shop
        .app
        .state
        .store
        .get(
            &keys::store_pk(&shop.store_id),
            &keys::chat_cart_sk("w1", CHAT),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["shown"]["version"], stored["version"]);
    // Confirmed in a new message: placed, for the amount shown.
    script.calls(&[("place_order", "{}")]);
    script.says("Pedido feito!");
    let third = shop.ask("M3", "sim").await;
    assert!(third.contains("Pedido *#0001* confirmado"));
    assert!(third.contains("Total: R$ 105,80"));
    let orders = shop.orders().await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["items"][0]["quantity"], 2);
    // The cart starts over after the order: placing again is refused.
    script.calls(&[("place_order", "{}"), ("view_cart", "{}")]);
    script.says("Já foi.");
    shop.ask("M4", "manda de novo").await;
    assert_eq!(shop.codes(9), ["not_confirmed", "ok"]);
    assert_eq!(
        script.tool_results(9)[1].1["lines"],
        json!([]),
        "a fresh cart"
    );
    assert_eq!(shop.orders().await.len(), 1);
}

/// An order placed on `line` for `chat` straight through the storage (route tests).
async fn place_direct(shop: &Shop, line: &Line, chat: &str, date: &str) -> Order {
    place_on(
        shop.app.state.store.as_ref(),
        &shop.store_id,
        line,
        chat,
        date,
    )
    .await
}

/// Today's next order of `chat` on slot 1, straight through the storage (other suites).
pub(super) async fn place_direct_for(
    store: &dyn platefull::store::Store,
    store_id: &str,
    chat: &str,
) -> Order {
    let date = orders::local_date(&jiff::tz::TimeZone::UTC, jiff::Timestamp::now());
    place_on(store, store_id, &Line::Web { slot: 1 }, chat, &date).await
}

async fn place_on(
    store: &dyn platefull::store::Store,
    store_id: &str,
    line: &Line,
    chat: &str,
    date: &str,
) -> Order {
    let chat_ref = ChatRef {
        store_id,
        line,
        chat,
    };
    let stored = StoredCart {
        cart: platefull::domain::order::Cart::fresh(orders::new_cart_id(), None),
        rev: None,
    };
    let build = |number: u32| -> Order {
        serde_json::from_value(json!({
            "id": platefull::domain::order::order_id(date, number), "number": number,
            "status": "new", "line": line.key(), "chat": chat,
            "items": [{"itemId": "portuguesa", "name": "Portuguesa", "quantity": 1, "options": [],
                "unitPriceCents": 5290, "totalCents": 5290}],
            "subtotalCents": 5290, "deliveryFeeCents": 0, "totalCents": 5290,
            "fulfillment": {"mode": "pickup"}, "payment": {"method": "cash", "paid": false},
            "history": [{"status": "new", "at": "2026-01-15T12:00:00Z"}],
            "createdAt": "2026-01-15T12:00:00Z", "updatedAt": "2026-01-15T12:00:00Z",
        }))
        .unwrap()
    };
    match orders::place(
        store,
        &chat_ref,
        &stored,
        date,
        1,
        build,
        platefull::ids::now_ms(),
    )
    .await
    .unwrap()
    {
        orders::Placement::Placed { order, .. } => *order,
        other => panic!("not placed: {other:?}"),
    }
}

#[tokio::test]
async fn outside_the_cloud_api_window_the_step_is_noted_not_sent() {
    let shop = Shop::new(embedded_store().await, true).await;
    let cloud = Line::Cloud {
        phone_number_id: "106540352242922".into(),
    };
    let order = place_direct(&shop, &cloud, CHAT, "2026-01-15").await;
    let (status, body) = shop
        .api(
            Method::POST,
            &format!("/orders/{}/status", order.id),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let note = body["history"][1]["note"].as_str().unwrap();
    assert!(note.contains("24 horas"), "{note}");
    assert!(shop.notices.is_empty(), "nothing queued for the customer");
}

#[tokio::test]
async fn order_routes_are_isolated_validated_and_paged() {
    let shop = Shop::new(embedded_store().await, true).await;
    let line = Line::Web { slot: 1 };
    for n in 0..120 {
        place_direct(&shop, &line, &format!("55119000{n:05}"), "2026-01-15").await;
    }
    let (status, first) = shop.api(Method::GET, "/orders?date=2026-01-15", None).await;
    assert_eq!(status, 200, "{first}");
    let numbers = |page: &Value| -> Vec<u64> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["number"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(numbers(&first), (21..=120).rev().collect::<Vec<_>>());
    assert_eq!(first["nextCursor"], "21");
    let (_, second) = shop
        .api(Method::GET, "/orders?date=2026-01-15&cursor=21", None)
        .await;
    assert_eq!(numbers(&second), (1..=20).rev().collect::<Vec<_>>());
    assert_eq!(second["nextCursor"], Value::Null);
    let id = platefull::domain::order::order_id("2026-01-15", 7);
    let (status, _) = shop
        .api(
            Method::POST,
            &format!("/orders/{id}/status"),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, accepted) = shop
        .api(Method::GET, "/orders?date=2026-01-15&status=accepted", None)
        .await;
    assert_eq!(numbers(&accepted), [7]);
    // A filtered list pages too: read on past the first chunk, below the cursor.
    let (_, new) = shop
        .api(Method::GET, "/orders?date=2026-01-15&status=new", None)
        .await;
    assert_eq!(numbers(&new), (21..=120).rev().collect::<Vec<_>>());
    assert_eq!(new["nextCursor"], "21");
    let (_, rest) = shop
        .api(
            Method::GET,
            "/orders?date=2026-01-15&status=new&cursor=21",
            None,
        )
        .await;
    let expected: Vec<u64> = (1..=20).rev().filter(|n| *n != 7).collect();
    assert_eq!(numbers(&rest), expected);
    assert_eq!(rest["nextCursor"], Value::Null);
    let (_, other_day) = shop.api(Method::GET, "/orders?date=2026-01-16", None).await;
    assert_eq!(other_day["data"], json!([]));
    // Bad input: 400 with the field; unknown orders: 404.
    for (query, field) in [
        ("status=bogus", "status"),
        ("date=2026-13-01", "date"),
        ("cursor=abc", "cursor"),
    ] {
        let (status, body) = shop
            .api(Method::GET, &format!("/orders?{query}"), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(body["error"]["field"], field);
    }
    for missing in ["20260115-0999", "garbage", "20261399-0001"] {
        let (status, body) = shop
            .api(Method::GET, &format!("/orders/{missing}"), None)
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = shop
            .api(
                Method::POST,
                &format!("/orders/{missing}/status"),
                Some(json!({"status": "accepted"})),
            )
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = shop
        .api(
            Method::POST,
            &format!("/orders/{id}/status"),
            Some(json!({"status": "preparing", "extra": 1})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    // Another owner, another store's key, no credential.
    let bob = shop.app.whatsapp("bob", "Outra").await;
    let paths = [
        (Method::GET, "/orders".to_owned(), None),
        (Method::GET, format!("/orders/{id}"), None),
        (
            Method::POST,
            format!("/orders/{id}/status"),
            Some(json!({"status": "preparing"})),
        ),
        (Method::POST, format!("/orders/{id}/paid"), None),
    ];
    let bob_token = shop.app.token("bob");
    for (method, path, body) in paths {
        let uri = format!("/api/client/{}{path}", shop.store_id);
        let (status, answer) = shop
            .app
            .call(method.clone(), &uri, Some(&bob_token), body.clone())
            .await;
        assert_error(status, &answer, StatusCode::NOT_FOUND, "not_found");
        let (status, answer) = shop
            .app
            .call(method.clone(), &uri, Some(&bob.api_key), body.clone())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        let (status, _) = shop.app.call(method, &uri, None, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The owner's own token works; nothing above changed the order.
    let (status, order) = shop
        .app
        .call(
            Method::GET,
            &format!("/api/client/{}/orders/{id}", shop.store_id),
            Some(&shop.app.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "accepted");
    assert_eq!(order["payment"]["paid"], false);
}

#[tokio::test]
async fn the_profile_keeps_notify_phones_and_a_sealed_webhook_secret() {
    let shop = Shop::new(embedded_store().await, true).await;
    let mut body = profile(true);
    body["notifyPhones"] = json!(["+55 11 98765-4321"]);
    body["orderWebhook"] =
        json!({"url": "https://hooks.example.com/orders", "secret": "s3cr3t-s3cr3t-s3cr3t"});
    let (status, saved) = shop.api(Method::PUT, "/profile", Some(body.clone())).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["notifyPhones"], json!(["+5511987654321"]));
    assert_eq!(
        saved["orderWebhook"],
        json!({"url": "https://hooks.example.com/orders", "secretSet": true})
    );
    let (_, read) = shop.api(Method::GET, "/profile", None).await;
    assert_eq!(read["orderWebhook"], saved["orderWebhook"]);
    assert!(!read.to_string().contains("s3cr3t"));
    // Stored sealed, never in clear.
    let item = shop
        .app
        .state
        .store
        .get(&keys::store_pk(&shop.store_id), keys::PROFILE_SK)
        .await
        .unwrap()
        .unwrap();
    let data = item["data"].as_str().unwrap();
    assert!(!data.contains("s3cr3t") && data.contains("sealedSecret"));
    let stored: platefull::domain::profile::StoreProfile = serde_json::from_str(data).unwrap();
    let sealed = stored.order_webhook.unwrap().sealed_secret.unwrap();
    let record = platefull::http::knowledge::webhook_secret_record(&shop.store_id);
    assert_eq!(
        shop.app.state.secrets.open(&sealed, &record).unwrap(),
        "s3cr3t-s3cr3t-s3cr3t"
    );
    // A PUT of what GET showed keeps the secret.
    let (status, again) = shop.api(Method::PUT, "/profile", Some(read)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["orderWebhook"]["secretSet"], true);
    // Bad input changes nothing.
    for (change, field) in [
        (json!({"notifyPhones": ["12345"]}), "notifyPhones[0]"),
        (
            json!({"orderWebhook": {"url": "http://hooks.example.com", "secret": "s3cr3t-s3cr3t-s3cr3t"}}),
            "orderWebhook.url",
        ),
        (
            json!({"orderWebhook": {"url": "https://hooks.example.com", "secret": "short"}}),
            "orderWebhook.secret",
        ),
    ] {
        let mut bad = profile(true);
        bad.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let (status, body) = shop.api(Method::PUT, "/profile", Some(bad)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    // A new webhook without a secret can't be set up.
    let fresh = Shop::new(embedded_store().await, true).await;
    let mut no_secret = profile(true);
    no_secret["orderWebhook"] = json!({"url": "https://hooks.example.com/orders"});
    let (status, body) = fresh.api(Method::PUT, "/profile", Some(no_secret)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["error"]["field"], "orderWebhook.secret");
    let (_, read) = shop.api(Method::GET, "/profile", None).await;
    assert_eq!(read["notifyPhones"], json!(["+5511987654321"]));
}
