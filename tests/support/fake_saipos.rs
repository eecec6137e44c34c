//! A fake Saipos Data API at the HTTP level, with the shapes public clients document:
//! `GET /search_sales` and `GET /sales_items`, bearer token, `p_date_column_filter`,
//! `p_filter_date_start`/`_end` (`YYYY-MM-DD HH:MM:SS`), `p_limit` ≤ 1000, `p_offset`, bare
//! JSON arrays, windows of at most 15 days. Knobs make it fail the way Saipos does, or
//! answer the way a hostile server would (a redirect elsewhere, an odd status with a body
//! that must not be echoed); every `Authorization` it receives is recorded, so a test can
//! prove which token reached which host.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const TOKEN: &str = "saipos-test-token-0123456789";

/// One query served: `(path, start, end, limit, offset)`.
pub type Served = (String, String, String, usize, usize);
pub type Log = Arc<Mutex<Vec<Served>>>;

#[derive(Default)]
pub struct Knobs {
    /// Answer this many requests with 503 (and `Retry-After: 0`) before serving.
    pub fail_503: AtomicUsize,
    /// Delay every answer by this many milliseconds.
    pub delay_ms: AtomicU64,
    /// Answer this many requests with 503 and a `Retry-After` HTTP-date 2 s ahead.
    pub fail_503_until_date: AtomicUsize,
    /// Answer every request with this instead of serving it.
    pub canned: Mutex<Option<Canned>>,
}

/// A fixed answer: a status, an optional `Location`, a body.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// An HTTP-date (RFC 9110 IMF-fixdate) `secs` from now.
fn http_date_in(secs: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    at.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap()
}

pub struct FakeSaipos {
    pub url: String,
    pub requests: Arc<AtomicU64>,
    pub knobs: Arc<Knobs>,
    /// Every query served.
    pub log: Log,
    /// The `Authorization` header of every request received (absent ones as "").
    pub authorizations: Arc<Mutex<Vec<String>>>,
}

struct Data {
    sales: Vec<Value>,
    items: Vec<Value>,
    requests: Arc<AtomicU64>,
    knobs: Arc<Knobs>,
    log: Log,
    authorizations: Arc<Mutex<Vec<String>>>,
}

fn day(row: &Value) -> String {
    row["shift_date"].as_str().unwrap_or("")[..10].to_owned()
}

async fn serve(
    path: &'static str,
    data: &Data,
    headers: &HeaderMap,
    q: &std::collections::HashMap<String, String>,
) -> Response {
    data.requests.fetch_add(1, Ordering::SeqCst);
    data.authorizations.lock().unwrap().push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    );
    let canned = data.knobs.canned.lock().unwrap().clone();
    if let Some(canned) = canned {
        let mut response =
            (StatusCode::from_u16(canned.status).unwrap(), canned.body).into_response();
        if let Some(location) = canned.location {
            response
                .headers_mut()
                .insert("location", location.parse().unwrap());
        }
        return response;
    }
    let delay = data.knobs.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if data.knobs.fail_503.load(Ordering::SeqCst) > 0 {
        data.knobs.fail_503.fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "0")],
            Json(json!({"message": "Service Unavailable"})),
        )
            .into_response();
    }
    if data.knobs.fail_503_until_date.load(Ordering::SeqCst) > 0 {
        data.knobs
            .fail_503_until_date
            .fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", http_date_in(2))],
            Json(json!({"message": "Service Unavailable"})),
        )
            .into_response();
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "PGRST301", "message": "JWT invalid"})),
        )
            .into_response();
    }
    let bad = |m: &str| (StatusCode::BAD_REQUEST, Json(json!({"message": m}))).into_response();
    if q.get("p_date_column_filter").map(String::as_str) != Some("shift_date") {
        return bad("p_date_column_filter must be shift_date here");
    }
    let (Some(start), Some(end)) = (q.get("p_filter_date_start"), q.get("p_filter_date_end"))
    else {
        return bad("date filters required");
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let (Ok(s), Ok(e)) = (
        time::PrimitiveDateTime::parse(start, fmt),
        time::PrimitiveDateTime::parse(end, fmt),
    ) else {
        return bad("dates must be YYYY-MM-DD HH:MM:SS");
    };
    if (e.date() - s.date()).whole_days() >= 15 {
        return bad("the period can't exceed 15 days");
    }
    let limit: usize = q.get("p_limit").and_then(|v| v.parse().ok()).unwrap_or(300);
    let offset: usize = q.get("p_offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    if limit > 1000 {
        return bad("p_limit max is 1000");
    }
    data.log
        .lock()
        .unwrap()
        .push((path.to_owned(), start.clone(), end.clone(), limit, offset));
    let rows = if path == "search_sales" {
        &data.sales
    } else {
        &data.items
    };
    let (from, to) = (s.date().to_string(), e.date().to_string());
    let page: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            let d = day(r);
            d >= from && d <= to
        })
        .skip(offset)
        .take(limit)
        .collect();
    Json(json!(page)).into_response()
}

