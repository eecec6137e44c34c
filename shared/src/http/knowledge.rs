//! What the attendant knows about the restaurant, editable by the store's owner or with the
//! store's apiKey, like `/config`:
//!
//! - `GET/PUT /api/client/{storeId}/menu`: the whole menu (PUT replaces it);
//! - `PATCH /api/client/{storeId}/menu/items/{itemId}`: the quick sold-out / price switch;
//! - `POST /api/client/{storeId}/menu/import[?dryRun=true]`: the menu from a CSV
//!   (`domain::menu_csv`), all-or-nothing; a dry run validates and shows the diff only;
//! - `GET/PUT /api/client/{storeId}/profile`: address, hours, delivery zones, payments;
//! - `GET /api/client/{storeId}/status`: open now, and when that changes.
//!
//! Every route costs one query (the store's `CONFIG` prefix: config, menu and profile);
//! writes add one conditional transaction ([`crate::knowledge`]). The menu routes take
//! bodies up to [`MENU_BODY_LIMIT`]; the menu itself is capped by its serialized size.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract::{StoreAccess, WithBody};
use super::json::{self, ApiJson, ApiPath, ApiQuery, JsonBody};
use super::AppState;
use crate::domain::borrowed::Borrowed;
use crate::domain::menu::{self, ItemPatch, Menu};
use crate::domain::menu_csv;
use crate::domain::profile::StoreProfile;
use crate::domain::validate::DEFAULT_TIMEZONE;
use crate::knowledge;
use crate::ApiError;

/// The largest request body of the menu routes (a whole menu as JSON or CSV).
pub const MENU_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let menu_routes = Router::new()
        .route(
            "/api/client/{store_id}/menu",
            get(read_menu).put(write_menu),
        )
        .route("/api/client/{store_id}/menu/import", post(import))
        .layer(DefaultBodyLimit::max(MENU_BODY_LIMIT));
    Router::new()
        .route(
            "/api/client/{store_id}/menu/items/{item_id}",
            patch(patch_item),
        )
        .route(
            "/api/client/{store_id}/profile",
            get(read_profile).put(write_profile),
        )
        .route("/api/client/{store_id}/status", get(status))
        .merge(menu_routes)
}

/// The stored JSON as is: a 500-item menu is half a megabyte, not worth parsing and
/// serializing again on every read.
async fn read_menu(
    State(state): State<AppState>,
    access: StoreAccess,
) -> Result<Response, ApiError> {
    let json =
        knowledge::read_menu_json(state.store.as_ref(), &access.store_id, &access.caller).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// A save from the console sends the whole menu back, most of it as GET gave it: the stored
/// menu is read first, and only the categories that changed are parsed and checked
/// (`knowledge::rebase`, ~0.2 ms for a 500-item menu with one price edited). Any other
/// body is parsed whole, borrowing its text (no copy of its ~15,000 strings), checked and
/// encoded on a blocking thread (a couple of milliseconds of CPU, not to be spent on an
/// async worker) while the stored menu is read.
async fn write_menu(
    State(state): State<AppState>,
    WithBody(access, JsonBody(body)): WithBody<StoreAccess, JsonBody>,
) -> Result<Response, ApiError> {
    let store = state.store.as_ref();
    let reading = knowledge::read_for_save(store, &access.store_id, &access.caller);
    let (json, items, base) = if knowledge::sent_back(&body) {
        let base = reading.await?;
        match base.rebase(&body) {
            Some((json, items)) => (json, items, base),
            None => {
                let (json, items) = off_the_workers(move || check_whole(&body)).await?;
                (json, items, base)
            }
        }
    } else {
        let checking = off_the_workers(move || check_whole(&body));
        let (checked, base) = tokio::join!(checking, reading);
        let (json, items) = checked?;
        (json, items, base?)
    };
    let saved =
        knowledge::replace_menu_json(store, &access.store_id, &access.caller, json, Some(base))
            .await?;
    tracing::info!(store_id = %access.store_id, items, "menu replaced");
    Ok(([(header::CONTENT_TYPE, "application/json")], saved).into_response())
}

/// A menu body parsed, normalized, validated and encoded (~1.5 ms for 500 items).
fn check_whole(body: &[u8]) -> Result<(knowledge::MenuJson, usize), ApiError> {
    let mut menu: Menu<Borrowed> =
        json::parse_fast(body).ok_or_else(|| json::refusal::<Menu>(body))?;
    menu.normalize();
    let json = knowledge::validate_and_encode(&menu, body.len())?;
    Ok((json, menu.item_count()))
}

/// `work` on a blocking thread.
async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(format!("the menu's check stopped: {e}")))?
}

async fn patch_item(
    State(state): State<AppState>,
    ApiPath(params): ApiPath<HashMap<String, String>>,
    WithBody(access, ApiJson(change)): WithBody<StoreAccess, ApiJson<ItemPatch>>,
) -> Result<Json<menu::Item>, ApiError> {
    let item_id = params.get("item_id").map(String::as_str).unwrap_or("");
    change.validate()?;
    if !menu::is_id(item_id) {
        return Err(ApiError::NotFound(format!(
            "no menu item with id {item_id:?}"
        )));
    }
    let item = knowledge::patch_item(
        state.store.as_ref(),
        &access.store_id,
        &access.caller,
        item_id,
        &change,
    )
    .await?;
    tracing::info!(store_id = %access.store_id, item_id, available = item.available, "menu item changed");
    Ok(Json(item))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportQuery {
    /// Validate and show what would change, without saving.
    #[serde(default)]
    dry_run: bool,
}

/// A CSV request body (`text/csv`, or `text/plain`), as text (see `menu_csv::decode`). A
/// wrong content type is reported by the handler, after the credential (an anonymous call
/// is told it needs one, whatever it sent).
struct CsvBody(Result<String, ApiError>);

impl<S: Send + Sync> FromRequest<S> for CsvBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !(content_type.starts_with("text/csv") || content_type.starts_with("text/plain")) {
            return Ok(CsvBody(Err(ApiError::UnsupportedMediaType(
                "send the menu as CSV with Content-Type: text/csv".into(),
            ))));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
                    "the CSV is larger than the {} MiB limit",
                    MENU_BODY_LIMIT / (1024 * 1024)
                )),
                _ => ApiError::bad_request("invalid_body", rejection.body_text()),
            }
        })?;
        Ok(CsvBody(Ok(menu_csv::decode(&bytes))))
    }
}

