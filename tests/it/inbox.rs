//! The inbox end to end, in-process over both stores: the gateway with the simulator, the
//! bot worker (fake LLM) and the Cloud API (fake Graph API) behind the inbox routes. One
//! timeline per chat with every role, unread counts and search in the chat list, the owner
//! answering from the console (one message out, the attendant paused), pause/resume/off,
//! cursor paging, the change feed (one query when nothing changed), retention apart from
//! the context, conversations deleted with their connection, and isolation.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use platefull::bot::chat::{self, ChatRef};
use platefull::bot::cloud_api;
use platefull::inbox::{self, At, Noted, Role};
use platefull::jobs::{ChatMessage, Line};
use platefull::store::keys;
use platefull_tests::chats::seed_chat;
use platefull_tests::{assert_error, embedded_store, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};

use crate::bot::{attach_number, fixture, webhook, Pipeline, CUSTOMER, NUMBER_ID};

const OTHER: &str = "5511922220000";

fn path(p: &Pipeline, rest: &str) -> String {
    format!("/api/whatsapp/{}/{rest}", p.store_id)
}

async fn get(p: &Pipeline, rest: &str) -> Value {
    let (status, body) = p
        .app
        .call(Method::GET, &path(p, rest), Some(&p.api_key), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rest}: {body}");
    body
}

async fn post(p: &Pipeline, rest: &str, body: Value) -> (StatusCode, Value) {
    p.app
        .call(Method::POST, &path(p, rest), Some(&p.api_key), Some(body))
        .await
}

