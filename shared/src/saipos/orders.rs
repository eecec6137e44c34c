//! Sending accepted orders to the store's Saipos POS through the Saipos Order API
//! (`https://order-api.saipos.com`; `SAIPOS_ORDER_BASE_URL` points elsewhere, e.g. at
//! Saipos's homologation host or a test's fake), for stores that set up `saiposOrders` in
//! their profile: the kitchen then sees the order in the POS it already works with.
//!
//! - **When**: the owner accepts the order (status `accepted`): `order_events` queues a
//!   [`SaiposJob`] on the bot's inbound queue; the worker runs it ([`run`]).
//! - **Auth**: `POST /auth {"idPartner","secret"}` answers `{"token"}` (valid ~48 h); the
//!   token is kept in memory per credentials ([`OrderApi`]) and sent as `Authorization`; an
//!   answer with `errorCode` 901 (bad or expired token) drops it and authenticates again
//!   once.
//! - **The order**: `POST /order` with our order id as `order_id`, Saipos's idempotency
//!   key: a duplicate (`errorCode` 904) means Saipos already has it, a success. Amounts go
//!   in reais with two decimals (Saipos's unit; ours stay centavos until this boundary).
//!   Menu items' `saiposCode` goes as `integration_code`.
//! - **Failures**: a validation refusal (902) or any other 4xx is final: shown on the
//!   order (`saipos.status = failed`, with Saipos's code and message) and not retried. No
//!   answer, a 5xx or Saipos's own transient codes (900 internal, 950 POS in contingency)
//!   are retried with a capped exponential backoff ([`SaiposJob::retry`]); after
//!   [`BACKED_OFF_ATTEMPTS`] the job is left to the queue's own retries, which end in its
//!   dead letters. The order shows `retrying`, then `failed`, with the reason.
//! - **Secrets**: the partner secret is sealed at rest bound to the store ([`seal_secret`]);
//!   the job carries only the store and order ids. Neither the secret nor the token is
//!   logged.
//! - **Through the guarded client** ([`crate::outbound`]), like every call to a URL we
//!   don't control.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::backoff::Backoff;
use crate::crypto::SecretBox;
use crate::domain::menu::Menu;
use crate::domain::order::{
    FulfillmentMode, Order, OrderStatus, PaymentMethod, SaiposSync, SaiposSyncStatus,
};
use crate::domain::profile::SaiposOrders;
use crate::jobs::BotJob;
use crate::outbound::{OutboundClient, Policy};
use crate::queue::{Outgoing, Queue};
use crate::store::{Store, StoreError};

/// Saipos's production Order API.
pub const DEFAULT_BASE_URL: &str = "https://order-api.saipos.com";
/// Attempts that are each queued after a backoff before the queue's own retries take over.
pub const BACKED_OFF_ATTEMPTS: u32 = 6;

fn aad(store_id: &str) -> String {
    format!("saipos-orders#{store_id}")
}

/// The partner secret sealed for storage (it opens only for this store).
pub fn seal_secret(secrets: &SecretBox, store_id: &str, secret: &str) -> String {
    secrets.seal(secret, &aad(store_id))
}

/// The secret sealed by [`seal_secret`].
pub fn open_secret(secrets: &SecretBox, store_id: &str, sealed: &str) -> Option<String> {
    secrets.open(sealed, &aad(store_id)).ok()
}

/// Reais with two decimals, from centavos (Saipos's amounts are decimal reais).
fn reais(cents: i64) -> Value {
    json!((cents as f64) / 100.0)
}