async fn import(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    WithBody(access, CsvBody(text)): WithBody<StoreAccess, CsvBody>,
) -> Result<Json<Value>, ApiError> {
    let text = text?;
    let menu = menu_csv::parse(&text).map_err(|rows| ApiError::InvalidRows {
        message: format!("{} problem(s) in the CSV; nothing was imported", rows.len()),
        rows: json!(rows),
    })?;
    let store = state.store.as_ref();
    if query.dry_run {
        let (snapshot, _) = knowledge::read(store, &access.store_id, &access.caller).await?;
        knowledge::encode_menu(&menu)?;
        let diff = snapshot.knowledge.menu.diff(&menu);
        return Ok(Json(json!({ "dryRun": true, "menu": menu, "diff": diff })));
    }
    let (diff, saved) =
        knowledge::modify_menu(store, &access.store_id, &access.caller, |current| {
            let diff = current.diff(&menu);
            current.categories = menu.categories.clone();
            Ok(diff)
        })
        .await?;
    tracing::info!(store_id = %access.store_id, items = saved.item_count(), "menu imported");
    Ok(Json(
        json!({ "dryRun": false, "menu": saved, "diff": diff }),
    ))
}

async fn read_profile(
    State(state): State<AppState>,
    access: StoreAccess,
) -> Result<Json<StoreProfile>, ApiError> {
    let (snapshot, _) =
        knowledge::read(state.store.as_ref(), &access.store_id, &access.caller).await?;
    Ok(Json(snapshot.knowledge.profile.public()))
}

async fn write_profile(
    State(state): State<AppState>,
    WithBody(access, ApiJson(mut profile)): WithBody<StoreAccess, ApiJson<StoreProfile>>,
) -> Result<Json<StoreProfile>, ApiError> {
    profile.normalize();
    profile.validate()?;
    if let Some(hook) = &mut profile.order_webhook {
        hook.url = crate::outbound::target::for_saving(state.saipos.policy, &hook.url).map_err(
            |refused| {
                ApiError::invalid(
                    "orderWebhook.url",
                    format!("orderWebhook.url is not allowed: {refused}"),
                )
            },
        )?;
    }
    let record = webhook_secret_record(&access.store_id);
    let secrets = state.secrets.clone();
    let saved = knowledge::replace_profile(
        state.store.as_ref(),
        &access.store_id,
        &access.caller,
        profile,
        |current, new| {
            if let Some(saipos) = &mut new.saipos_orders {
                saipos.sealed_secret = match saipos.secret.take() {
                    Some(secret) => Some(crate::saipos::orders::seal_secret(
                        &secrets,
                        &access.store_id,
                        &secret,
                    )),
                    None => current
                        .saipos_orders
                        .as_ref()
                        .and_then(|s| s.sealed_secret.clone()),
                };
                if saipos.sealed_secret.is_none() {
                    return Err(ApiError::invalid(
                        "saiposOrders.secret",
                        "saiposOrders.secret is required to set up the Saipos Order API",
                    ));
                }
            }
            let Some(hook) = &mut new.order_webhook else {
                return Ok(());
            };
            hook.sealed_secret = match hook.secret.take() {
                Some(secret) => Some(secrets.seal(&secret, &record)),
                None => current
                    .order_webhook
                    .as_ref()
                    .and_then(|h| h.sealed_secret.clone()),
            };
            if hook.sealed_secret.is_none() {
                return Err(ApiError::invalid(
                    "orderWebhook.secret",
                    "orderWebhook.secret is required to set up the webhook",
                ));
            }
            Ok(())
        },
    )
    .await?;
    tracing::info!(store_id = %access.store_id, "store profile replaced");
    Ok(Json(saved.public()))
}

/// What the order webhook's sealed secret is bound to (it opens only for this store).
pub fn webhook_secret_record(store_id: &str) -> String {
    format!("order-webhook#{store_id}")
}

/// `GET …/status`: times are RFC 3339 with the store's own UTC offset at that instant
/// (`2026-12-05T02:00:00-03:00`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView {
    open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    closes_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opens_at: Option<String>,
}

async fn status(
    State(state): State<AppState>,
    access: StoreAccess,
) -> Result<Json<StatusView>, ApiError> {
    let (snapshot, _) =
        knowledge::read(state.store.as_ref(), &access.store_id, &access.caller).await?;
    let zone = snapshot
        .bot_config()
        .map(|config| config.timezone)
        .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
    let tz = TimeZone::get(&zone).unwrap_or(TimeZone::UTC);
    let now = jiff::Timestamp::now();
    let status = snapshot.knowledge.profile.status_at(&tz, now);
    let local = |t: Option<jiff::Timestamp>| {
        t.map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
    };
    Ok(Json(StatusView {
        open: status.open,
        closes_at: local(status.closes_at),
        opens_at: local(status.opens_at),
    }))
}
