//! Saipos integration against a fake Saipos at the HTTP level: the client (windows,
//! pagination, retries, timeouts, bad tokens), the aggregation (checked against totals
//! computed by hand), and the owner's routes (connection test, sales report, cache).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use platefull::saipos::cache;
use platefull::saipos::client::{RateLimiter, SaiposClient, SaiposError, Settings};
use platefull::saipos::report::{aggregate, build};
use platefull_tests::fake_saipos::{sale, sale_items, FakeSaipos, TOKEN};
use platefull_tests::{embedded_store, TestApp};
use serde_json::{json, Value};
use time::{Date, Duration as Days};

fn fast() -> Settings {
    Settings {
        timeout: Duration::from_millis(300),
        max_attempts: 3,
        backoff: Duration::from_millis(5),
        limiter: Arc::new(RateLimiter::new(10_000, Duration::from_secs(1), 1000)),
        ..Settings::default()
    }
}

const SAO_PAULO: &str = "America/Sao_Paulo";

/// Today in São Paulo (the default zone of a Saipos account).
fn today() -> Date {
    cache::today(SAO_PAULO)
}

fn day(d: Date) -> String {
    d.to_string()
}

/// `n` plain sales spread over the days from `start`, `per_day` a day.
fn many_sales(start: Date, n: i64, per_day: i64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            sale(
                i + 1,
                &day(start + Days::days(i / per_day)),
                10.0,
                false,
                1,
                None,
                &[("Dinheiro", 10.0)],
            )
        })
        .collect()
}

#[tokio::test]
async fn long_ranges_are_split_into_windows_and_read_to_the_last_page() {
    let start = today() - Days::days(60);
    // 31 days × 80 = 2480 sales: windows of 15+15+1 days hold 1200, 1200 and 80 sales.
    let fake = FakeSaipos::start(many_sales(start, 2480, 80), vec![]).await;
    let client = SaiposClient::new(&fake.url, TOKEN, fast());
    let sales = client
        .search_sales(start, start + Days::days(30))
        .await
        .unwrap();
    assert_eq!(sales.len(), 2480);
    let mut ids: Vec<_> = sales.iter().map(|s| s.id_sale).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2480, "no sale read twice");
    // Minimum requests: 2 pages for each 1200-sale window, 1 for the last.
    assert_eq!(fake.requests(), 5);
    assert_eq!(client.requests(), 5);
    let log = fake.log.lock().unwrap().clone();
    assert!(log.iter().all(|(_, _, _, limit, _)| *limit == 1000));
    assert_eq!(log[1].4, 1000, "second page starts at offset 1000");
    assert!(
        log[0].1.ends_with(" 00:00:00") && log[0].2.ends_with(" 23:59:59"),
        "{log:?}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_and_bad_tokens_are_not() {
    let start = today() - Days::days(5);
    let fake = FakeSaipos::start(many_sales(start, 3, 3), vec![]).await;
    fake.knobs.fail_503.store(2, Ordering::SeqCst);
    let client = SaiposClient::new(&fake.url, TOKEN, fast());
    assert_eq!(client.search_sales(start, start).await.unwrap().len(), 3);
    assert_eq!(fake.requests(), 3, "two 503s, then success");

    fake.knobs.fail_503.store(10, Ordering::SeqCst);
    let err = SaiposClient::new(&fake.url, TOKEN, fast())
        .search_sales(start, start)
        .await
        .unwrap_err();
    assert!(matches!(err, SaiposError::Unavailable(_)), "{err:?}");
    fake.knobs.fail_503.store(0, Ordering::SeqCst);

    let before = fake.requests();
    let bad = SaiposClient::new(&fake.url, "wrong-token", fast());
    assert_eq!(
        bad.search_sales(start, start).await.unwrap_err(),
        SaiposError::InvalidToken(401)
    );
    assert_eq!(
        fake.requests() - before,
        1,
        "a refused token is not retried"
    );
}

#[tokio::test]
async fn a_slow_saipos_hits_the_timeout() {
    let start = today() - Days::days(5);
    let fake = FakeSaipos::start(many_sales(start, 1, 1), vec![]).await;
    fake.knobs.delay_ms.store(2_000, Ordering::SeqCst);
    let settings = Settings {
        timeout: Duration::from_millis(150),
        max_attempts: 2,
        ..fast()
    };
    let started = std::time::Instant::now();
    let err = SaiposClient::new(&fake.url, TOKEN, settings)
        .search_sales(start, start)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SaiposError::Network(ref m) if m.contains("no answer")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "gave up after its attempts, not after Saipos answered"
    );
}