/// The body of `POST /order` for `order` (its lines' integration codes from `menu`).
pub fn payload(order: &Order, menu: &Menu, store_code: &str) -> Value {
    let code_of = |item_id: &str| {
        menu.categories
            .iter()
            .flat_map(|c| &c.items)
            .find(|item| item.id == item_id)
            .and_then(|item| item.saipos_code.clone())
    };
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|line| {
            let choices: Vec<Value> = line
                .options
                .iter()
                .map(|option| {
                    json!({
                        "integration_code": option.option_id,
                        "desc_item_choice": option.name,
                        "quantity": 1,
                        "unit_price": reais(option.price_cents),
                    })
                })
                .collect();
            let base_price =
                line.unit_price_cents - line.options.iter().map(|o| o.price_cents).sum::<i64>();
            let mut item = json!({
                "integration_code": code_of(&line.item_id).unwrap_or_else(|| line.item_id.clone()),
                "desc_item": line.name,
                "quantity": line.quantity,
                "unit_price": reais(base_price),
                "choice_items": choices,
            });
            if let Some(note) = &line.note {
                item["notes"] = json!(note);
            }
            item
        })
        .collect();
    let (code, change_for) = match order.payment.method {
        PaymentMethod::Cash => ("DIN", order.payment.change_for_cents),
        PaymentMethod::Card => ("CRE", None),
        // Paid to the store's own Pix key, outside the POS.
        PaymentMethod::Pix => ("PARTNER_PAYMENT", None),
    };
    let mut payment = json!({ "code": code, "amount": reais(order.total_cents) });
    if let Some(change) = change_for {
        payment["change_for"] = reais(change);
    }
    let mut method = json!({
        "mode": match order.fulfillment.mode {
            FulfillmentMode::Delivery => "DELIVERY",
            FulfillmentMode::Pickup => "TAKEOUT",
        },
        "scheduled": false,
        "delivery_fee": reais(order.delivery_fee_cents),
    });
    if order.fulfillment.mode == FulfillmentMode::Delivery {
        method["delivery_address"] = json!({
            "street_name": order.fulfillment.address.clone().unwrap_or_default(),
            "district": order.fulfillment.neighborhood.clone().unwrap_or_default(),
        });
    }
    json!({
        "order_id": order.id,
        "display_id": format!("{:04}", order.number),
        "cod_store": store_code,
        "created_at": order.created_at,
        "total_amount": reais(order.total_cents),
        "total_discount": 0,
        "customer": {
            "id": order.chat,
            "name": order.customer_name.clone().unwrap_or_else(|| order.chat.clone()),
            "phone": order.chat,
        },
        "order_method": method,
        "items": items,
        "payment_types": [payment],
    })
}

/// Why sending failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Saipos refused the order or the credentials: final, shown on the order.
    #[error("{0}")]
    Refused(String),
    /// No answer, or a passing failure: retried.
    #[error("{0}")]
    Transient(String),
}

/// Saipos's error body: `{errorMessage, errorCode, …}` (`errorCode` a number or a string).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    error_code: Option<Value>,
    #[serde(default)]
    error_message: Option<String>,
}