/// Waits (5 s at most) until `check` holds of `GET rest`.
async fn until(p: &Pipeline, rest: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut body = Value::Null;
    for _ in 0..250 {
        body = get(p, rest).await;
        if check(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{rest} never got there: {body}");
}

fn roles(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_owned())
        .collect()
}

async fn one_timeline_with_every_role_unread_counts_and_search(t: TestStore) {
    let p = Pipeline::new(t).await;
    for _ in 0..3 {
        // Delivered three times: one message in the timeline.
        p.customer(CUSTOMER, "Oi, tem pizza?", Some("WAMID-1"))
            .await;
    }
    assert_eq!(p.replies(CUSTOMER, 1).await, ["Resposta 1"]);
    p.owner(CUSTOMER, "Aqui é o dono, já te atendo").await;
    p.settle().await;
    // The other customer's WhatsApp shows their name (push name).
    p.sim
        .customer_message_named(
            &p.key(),
            OTHER,
            Some("Joana Prado"),
            "Vocês entregam?",
            None,
        )
        .await
        .unwrap();
    p.replies(OTHER, 1).await;
    let chat_a = format!("w1:{CUSTOMER}");
    let page = until(&p, &format!("chats/{chat_a}/messages"), |b| {
        b["data"].as_array().unwrap().len() >= 3 && b["data"][1]["status"] == "sent"
    })
    .await;
    assert_eq!(roles(&page), ["customer", "bot", "owner"], "{page}");
    assert_eq!(page["data"][0]["text"], "Oi, tem pizza?");
    assert_eq!(page["data"][1]["text"], "Resposta 1");
    assert_eq!(page["data"][2]["source"], "phone");
    assert!(page.get("next").is_none());
    let list = get(&p, "chats").await;
    let chats = list["data"].as_array().unwrap();
    assert_eq!(chats.len(), 2, "{list}");
    // Newest first: the other chat spoke last.
    assert_eq!(chats[0]["chatId"], format!("w1:{OTHER}"));
    assert_eq!(chats[0]["unread"], 1);
    assert_eq!(chats[0]["bot"], "active");
    assert_eq!(chats[0]["customer"]["phone"], OTHER);
    assert_eq!(chats[0]["customer"]["name"], "Joana Prado");
    assert_eq!(chats[1]["chatId"], chat_a);
    assert!(chats[1]["customer"].get("name").is_none(), "{list}");
    // The owner answered from the phone: read, and the attendant paused.
    assert_eq!(chats[1]["unread"], 0);
    assert_eq!(chats[1]["bot"], "paused");
    assert!(chats[1]["pausedUntil"].is_string());
    assert_eq!(chats[1]["lastMessage"]["role"], "owner");
    // Search by part of the number, formatted or not.
    let found = get(&p, "chats?q=%2B55%2011%2092222").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["chatId"], format!("w1:{OTHER}"));
    // And by part of the name, in any case.
    let found = get(&p, "chats?q=jOANA").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["chatId"], format!("w1:{OTHER}"));
    assert!(get(&p, "chats?q=12345678").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    // Reading clears the count.
    let (status, read) = post(&p, &format!("chats/w1:{OTHER}/read"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["data"]["unread"], 0);
    assert_eq!(get(&p, "chats").await["data"][0]["unread"], 0);
}

async fn the_console_answers_through_the_line_and_pauses_resumes_or_stops_the_attendant(
    t: TestStore,
) {
    let p = Pipeline::new(t).await;
    p.customer(CUSTOMER, "Oi", None).await;
    assert_eq!(p.replies(CUSTOMER, 1).await, ["Resposta 1"]);
    let chat_id = format!("w1:{CUSTOMER}");
    let (status, sent) = post(
        &p,
        &format!("chats/{chat_id}/messages"),
        json!({"text": "Oi, aqui é o dono"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["data"]["role"], "owner");
    // One message out, from the linked number, exactly once.
    assert_eq!(
        p.replies(CUSTOMER, 2).await,
        ["Resposta 1", "Oi, aqui é o dono"]
    );
    let page = until(&p, &format!("chats/{chat_id}/messages"), |b| {
        b["data"][2]["status"] == "sent"
    })
    .await;
    assert_eq!(roles(&page), ["customer", "bot", "owner"]);
    assert_eq!(page["data"][2]["source"], "console");
    // The console's message is not taken for the owner typing on the phone (no second copy).
    p.settle().await;
    assert_eq!(
        get(&p, &format!("chats/{chat_id}/messages")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The attendant is paused: the customer's next message gets no reply.
    let chats = get(&p, "chats").await;
    assert_eq!(chats["data"][0]["bot"], "paused");
    p.customer(CUSTOMER, "Ok, obrigado", None).await;
    p.settle().await;
    assert_eq!(p.outbox(CUSTOMER).len(), 2);
    assert_eq!(p.llm.script.count(), 1);
    // Resume: answered again.
    let (status, active) = post(
        &p,
        &format!("chats/{chat_id}/bot"),
        json!({"mode": "active"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["data"]["bot"], "active");
    p.customer(CUSTOMER, "E a pizza?", None).await;
    assert_eq!(p.replies(CUSTOMER, 3).await.len(), 3);
    // Off: quiet until switched on.
    let (_, off) = post(&p, &format!("chats/{chat_id}/bot"), json!({"mode": "off"})).await;
    assert_eq!(off["data"]["bot"], "off");
    p.customer(CUSTOMER, "Alô?", None).await;
    p.settle().await;
    assert_eq!(p.outbox(CUSTOMER).len(), 3);
    let (_, paused) = post(
        &p,
        &format!("chats/{chat_id}/bot"),
        json!({"mode": "paused", "minutes": 5}),
    )
    .await;
    assert_eq!(paused["data"]["bot"], "paused");
    // Bad input changes nothing.
    for (body, field) in [
        (json!({"mode": "sleeping"}), None),
        (json!({"mode": "active", "minutes": 3}), Some("minutes")),
        (json!({"mode": "paused", "minutes": 0}), Some("minutes")),
    ] {
        let (status, err) = post(&p, &format!("chats/{chat_id}/bot"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        if let Some(field) = field {
            assert_eq!(err["error"]["field"], field);
        }
    }
    let (status, err) = post(
        &p,
        &format!("chats/{chat_id}/messages"),
        json!({"text": "  "}),
    )
    .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "validation_error");
    let (status, err) = post(&p, "chats/w1:5511000000000/messages", json!({"text": "oi"})).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (status, err) = post(&p, "chats/w9:55/messages", json!({"text": "oi"})).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(get(&p, "chats").await["data"][0]["bot"], "paused");
    assert_eq!(p.outbox(CUSTOMER).len(), 3);
}

async fn pages_follow_their_cursors(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria X").await;
    let store = app.state.store.clone();
    let now = platefull::ids::now_ms();
    seed_chat(store.as_ref(), &wa.store_id, CUSTOMER, 5, now - 10_000).await;
    for (i, chat) in ["5511900000001", "5511900000002", "5511900000003"]
        .iter()
        .enumerate()
    {
        seed_chat(
            store.as_ref(),
            &wa.store_id,
            chat,
            1,
            now - 5_000 + i as i64,
        )
        .await;
    }
    let base = format!("/api/whatsapp/{}", wa.store_id);
    let call = |url: String| {
        let app = &app;
        let key = wa.api_key.clone();
        async move { app.call(Method::GET, &url, Some(&key), None).await }
    };
    // Messages: oldest to newest within a page, pages going back in time.
    let mut texts = Vec::new();
    let mut url = format!("{base}/chats/w1:{CUSTOMER}/messages?limit=2");
    loop {
        let (status, page) = call(url.clone()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut these: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        assert!(these.len() <= 2);
        these.extend(texts);
        texts = these;
        match page["next"].as_str() {
            Some(next) => {
                url = format!("{base}/chats/w1:{CUSTOMER}/messages?limit=2&before={next}")
            }
            None => break,
        }
    }
    assert_eq!(
        texts,
        (0..5).map(|i| format!("mensagem {i}")).collect::<Vec<_>>()
    );
    // Chats: newest first, two by two.
    let (_, first) = call(format!("{base}/chats?limit=2")).await;
    let ids: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chatId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["w1:5511900000003", "w1:5511900000002"]);
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = call(format!("{base}/chats?limit=2&cursor={next}")).await;
    let ids: Vec<&str> = second["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chatId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["w1:5511900000001", format!("w1:{CUSTOMER}").as_str()]);
    assert!(second.get("next").is_none(), "{second}");
    assert_eq!(second["data"][1]["unread"], 5);
    let (status, err) = call(format!("{base}/chats?limit=0")).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "validation_error");
}

async fn the_change_feed_is_one_query_when_nothing_changed(t: TestStore) {
    let (t, counts) = t.counted();
    let p = Pipeline::new(t).await;
    let owner = p.app.token("alice");
    let feed = |since: Option<String>| {
        let url = match since {
            Some(s) => path(&p, &format!("changes?since={s}")),
            None => path(&p, "changes"),
        };
        let owner = owner.clone();
        let app = &p.app;
        async move {
            let (status, body) = app.call(Method::GET, &url, Some(&owner), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let start = feed(None).await;
    assert_eq!(start["changes"], json!([]));
    let cursor = start["cursor"].as_str().unwrap().to_owned();
    let before = counts.snapshot();
    let same = feed(Some(cursor.clone())).await;
    let after = counts.snapshot();
    assert_eq!(same["changes"], json!([]));
    assert_eq!(same["cursor"], cursor.as_str());
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 0),
        "one query, no write"
    );
    p.customer(CUSTOMER, "Oi", None).await;
    p.replies(CUSTOMER, 1).await;
    let changed = feed(Some(cursor.clone())).await;
    let changes = changed["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{changed}");
    assert!(changes
        .iter()
        .all(|c| c["chatId"] == format!("w1:{CUSTOMER}").as_str()));
    assert!(changes.iter().any(|c| c["kind"] == "message"));
    let mut next = changed["cursor"].as_str().unwrap().to_owned();
    assert_ne!(next, cursor);
    // The reply's "sent" may still be on its way; then the feed goes quiet.
    let mut quiet = false;
    for _ in 0..50 {
        let more = feed(Some(next.clone())).await;
        if more["changes"] == json!([]) {
            assert_eq!(more["cursor"], next.as_str());
            quiet = true;
            break;
        }
        assert!(more["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["chatId"] == format!("w1:{CUSTOMER}").as_str()));
        next = more["cursor"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(quiet, "the feed goes quiet once nothing changes");
    let (status, err) = p
        .app
        .call(
            Method::GET,
            &path(&p, "changes?since=zz"),
            Some(&owner),
            None,
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "validation_error");
}

async fn another_owner_or_another_stores_key_sees_nothing(t: TestStore) {
    let p = Pipeline::new(t).await;
    p.customer(CUSTOMER, "Oi", None).await;
    p.replies(CUSTOMER, 1).await;
    let bob = p.app.whatsapp("bob", "Outra").await;
    let intruder = p.app.token("bob");
    let chat = format!("w1:{CUSTOMER}");
    let routes = [
        (Method::GET, "chats".to_owned(), None),
        (Method::GET, format!("chats/{chat}/messages"), None),
        (
            Method::POST,
            format!("chats/{chat}/messages"),
            Some(json!({"text": "oi"})),
        ),
        (
            Method::POST,
            format!("chats/{chat}/bot"),
            Some(json!({"mode": "off"})),
        ),
        (Method::POST, format!("chats/{chat}/read"), Some(json!({}))),
        (Method::GET, "changes".to_owned(), None),
    ];
    for (method, rest, body) in routes {
        let (status, err) = p
            .app
            .call(
                method.clone(),
                &path(&p, &rest),
                Some(&intruder),
                body.clone(),
            )
            .await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
        let (status, err) = p
            .app
            .call(method, &path(&p, &rest), Some(&bob.api_key), body)
            .await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
    }
    // Nothing changed: still the attendant's, one reply.
    assert_eq!(get(&p, "chats").await["data"][0]["bot"], "active");
    assert_eq!(p.outbox(CUSTOMER).len(), 1);
}

/// Issue 16 part 5: a message filed under the customer's phone that names their hidden id
/// goes to the chat that started under the hidden id, which learns the phone; with no such
/// chat it stays under the phone (the whole flow through the WhatsApp Web translation is
/// `whatsapp_web::tests::a_customer_whose_phone_comes_later_keeps_the_chat_they_started`).
async fn a_chat_started_under_a_hidden_id_keeps_it_when_the_phone_comes(t: TestStore) {
    use platefull::bot::identity;
    let (store, store_id, line) = (t.store.clone(), "st_alias", Line::Web { slot: 1 });
    let (lid, phone) = ("100000000000009@lid", "5511900000009");
    let message = ChatMessage {
        id: "M2".into(),
        chat: phone.into(),
        text: "tem calabresa?".into(),
        alias: Some(lid.into()),
        ..ChatMessage::default()
    };
    let now = platefull::ids::now_ms();
    let kept = identity::rekeyed(store.as_ref(), store_id, &line, &message, 86_400, now)
        .await
        .unwrap();
    assert_eq!(kept, None, "no chat under the hidden id: the phone's");
    let at = At {
        store_id,
        line: "w1",
        chat: lid,
    };
    let first = Noted {
        role: Role::Customer,
        text: "oi",
        at_ms: now,
        name: Some("Ana"),
    };
    inbox::noted(store.as_ref(), at, first, 86_400, now)
        .await
        .unwrap();
    assert_eq!(
        inbox::summary(store.as_ref(), at)
            .await
            .unwrap()
            .unwrap()
            .phone,
        None
    );
    let moved = identity::rekeyed(store.as_ref(), store_id, &line, &message, 86_400, now)
        .await
        .unwrap()
        .expect("filed under the hidden id");
    assert_eq!(moved.chat, lid);
    assert_eq!(
        (moved.id.as_str(), moved.text.as_str()),
        ("M2", "tem calabresa?")
    );
    let summary = inbox::summary(store.as_ref(), at).await.unwrap().unwrap();
    assert_eq!(summary.phone.as_deref(), Some(phone));
    assert_eq!(summary.name.as_deref(), Some("Ana"));
    // A message without an alias, or naming its own chat, is left alone.
    for alias in [None, Some(phone.to_owned())] {
        let plain = ChatMessage {
            alias,
            ..message.clone()
        };
        let same = identity::rekeyed(store.as_ref(), store_id, &line, &plain, 86_400, now)
            .await
            .unwrap();
        assert_eq!(same, None);
    }
}

/// Issue 16 part 5, the other way round on the Cloud API: a chat that started under the
/// customer's phone (the message naming their business-scoped id too) keeps the customer
/// when they later write with the id alone (their number hidden): the id points at it.
async fn a_cloud_customer_who_hides_their_phone_later_stays_in_the_phone_chat(t: TestStore) {
    use platefull::bot::identity;
    let (store, store_id) = (t.store.clone(), "st_bsuid");
    let line = Line::Cloud {
        phone_number_id: NUMBER_ID.into(),
    };
    let (user_id, phone) = ("BR.z9", "5511955550000");
    let now = platefull::ids::now_ms();
    let first = ChatMessage {
        id: "wamid.1".into(),
        chat: phone.into(),
        text: "oi".into(),
        alias: Some(user_id.into()),
        ..ChatMessage::default()
    };
    let stays = identity::rekeyed(store.as_ref(), store_id, &line, &first, 86_400, now)
        .await
        .unwrap();
    assert_eq!(stays, None, "no chat under the id: the phone's");
    let hidden = ChatMessage {
        id: "wamid.2".into(),
        chat: user_id.into(),
        text: "cadê meu pedido?".into(),
        ..ChatMessage::default()
    };
    let moved = identity::rekeyed(store.as_ref(), store_id, &line, &hidden, 86_400, now)
        .await
        .unwrap()
        .expect("filed under the phone's chat");
    assert_eq!(moved.chat, phone);
    assert_eq!(moved.text, "cadê meu pedido?");
    // Another customer's id alone has no pointer: its own chat.
    let stranger = ChatMessage {
        chat: "BR.other".into(),
        ..hidden.clone()
    };
    let own = identity::rekeyed(store.as_ref(), store_id, &line, &stranger, 86_400, now)
        .await
        .unwrap();
    assert_eq!(own, None);
    // The pointer lasts as the history does: past it, the id is its own chat again.
    let later = now + 86_400 * 1000 + 1;
    let expired = identity::rekeyed(store.as_ref(), store_id, &line, &hidden, 86_400, later)
        .await
        .unwrap();
    assert_eq!(expired, None);
}

for_each_store!(
    a_chat_started_under_a_hidden_id_keeps_it_when_the_phone_comes,
    a_cloud_customer_who_hides_their_phone_later_stays_in_the_phone_chat,
    one_timeline_with_every_role_unread_counts_and_search,
    the_console_answers_through_the_line_and_pauses_resumes_or_stops_the_attendant,
    pages_follow_their_cursors,
    the_change_feed_is_one_query_when_nothing_changed,
    another_owner_or_another_stores_key_sees_nothing,
    a_search_reads_a_bounded_slice_per_request_and_its_cursor_goes_on,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_kept_for_history_days_while_the_model_sees_the_context_time() {
    let p = Pipeline::new(embedded_store().await).await;
    for bad in [
        json!({"historyDays": 0}),
        json!({"historyDays": 366}),
        json!({"historyDays": null}),
    ] {
        let (status, err) = p
            .app
            .call(
                Method::PUT,
                &format!("/api/client/{}/config", p.store_id),
                Some(&p.api_key),
                Some(bad),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    }
    p.configure(json!({"historyDays": 2, "contextTime": 1}))
        .await;
    let store = p.app.state.store.clone();
    let now = platefull::ids::now_ms();
    // A message from ten minutes ago: outside the model's context, inside the history.
    seed_chat(store.as_ref(), &p.store_id, CUSTOMER, 1, now - 600_000).await;
    p.customer(CUSTOMER, "Oi de novo", None).await;
    p.replies(CUSTOMER, 1).await;
    let texts: Vec<String> = p.llm_history(1).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        texts,
        ["Oi de novo"],
        "the model sees the context time only"
    );
    let page = get(&p, &format!("chats/w1:{CUSTOMER}/messages")).await;
    assert_eq!(roles(&page), ["customer", "customer", "bot"], "{page}");
    // Every history item of the new turn expires after historyDays (2 days), not the context.
    let items = store
        .query(
            &keys::store_pk(&p.store_id),
            &keys::chat_messages_prefix("w1", CUSTOMER),
        )
        .await
        .unwrap();
    let fresh: Vec<_> = items
        .iter()
        .filter(|i| i["at"].as_i64().unwrap() >= now)
        .collect();
    assert_eq!(fresh.len(), 2);
    for item in fresh {
        let ttl = item["expiresAt"].as_i64().unwrap() - item["at"].as_i64().unwrap() / 1000;
        assert_eq!(ttl, 2 * 86_400, "{item:?}");
    }
    let summary = store
        .get(
            &keys::store_pk(&p.store_id),
            &keys::chat_summary_sk("w1", CUSTOMER),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(summary["expiresAt"].as_i64().unwrap() >= now / 1000 + 2 * 86_400 - 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_connection_deletes_its_conversations() {
    let p = Pipeline::new(embedded_store().await).await;
    p.customer(CUSTOMER, "Oi", None).await;
    p.replies(CUSTOMER, 1).await;
    let store = p.app.state.store.clone();
    let pk = keys::store_pk(&p.store_id);
    assert!(!store
        .query(&pk, keys::CHAT_PREFIX)
        .await
        .unwrap()
        .is_empty());
    let (_, list) = p
        .app
        .call(
            Method::GET,
            "/api/user-apis",
            Some(&p.app.token("alice")),
            None,
        )
        .await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = p
        .app
        .call(
            Method::DELETE,
            &format!("/api/user-apis/{id}"),
            Some(&p.app.token("alice")),
            None,
        )
        .await;
    assert!(status.is_success(), "{body}");
    for prefix in [
        keys::CHAT_PREFIX,
        keys::INBOX_PREFIX,
        keys::CHANGE_PREFIX,
        keys::SEEN_PREFIX,
    ] {
        assert!(
            store.query(&pk, prefix).await.unwrap().is_empty(),
            "{prefix} left behind"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_api_chat_shows_delivery_statuses_and_refuses_to_send_outside_the_window() {
    let p = Pipeline::new(embedded_store().await).await;
    attach_number(&p).await;
    let body = fixture("text-message.json");
    let (status, ok) = webhook(
        &p,
        &body,
        Some(cloud_api::sign(platefull_tests::stack::APP_SECRET, &body)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    p.settle().await;
    let chat_id = format!("c{NUMBER_ID}:5511988887777");
    let page = until(&p, &format!("chats/{chat_id}/messages"), |b| {
        b["data"][1]["status"] == "sent"
    })
    .await;
    assert_eq!(roles(&page), ["customer", "bot"]);
    // The customer's profile name came with the webhook.
    let list = get(&p, "chats").await;
    assert_eq!(
        list["data"][0]["customer"]["name"], "Sheena Nelson",
        "{list}"
    );
    // Meta reports the reply read: the timeline shows it.
    let status_body = fixture("status-read.json");
    webhook(
        &p,
        &status_body,
        Some(cloud_api::sign(
            platefull_tests::stack::APP_SECRET,
            &status_body,
        )),
    )
    .await;
    until(&p, &format!("chats/{chat_id}/messages"), |b| {
        b["data"][1]["status"] == "read"
    })
    .await;
    // The owner answers within the window: sent through the Graph API at once.
    let (status, sent) = post(
        &p,
        &format!("chats/{chat_id}/messages"),
        json!({"text": "Oi, sou o dono"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["data"]["status"], "sent");
    let requests = p.graph.script.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.1.to_string().contains("Oi, sou o dono")),
        "{requests:?}"
    );
    // A customer who last wrote 25 hours ago can't be sent free text.
    let store = p.app.state.store.clone();
    let line = Line::Cloud {
        phone_number_id: NUMBER_ID.into(),
    };
    let old = platefull::ids::now_ms() - 25 * 3_600_000;
    let chat_ref = ChatRef {
        store_id: &p.store_id,
        line: &line,
        chat: "5511977776666",
    };
    let message = ChatMessage {
        id: "OLD".into(),
        chat: "5511977776666".into(),
        text: "oi".into(),
        ..ChatMessage::default()
    };
    chat::record_customer(store.as_ref(), &chat_ref, &message, 43_200, old, vec![])
        .await
        .unwrap();
    let at = At {
        store_id: &p.store_id,
        line: &line.key(),
        chat: "5511977776666",
    };
    inbox::noted(
        store.as_ref(),
        at,
        Noted {
            role: Role::Customer,
            text: "oi",
            at_ms: old,
            name: None,
        },
        86_400,
        old,
    )
    .await
    .unwrap();
    let before = p.graph.script.requests().len();
    let (status, err) = post(
        &p,
        &format!("chats/c{NUMBER_ID}:5511977776666/messages"),
        json!({"text": "Oi"}),
    )
    .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "outside_window");
    assert_eq!(p.graph.script.requests().len(), before, "nothing sent");
}

/// Issue 16 part 5 on the Cloud API: a customer whose phone Meta hides writes under their
/// business-scoped id alone; when a later message carries the phone too, it joins that
/// chat (one chat, the phone now its attribute), and the bot answers there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_customer_first_seen_by_business_id_keeps_one_chat_when_the_phone_comes() {
    let p = Pipeline::new(embedded_store().await).await;
    attach_number(&p).await;
    let (user_id, phone) = ("BR.ana77", "5511955554444");
    let says = |id: &str, from: Option<&str>, text: &str| {
        let now = platefull::ids::now_ms() / 1000;
        let mut message = json!({"from_user_id": user_id, "id": id,
            "timestamp": now.to_string(), "type": "text", "text": {"body": text}});
        let mut contact = json!({"profile": {"name": "Ana"}, "user_id": user_id});
        if let Some(from) = from {
            message["from"] = json!(from);
            contact["wa_id"] = json!(from);
        }
        json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
                "contacts": [contact], "messages": [message]}}]}]})
        .to_string()
        .into_bytes()
    };
    let chat_id = format!("c{NUMBER_ID}:{user_id}");
    for (id, from, text) in [
        ("wamid.U1", None, "oi, tem pizza?"),
        ("wamid.U2", Some(phone), "e entrega na Vila Mariana?"),
    ] {
        let body = says(id, from, text);
        let signature = cloud_api::sign(platefull_tests::stack::APP_SECRET, &body);
        let (status, ok) = webhook(&p, &body, Some(signature)).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
        p.settle().await;
    }
    let page = until(&p, &format!("chats/{chat_id}/messages"), |b| {
        b["data"]
            .as_array()
            .is_some_and(|m| m.iter().filter(|m| m["role"] == "customer").count() == 2)
    })
    .await;
    let texts: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "customer")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["oi, tem pizza?", "e entrega na Vila Mariana?"]);
    let list = get(&p, "chats").await;
    let chats = list["data"].as_array().unwrap();
    assert_eq!(chats.len(), 1, "one chat, not one per id: {list}");
    assert_eq!(chats[0]["chatId"], chat_id);
    assert_eq!(chats[0]["customer"]["phone"], phone, "{list}");
    // Search by the phone finds it.
    let found = get(&p, "chats?q=55544").await;
    assert_eq!(found["data"][0]["chatId"], chat_id, "{found}");
    // The other way round: a chat that starts with both ids is the phone's, and the same
    // customer writing later with their number hidden (the id alone) lands in it.
    let (user_id, phone) = ("BR.bia88", "5511933332222");
    let said = |id: &str, from: Option<&str>, text: &str| {
        let now = platefull::ids::now_ms() / 1000;
        let mut message = json!({"from_user_id": user_id, "id": id,
            "timestamp": now.to_string(), "type": "text", "text": {"body": text}});
        if let Some(from) = from {
            message["from"] = json!(from);
        }
        json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
                "messages": [message]}}]}]})
        .to_string()
        .into_bytes()
    };
    for (id, from, text) in [
        ("wamid.V1", Some(phone), "oi"),
        ("wamid.V2", None, "ainda tá aberto?"),
    ] {
        let body = said(id, from, text);
        let signature = cloud_api::sign(platefull_tests::stack::APP_SECRET, &body);
        let (status, ok) = webhook(&p, &body, Some(signature)).await;
        assert_eq!(status, StatusCode::OK, "{ok}");
        p.settle().await;
    }
    let phone_chat = format!("c{NUMBER_ID}:{phone}");
    until(&p, &format!("chats/{phone_chat}/messages"), |b| {
        b["data"]
            .as_array()
            .is_some_and(|m| m.iter().filter(|m| m["role"] == "customer").count() == 2)
    })
    .await;
    let list = get(&p, "chats").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "two customers, two chats: {list}"
    );
}

/// A search reads a bounded number of summaries per request (here 10, in the product
/// `inbox::SEARCH_SCAN`), one query each, and answers with a cursor where it stopped: a
/// match older than that comes by following the cursors, and no request reads more.
async fn a_search_reads_a_bounded_slice_per_request_and_its_cursor_goes_on(t: TestStore) {
    let (t, counts) = t.counted();
    let store = t.store.clone();
    let store_id = "st_search";
    let now = platefull::ids::now_ms();
    for i in 0..30 {
        let chat = format!("55119000{i:05}");
        let name = if i == 0 {
            "Ana Souza".to_owned()
        } else {
            format!("Cliente {i}")
        };
        let at = At {
            store_id,
            line: "w1",
            chat: &chat,
        };
        let noted = Noted {
            role: Role::Customer,
            text: "oi",
            at_ms: now + i,
            name: Some(&name),
        };
        inbox::noted(store.as_ref(), at, noted, 86_400, now + i)
            .await
            .unwrap();
    }
    let mut cursor: Option<String> = None;
    let mut found = Vec::new();
    let mut requests = 0;
    loop {
        let before = counts.snapshot();
        let (page, next) = inbox::list_reading(
            store.as_ref(),
            store_id,
            cursor.as_deref(),
            Some("ana"),
            20,
            10,
        )
        .await
        .unwrap();
        let after = counts.snapshot();
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1, 0),
            "one query"
        );
        requests += 1;
        found.extend(page.into_iter().map(|s| s.chat));
        match next {
            // As the route reads it.
            Some(next) => cursor = platefull::domain::inbox::cursor("cursor", Some(&next)).unwrap(),
            None => break,
        }
        assert!(requests < 10, "the cursors end");
    }
    assert_eq!(found, ["5511900000000"], "the oldest chat, found by name");
    assert!(
        (3..=4).contains(&requests),
        "{requests} requests for 30 chats"
    );
    // Without a budget in the way, a search answers at once; paging still works within it.
    let (page, next) = inbox::list(store.as_ref(), store_id, None, Some("cliente"), 5)
        .await
        .unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].name.as_deref(), Some("Cliente 29"));
    let next = platefull::domain::inbox::cursor("cursor", next.as_deref()).unwrap();
    let (rest, _) = inbox::list(
        store.as_ref(),
        store_id,
        next.as_deref(),
        Some("cliente"),
        50,
    )
    .await
    .unwrap();
    assert_eq!(rest.len(), 24, "the other 24 matches, none twice");
    assert_eq!(rest[0].name.as_deref(), Some("Cliente 24"));
}
