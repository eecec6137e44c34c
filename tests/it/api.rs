//! The HTTP contract of BRIEF §3 for user APIs, bot config and sessions, driven in-process
//! through the same routers the Lambdas and the local stack serve, over both store
//! adapters. Every kind of bad input is tried and must get a clear 4xx JSON error and
//! change nothing.

mod error_contract;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use platefull::auth::dev::DevSigner;
use platefull::store::keys;
use platefull_tests::{assert_error, for_each_store, TestApp, TestStore};
use serde_json::{json, Value};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// Creates a WhatsApp connection for `user`; returns (record, apiKey).
async fn whatsapp(app: &TestApp, user: &str, name: &str) -> (Value, String) {
    let wa = app.whatsapp(user, name).await;
    (wa.record, wa.api_key)
}

async fn list(app: &TestApp, user: &str) -> Vec<Value> {
    let (status, body) = app
        .call(GET, "/api/user-apis", Some(&app.token(user)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a JSON array").clone()
}

async fn creating_a_whatsapp_connection_creates_config_slots_and_a_key(t: TestStore) {
    let app = TestApp::new(t);
    let (api, key) = whatsapp(&app, "alice", "  Pizzaria X  ").await;
    assert_eq!(api["name"], "Pizzaria X");
    assert_eq!(api["type"], "whatsapp");
    assert_eq!(api["userId"], "alice");
    assert_eq!(api["status"], "disconnected");
    assert!(
        key.starts_with("pfk_") && key.len() >= 4 + 43,
        "≥128-bit key: {key}"
    );
    assert!(api["apiKeyPreview"]
        .as_str()
        .unwrap()
        .ends_with(&key[key.len() - 4..]));
    let store_id = api["storeId"].as_str().unwrap();

    let listed = list(&app, "alice").await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("apiKey").is_none() && listed[0].get("keyHash").is_none(),
        "{}",
        listed[0]
    );
    assert!(
        !listed[0].to_string().contains(&key[4..]),
        "the raw key never appears again"
    );

    for auth in [app.token("alice"), key.clone()] {
        let (status, config) = app
            .call(
                GET,
                &format!("/api/client/{store_id}/config"),
                Some(&auth),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{config}");
        assert_eq!(config["messageLimit"], 30);
        assert_eq!(config["contextTime"], 60);
        assert_eq!(config["botEnabled"], true);
        assert_eq!(config["botName"], Value::Null);
        let (status, sessions) = app
            .call(
                GET,
                &format!("/api/whatsapp/{store_id}/sessions"),
                Some(&auth),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{sessions}");
        let slots = sessions["data"].as_array().unwrap();
        assert_eq!(
            slots
                .iter()
                .map(|s| s["slot"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(
            slots
                .iter()
                .all(|s| s["status"] == "disconnected" && s["isActive"] == false),
            "{sessions}"
        );
    }
    // Only the hash is stored.
    let grant = app
        .state
        .store
        .get(
            &keys::key_pk(&platefull::auth::api_key::hash(&key)),
            keys::KEY_SK,
        )
        .await
        .unwrap();
    assert!(grant.is_some_and(|g| !Value::Object(g).to_string().contains(&key[4..])));
}

async fn saipos_tokens_are_encrypted_and_never_returned(t: TestStore) {
    let app = TestApp::new(t);
    let token = "saipos-secret-token-0123456789";
    let (status, api) = app
        .call(
            POST,
            "/api/user-apis",
            Some(&app.token("alice")),
            Some(json!({"name": "Saipos", "type": "saipos", "apiKey": token})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["baseUrl"], "https://data.saipos.io/v1");
    assert!(api.get("apiKey").is_none(), "{api}");
    assert_eq!(api["apiKeyPreview"], "saip…6789");
    let id = api["id"].as_str().unwrap();
    let raw = app
        .state
        .store
        .get(&keys::user_pk("alice"), &keys::api_sk(id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !Value::Object(raw.clone()).to_string().contains(token),
        "stored in clear: {raw:?}"
    );
    let sealed = raw["secret"].as_str().unwrap();
    assert_eq!(app.state.secrets.open(sealed, id).unwrap(), token);

    let (status, body) = app
        .call(
            GET,
            &format!("/api/user-apis/{id}"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.to_string().contains(token));
    // A Saipos account has no store routes.
    let store_id = api["storeId"].as_str().unwrap();
    let (status, body) = app
        .call(
            GET,
            &format!("/api/client/{store_id}/config"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    // Replacing the token re-encrypts it.
    let new_token = "saipos-second-token-abcdefghij";
    let (status, body) = app
        .call(
            PATCH,
            &format!("/api/user-apis/{id}"),
            Some(&app.token("alice")),
            Some(json!({"apiKey": new_token})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["apiKeyPreview"], "saip…ghij");
    let raw = app
        .state
        .store
        .get(&keys::user_pk("alice"), &keys::api_sk(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.state
            .secrets
            .open(raw["secret"].as_str().unwrap(), id)
            .unwrap(),
        new_token
    );
}

async fn owners_see_only_their_own_data(t: TestStore) {
    let app = TestApp::new(t);
    let (api, key) = whatsapp(&app, "alice", "Alice's").await;
    let (_, bob_key) = whatsapp(&app, "bob", "Bob's").await;
    let (id, store_id) = (
        api["id"].as_str().unwrap(),
        api["storeId"].as_str().unwrap(),
    );
    let bob = app.token("bob");
    assert_eq!(list(&app, "bob").await.len(), 1);
    assert_eq!(list(&app, "bob").await[0]["name"], "Bob's");

    for (method, path, body) in [
        (GET, format!("/api/user-apis/{id}"), None),
        (
            PATCH,
            format!("/api/user-apis/{id}"),
            Some(json!({"name": "mine now"})),
        ),
        (DELETE, format!("/api/user-apis/{id}"), None),
        (POST, format!("/api/user-apis/{id}/rotate-key"), None),
        (POST, format!("/api/user-apis/{id}/test"), None),
        (GET, format!("/api/client/{store_id}/config"), None),
        (
            PUT,
            format!("/api/client/{store_id}/config"),
            Some(json!({"botName": "Hacker"})),
        ),
        (GET, format!("/api/whatsapp/{store_id}/sessions"), None),
    ] {
        let (status, err) = app
            .call(method.clone(), &path, Some(&bob), body.clone())
            .await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
        // Bob's apiKey opens only Bob's store.
        if path.contains(store_id) {
            let (status, err) = app.call(method, &path, Some(&bob_key), body).await;
            assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    let (status, config) = app
        .call(
            GET,
            &format!("/api/client/{store_id}/config"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["botName"], Value::Null, "Bob changed nothing");
    assert_eq!(list(&app, "alice").await[0]["name"], "Alice's");
}

async fn bad_credentials_are_refused_on_every_route(t: TestStore) {
    let app = TestApp::new(t);
    let (api, key) = whatsapp(&app, "alice", "Loja").await;
    let (id, store_id) = (
        api["id"].as_str().unwrap(),
        api["storeId"].as_str().unwrap(),
    );
    let expired = app.signer.token("alice", -3600);
    let foreign = DevSigner::generate("test-issuer", "test-audience").token("alice", 600);
    let wrong_audience = DevSigner::generate("test-issuer", "other").token("alice", 600);
    let no_sub = app
        .signer
        .sign(json!({"iss": "test-issuer", "aud": "test-audience", "exp": 4_000_000_000u64}));
    let routes = [
        (GET, "/api/user-apis".to_owned(), None),
        (
            POST,
            "/api/user-apis".to_owned(),
            Some(json!({"name": "x", "type": "whatsapp"})),
        ),
        (
            PATCH,
            format!("/api/user-apis/{id}"),
            Some(json!({"name": "x"})),
        ),
        (DELETE, format!("/api/user-apis/{id}"), None),
        (POST, format!("/api/user-apis/{id}/rotate-key"), None),
        (GET, format!("/api/client/{store_id}/config"), None),
        (
            PUT,
            format!("/api/client/{store_id}/config"),
            Some(json!({"botName": "x"})),
        ),
        (GET, format!("/api/whatsapp/{store_id}/sessions"), None),
    ];
    for (method, path, body) in &routes {
        let cases: [(Option<&str>, &str); 6] = [
            (None, "missing_token"),
            (Some(&expired), "token_expired"),
            (Some(&foreign), "invalid_token"),
            (Some(&wrong_audience), "invalid_token"),
            (Some(&no_sub), "invalid_token"),
            (Some("not.a.jwt"), "invalid_token"),
        ];
        for (auth, code) in cases {
            let (status, err) = app.call(method.clone(), path, auth, body.clone()).await;
            assert_error(status, &err, StatusCode::UNAUTHORIZED, code);
        }
        let unknown_key = platefull::auth::api_key::generate();
        let (status, err) = app
            .call(method.clone(), path, Some(&unknown_key), body.clone())
            .await;
        let expected = if path.starts_with("/api/user-apis") {
            "user_token_required"
        } else {
            "invalid_api_key"
        };
        assert_error(status, &err, StatusCode::UNAUTHORIZED, expected);
    }
    // The apiKey doesn't open user routes.
    let (status, err) = app.call(GET, "/api/user-apis", Some(&key), None).await;
    assert_error(
        status,
        &err,
        StatusCode::UNAUTHORIZED,
        "user_token_required",
    );
    // The token also works as x-stack-access-token.
    let req = Request::get("/api/user-apis")
        .header("x-stack-access-token", app.token("alice"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = app.send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.as_array().unwrap().len(),
        1,
        "nothing changed by the refused calls"
    );
    let (_, config) = app
        .call(
            GET,
            &format!("/api/client/{store_id}/config"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(config["botName"], Value::Null);
}

async fn malformed_bodies_get_clear_errors_and_change_nothing(t: TestStore) {
    let app = TestApp::new(t);
    let (api, key) = whatsapp(&app, "alice", "Loja").await;
    let (id, store_id) = (
        api["id"].as_str().unwrap().to_owned(),
        api["storeId"].as_str().unwrap().to_owned(),
    );
    let alice = app.token("alice");
    let config_path = format!("/api/client/{store_id}/config");
    let (_, before) = app.call(GET, &config_path, Some(&key), None).await;

    let cases: Vec<(Method, String, Value, &str, Option<&str>)> = vec![
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": "", "type": "whatsapp"}),
            "validation_error",
            Some("name"),
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": "n".repeat(81), "type": "whatsapp"}),
            "validation_error",
            Some("name"),
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": "x", "type": "telegram"}),
            "validation_error",
            Some("type"),
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": "x", "type": "saipos"}),
            "validation_error",
            Some("apiKey"),
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": "x", "type": "saipos", "apiKey": "t0k3n", "baseUrl": "http://evil.example"}),
            "validation_error",
            Some("baseUrl"),
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": "x", "type": "whatsapp", "admin": true}),
            "invalid_body",
            None,
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"name": 5, "type": "whatsapp"}),
            "invalid_body",
            None,
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!({"type": "whatsapp"}),
            "invalid_body",
            None,
        ),
        (
            POST,
            "/api/user-apis".into(),
            json!([1, 2]),
            "invalid_body",
            None,
        ),
        (
            PATCH,
            format!("/api/user-apis/{id}"),
            json!({}),
            "nothing_to_update",
            None,
        ),
        (
            PATCH,
            format!("/api/user-apis/{id}"),
            json!({"apiKey": "pfk_mine"}),
            "validation_error",
            Some("apiKey"),
        ),
        (
            PATCH,
            format!("/api/user-apis/{id}"),
            json!({"name": "  "}),
            "validation_error",
            Some("name"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"messageLimit": 0}),
            "validation_error",
            Some("messageLimit"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"messageLimit": 201}),
            "validation_error",
            Some("messageLimit"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"contextTime": 0}),
            "validation_error",
            Some("contextTime"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"contextTime": 1441}),
            "validation_error",
            Some("contextTime"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"botName": "b".repeat(61)}),
            "validation_error",
            Some("botName"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"storeType": "s".repeat(41)}),
            "validation_error",
            Some("storeType"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"basePrompt": "p".repeat(8001)}),
            "validation_error",
            Some("basePrompt"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"forbidden": "f".repeat(4001)}),
            "validation_error",
            Some("forbidden"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"botName": "ok", "messageLimit": 500}),
            "validation_error",
            Some("messageLimit"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"messageLimit": "30"}),
            "invalid_body",
            None,
        ),
        (
            PUT,
            config_path.clone(),
            json!({"botEnabled": "yes"}),
            "invalid_body",
            None,
        ),
        (
            PUT,
            config_path.clone(),
            json!({"botEnabled": null}),
            "validation_error",
            Some("botEnabled"),
        ),
        (
            PUT,
            config_path.clone(),
            json!({"temperature": 2}),
            "invalid_body",
            None,
        ),
        (
            PUT,
            config_path.clone(),
            json!({"storeId": "st_other"}),
            "validation_error",
            Some("storeId"),
        ),
    ];
    for (method, path, body, code, field) in cases {
        let (status, err) = app
            .call(method.clone(), &path, Some(&alice), Some(body.clone()))
            .await;
        assert_error(status, &err, StatusCode::BAD_REQUEST, code);
        if let Some(field) = field {
            assert_eq!(
                err["error"]["field"], field,
                "{method} {path} {body}: {err}"
            );
        }
    }
    // Not JSON at all, and JSON without its content type.
    let req = Request::post("/api/user-apis")
        .header("authorization", format!("Bearer {alice}"))
        .header("content-type", "application/json")
        .body(Body::from("{\"name\":"))
        .unwrap();
    let (status, err) = app.send(req).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "invalid_json");
    let req = Request::put(&config_path)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from("{}"))
        .unwrap();
    let (status, err) = app.send(req).await;
    assert_error(
        status,
        &err,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // Oversized bodies.
    let huge = json!({"name": "x", "type": "whatsapp", "pad": "p".repeat(70 * 1024)});
    let (status, err) = app
        .call(POST, "/api/user-apis", Some(&alice), Some(huge))
        .await;
    assert_error(
        status,
        &err,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let huge = json!({"basePrompt": "p".repeat(70 * 1024)});
    let (status, err) = app.call(PUT, &config_path, Some(&key), Some(huge)).await;
    assert_error(
        status,
        &err,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    let after_list = list(&app, "alice").await;
    assert_eq!(after_list.len(), 1);
    assert_eq!(
        after_list[0],
        api.as_object()
            .map(|o| {
                let mut o = o.clone();
                o.remove("apiKey");
                Value::Object(o)
            })
            .unwrap()
    );
    let (_, after) = app.call(GET, &config_path, Some(&key), None).await;
    assert_eq!(after, before, "the config is unchanged");
}

async fn unknown_ids_routes_and_methods_get_json_errors(t: TestStore) {
    let app = TestApp::new(t);
    let (_, key) = whatsapp(&app, "alice", "Loja").await;
    let alice = app.token("alice");
    for path in [
        "/api/user-apis/api_00000000000000000000",
        "/api/user-apis/nope",
        "/api/user-apis/..%2F..%2Fetc",
    ] {
        let (status, err) = app.call(GET, path, Some(&alice), None).await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    }
    for path in [
        "/api/client/st_00000000000000000000/config",
        "/api/client/whatever/config",
        "/api/whatsapp/st_00000000000000000000/sessions",
    ] {
        let (status, err) = app.call(GET, path, Some(&alice), None).await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
        let (status, err) = app.call(GET, path, Some(&key), None).await;
        assert_error(status, &err, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, err) = app.call(GET, "/api/nothing-here", Some(&alice), None).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (status, err) = app.call(DELETE, "/api/user-apis", Some(&alice), None).await;
    assert_error(
        status,
        &err,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

async fn config_updates_are_partial_and_round_trip(t: TestStore) {
    let app = TestApp::new(t);
    let (api, key) = whatsapp(&app, "alice", "Loja").await;
    let path = format!("/api/client/{}/config", api["storeId"].as_str().unwrap());
    let change = json!({
        "botName": "Maria", "storeType": "pizzaria", "basePrompt": "Você é um atendente.\nSeja breve.",
        "forbidden": "política", "botEnabled": false, "messageLimit": 200, "contextTime": 1440,
    });
    let (status, config) = app
        .call(PUT, &path, Some(&app.token("alice")), Some(change))
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["botName"], "Maria");
    assert_eq!(config["basePrompt"], "Você é um atendente.\nSeja breve.");
    assert_eq!(config["messageLimit"], 200);
    assert_eq!(config["contextTime"], 1440);
    assert_eq!(config["botEnabled"], false);

    let (status, partial) = app
        .call(
            PUT,
            &path,
            Some(&key),
            Some(json!({"messageLimit": 1, "storeType": null, "forbidden": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{partial}");
    assert_eq!(partial["botName"], "Maria", "absent fields are kept");
    assert_eq!(partial["messageLimit"], 1);
    assert_eq!(partial["storeType"], Value::Null, "null clears");
    assert_eq!(partial["forbidden"], Value::Null, "empty clears");
    assert!(partial["updatedAt"].as_str().unwrap() >= config["updatedAt"].as_str().unwrap());

    // What GET returns can be PUT back unchanged (the seed's console does this).
    let (_, fetched) = app.call(GET, &path, Some(&key), None).await;
    let (status, again) = app
        .call(PUT, &path, Some(&key), Some(fetched.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("updatedAt");
        v
    };
    assert_eq!(strip(again), strip(fetched));
}

async fn rotating_a_key_stops_the_old_one_at_once(t: TestStore) {
    let app = TestApp::new(t);
    let (api, old_key) = whatsapp(&app, "alice", "Loja").await;
    let (id, store_id) = (
        api["id"].as_str().unwrap(),
        api["storeId"].as_str().unwrap(),
    );
    let path = format!("/api/client/{store_id}/config");
    let (status, rotated) = app
        .call(
            POST,
            &format!("/api/user-apis/{id}/rotate-key"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_key = rotated["apiKey"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert!(rotated["apiKeyPreview"]
        .as_str()
        .unwrap()
        .ends_with(&new_key[new_key.len() - 4..]));
    let (status, err) = app.call(GET, &path, Some(&old_key), None).await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_api_key");
    let (status, _) = app.call(GET, &path, Some(new_key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list(&app, "alice").await[0].get("apiKey").is_none());

    let (_, saipos) = app
        .call(
            POST,
            "/api/user-apis",
            Some(&app.token("alice")),
            Some(json!({"name": "S", "type": "saipos", "apiKey": "tok-123456"})),
        )
        .await;
    let (status, err) = app
        .call(
            POST,
            &format!(
                "/api/user-apis/{}/rotate-key",
                saipos["id"].as_str().unwrap()
            ),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "not_supported");
}

async fn deleting_a_connection_removes_its_config_slots_and_key(t: TestStore) {
    let app = TestApp::new(t);
    let (api, key) = whatsapp(&app, "alice", "Loja").await;
    let (keep, _) = whatsapp(&app, "alice", "Other").await;
    let (id, store_id) = (
        api["id"].as_str().unwrap(),
        api["storeId"].as_str().unwrap(),
    );
    let (status, body) = app
        .call(
            DELETE,
            &format!("/api/user-apis/{id}"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, err) = app
        .call(
            GET,
            &format!("/api/client/{store_id}/config"),
            Some(&key),
            None,
        )
        .await;
    assert_error(status, &err, StatusCode::UNAUTHORIZED, "invalid_api_key");
    assert!(app
        .state
        .store
        .query(&keys::store_pk(store_id), "")
        .await
        .unwrap()
        .is_empty());
    assert!(app
        .state
        .store
        .get(
            &keys::key_pk(&platefull::auth::api_key::hash(&key)),
            keys::KEY_SK
        )
        .await
        .unwrap()
        .is_none());
    let remaining = list(&app, "alice").await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], keep["id"]);
    let (status, err) = app
        .call(
            DELETE,
            &format!("/api/user-apis/{id}"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
}

async fn patch_renames_and_test_reports_slot_states(t: TestStore) {
    let app = TestApp::new(t);
    let (api, _) = whatsapp(&app, "alice", "Loja").await;
    let id = api["id"].as_str().unwrap();
    let (status, renamed) = app
        .call(
            PATCH,
            &format!("/api/user-apis/{id}"),
            Some(&app.token("alice")),
            Some(json!({"name": "Loja Centro"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Loja Centro");
    assert_eq!(renamed["apiKeyPreview"], api["apiKeyPreview"]);
    assert_eq!(list(&app, "alice").await[0]["name"], "Loja Centro");
    let (status, tested) = app
        .call(
            POST,
            &format!("/api/user-apis/{id}/test"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["success"], false);
    assert_eq!(tested["status"], "disconnected");
    assert_eq!(tested["slots"].as_array().unwrap().len(), 3);
    assert_eq!(tested["result"], "whatsapp_not_linked");
    assert_eq!(tested["connected"], 0);
    assert_eq!(tested["total"], 3);
}

async fn lists_are_ordered_oldest_first(t: TestStore) {
    let app = TestApp::new(t);
    for n in 0..5 {
        whatsapp(&app, "alice", &format!("Loja {n}")).await;
    }
    let names: Vec<_> = list(&app, "alice")
        .await
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        (0..5).map(|n| format!("Loja {n}")).collect::<Vec<_>>()
    );
}

async fn health_reports_the_store(t: TestStore) {
    let app = TestApp::new(t);
    let (status, body) = app.call(GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["store"]["ok"], true);
    assert_eq!(body["checks"]["store"]["kind"], app.state.store.kind());
}

for_each_store!(
    creating_a_whatsapp_connection_creates_config_slots_and_a_key,
    saipos_tokens_are_encrypted_and_never_returned,
    owners_see_only_their_own_data,
    bad_credentials_are_refused_on_every_route,
    malformed_bodies_get_clear_errors_and_change_nothing,
    unknown_ids_routes_and_methods_get_json_errors,
    config_updates_are_partial_and_round_trip,
    rotating_a_key_stops_the_old_one_at_once,
    deleting_a_connection_removes_its_config_slots_and_key,
    patch_renames_and_test_reports_slot_states,
    lists_are_ordered_oldest_first,
    health_reports_the_store,
);
