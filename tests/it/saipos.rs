//! Saipos integration against a fake Saipos at the HTTP level: the client (windows,
//! pagination, retries, timeouts, bad tokens), its bounds (body and page caps, HTTP-date
//! `Retry-After`, a rate limiter fair across accounts), the aggregation (checked against
//! totals computed by hand, and in Manaus and Rio Branco near midnight), and the owner's
//! routes (connection test, sales report, cache per zone). And what an owner's base URL
//! may not do: reach internal addresses (refused when saved, and at connect time for a
//! name resolving inside), be redirected elsewhere, have an odd answer's body echoed back,
//! or take the stored token to another host.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use platefull::outbound::Policy;
use platefull::saipos::cache;
use platefull::saipos::client::{RateLimiter, SaiposClient, SaiposError, Settings};
use platefull::saipos::report::{aggregate, build};
use platefull_tests::fake_huge::{self, Mode};
use platefull_tests::fake_saipos::{sale, sale_items, Canned, FakeSaipos, TOKEN};
use platefull_tests::{embedded_store, TestApp};
use serde_json::{json, Value};
use time::{Date, Duration as Days};

fn fast() -> Settings {
    Settings {
        timeout: Duration::from_millis(300),
        max_attempts: 3,
        backoff: Duration::from_millis(5),
        limiter: Arc::new(RateLimiter::new(10_000, Duration::from_secs(1), 1000)),
        // The fakes listen on loopback, over http.
        policy: Policy::LocalStack,
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
    let mut days: Vec<_> = aggregate(&sales, &items, &cache::time_zone(SAO_PAULO))
        .into_iter()
        .collect();
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
    assert_eq!(body["result"], "saipos_token_accepted", "{body}");
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
    assert_eq!(body["result"], "saipos_rejected_token", "{body}");
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
    assert_eq!(body["result"], "saipos_unavailable", "{body}");
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
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
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

#[tokio::test]
async fn oversized_answers_are_refused_without_reading_them_whole() {
    let start = today() - Days::days(5);
    let settings = Settings {
        max_body_bytes: 256 * 1024,
        ..fast()
    };
    // 64 MiB announced by Content-Length: refused before a byte of the body is read.
    let announced = fake_huge::start(Mode::Length, 64 << 20).await;
    let err = SaiposClient::new(&announced.url, TOKEN, settings.clone())
        .search_sales(start, start)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SaiposError::Unexpected(ref m) if m.contains("larger than 262144 bytes")),
        "{err:?}"
    );
    // 64 MiB chunked, no length: reading stops at the cap.
    let chunked = fake_huge::start(Mode::Chunked, 64 << 20).await;
    let client = SaiposClient::new(&chunked.url, TOKEN, settings);
    let err = client.search_sales(start, start).await.unwrap_err();
    assert!(
        matches!(err, SaiposError::Unexpected(ref m) if m.contains("larger than")),
        "{err:?}"
    );
    assert_eq!(client.requests(), 1, "a body too big is not retried");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        chunked.written() < 16 << 20,
        "the client hung up early: {} bytes written of 64 MiB",
        chunked.written()
    );
}