#[tokio::test]
async fn an_empty_period_is_one_request_per_window() {
    let fake = FakeSaipos::start(vec![], vec![]).await;
    let client = SaiposClient::new(&fake.url, TOKEN, fast());
    let to = today() - Days::days(1);
    assert!(client
        .search_sales(to - Days::days(19), to)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(fake.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_spaces_requests_out() {
    let limiter = RateLimiter::new(10, Duration::from_secs(1), 2);
    let started = tokio::time::Instant::now();
    for _ in 0..6 {
        limiter.acquire("one account").await;
    }
    // 2 at once (the burst), then 4 more at 10 a second.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(390) && elapsed < Duration::from_millis(500),
        "{elapsed:?}"
    );
}

/// A small day of business, with totals computed by hand below.
fn fixture(d1: &str, d2: &str) -> (Vec<Value>, Vec<Value>) {
    let sales = vec![
        sale(1, d1, 50.00, false, 1, Some("iFood"), &[("Crédito", 50.00)]),
        sale(
            2,
            d1,
            35.50,
            false,
            3,
            None,
            &[("Dinheiro", 20.00), ("Pix", 15.50)],
        ),
        sale(3, d1, 99.90, true, 1, None, &[("Pix", 99.90)]),
        sale(4, d2, 20.10, false, 2, None, &[("Pix", 20.10)]),
        sale(5, d2, 0.20, false, 4, Some(""), &[]),
    ];
    let items = vec![
        sale_items(
            1,
            d1,
            &[
                ("Pizza Calabresa", 1.0, 45.00, false),
                ("Refrigerante", 1.0, 5.00, false),
            ],
        ),
        sale_items(
            2,
            d1,
            &[
                ("Pizza Calabresa", 0.5, 45.00, false),
                ("Refrigerante", 2.0, 6.50, false),
                ("Borda", 1.0, 3.0, true),
            ],
        ),
        sale_items(3, d1, &[("Pizza Calabresa", 2.0, 45.00, false)]),
        sale_items(4, d2, &[("Refrigerante", 3.0, 6.70, false)]),
    ];
    (sales, items)
}

#[test]
fn aggregation_matches_hand_computed_totals() {
    let (sales, items) = fixture("2026-03-01", "2026-03-02");
    let sales: Vec<_> = sales
        .into_iter()
        .map(|s| serde_json::from_value(s).unwrap())
        .collect();
    let items: Vec<_> = items
        .into_iter()
        .map(|s| serde_json::from_value(s).unwrap())
        .collect();
    let mut days: Vec<_> = aggregate(&sales, &items, &cache::time_zone(SAO_PAULO)).into_iter().collect();
    days.sort_by(|a, b| a.0.cmp(&b.0));
    days.insert(1, ("2026-03-01b".into(), Default::default()));
    let report = serde_json::to_value(build("2026-03-01", "2026-03-02", days)).unwrap();
    // Day 1: sales 1 and 2 (sale 3 canceled): 85.50 over 2 orders.
    assert_eq!(
        report["days"][0],
        json!({"date": "2026-03-01", "orders": 2, "canceled": 1, "revenue": 85.5, "averageTicket": 42.75})
    );
    assert_eq!(report["days"][1]["orders"], 0);
    assert_eq!(report["days"][1]["averageTicket"], 0.0);
    // Day 2: 20.10 + 0.20 over 2 orders = 10.15.
    assert_eq!(
        report["days"][2],
        json!({"date": "2026-03-02", "orders": 2, "canceled": 0, "revenue": 20.3, "averageTicket": 10.15})
    );
    assert_eq!(
        report["totals"],
        json!({"orders": 4, "canceled": 1, "revenue": 105.8, "averageTicket": 26.45})
    );
    assert_eq!(
        report["byPaymentType"],
        json!([
            {"name": "Crédito", "orders": 1, "amount": 50.0},
            {"name": "Pix", "orders": 2, "amount": 35.6},
            {"name": "Dinheiro", "orders": 1, "amount": 20.0},
        ])
    );
    assert_eq!(
        report["byChannel"],
        json!([
            {"name": "iFood", "orders": 1, "amount": 50.0},
            {"name": "Salão", "orders": 1, "amount": 35.5},
            {"name": "Retirada", "orders": 1, "amount": 20.1},
            {"name": "Ficha", "orders": 1, "amount": 0.2},
        ])
    );
    // Canceled sale 3 and the deleted "Borda" don't count.
    assert_eq!(
        report["topItems"],
        json!([
            {"name": "Refrigerante", "quantity": 6.0, "revenue": 38.1},
            {"name": "Pizza Calabresa", "quantity": 1.5, "revenue": 67.5},
        ])
    );
    assert!(report["note"].as_str().unwrap().contains("lag"));
}

async fn saipos_account(app: &TestApp, fake: &FakeSaipos, token: &str) -> String {
    let (status, api) = app
        .call(
            Method::POST,
            "/api/user-apis",
            Some(&app.token("alice")),
            Some(json!({"name": "Saipos", "type": "saipos", "apiKey": token, "baseUrl": fake.url})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    api["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_connection_test_records_why_it_failed() {
    let fake = FakeSaipos::start(vec![], vec![]).await;
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let alice = app.token("alice");

    let good = saipos_account(&app, &fake, TOKEN).await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/user-apis/{good}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let (_, api) = app
        .call(
            Method::GET,
            &format!("/api/user-apis/{good}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(api["status"], "connected");
    assert!(api.get("statusReason").is_none());

    let bad = saipos_account(&app, &fake, "revoked-token-123").await;
    let (_, body) = app
        .call(
            Method::POST,
            &format!("/api/user-apis/{bad}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(body["success"], false);
    assert_eq!(body["status"], "error");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("refused the token"),
        "{body}"
    );
    let (_, api) = app
        .call(
            Method::GET,
            &format!("/api/user-apis/{bad}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(api["status"], "error");
    assert!(api["statusReason"].as_str().unwrap().contains("401"));

    fake.knobs.fail_503.store(100, Ordering::SeqCst);
    let (_, body) = app
        .call(
            Method::POST,
            &format!("/api/user-apis/{good}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(body["status"], "error");
    assert!(
        body["message"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    fake.knobs.fail_503.store(0, Ordering::SeqCst);
    // Fixed: the next test clears the reason.
    let (_, body) = app
        .call(
            Method::POST,
            &format!("/api/user-apis/{good}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(body["status"], "connected");
    let (_, api) = app
        .call(
            Method::GET,
            &format!("/api/user-apis/{good}"),
            Some(&alice),
            None,
        )
        .await;
    assert!(api.get("statusReason").is_none(), "{api}");
}

#[tokio::test]
async fn reports_come_from_saipos_once_then_from_the_cache() {
    let t = today();
    let (d1, d2) = (t - Days::days(20), t - Days::days(19));
    let (mut sales, mut items) = fixture(&day(d1), &day(d2));
    // Today's sales: never cached (Saipos may still change them).
    sales.push(sale(9, &day(t), 10.0, false, 1, None, &[("Pix", 10.0)]));
    items.push(sale_items(
        9,
        &day(t),
        &[("Refrigerante", 1.0, 10.0, false)],
    ));
    let fake = FakeSaipos::start(sales, items).await;
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let alice = app.token("alice");
    let id = saipos_account(&app, &fake, TOKEN).await;

    let path = format!(
        "/api/user-apis/{id}/reports/sales?from={}&to={}",
        day(d1 - Days::days(5)),
        day(d2 + Days::days(5))
    );
    let (status, first) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["totals"]["revenue"], 105.8);
    assert_eq!(first["totals"]["orders"], 4);
    assert_eq!(first["days"].as_array().unwrap().len(), 12);
    assert_eq!(first["source"]["fetchedDays"], 12);
    assert_eq!(
        first["source"]["saiposRequests"], 2,
        "one window, one page, two endpoints"
    );
    let requests = fake.requests();

    let (_, second) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        fake.requests(),
        requests,
        "the second view never reaches Saipos"
    );
    assert_eq!(second["source"]["cachedDays"], 12);
    assert_eq!(second["totals"], first["totals"]);
    assert_eq!(second["topItems"], first["topItems"]);

    // A range reaching today fetches only the unsettled days (yesterday and today).
    let path = format!(
        "/api/user-apis/{id}/reports/sales?from={}&to={}",
        day(d1),
        day(t)
    );
    let (_, recent) = app.call(Method::GET, &path, Some(&alice), None).await;
    // d1..d2+5 (7 days) are cached; the other 14 days of d1..today are fetched.
    assert_eq!(recent["source"]["fetchedDays"], 14, "{}", recent["source"]);
    assert_eq!(recent["totals"]["revenue"], 115.8);
    let (_, again) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        again["source"]["fetchedDays"], 2,
        "yesterday and today are fetched again"
    );

    // Another token means another account: the cache doesn't apply.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/user-apis/{id}"),
            Some(&alice),
            Some(json!({"apiKey": "revoked-token-123"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err}");
    assert_eq!(err["error"]["code"], "saipos_rejected_token");
}

#[tokio::test]
async fn report_ranges_are_checked() {
    let fake = FakeSaipos::start(vec![], vec![]).await;
    let app = TestApp::new(embedded_store().await);
    let alice = app.token("alice");
    let id = saipos_account(&app, &fake, TOKEN).await;
    let t = today();
    for (query, field) in [
        ("from=2026-01-01".to_owned(), "to"),
        ("from=01/02/2026&to=2026-02-02".to_owned(), "from"),
        (
            format!(
                "from={}&to={}",
                day(t - Days::days(1)),
                day(t - Days::days(2))
            ),
            "from",
        ),
        (
            format!("from={}&to={}", day(t - Days::days(400)), day(t)),
            "to",
        ),
        (
            format!("from={}&to={}", day(t), day(t + Days::days(1))),
            "to",
        ),
    ] {
        let (status, err) = app
            .call(
                Method::GET,
                &format!("/api/user-apis/{id}/reports/sales?{query}"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {err}");
        assert_eq!(err["error"]["field"], field, "{query}: {err}");
    }
    let ok = format!(
        "/api/user-apis/{id}/reports/sales?from={}&to={}",
        day(t - Days::days(365)),
        day(t)
    );
    let (status, body) = app.call(Method::GET, &ok, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "366 days are allowed: {body}");
    assert_eq!(
        fake.requests(),
        2 * 25,
        "366 days = 25 windows, per endpoint"
    );
    let (status, err) = app
        .call(Method::GET, &ok, Some(&app.token("bob")), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let wa = app.whatsapp("alice", "W").await;
    let (status, err) = app
        .call(Method::GET, &ok.replace(&id, &wa.id), Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
}
