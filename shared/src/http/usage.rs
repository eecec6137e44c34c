//! A store's usage and health for its owner (or its apiKey), on the client-config function:
//!
//! - `GET /api/client/{storeId}/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: every day of the
//!   range (the store's zone; default the last 30 days, at most 366) with its counters,
//!   their totals, and the month's AI budget and spend:
//!   `{"days":[{"date",…}],"totals":{…},"budget":{"monthlyMicros"?,"usedMicros"}}`;
//! - `GET /api/client/{storeId}/incidents`: the open incidents
//!   (`{"data":[{"id","open","since","detail"}]}`), shown on the dashboard.
//!
//! Each costs the owner check's query of the `CONFIG` prefix (which also holds the
//! profile's budget and the month's spend) plus one query of the usage days or incidents.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::ToSpan;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::StoreAccess;
use super::json::ApiQuery;
use super::AppState;
use crate::domain::validate::DEFAULT_TIMEZONE;
use crate::health::budget::parse_incident_id;
use crate::health::{incidents, usage};
use crate::knowledge;
use crate::ApiError;

/// The longest range one request may ask for.
pub const MAX_DAYS: i64 = 366;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/client/{store_id}/usage", get(read_usage))
        .route("/api/client/{store_id}/incidents", get(read_incidents))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn date(field: &'static str, value: &str) -> Result<Date, ApiError> {
    let valid = value.len() == 10 && value.as_bytes()[4] == b'-' && value.as_bytes()[7] == b'-';
    value
        .parse::<Date>()
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| ApiError::invalid(field, format!("{field} must be a date YYYY-MM-DD")))
}

async fn read_usage(
    State(state): State<AppState>,
    access: StoreAccess,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Value>, ApiError> {
    let (snapshot, _) =
        knowledge::read_without_menu(state.store.as_ref(), &access.store_id, &access.caller)
            .await?;
    let zone = snapshot
        .bot_config()
        .map(|c| c.timezone)
        .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
    let tz = TimeZone::get(&zone).unwrap_or(TimeZone::UTC);
    let now = crate::ids::now_ms();
    let (today, month) = usage::day_and_month(&tz, now);
    let today = date("to", &today)?;
    let to = match &range.to {
        Some(to) => date("to", to)?,
        None => today,
    };
    let from = match &range.from {
        Some(from) => date("from", from)?,
        None => to.checked_sub(29.days()).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::invalid("from", "from must not be after to"));
    }
    if i64::from((to - from).get_days()) + 1 > MAX_DAYS {
        return Err(ApiError::invalid(
            "from",
            format!("at most {MAX_DAYS} days per request"),
        ));
    }
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let stored = usage::days(state.store.as_ref(), &access.store_id, &from_s, &to_s).await?;
    let mut days = Vec::new();
    let mut totals = usage::Counts::default();
    let mut day = from;
    let mut stored = stored.into_iter().peekable();
    while day <= to {
        let date = day.to_string();
        let counts = match stored.peek() {
            Some(d) if d.date == date => stored.next().map(|d| d.counts).unwrap_or_default(),
            _ => usage::Counts::default(),
        };
        totals.add(&counts);
        days.push(usage::Day { date, counts });
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let monthly = snapshot
        .knowledge
        .profile
        .ai_budget_micros
        .or_else(crate::config::health::default_budget_micros);
    let mut budget = json!({ "usedMicros": snapshot.knowledge.health.spend(&month) });
    if let Some(monthly) = monthly {
        budget["monthlyMicros"] = monthly.into();
    }
    Ok(Json(
        json!({ "days": days, "totals": totals, "budget": budget }),
    ))
}

async fn read_incidents(
    State(state): State<AppState>,
    access: StoreAccess,
) -> Result<Json<Value>, ApiError> {
    let (snapshot, _) =
        knowledge::read_without_menu(state.store.as_ref(), &access.store_id, &access.caller)
            .await?;
    let zone = snapshot
        .bot_config()
        .map(|c| c.timezone)
        .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
    let tz = TimeZone::get(&zone).unwrap_or(TimeZone::UTC);
    let (_, month) = usage::day_and_month(&tz, crate::ids::now_ms());
    let mut open = incidents::open_incidents(state.store.as_ref(), &access.store_id).await?;
    // A budget's incidents are its month's, and only while the spend is past the line
    // under the budget as it is now (raised since: over).
    let budget = snapshot
        .knowledge
        .profile
        .ai_budget_micros
        .or_else(crate::config::health::default_budget_micros);
    let used = i128::from(snapshot.knowledge.health.spend(&month));
    open.retain(|i| {
        if !i.id.starts_with("budget") {
            return true;
        }
        // Only the current budget's, this month.
        parse_incident_id(&i.id).is_some_and(|(percent, of, at)| {
            at == month && budget == Some(of) && used * 100 >= i128::from(of) * i128::from(percent)
        })
    });
    Ok(Json(json!({ "data": open })))
}