impl FakeSaipos {
    pub async fn start(sales: Vec<Value>, items: Vec<Value>) -> Self {
        let requests = Arc::new(AtomicU64::new(0));
        let knobs = Arc::new(Knobs::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let data = Arc::new(Data {
            sales,
            items,
            requests: requests.clone(),
            knobs: knobs.clone(),
            log: log.clone(),
            authorizations: authorizations.clone(),
        });
        type Q = Query<std::collections::HashMap<String, String>>;
        let app = Router::new()
            .route(
                "/v1/search_sales",
                get(
                    |State(d): State<Arc<Data>>, h: HeaderMap, Query(q): Q| async move {
                        serve("search_sales", &d, &h, &q).await
                    },
                ),
            )
            .route(
                "/v1/sales_items",
                get(
                    |State(d): State<Arc<Data>>, h: HeaderMap, Query(q): Q| async move {
                        serve("sales_items", &d, &h, &q).await
                    },
                ),
            )
            .with_state(data);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            requests,
            knobs,
            log,
            authorizations,
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every `Authorization` received so far.
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().unwrap().clone()
    }

    /// Answers every request with `canned` from now on.
    pub fn answer_with(&self, canned: Canned) {
        *self.knobs.canned.lock().unwrap() = Some(canned);
    }
}

/// A sale row as `/search_sales` returns it.
pub fn sale(
    id: i64,
    shift_date: &str,
    total: f64,
    canceled: bool,
    sale_type: i64,
    partner: Option<&str>,
    payments: &[(&str, f64)],
) -> Value {
    json!({
        "id_store": 77, "id_sale": id, "id_sale_type": sale_type,
        "created_at": format!("{shift_date}T19:30:00"), "updated_at": format!("{shift_date}T19:45:00"),
        "shift_date": shift_date, "canceled": if canceled { "Y" } else { "N" },
        "total_amount": total, "total_discount": 0, "total_increase": 0,
        "partner_sale": partner.map(|p| json!({"desc_partner_sale": p, "cod_sale1": "X1"})),
        "payments": payments.iter().map(|(name, amount)| json!({"desc_store_payment_type": name, "payment_amount": amount, "change_for": 0})).collect::<Vec<_>>(),
    })
}

/// A `/sales_items` row: one per sale, items nested.
pub fn sale_items(id: i64, shift_date: &str, items: &[(&str, f64, f64, bool)]) -> Value {
    json!({
        "id_store": 77, "id_sale": id, "id_sale_type": 1, "shift_date": shift_date,
        "created_at": format!("{shift_date}T19:30:00"),
        "items": items.iter().enumerate().map(|(i, (name, qty, price, deleted))| json!({
            "id_sale_item": id * 100 + i as i64, "desc_sale_item": name, "quantity": qty,
            "unit_price": price, "deleted": if *deleted { "Y" } else { "N" }, "choices": [],
        })).collect::<Vec<_>>(),
    })
}