impl ErrorBody {
    fn code(&self) -> Option<i64> {
        match self.error_code.as_ref()? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn describe(&self, status: u16) -> String {
        let message: String = self
            .error_message
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        match self.code() {
            Some(code) => format!("Saipos {code}: {message} (HTTP {status})"),
            None => format!("Saipos answered HTTP {status}"),
        }
    }
}

/// The Saipos Order API client: the guarded HTTP client, the base URL, and the tokens of
/// the credentials it authenticated (in memory; lost with the process, which only costs an
/// `/auth`).
#[derive(Debug)]
pub struct OrderApi {
    client: OutboundClient,
    base_url: String,
    tokens: Mutex<HashMap<String, String>>,
}

impl OrderApi {
    pub fn new(policy: Policy, base_url: &str) -> Self {
        Self {
            client: OutboundClient::new(policy, Duration::from_secs(15), Duration::from_secs(5)),
            base_url: base_url.trim_end_matches('/').to_owned(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// At `SAIPOS_ORDER_BASE_URL`, or Saipos's production host.
    pub fn from_env(policy: Policy) -> Self {
        let base = std::env::var("SAIPOS_ORDER_BASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Self::new(policy, &base)
    }

    /// Sends the order body (see [`payload`]) with the store's credentials. `Ok`: Saipos
    /// has it (taken now, or a duplicate).
    pub async fn send(
        &self,
        partner_id: &str,
        secret: &str,
        body: &Value,
    ) -> Result<(), SendError> {
        let key = token_key(partner_id, secret);
        let cached = self.tokens.lock().expect("tokens").get(&key).cloned();
        let token = match cached {
            Some(token) => token,
            None => self.authenticate(&key, partner_id, secret).await?,
        };
        match self.post_order(&token, body).await? {
            Posted::Done => Ok(()),
            Posted::TokenRejected => {
                self.tokens.lock().expect("tokens").remove(&key);
                let token = self.authenticate(&key, partner_id, secret).await?;
                match self.post_order(&token, body).await? {
                    Posted::Done => Ok(()),
                    Posted::TokenRejected => Err(SendError::Refused(
                        "Saipos refused a fresh token (901): check the partner id and secret"
                            .into(),
                    )),
                }
            }
        }
    }

    async fn authenticate(
        &self,
        key: &str,
        partner_id: &str,
        secret: &str,
    ) -> Result<String, SendError> {
        let url = format!("{}/auth", self.base_url);
        let response = self
            .client
            .post(&url)
            .map_err(|refused| SendError::Refused(refused.to_string()))?
            .json(&json!({ "idPartner": partner_id, "secret": secret }))
            .send()
            .await
            .map_err(network)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(network)?;
        if (200..300).contains(&status) {
            #[derive(Deserialize)]
            struct Token {
                token: String,
            }
            let token = serde_json::from_str::<Token>(&text)
                .map_err(|_| SendError::Transient("Saipos /auth: no token in its answer".into()))?
                .token;
            self.tokens
                .lock()
                .expect("tokens")
                .insert(key.to_owned(), token.clone());
            return Ok(token);
        }
        let error = serde_json::from_str::<ErrorBody>(&text).ok();
        let why = error
            .as_ref()
            .map(|e| e.describe(status))
            .unwrap_or_else(|| format!("Saipos /auth answered HTTP {status}"));
        if status >= 500 || status == 429 {
            Err(SendError::Transient(why))
        } else {
            Err(SendError::Refused(format!(
                "{why}: check the Saipos partner id and secret"
            )))
        }
    }

    async fn post_order(&self, token: &str, body: &Value) -> Result<Posted, SendError> {
        let url = format!("{}/order", self.base_url);
        let response = self
            .client
            .post(&url)
            .map_err(|refused| SendError::Refused(refused.to_string()))?
            .header(reqwest::header::AUTHORIZATION, token)
            .json(body)
            .send()
            .await
            .map_err(network)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Posted::Done);
        }
        let text = response.text().await.unwrap_or_default();
        let error = serde_json::from_str::<ErrorBody>(&text).ok();
        let code = error.as_ref().and_then(ErrorBody::code);
        let why = error
            .as_ref()
            .map(|e| e.describe(status))
            .unwrap_or_else(|| format!("Saipos answered HTTP {status}"));
        match code {
            Some(904) => Ok(Posted::Done),
            Some(901) => Ok(Posted::TokenRejected),
            Some(900 | 950) => Err(SendError::Transient(why)),
            _ if status == 401 => Ok(Posted::TokenRejected),
            _ if status >= 500 || status == 429 => Err(SendError::Transient(why)),
            _ => Err(SendError::Refused(why)),
        }
    }
}

/// Whose token it is: the partner and a hash of the secret, so a store with another (or a
/// wrong) secret for the same partner never borrows a token it couldn't get itself, and
/// the secret itself isn't kept.
fn token_key(partner_id: &str, secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(partner_id.as_bytes())
        .chain_update([0])
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

enum Posted {
    Done,
    TokenRejected,
}

fn network(err: reqwest::Error) -> SendError {
    match crate::outbound::refusal(&err) {
        Some(refused) => SendError::Refused(refused.to_string()),
        None if err.is_timeout() => SendError::Transient("Saipos did not answer in time".into()),
        None => SendError::Transient("could not reach Saipos".into()),
    }
}

/// One attempt at sending an accepted order to Saipos, as it travels on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaiposJob {
    pub store_id: String,
    pub order_id: String,
    /// Attempts made before this one.
    #[serde(default)]
    pub attempt: u32,
}

impl SaiposJob {
    /// Its queue message: after `delay`, deduplicated per order and attempt.
    pub fn outgoing(&self, delay: Option<Duration>) -> Outgoing {
        let job = BotJob::SaiposOrder(self.clone());
        let outgoing = Outgoing::new(job.to_json()).in_group(job.group(), job.dedup_id());
        match delay {
            Some(delay) => outgoing.delayed(delay),
            None => outgoing,
        }
    }

    /// The next attempt and its delay (doubling from `base`, at most 15 minutes), if this
    /// one was not the last backed-off attempt.
    pub fn retry(&self, base: Duration) -> Option<(SaiposJob, Duration)> {
        if self.attempt + 1 >= BACKED_OFF_ATTEMPTS {
            return None;
        }
        let delay = Backoff::new(base, Duration::from_secs(900)).delay(self.attempt);
        let next = SaiposJob {
            attempt: self.attempt + 1,
            ..self.clone()
        };
        Some((next, delay))
    }
}

/// The job for an order that just became accepted, if the store sends orders to Saipos.
pub fn job_for(
    store_id: &str,
    settings: Option<&SaiposOrders>,
    order: &Order,
) -> Option<SaiposJob> {
    let settings = settings?;
    (order.status == OrderStatus::Accepted && settings.sealed_secret.is_some()).then(|| SaiposJob {
        store_id: store_id.to_owned(),
        order_id: order.id.clone(),
        attempt: 0,
    })
}

/// What the worker should do after [`run`].
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Done (sent, refused for good, or nothing to send).
    Done,
    /// The store couldn't be read or written: deliver the job again soon.
    StoreFailed,
    /// Every backed-off attempt failed: leave it to the queue's retries and dead letters.
    GiveUp,
}

/// Runs one attempt: reads the order, the store's menu and credentials, sends, records
/// the outcome on the order, and queues the next attempt of a passing failure after
/// `backoff`.
pub async fn run(
    job: &SaiposJob,
    store: &dyn Store,
    inbound: &dyn Queue,
    secrets: &SecretBox,
    api: &OrderApi,
    backoff: Duration,
) -> RunOutcome {
    let loaded = async {
        let order = crate::orders::get(store, &job.store_id, &job.order_id).await?;
        let knowledge = crate::knowledge::load(store, &job.store_id).await?;
        Ok::<_, StoreError>((order, knowledge))
    }
    .await;
    let (order, knowledge) = match loaded {
        Ok((Some((order, _)), knowledge)) => (order, knowledge),
        Ok((None, _)) => return RunOutcome::Done,
        Err(err) => {
            tracing::warn!(error = %err, "saipos order: store unavailable; retried");
            return RunOutcome::StoreFailed;
        }
    };
    let Some(settings) = knowledge.profile.saipos_orders else {
        return RunOutcome::Done;
    };
    if order
        .saipos
        .as_ref()
        .is_some_and(|s| s.status == SaiposSyncStatus::Sent)
    {
        return RunOutcome::Done;
    }
    let result = match settings
        .sealed_secret
        .as_deref()
        .and_then(|sealed| open_secret(secrets, &job.store_id, sealed))
    {
        None => Err(SendError::Refused(
            "the Saipos secret can't be opened: enter it again in the profile".into(),
        )),
        Some(secret) => {
            let body = payload(&order, &knowledge.menu, &settings.store_code);
            api.send(&settings.partner_id, &secret, &body).await
        }
    };
    let next = match &result {
        Err(SendError::Transient(_)) => job.retry(backoff),
        _ => None,
    };
    let (status, error) = match &result {
        Ok(()) => (SaiposSyncStatus::Sent, None),
        Err(SendError::Transient(why)) if next.is_some() => {
            (SaiposSyncStatus::Retrying, Some(why.clone()))
        }
        Err(err) => (SaiposSyncStatus::Failed, Some(err.to_string())),
    };
    match &result {
        Ok(()) => {
            tracing::info!(store = %job.store_id, order = %job.order_id, attempt = job.attempt, "order sent to Saipos")
        }
        Err(err) => {
            tracing::warn!(store = %job.store_id, order = %job.order_id, attempt = job.attempt, error = %err, "order not sent to Saipos")
        }
    }
    let sync = SaiposSync {
        status,
        error,
        attempts: job.attempt + 1,
        at: crate::ids::now_rfc3339(),
    };
    let recorded = crate::orders::modify(store, &job.store_id, &job.order_id, |order| {
        order.saipos = Some(sync.clone());
        Ok::<(), StoreError>(())
    })
    .await;
    if let Err(err) = recorded {
        tracing::warn!(error = %err, "saipos order: the outcome could not be recorded; retried");
        return RunOutcome::StoreFailed;
    }
    match (result, next) {
        (Ok(()), _) | (Err(SendError::Refused(_)), _) => RunOutcome::Done,
        (Err(SendError::Transient(_)), Some((next, delay))) => {
            match inbound.send(next.outgoing(Some(delay))).await {
                Ok(_) => RunOutcome::Done,
                Err(err) => {
                    tracing::warn!(error = %err, "could not queue the next Saipos attempt");
                    RunOutcome::StoreFailed
                }
            }
        }
        (Err(SendError::Transient(_)), None) => RunOutcome::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_in_reais_with_integration_codes_options_and_change() {
        let menu: Menu = serde_json::from_value(json!({"categories": [{"id": "p", "name": "P",
            "items": [{"id": "calabresa", "name": "Calabresa", "priceCents": 4590,
                "saiposCode": "CAL-1"}]}]}))
        .unwrap();
        let order: Order = serde_json::from_value(json!({
            "id": "20261206-0007", "number": 7, "status": "accepted", "line": "w1",
            "chat": "5511999990000", "customerName": "Ana",
            "items": [{"itemId": "calabresa", "name": "Calabresa", "quantity": 2,
                "options": [{"groupId": "t", "optionId": "grande", "name": "Grande", "priceCents": 1000}],
                "note": "sem cebola", "unitPriceCents": 5590, "totalCents": 11180},
                {"itemId": "coca", "name": "Coca", "quantity": 1, "options": [],
                "unitPriceCents": 1400, "totalCents": 1400}],
            "subtotalCents": 12580, "deliveryFeeCents": 700, "totalCents": 13280,
            "fulfillment": {"mode": "delivery", "address": "Rua A, 1", "neighborhood": "Moema"},
            "payment": {"method": "cash", "changeForCents": 15000, "paid": false},
            "history": [], "createdAt": "2026-12-06T12:00:00-03:00", "updatedAt": "x"
        }))
        .unwrap();
        let body = payload(&order, &menu, "77");
        assert_eq!(body["order_id"], "20261206-0007");
        assert_eq!(body["display_id"], "0007");
        assert_eq!(body["total_amount"], json!(132.8));
        assert_eq!(body["order_method"]["mode"], "DELIVERY");
        assert_eq!(body["order_method"]["delivery_fee"], json!(7.0));
        assert_eq!(
            body["order_method"]["delivery_address"]["district"],
            "Moema"
        );
        let first = &body["items"][0];
        assert_eq!(first["integration_code"], "CAL-1");
        assert_eq!(
            first["unit_price"],
            json!(45.9),
            "the item without its options"
        );
        assert_eq!(first["quantity"], 2);
        assert_eq!(first["notes"], "sem cebola");
        assert_eq!(first["choice_items"][0]["unit_price"], json!(10.0));
        // No code in the menu: our item id.
        assert_eq!(body["items"][1]["integration_code"], "coca");
        assert_eq!(
            body["payment_types"],
            json!([{"code": "DIN", "amount": 132.8, "change_for": 150.0}])
        );
        assert_eq!(body["customer"]["name"], "Ana");
    }

    #[test]
    fn the_secret_opens_only_for_its_store_and_retries_stop() {
        let secrets = SecretBox::from_key(&[5; 32]);
        let sealed = seal_secret(&secrets, "st_1", "s3cr3t");
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(
            open_secret(&secrets, "st_1", &sealed).as_deref(),
            Some("s3cr3t")
        );
        assert_eq!(open_secret(&secrets, "st_2", &sealed), None);
        let mut job = SaiposJob {
            store_id: "st_1".into(),
            order_id: "20261206-0001".into(),
            attempt: 0,
        };
        let mut n = 0;
        while let Some((next, _)) = job.retry(Duration::from_millis(10)) {
            assert_eq!(next.attempt, job.attempt + 1);
            job = next;
            n += 1;
        }
        assert_eq!(n, BACKED_OFF_ATTEMPTS - 1);
        let body = job.outgoing(None).body;
        assert!(body.contains(r#""type":"saiposOrder""#), "{body}");
    }
}
