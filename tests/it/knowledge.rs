//! The store's knowledge (issue 13's contract): the menu, its sold-out switch and CSV
//! import, the profile and the open/closed status, driven through the same router the
//! `client-config` Lambda and the local stack serve, over both store adapters. Bad input
//! gets a 400 naming the field's path and changes nothing; other owners get 404/403.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use platefull::auth::caller::StoreCaller;
use platefull::domain::menu::Menu;
use platefull::knowledge;
use platefull::store::keys;
use platefull::store::{Item, Store, StoreError, Update, WriteOp};
use platefull_tests::menus::big_menu;
use platefull_tests::{assert_error, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};

/// A change that breaks a document, and the path the 400 must name.
type Case = (Box<dyn Fn(&mut Value)>, &'static str);

const GET: Method = Method::GET;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

fn pizzeria_menu() -> Value {
    json!({"categories": [
        {"id": "pizzas", "name": "Pizzas", "items": [
            {"id": "calabresa", "name": "Pizza Calabresa", "description": "Calabresa e cebola",
             "priceCents": 4590, "available": true, "optionGroups": [
                {"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1, "options": [
                    {"id": "media", "name": "Média", "priceCents": 0},
                    {"id": "grande", "name": "Grande", "priceCents": 1000}]}]},
            {"id": "portuguesa", "name": "Pizza Portuguesa", "priceCents": 4890, "available": true,
             "optionGroups": []}]},
        {"id": "bebidas", "name": "Bebidas", "items": [
            {"id": "guarana", "name": "Guaraná 2L", "priceCents": 1200, "available": true,
             "optionGroups": []}]}]})
}

fn menu_path(store_id: &str) -> String {
    format!("/api/client/{store_id}/menu")
}

/// The menu as the API shows it, without the stamp of when it was saved.
fn without_stamp(mut menu: Value) -> Value {
    menu.as_object_mut().unwrap().remove("updatedAt");
    menu
}

async fn put_menu(app: &TestApp, store_id: &str, auth: &str, menu: Value) -> (StatusCode, Value) {
    app.call(PUT, &menu_path(store_id), Some(auth), Some(menu))
        .await
}