#[tokio::test]
async fn a_report_stops_at_its_page_cap() {
    let start = today() - Days::days(20);
    // 4 windows' worth: 5000 sales on 5 days = 5 full pages + 1 short one.
    let fake = FakeSaipos::start(many_sales(start, 5000, 1000), vec![]).await;
    let settings = Settings {
        max_pages: 3,
        ..fast()
    };
    let client = SaiposClient::new(&fake.url, TOKEN, settings);
    let err = client
        .search_sales(start, start + Days::days(4))
        .await
        .unwrap_err();
    assert_eq!(err, SaiposError::TooManyPages(3));
    assert_eq!(fake.requests(), 3, "no page past the cap was asked for");

    // Through the route: a clear 400 that names the way out, and nothing cached.
    let app = TestApp::new(embedded_store().await).with_state(|s| {
        s.saipos = Settings {
            max_pages: 3,
            ..fast()
        }
    });
    let id = saipos_account(&app, &fake, TOKEN).await;
    let path = format!(
        "/api/user-apis/{id}/reports/sales?from={}&to={}",
        day(start),
        day(start + Days::days(4))
    );
    let (status, err) = app
        .call(Method::GET, &path, Some(&app.token("alice")), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["code"], "report_too_large");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("shorter period"));
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let start = today() - Days::days(5);
    let fake = FakeSaipos::start(many_sales(start, 2, 2), vec![]).await;
    fake.knobs.fail_503_until_date.store(1, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let client = SaiposClient::new(&fake.url, TOKEN, fast());
    assert_eq!(client.search_sales(start, start).await.unwrap().len(), 2);
    let waited = started.elapsed();
    // The date is 2 s ahead at one-second resolution: between 1 and 2 s, not the 5 ms
    // backoff the client would use without it.
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(client.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owners_long_report_does_not_stall_another_owners_test() {
    let start = today() - Days::days(40);
    let fake = FakeSaipos::start(many_sales(start, 100, 10), vec![]).await;
    // 20 requests a second, bursts of 3.
    let limiter = Arc::new(RateLimiter::new(20, Duration::from_secs(1), 3));
    let settings = Settings { limiter, ..fast() };
    // Owner A: eight reports at once over 30 days (2 windows each = 16 requests), on one
    // account. Owner B's account reaches the same fake under another host name.
    let a = Arc::new(SaiposClient::new(&fake.url, TOKEN, settings.clone()));
    let b_url = fake.url.replace("127.0.0.1", "localhost");
    let b = SaiposClient::new(&b_url, TOKEN, settings);
    let mut reports = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let a = a.clone();
        reports.spawn(async move { a.search_sales(start, start + Days::days(29)).await });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let served_before = fake.requests();
    b.check(today()).await.unwrap();
    let served_with = fake.requests();
    // B's request waited behind at most the few of A's already in line, not A's 16.
    assert!(
        served_with - served_before <= 3,
        "B waited behind {} of A's requests",
        served_with - served_before - 1
    );
    while let Some(done) = reports.join_next().await {
        assert_eq!(done.unwrap().unwrap().len(), 100);
    }
    assert_eq!(a.requests(), 16, "A's reports all finished, unhurried by B");
}

/// A sale closed at `utc` (an instant), as a Saipos that sends instants would list it.
fn sale_at(id: i64, utc: &str, total: f64) -> Value {
    sale(id, utc, total, false, 1, None, &[("Pix", total)])
}

#[test]
fn sales_near_midnight_fall_on_the_stores_own_day() {
    let d = "2026-01-15";
    let sales: Vec<platefull::saipos::client::Sale> = [
        // 22:30 in Rio Branco (UTC−5), 23:30 in Manaus (UTC−4), 00:30 next day in São Paulo.
        sale_at(1, "2026-01-16T03:30:00Z", 10.0),
        // 23:30 in Rio Branco, 00:30 next day in Manaus, 01:30 next day in São Paulo.
        sale_at(2, "2026-01-16T04:30:00+00:00", 20.0),
        // A local date as Saipos's shift date: the store's day whatever the zone.
        sale(3, d, 40.0, false, 1, None, &[]),
    ]
    .into_iter()
    .map(|s| serde_json::from_value(s).unwrap())
    .collect();
    let revenue = |zone: &str| {
        let days = aggregate(&sales, &[], &cache::time_zone(zone));
        let mut days: Vec<_> = days
            .into_iter()
            .map(|(day, t)| (day, t.revenue_cents))
            .collect();
        days.sort();
        days
    };
    assert_eq!(
        revenue("America/Rio_Branco"),
        [(d.to_owned(), 7000)],
        "both late sales belong to the 15th in Rio Branco"
    );
    assert_eq!(
        revenue("America/Manaus"),
        [(d.to_owned(), 5000), ("2026-01-16".to_owned(), 2000)]
    );
    assert_eq!(
        revenue(SAO_PAULO),
        [(d.to_owned(), 4000), ("2026-01-16".to_owned(), 3000)]
    );
}

#[tokio::test]
async fn a_saipos_account_counts_days_in_its_own_zone_and_caches_per_zone() {
    let d = today() - Days::days(10);
    let next = day(d + Days::days(1));
    let sales = vec![
        sale_at(1, &format!("{next}T03:30:00Z"), 10.0),
        sale_at(2, &format!("{next}T04:30:00Z"), 20.0),
    ];
    let fake = FakeSaipos::start(sales, vec![]).await;
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let alice = app.token("alice");
    let create = |zone: &str| json!({"name": "Saipos", "type": "saipos", "apiKey": TOKEN, "baseUrl": fake.url, "timezone": zone});
    // Validated like the bot's zone; refused requests create nothing.
    for bad in ["Mars/Olympus", "UTC-5", ""] {
        let (status, err) = app
            .call(
                Method::POST,
                "/api/user-apis",
                Some(&alice),
                Some(create(bad)),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert_eq!(err["error"]["field"], "timezone");
    }
    let (status, err) = app
        .call(
            Method::POST,
            "/api/user-apis",
            Some(&alice),
            Some(json!({"name": "W", "type": "whatsapp", "timezone": "America/Manaus"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (_, list) = app
        .call(Method::GET, "/api/user-apis", Some(&alice), None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");

    let default = saipos_account(&app, &fake, TOKEN).await;
    let (_, api) = app
        .call(
            Method::GET,
            &format!("/api/user-apis/{default}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(api["timezone"], SAO_PAULO);

    let (status, api) = app
        .call(
            Method::POST,
            "/api/user-apis",
            Some(&alice),
            Some(create("America/Rio_Branco")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{api}");
    assert_eq!(api["timezone"], "America/Rio_Branco");
    let id = api["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/api/user-apis/{id}/reports/sales?from={}&to={}",
        day(d - Days::days(1)),
        day(d + Days::days(2))
    );
    let orders = |report: &Value| -> Vec<u64> {
        report["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["orders"].as_u64().unwrap())
            .collect()
    };
    let (status, rio) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{rio}");
    assert_eq!(orders(&rio), [0, 2, 0, 0], "both on the evening of d");
    assert_eq!(rio["source"]["fetchedDays"], 4);

    let patch = |zone: &'static str| {
        let (app, id, alice) = (&app, &id, &alice);
        async move {
            let (status, api) = app
                .call(
                    Method::PATCH,
                    &format!("/api/user-apis/{id}"),
                    Some(alice),
                    Some(json!({ "timezone": zone })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{api}");
            assert_eq!(api["timezone"], zone);
        }
    };
    patch("America/Manaus").await;
    let (_, manaus) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        orders(&manaus),
        [0, 1, 1, 0],
        "00:30 in Manaus is the next day"
    );
    assert_eq!(
        manaus["source"]["cachedDays"], 0,
        "Rio Branco's cached days are not Manaus's"
    );
    patch("America/Rio_Branco").await;
    let (_, back) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(
        back["source"]["cachedDays"], 0,
        "Manaus's entries took the days' places: fetched again, never read as Rio Branco's"
    );
    assert_eq!(orders(&back), [0, 2, 0, 0]);
    let (_, again) = app.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(again["source"]["cachedDays"], 4, "{}", again["source"]);
    assert_eq!(orders(&again), [0, 2, 0, 0]);

    let (status, err) = app
        .call(
            Method::PATCH,
            &format!("/api/user-apis/{id}"),
            Some(&alice),
            Some(json!({ "timezone": "Brasil/Acre" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["field"], "timezone");
}

/// Alice's `method` on `path`, without a body.
async fn as_alice(app: &TestApp, method: Method, path: &str) -> (StatusCode, Value) {
    app.call(method, path, Some(&app.token("alice")), None)
        .await
}

async fn user_api(app: &TestApp, id: &str) -> Value {
    let (status, api) = as_alice(app, Method::GET, &format!("/api/user-apis/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{api}");
    api
}

/// Today's sales report of `id`.
async fn todays_report(app: &TestApp, id: &str) -> (StatusCode, Value) {
    let t = today();
    let path = format!("/api/user-apis/{id}/reports/sales?from={t}&to={t}");
    as_alice(app, Method::GET, &path).await
}

async fn connection_test(app: &TestApp, id: &str) -> Value {
    let (status, body) = as_alice(app, Method::POST, &format!("/api/user-apis/{id}/test")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn base_urls_pointing_inside_are_refused_when_saved() {
    // The AWS policy (the harness's default, as config/ builds it).
    let app = TestApp::new(embedded_store().await);
    let alice = app.token("alice");
    let (_, existing) = app
        .call(
            Method::POST,
            "/api/user-apis",
            Some(&alice),
            Some(json!({"name": "Saipos", "type": "saipos", "apiKey": TOKEN})),
        )
        .await;
    let id = existing["id"].as_str().unwrap().to_owned();
    for (url, code) in [
        ("https://127.0.0.1/v1", "url_not_allowed"),
        (
            "https://169.254.169.254/latest/meta-data/iam",
            "url_not_allowed",
        ),
        ("https://10.0.0.1/v1", "url_not_allowed"),
        ("https://[::1]/v1", "url_not_allowed"),
        ("https://[::ffff:127.0.0.1]/v1", "url_not_allowed"),
        ("https://0x7f000001/v1", "url_not_allowed"),
        ("https://localhost/v1", "url_not_allowed"),
        ("https://metadata.google.internal/v1", "url_not_allowed"),
        ("https://data.saipos.io:9001/v1", "url_not_allowed"),
        ("https://me:pw@data.saipos.io/v1", "url_not_allowed"),
        (
            "https://data.saipos.io/2018-06-01/runtime/invocation/next#",
            "url_not_allowed",
        ),
        (
            "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next#",
            "validation_error",
        ),
    ] {
        let (status, err) = app
            .call(
                Method::POST,
                "/api/user-apis",
                Some(&alice),
                Some(json!({"name": "S", "type": "saipos", "apiKey": TOKEN, "baseUrl": url})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {err}");
        assert_eq!(err["error"]["code"], code, "{url}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("baseUrl "),
            "{err}"
        );
        let (status, err) = app
            .call(
                Method::PATCH,
                &format!("/api/user-apis/{id}"),
                Some(&alice),
                Some(json!({"baseUrl": url, "apiKey": "another-token-123"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {err}");
        assert_eq!(err["error"]["code"], code, "{url}: {err}");
    }
    // Nothing was created or changed.
    let (_, list) = app
        .call(Method::GET, "/api/user-apis", Some(&alice), None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let api = user_api(&app, &id).await;
    assert_eq!(api["baseUrl"], "https://data.saipos.io/v1");
    assert_eq!(api["apiKeyPreview"], existing["apiKeyPreview"]);
}

#[tokio::test]
async fn saved_addresses_are_checked_again_when_called() {
    // Accounts saved under the local stack's policy (as a record saved before the rules
    // existed would be), then called under the AWS one.
    let fake = FakeSaipos::start(vec![], vec![]).await;
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let literal = saipos_account(&app, &fake, TOKEN).await;
    let (status, named) = app
        .call(
            Method::POST,
            "/api/user-apis",
            Some(&app.token("alice")),
            Some(json!({"name": "S", "type": "saipos", "apiKey": TOKEN, "baseUrl": "https://localhost/v1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{named}");
    let named = named["id"].as_str().unwrap().to_owned();
    let app = app.with_state(|s| s.saipos.policy = Policy::Strict);

    // http to a loopback literal: refused before any request.
    let body = connection_test(&app, &literal).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(
        body["message"],
        "Platefull does not call this Saipos address: baseUrl must use https://"
    );
    assert_eq!(fake.requests(), 0);

    // A host name that resolves to 127.0.0.1: the URL rules at use leave names to the
    // resolver, which refuses it when connecting.
    let body = connection_test(&app, &named).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(
        body["message"],
        "Platefull does not call this Saipos address: localhost resolves to a loopback address, which Platefull does not call"
    );
    let api = user_api(&app, &named).await;
    assert_eq!(api["status"], "error");
    assert!(
        api["statusReason"]
            .as_str()
            .unwrap()
            .contains("resolves to a loopback address"),
        "{api}"
    );
    let (status, err) = todays_report(&app, &named).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["error"]["code"], "url_not_allowed");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = FakeSaipos::start(vec![], vec![]).await;
    let fake = FakeSaipos::start(vec![], vec![]).await;
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let id = saipos_account(&app, &fake, TOKEN).await;
    // Another host, and the same server: neither is followed.
    for location in [
        format!(
            "{}/search_sales",
            elsewhere.url.replace("127.0.0.1", "localhost")
        ),
        format!("{}/search_sales?again=1", fake.url),
    ] {
        fake.answer_with(Canned {
            status: 302,
            location: Some(location),
            body: String::new(),
        });
        let before = fake.requests();
        let body = connection_test(&app, &id).await;
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["message"], "unexpected answer from Saipos: HTTP 302");
        assert_eq!(fake.requests(), before + 1, "one request, not followed");
    }
    assert_eq!(
        elsewhere.requests(),
        0,
        "the redirect target was never asked"
    );
    assert!(elsewhere.authorizations().is_empty());
}

#[tokio::test]
async fn an_unexpected_answer_is_reported_by_its_status_only() {
    let fake = FakeSaipos::start(vec![], vec![]).await;
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let id = saipos_account(&app, &fake, TOKEN).await;
    const INSIDE: &str = "AccessKeyId ASIA-INTERNAL-SECRET";
    fake.answer_with(Canned {
        status: 418,
        location: None,
        body: format!("{{\"Code\":\"Success\",\"{INSIDE}\":1}}"),
    });
    let body = connection_test(&app, &id).await;
    assert_eq!(body["message"], "unexpected answer from Saipos: HTTP 418");
    let api = user_api(&app, &id).await;
    assert_eq!(
        api["statusReason"],
        "unexpected answer from Saipos: HTTP 418"
    );
    let (status, err) = todays_report(&app, &id).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err}");
    for shown in [body, api, err] {
        assert!(!shown.to_string().contains("INTERNAL"), "{shown}");
    }
}

#[tokio::test]
async fn a_stored_token_never_follows_a_changed_base_url() {
    let home = FakeSaipos::start(vec![], vec![]).await;
    // Another host (by name) that records every Authorization it receives.
    let other = FakeSaipos::start(vec![], vec![]).await;
    let other_url = other.url.replace("127.0.0.1", "localhost");
    let app = TestApp::new(embedded_store().await).with_state(|s| s.saipos = fast());
    let alice = app.token("alice");
    let id = saipos_account(&app, &home, TOKEN).await;
    let path = format!("/api/user-apis/{id}");

    // baseUrl without a token (alone or with another change): refused, nothing changes.
    for patch in [
        json!({"baseUrl": other_url}),
        json!({"baseUrl": other_url, "name": "Moved"}),
    ] {
        let (status, err) = app
            .call(Method::PATCH, &path, Some(&alice), Some(patch))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["code"], "api_key_required");
    }
    let api = user_api(&app, &id).await;
    assert_eq!(api["baseUrl"], home.url);
    assert_eq!(api["name"], "Saipos");
    assert_eq!(connection_test(&app, &id).await["success"], true);

    // Renaming, or sending the same address again, keeps the token where it was.
    for patch in [
        json!({"name": "Loja"}),
        json!({"baseUrl": format!("{}/", home.url)}),
    ] {
        let (status, body) = app
            .call(Method::PATCH, &path, Some(&alice), Some(patch))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(connection_test(&app, &id).await["success"], true);

    // With the token for the new host: the new host gets that one, and only that one.
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&alice),
            Some(json!({"baseUrl": other_url, "apiKey": "token-for-other-host-42"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["baseUrl"], other_url);
    connection_test(&app, &id).await;
    todays_report(&app, &id).await;
    let seen = other.authorizations();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter().all(|a| a == "Bearer token-for-other-host-42"),
        "{seen:?}"
    );
    let home_seen = home.authorizations();
    assert!(
        home_seen.iter().all(|a| a == &format!("Bearer {TOKEN}")),
        "{home_seen:?}"
    );
}