async fn get_menu(app: &TestApp, store_id: &str, auth: &str) -> Value {
    let (status, body) = app.call(GET, &menu_path(store_id), Some(auth), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn csv(
    app: &TestApp,
    store_id: &str,
    auth: &str,
    query: &str,
    text: &str,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(POST)
        .uri(format!("/api/client/{store_id}/menu/import{query}"))
        .header("authorization", format!("Bearer {auth}"))
        .header("content-type", "text/csv; charset=utf-8")
        .body(Body::from(text.to_owned()))
        .unwrap();
    app.send(req).await
}

/// The knowledge items stored for a store (menu head, chunks, profile).
async fn stored_keys(app: &TestApp, store_id: &str) -> Vec<String> {
    app.state
        .store
        .query(&keys::store_pk(store_id), keys::KB_PREFIX)
        .await
        .unwrap()
        .iter()
        .map(|item| item["sk"].as_str().unwrap().to_owned())
        .collect()
}

/// The version each stored menu chunk was last written at, in chunk order.
async fn chunk_versions(app: &TestApp, store_id: &str) -> Vec<i64> {
    app.state
        .store
        .query(&keys::store_pk(store_id), &format!("{}#", keys::MENU_SK))
        .await
        .unwrap()
        .iter()
        .map(|item| item["version"].as_i64().unwrap())
        .collect()
}

async fn the_menu_round_trips_and_bad_menus_change_nothing(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    let empty = get_menu(&app, &wa.store_id, &alice).await;
    assert_eq!(empty, json!({"categories": [], "updatedAt": null}));

    let (status, saved) = put_menu(&app, &wa.store_id, &alice, pizzeria_menu()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(
        saved["updatedAt"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{saved}"
    );
    assert_eq!(without_stamp(saved.clone()), pizzeria_menu());
    // The apiKey reads the same, and a fetched menu can be sent back as is.
    let read = get_menu(&app, &wa.store_id, &wa.api_key).await;
    assert_eq!(read, saved);
    let (status, again) = app
        .call(PUT, &menu_path(&wa.store_id), Some(&wa.api_key), Some(read))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");

    // Bad menus: a 400 naming the path of the field; the stored menu is unchanged.
    let before = get_menu(&app, &wa.store_id, &alice).await;
    let cases: Vec<Case> = vec![
        (
            Box::new(|m| m["categories"][1]["items"][0]["priceCents"] = json!(-1)),
            "categories[1].items[0].priceCents",
        ),
        (
            Box::new(|m| m["categories"][0]["items"][1]["id"] = json!("calabresa")),
            "categories[0].items[1].id",
        ),
        (
            Box::new(|m| m["categories"][0]["items"][0]["optionGroups"][0]["max"] = json!(3)),
            "categories[0].items[0].optionGroups[0].max",
        ),
        (
            Box::new(|m| m["categories"][0]["name"] = json!("")),
            "categories[0].name",
        ),
        (
            Box::new(|m| m["categories"][1]["id"] = json!("Bebidas!")),
            "categories[1].id",
        ),
    ];
    for (change, path) in cases {
        let mut bad = pizzeria_menu();
        change(&mut bad);
        let (status, body) = put_menu(&app, &wa.store_id, &alice, bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(body["error"]["field"], path, "{body}");
    }
    // Unknown fields and wrong types are refused like the config route does.
    let mut unknown = pizzeria_menu();
    unknown["categories"][0]["items"][0]["price"] = json!(10);
    let (status, body) = put_menu(&app, &wa.store_id, &alice, unknown).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    let (status, body) = put_menu(&app, &wa.store_id, &alice, json!({"categories": "x"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(get_menu(&app, &wa.store_id, &alice).await, before);
}

async fn a_500_item_menu_is_chunked_and_round_trips(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    let big = big_menu(500);
    let size = serde_json::to_string(&big).unwrap().len();
    assert!(
        size > knowledge::CHUNK_BYTES,
        "the menu needs chunks: {size} bytes"
    );
    let (status, saved) = put_menu(&app, &wa.store_id, &alice, big.clone()).await;
    assert_eq!(status, StatusCode::OK, "{}", saved["error"]);
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        big
    );
    let chunked = stored_keys(&app, &wa.store_id).await;
    let head_and_chunks: Vec<String> = std::iter::once(keys::MENU_SK.to_owned())
        .chain((1..chunked.len()).map(keys::menu_chunk_sk))
        .collect();
    assert_eq!(chunked, head_and_chunks);
    assert!(chunked.len() >= 2, "{chunked:?}");
    // The bot's read: one query, the same menu.
    let loaded = knowledge::load(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap();
    assert_eq!(loaded.menu.item_count(), 500);
    let expected: Menu = serde_json::from_value(big.clone()).unwrap();
    assert_eq!(loaded.menu.categories, expected.categories);

    // One price edited and the whole menu saved again: only the head and the chunk that
    // holds it are written; every other chunk keeps the version it was written at.
    let before = chunk_versions(&app, &wa.store_id).await;
    let mut edited = big.clone();
    edited["categories"][7]["items"][2]["priceCents"] = json!(4590);
    let edited_id = edited["categories"][7]["items"][2]["id"].clone();
    let (status, _) = put_menu(&app, &wa.store_id, &alice, edited.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let after = chunk_versions(&app, &wa.store_id).await;
    assert_eq!(after.len(), before.len());
    let rewritten: Vec<usize> = (0..after.len())
        .filter(|&i| after[i] != before[i])
        .collect();
    assert_eq!(rewritten.len(), 1, "{before:?} -> {after:?}");
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        edited
    );
    let loaded = knowledge::load(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap();
    let (_, item) = loaded.menu.item(edited_id.as_str().unwrap()).unwrap();
    assert_eq!(item.price_cents, 4590);
    // The sold-out switch of an item in another category (item-1 is on sale, in the
    // second category): one other chunk.
    let (status, _) = app
        .call(
            PATCH,
            &format!("/api/client/{}/menu/items/item-1", wa.store_id),
            Some(&alice),
            Some(json!({"available": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let switched = chunk_versions(&app, &wa.store_id).await;
    let rewritten: Vec<usize> = (0..after.len())
        .filter(|&i| after[i] != switched[i])
        .collect();
    assert_eq!(rewritten.len(), 1, "{after:?} -> {switched:?}");
    assert_eq!(
        get_menu(&app, &wa.store_id, &alice).await["categories"][1]["items"][0]["available"],
        json!(false)
    );

    // A small menu replaces it and its stale chunks are deleted in the same write.
    let (status, _) = put_menu(&app, &wa.store_id, &alice, pizzeria_menu()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stored_keys(&app, &wa.store_id).await,
        [keys::MENU_SK.to_owned(), keys::menu_chunk_sk(1)]
    );
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        pizzeria_menu()
    );
    // Over the size cap: a clear 413 (here the count limit is fine, the bytes are not).
    let mut huge = big_menu(500);
    for category in huge["categories"].as_array_mut().unwrap() {
        for item in category["items"].as_array_mut().unwrap() {
            item["description"] = json!("d".repeat(500));
            for o in 8..30 {
                item["optionGroups"][1]["options"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"id": format!("extra-{o}"), "name": format!("Adicional número {o} com nome comprido"), "priceCents": 100}));
            }
        }
    }
    let body = serde_json::to_vec(&huge).unwrap();
    assert!(
        body.len() < platefull::http::knowledge::MENU_BODY_LIMIT,
        "{}",
        body.len()
    );
    let (status, err) = put_menu(&app, &wa.store_id, &alice, huge).await;
    assert_error(
        status,
        &err,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1000000"),
        "{err}"
    );
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        pizzeria_menu()
    );
}

/// What the console sends back: GET's own bytes, keys in its order, without `updatedAt`.
async fn console_body(app: &TestApp, store_id: &str, auth: &str) -> String {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = Request::builder()
        .uri(menu_path(store_id))
        .header("authorization", format!("Bearer {auth}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(req).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let at = text
        .rfind(r#","updatedAt":"#)
        .expect("GET ends with updatedAt");
    format!("{}}}", &text[..at])
}

async fn put_raw(app: &TestApp, store_id: &str, auth: &str, body: String) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(PUT)
        .uri(menu_path(store_id))
        .header("authorization", format!("Bearer {auth}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    app.send(req).await
}

/// A save from the console sends GET's menu back with an edit: only the categories that
/// changed are parsed (`knowledge::rebase`, against the index the head keeps), and what is
/// stored is what any other spelling of the same menu stores; a rule broken across
/// categories is still refused with the field's path, and changes nothing.
async fn a_menu_sent_back_stores_the_same_as_any_other_body(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    let big = big_menu(500);
    let (status, _) = put_menu(&app, &wa.store_id, &alice, big.clone()).await;
    assert_eq!(status, StatusCode::OK);
    // The head keeps the index of the categories, on either store.
    let head = app
        .state
        .store
        .get(&keys::store_pk(&wa.store_id), keys::MENU_SK)
        .await
        .unwrap()
        .unwrap();
    let index = head["index"].as_str().expect("an index");
    assert!(index.starts_with("menu-index 1\n"), "{index:.40}");
    assert_eq!(index.lines().count(), 21, "a tag line and 20 categories");

    // item-7's price (3070 centavos, the only such amount) edited in GET's own bytes.
    let sent = console_body(&app, &wa.store_id, &alice).await;
    assert_eq!(sent.matches(r#""priceCents":3070,"#).count(), 1);
    let edited_body = sent.replace(r#""priceCents":3070,"#, r#""priceCents":4590,"#);
    let before = chunk_versions(&app, &wa.store_id).await;
    let (status, saved) = put_raw(&app, &wa.store_id, &alice, edited_body).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let mut edited = big.clone();
    edited["categories"][7]["items"][0]["priceCents"] = json!(4590);
    assert_eq!(without_stamp(saved), edited);
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        edited
    );
    let after = chunk_versions(&app, &wa.store_id).await;
    let rewritten = (0..after.len()).filter(|&i| after[i] != before[i]).count();
    assert_eq!(rewritten, 1, "{before:?} -> {after:?}");
    let loaded = knowledge::load(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap();
    assert_eq!(loaded.menu.item("item-7").unwrap().1.price_cents, 4590);
    // The same menu from another client (keys sorted): the same bytes stored.
    let sorted_first = get_menu(&app, &wa.store_id, &alice).await;
    let (status, _) = put_menu(&app, &wa.store_id, &alice, edited.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        without_stamp(sorted_first)
    );
    assert_eq!(
        chunk_versions(&app, &wa.store_id).await,
        after,
        "nothing rewritten"
    );

    // An item id taken from a kept category (item-8 is in category 8): 400, the same
    // words as the full path, nothing saved.
    let sent = console_body(&app, &wa.store_id, &alice).await;
    assert_eq!(sent.matches(r#""id":"item-7","#).count(), 1);
    let clash = sent.replace(r#""id":"item-7","#, r#""id":"item-8","#);
    let (status, err) = put_raw(&app, &wa.store_id, &alice, clash).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(err["error"]["field"], "categories[8].items[0].id", "{err}");
    // An untrimmed name in the edited category is stored trimmed, as ever.
    let untrimmed = sent.replace(
        r#""name":"Pizza especial da casa número 7","#,
        r#""name":"  Pizza especial da casa número 7  ","#,
    );
    assert_ne!(untrimmed, sent);
    let (status, _) = put_raw(&app, &wa.store_id, &alice, untrimmed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        edited
    );
}

async fn the_sold_out_switch_changes_one_item(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    put_menu(&app, &wa.store_id, &alice, pizzeria_menu()).await;
    let item = |id: &str| format!("/api/client/{}/menu/items/{id}", wa.store_id);
    let (status, body) = app
        .call(
            PATCH,
            &item("calabresa"),
            Some(&wa.api_key),
            Some(json!({"available": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["id"].clone(),
            body["available"].clone(),
            body["priceCents"].clone()
        ),
        (json!("calabresa"), json!(false), json!(4590))
    );
    // The bot stops offering it at once: its next read has it sold out.
    let k = knowledge::load(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap();
    assert!(k.menu.search(Some("calabresa"), None, false).is_empty());
    assert_eq!(k.menu.search(Some("calabresa"), None, true).len(), 1);
    let (status, body) = app
        .call(
            PATCH,
            &item("guarana"),
            Some(&alice),
            Some(json!({"priceCents": 1300})),
        )
        .await;
    assert_eq!(
        (status, body["priceCents"].clone()),
        (StatusCode::OK, json!(1300))
    );
    let mut expected = pizzeria_menu();
    expected["categories"][0]["items"][0]["available"] = json!(false);
    expected["categories"][1]["items"][0]["priceCents"] = json!(1300);
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        expected
    );

    // Unknown items, empty and bad patches: nothing changes.
    let (status, body) = app
        .call(
            PATCH,
            &item("sushi"),
            Some(&alice),
            Some(json!({"available": true})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .call(
            PATCH,
            &item("Sushi%20!"),
            Some(&alice),
            Some(json!({"available": true})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .call(PATCH, &item("calabresa"), Some(&alice), Some(json!({})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "nothing_to_update");
    let (status, body) = app
        .call(
            PATCH,
            &item("calabresa"),
            Some(&alice),
            Some(json!({"priceCents": 10_000_001})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(body["error"]["field"], "priceCents");
    let (status, body) = app
        .call(
            PATCH,
            &item("calabresa"),
            Some(&alice),
            Some(json!({"soldOut": true})),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    assert_eq!(
        without_stamp(get_menu(&app, &wa.store_id, &alice).await),
        expected
    );
    // A store without a menu has no items.
    let other = app.whatsapp("alice", "Outra").await;
    let (status, body) = app
        .call(
            PATCH,
            &format!("/api/client/{}/menu/items/calabresa", other.store_id),
            Some(&alice),
            Some(json!({"available": false})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

async fn concurrent_switches_are_never_lost(t: TestStore) {
    let app = std::sync::Arc::new(TestApp::new(t));
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    put_menu(&app, &wa.store_id, &alice, big_menu(40)).await;
    // Ten switches of ten items at once, and a price change: each read-modify-write is
    // conditioned on the version it read, so none overwrites another. Some may give up
    // with 409 after their retries; every one answered 200 must be in the final menu.
    let mut tasks = Vec::new();
    for i in 1..=10 {
        let app = app.clone();
        let (store_id, alice) = (wa.store_id.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/client/{store_id}/menu/items/item-{i}");
            let (status, _) = app
                .call(
                    PATCH,
                    &path,
                    Some(&alice),
                    Some(json!({"available": false, "priceCents": 1111 * i})),
                )
                .await;
            assert!(
                status == StatusCode::OK || status == StatusCode::CONFLICT,
                "{status}"
            );
            (i, status == StatusCode::OK)
        }));
    }
    let mut applied = 0;
    let menu = {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let k = knowledge::load(app.state.store.as_ref(), &wa.store_id)
            .await
            .unwrap();
        let initial: Menu = serde_json::from_value(big_menu(40)).unwrap();
        for (i, ok) in results {
            let (_, item) = k.menu.item(&format!("item-{i}")).unwrap();
            if ok {
                applied += 1;
                assert_eq!(
                    (item.available, item.price_cents),
                    (false, 1111 * i as i64),
                    "item-{i}"
                );
            } else {
                let (_, before) = initial.item(&format!("item-{i}")).unwrap();
                assert_eq!(item, before, "a refused switch left item-{i} as it was");
            }
        }
        k.menu
    };
    assert!(applied >= 1, "at least one switch went through");
    assert_eq!(menu.item_count(), 40);
}

/// A store on which another menu save lands between a request's read and its write.
struct SaveInBetween {
    inner: std::sync::Arc<dyn Store>,
    store_id: String,
    pending: std::sync::Mutex<Option<Menu>>,
}

#[async_trait::async_trait]
impl Store for SaveInBetween {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_last(&self, pk: &str, p: &str, n: usize) -> Result<Vec<Item>, StoreError> {
        self.inner.query_last(pk, p, n).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let pending = self.pending.lock().unwrap().take();
        if let Some(menu) = pending {
            knowledge::replace_menu(
                self.inner.as_ref(),
                &self.store_id,
                &StoreCaller::Key,
                &menu,
            )
            .await
            .expect("the save in between");
        }
        self.inner.write(ops).await
    }
    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        self.inner.update(pk, sk, update).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
}

async fn a_switch_is_not_lost_to_a_save_that_lands_in_between(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    put_menu(&app, &wa.store_id, &alice, pizzeria_menu()).await;
    // The owner edits the menu (renames an item, adds one) while the sold-out switch is
    // between its read and its write: the switch's write fails its version condition, it
    // reads the new menu and applies itself to it. Neither change is lost.
    let mut edited: Menu = serde_json::from_value(pizzeria_menu()).unwrap();
    edited.categories[0].items[0].name = "Calabresa Especial".into();
    edited.categories[1].items.push(
        serde_json::from_value(json!(
        {"id": "suco", "name": "Suco", "priceCents": 900}))
        .unwrap(),
    );
    let racing = SaveInBetween {
        inner: app.state.store.clone(),
        store_id: wa.store_id.clone(),
        pending: std::sync::Mutex::new(Some(edited)),
    };
    let item = knowledge::patch_item(
        &racing,
        &wa.store_id,
        &StoreCaller::Key,
        "calabresa",
        &serde_json::from_value(json!({"available": false})).unwrap(),
    )
    .await
    .unwrap();
    assert!(
        racing.pending.lock().unwrap().is_none(),
        "the save happened in between"
    );
    assert_eq!(
        (item.name.as_str(), item.available),
        ("Calabresa Especial", false)
    );
    let menu = knowledge::load(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap()
        .menu;
    let (_, calabresa) = menu.item("calabresa").unwrap();
    assert_eq!(
        (calabresa.name.as_str(), calabresa.available),
        ("Calabresa Especial", false)
    );
    assert!(menu.item("suco").is_some());
}

const GOOD_CSV: &str = "categoria;item;descricao;preco;disponivel;opcoes\n\
    Pizzas;Pizza Calabresa;Calabresa e cebola;R$ 45,90;sim;\"Tamanho[1-1]: Média=0; Grande=10,00\"\n\
    Pizzas;Pizza Portuguesa;;48.90;sim;\n\
    Bebidas;Guaraná 2L;;12;não;\n\
    Bebidas;Suco de Laranja;;9,50;;\n";

async fn csv_imports_are_previewed_then_all_or_nothing(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    put_menu(&app, &wa.store_id, &alice, pizzeria_menu()).await;
    let before = get_menu(&app, &wa.store_id, &alice).await;

    // The dry run shows the parsed menu and what would change, and saves nothing.
    let (status, preview) = csv(&app, &wa.store_id, &alice, "?dryRun=true", GOOD_CSV).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["dryRun"], true);
    let items: Vec<&str> = preview["menu"]["categories"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["pizza-calabresa", "pizza-portuguesa"]);
    assert_eq!(
        preview["menu"]["categories"][0]["items"][0]["optionGroups"][0]["options"][1]["priceCents"],
        1000
    );
    assert_eq!(
        preview["menu"]["categories"][1]["items"][0]["available"],
        false
    );
    assert_eq!(
        preview["diff"]["itemsAdded"],
        json!([
            "pizza-calabresa",
            "pizza-portuguesa",
            "guarana-2l",
            "suco-de-laranja"
        ])
    );
    assert_eq!(
        preview["diff"]["itemsRemoved"],
        json!(["calabresa", "portuguesa", "guarana"])
    );
    assert_eq!(preview["diff"]["categoriesAdded"], json!([]));
    assert_eq!(get_menu(&app, &wa.store_id, &alice).await, before);

    // Bad rows: every one listed, nothing imported.
    let bad = "categoria;item;preco;disponivel\nPizzas;Calabresa;45,90;sim\nPizzas;;10;sim\nPizzas;Atum;dez reais;talvez\n";
    let (status, body) = csv(&app, &wa.store_id, &wa.api_key, "", bad).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_csv");
    let rows: Vec<(u64, &str)> = body["error"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [(3, "item"), (4, "price"), (4, "available")],
        "{body}"
    );
    assert!(body["error"]["rows"][1]["message"]
        .as_str()
        .unwrap()
        .contains("dez reais"));
    assert_eq!(get_menu(&app, &wa.store_id, &alice).await, before);
    // Not CSV: 415; nothing changes.
    let (status, body) = app
        .call(
            POST,
            &format!("/api/client/{}/menu/import", wa.store_id),
            Some(&alice),
            Some(json!({"csv": GOOD_CSV})),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    // The import itself.
    let (status, imported) = csv(&app, &wa.store_id, &wa.api_key, "", GOOD_CSV).await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!(imported["dryRun"], false);
    assert_eq!(imported["diff"], preview["diff"]);
    let after = get_menu(&app, &wa.store_id, &alice).await;
    assert_eq!(
        without_stamp(after.clone()),
        without_stamp(preview["menu"].clone())
    );
    assert_eq!(after["categories"][0]["items"][0]["priceCents"], 4590);
    // Importing the same file again changes nothing.
    let (_, again) = csv(&app, &wa.store_id, &alice, "?dryRun=true", GOOD_CSV).await;
    assert_eq!(again["diff"]["itemsUnchanged"], 4, "{again}");
}

fn pizzeria_profile() -> Value {
    json!({
        "address": "Rua Domingos de Morais, 100 - Vila Mariana, São Paulo",
        "hours": {"weekly": {
            "mon": [], "tue": [{"open": "18:00", "close": "23:30"}], "wed": [{"open": "18:00", "close": "23:30"}],
            "thu": [{"open": "18:00", "close": "23:30"}], "fri": [{"open": "18:00", "close": "02:00"}],
            "sat": [{"open": "18:00", "close": "02:00"}], "sun": [{"open": "11:00", "close": "15:00"}, {"open": "18:00", "close": "23:00"}]},
          "exceptions": [{"date": "2026-12-25", "intervals": []}]},
        "closedMessage": "Estamos fechados agora; abrimos às 18h.",
        "delivery": {"pickup": true, "zones": [
            {"name": "Perto", "neighborhoods": ["Vila Mariana", "Paraíso"], "feeCents": 500, "minOrderCents": 3000, "etaMinutes": 40}]},
        "payments": {"pix": {"key": "12345678909", "keyType": "cpf", "merchantName": "Pizzaria Bella", "merchantCity": "Sao Paulo"},
                     "cash": true, "card": false}
    })
}

async fn the_profile_round_trips_and_is_validated(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    let path = format!("/api/client/{}/profile", wa.store_id);
    let (status, empty) = app.call(GET, &path, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        empty,
        json!({"hours": {"weekly": {"mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [], "sun": []}, "exceptions": []},
                             "delivery": {"pickup": false, "zones": []}, "payments": {"cash": false, "card": false}})
    );
    let (status, saved) = app
        .call(PUT, &path, Some(&wa.api_key), Some(pizzeria_profile()))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved, pizzeria_profile());
    let (_, read) = app.call(GET, &path, Some(&alice), None).await;
    assert_eq!(read, pizzeria_profile());
    // The key in canonical form: a formatted CPF is stored as digits.
    let mut formatted = pizzeria_profile();
    formatted["payments"]["pix"]["key"] = json!("123.456.789-09");
    let (_, saved) = app.call(PUT, &path, Some(&alice), Some(formatted)).await;
    assert_eq!(saved["payments"]["pix"]["key"], "12345678909");

    let cases: Vec<Case> = vec![
        (
            Box::new(|p| p["hours"]["weekly"]["fri"][0]["close"] = json!("25:00")),
            "hours.weekly.fri[0].close",
        ),
        (
            Box::new(|p| p["hours"]["exceptions"][0]["date"] = json!("25/12/2026")),
            "hours.exceptions[0].date",
        ),
        (
            Box::new(|p| p["delivery"]["zones"][0]["neighborhoods"] = json!([])),
            "delivery.zones[0].neighborhoods",
        ),
        (
            Box::new(|p| p["delivery"]["zones"][0]["feeCents"] = json!(-100)),
            "delivery.zones[0].feeCents",
        ),
        (
            Box::new(|p| p["payments"]["pix"]["key"] = json!("12345678900")),
            "payments.pix.key",
        ),
        (
            Box::new(|p| {
                p["payments"]["pix"]["merchantName"] = json!("Pizzaria Bella Napoli Centro")
            }),
            "payments.pix.merchantName",
        ),
    ];
    for (change, field) in cases {
        let mut bad = pizzeria_profile();
        change(&mut bad);
        let (status, body) = app.call(PUT, &path, Some(&alice), Some(bad)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let mut unknown = pizzeria_profile();
    unknown["delivery"]["zones"][0]["fee"] = json!(5);
    let (status, body) = app.call(PUT, &path, Some(&alice), Some(unknown)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    let (_, read) = app.call(GET, &path, Some(&alice), None).await;
    assert_eq!(read, pizzeria_profile());
    // The bot's read has it, and matches neighbourhoods as customers type them.
    let k = knowledge::load(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap();
    assert_eq!(
        k.profile.delivery.zone_for("paraiso").unwrap().fee_cents,
        500
    );
}

async fn status_follows_the_hours_in_the_store_zone(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    let status_path = format!("/api/client/{}/status", wa.store_id);
    // No hours: closed, with no opening in sight.
    let (status, body) = app.call(GET, &status_path, Some(&alice), None).await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, json!({"open": false}))
    );
    // Open all week except the day after tomorrow (in Manaus, UTC-4, no DST).
    app.call(
        PUT,
        &format!("/api/client/{}/config", wa.store_id),
        Some(&alice),
        Some(json!({"timezone": "America/Manaus"})),
    )
    .await;
    let tz = jiff::tz::TimeZone::get("America/Manaus").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let closed_day = today.checked_add(jiff::Span::new().days(2)).unwrap();
    let all_day = json!([{"open": "00:00", "close": "00:00"}]);
    let profile = json!({"hours": {"weekly": {"mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                          "fri": all_day, "sat": all_day, "sun": all_day},
                          "exceptions": [{"date": closed_day.to_string(), "intervals": []}]}});
    let (code, _) = app
        .call(
            PUT,
            &format!("/api/client/{}/profile", wa.store_id),
            Some(&alice),
            Some(profile),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (status, body) = app.call(GET, &status_path, Some(&wa.api_key), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["open"], true, "{body}");
    assert_eq!(
        body["closesAt"],
        format!("{closed_day}T00:00:00-04:00"),
        "{body}"
    );
    assert!(body.get("opensAt").is_none(), "{body}");
    // Closed today: opens at midnight.
    let profile = json!({"hours": {"weekly": {"mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day,
                          "fri": all_day, "sat": all_day, "sun": all_day},
                          "exceptions": [{"date": today.to_string(), "intervals": []}]}});
    app.call(
        PUT,
        &format!("/api/client/{}/profile", wa.store_id),
        Some(&alice),
        Some(profile),
    )
    .await;
    let (_, body) = app.call(GET, &status_path, Some(&alice), None).await;
    let tomorrow = today.tomorrow().unwrap();
    assert_eq!(
        body,
        json!({"open": false, "opensAt": format!("{tomorrow}T00:00:00-04:00")})
    );
}

async fn other_owners_and_keys_are_kept_out(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let bobs = app.whatsapp("bob", "Outra").await;
    let alice = app.token("alice");
    put_menu(&app, &wa.store_id, &alice, pizzeria_menu()).await;
    app.call(
        PUT,
        &format!("/api/client/{}/profile", wa.store_id),
        Some(&alice),
        Some(pizzeria_profile()),
    )
    .await;
    let before = get_menu(&app, &wa.store_id, &alice).await;
    let s = &wa.store_id;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (GET, format!("/api/client/{s}/menu"), None),
        (
            PUT,
            format!("/api/client/{s}/menu"),
            Some(json!({"categories": []})),
        ),
        (
            PATCH,
            format!("/api/client/{s}/menu/items/calabresa"),
            Some(json!({"available": false})),
        ),
        (GET, format!("/api/client/{s}/profile"), None),
        (PUT, format!("/api/client/{s}/profile"), Some(json!({}))),
        (GET, format!("/api/client/{s}/status"), None),
    ];
    for (method, path, body) in &routes {
        let (status, err) = app.call(method.clone(), path, None, body.clone()).await;
        assert_error(status, &err, StatusCode::UNAUTHORIZED, "missing_token");
        let (status, err) = app
            .call(method.clone(), path, Some(&app.token("bob")), body.clone())
            .await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
        let (status, err) = app
            .call(method.clone(), path, Some(&bobs.api_key), body.clone())
            .await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, err) = csv(&app, s, &app.token("bob"), "", GOOD_CSV).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (status, err) = csv(&app, s, &bobs.api_key, "?dryRun=true", GOOD_CSV).await;
    assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
    // A store id that doesn't exist.
    let (status, err) = app
        .call(
            GET,
            "/api/client/st_00000000000000000000/menu",
            Some(&alice),
            None,
        )
        .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(get_menu(&app, s, &alice).await, before);
    let (_, profile) = app
        .call(GET, &format!("/api/client/{s}/profile"), Some(&alice), None)
        .await;
    assert_eq!(profile, pizzeria_profile());
}

/// A 500-item menu and the pizzeria's profile, saved through the routes.
async fn save_big_menu_and_profile(app: &TestApp, store_id: &str, token: &str) {
    for (path, body) in [
        (menu_path(store_id), big_menu(500)),
        (
            format!("/api/client/{store_id}/profile"),
            pizzeria_profile(),
        ),
    ] {
        let (status, answer) = app.call(PUT, &path, Some(token), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
}

async fn deleting_a_connection_deletes_its_knowledge(t: TestStore) {
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    save_big_menu_and_profile(&app, &wa.store_id, &alice).await;
    assert!(stored_keys(&app, &wa.store_id).await.len() >= 3);
    let (status, body) = app
        .call(
            DELETE,
            &format!("/api/user-apis/{}", wa.id),
            Some(&alice),
            None,
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(stored_keys(&app, &wa.store_id).await, Vec::<String>::new());
    let (status, err) = app
        .call(GET, &menu_path(&wa.store_id), Some(&alice), None)
        .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
}

async fn a_turn_reads_config_menu_and_profile_in_one_query(t: TestStore) {
    let (t, counts) = t.counted();
    let app = TestApp::new(t);
    let wa = app.whatsapp("alice", "Pizzaria").await;
    let alice = app.token("alice");
    save_big_menu_and_profile(&app, &wa.store_id, &alice).await;
    let (reads, writes) = counts.snapshot();
    let (config, k) = knowledge::load_with_config(app.state.store.as_ref(), &wa.store_id)
        .await
        .unwrap()
        .expect("the store exists");
    assert_eq!(
        counts.snapshot(),
        (reads + 1, writes),
        "one query, no writes"
    );
    assert_eq!(config.store_id, wa.store_id);
    assert_eq!(k.menu.item_count(), 500);
    assert!(k.profile.payments.cash);
    // A store that doesn't exist: nothing, and the plain load is empty knowledge.
    assert!(
        knowledge::load_with_config(app.state.store.as_ref(), "st_00000000000000000000")
            .await
            .unwrap()
            .is_none()
    );
    let empty = knowledge::load(app.state.store.as_ref(), "st_00000000000000000000")
        .await
        .unwrap();
    assert_eq!(empty, knowledge::Knowledge::default());
    // Each route: one read to find the store's data, one write to change it.
    let (r0, w0) = counts.snapshot();
    get_menu(&app, &wa.store_id, &alice).await;
    assert_eq!(counts.snapshot(), (r0 + 1, w0));
    let (r0, w0) = counts.snapshot();
    app.call(
        PATCH,
        &format!("/api/client/{}/menu/items/item-3", wa.store_id),
        Some(&alice),
        Some(json!({"available": false})),
    )
    .await;
    assert_eq!(counts.snapshot(), (r0 + 1, w0 + 1));
}

for_each_store!(
    the_menu_round_trips_and_bad_menus_change_nothing,
    a_500_item_menu_is_chunked_and_round_trips,
    a_menu_sent_back_stores_the_same_as_any_other_body,
    the_sold_out_switch_changes_one_item,
    concurrent_switches_are_never_lost,
    a_switch_is_not_lost_to_a_save_that_lands_in_between,
    csv_imports_are_previewed_then_all_or_nothing,
    the_profile_round_trips_and_is_validated,
    status_follows_the_hours_in_the_store_zone,
    other_owners_and_keys_are_kept_out,
    deleting_a_connection_deletes_its_knowledge,
    a_turn_reads_config_menu_and_profile_in_one_query,
);
