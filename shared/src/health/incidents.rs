//! Incidents: something wrong with a store that its owner must hear about — a number
//! dropped (unlinked from the phone, banned for a while, silent too long, replaced), the
//! attendant failing to answer, replies stuck in the dead-letter queue, the AI budget
//! nearly or fully spent. Each is one item (`STORE#<storeId>` / `INCIDENT#<id>`) that is
//! open or closed; every transition is one conditional update on the revision read
//! (`rev`), so two processes seeing the same drop open it once.
//!
//! Alerts: an incident alerts once when it opens and once when it closes ("voltou"), and
//! never more often than [`MIN_INTERVAL`] per incident: one that opens again within it
//! (a flapping number) stays silent, and then its close is silent too (the owner was never
//! told it was down). The alert itself is a job on the inbound queue ([`AlertJob`]), sent
//! by the worker and retried like any job.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::keys::{incident_sk, store_pk, INCIDENT_PREFIX};
use crate::store::{applied, attr_str, Cond, Item, Store, StoreError, Update};

/// The least time between two alerts of one incident (a flapping number alerts once).
pub const MIN_INTERVAL_MS: i64 = 15 * 60 * 1000;

/// One alert to send to the store's owner: a plain pt-BR text in which `{loja}` stands for
/// the store's name (filled in by the sender, which reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertJob {
    pub store_id: String,
    /// Unique per alert (incident, its start time, start or end): the idempotency key of
    /// the e-mail and the deduplication of the WhatsApp message.
    pub alert_id: String,
    pub subject: String,
    pub text: String,
}

/// An incident as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub open: bool,
    /// When it opened (RFC 3339).
    pub since: String,
    pub detail: String,
}

fn num(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(Value::as_i64)
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Moves the incident to its new state (`attrs`), on the condition that it is still as
/// read (absent, or at the revision read): one conditional update. `Ok(false)`: someone
/// else moved it first.
async fn transition(
    store: &dyn Store,
    store_id: &str,
    id: &str,
    current: Option<&Item>,
    attrs: Value,
) -> Result<bool, StoreError> {
    let rev = current.and_then(|c| num(c, "rev")).unwrap_or(0);
    let mut set = vec![
        ("storeId".to_owned(), json!(store_id)),
        ("incident".to_owned(), json!(id)),
        ("rev".to_owned(), json!(rev + 1)),
    ];
    if let Value::Object(attrs) = attrs {
        set.extend(attrs);
    }
    let update = Update {
        set,
        cond: match current {
            None => Cond::NotExists,
            Some(_) => Cond::Matches(vec![("rev".into(), json!(rev))]),
        },
        upsert: current.is_none(),
        ..Update::default()
    };
    applied(
        store
            .update(&store_pk(store_id), &incident_sk(id), update)
            .await,
    )
}

/// Opens incident `id` of the store (if it isn't open) with `detail` (pt-BR, for the
/// dashboard). Returns the alert to send, if this opening is to be told: not within
/// [`MIN_INTERVAL_MS`] of the incident's last alert. One read, and one write if it opens.
pub async fn open(
    store: &dyn Store,
    store_id: &str,
    id: &str,
    detail: &str,
    alert: (&str, &str),
    now_ms: i64,
) -> Result<Option<AlertJob>, StoreError> {
    let current = store.get(&store_pk(store_id), &incident_sk(id)).await?;
    if current
        .as_ref()
        .is_some_and(|c| c.get("open") == Some(&Value::Bool(true)))
    {
        return Ok(None);
    }
    let last = current.as_ref().and_then(|c| num(c, "lastAlertAt"));
    let tell = last.is_none_or(|last| now_ms - last >= MIN_INTERVAL_MS);
    let mut attrs = json!({
        "open": true, "since": now_ms, "detail": detail, "told": tell,
    });
    if tell {
        attrs["lastAlertAt"] = now_ms.into();
    }
    if !transition(store, store_id, id, current.as_ref(), attrs).await? {
        return Ok(None); // someone else moved it first
    }
    Ok(tell.then(|| AlertJob {
        store_id: store_id.to_owned(),
        alert_id: format!("{id}-{now_ms}-start"),
        subject: alert.0.to_owned(),
        text: alert.1.to_owned(),
    }))
}

/// Closes incident `id` if it is open. Returns the "voltou" alert if its opening was told.
/// One read, and one write if it was open.
pub async fn close(
    store: &dyn Store,
    store_id: &str,
    id: &str,
    alert: (&str, &str),
    now_ms: i64,
) -> Result<Option<AlertJob>, StoreError> {
    let current = store.get(&store_pk(store_id), &incident_sk(id)).await?;
    let Some(current) = current.filter(|c| c.get("open") == Some(&Value::Bool(true))) else {
        return Ok(None);
    };
    let told = current.get("told") == Some(&Value::Bool(true));
    let since = num(&current, "since").unwrap_or(0);
    let mut attrs = json!({ "open": false, "endedAt": now_ms });
    if told {
        attrs["lastAlertAt"] = now_ms.into();
    }
    if !transition(store, store_id, id, Some(&current), attrs).await? {
        return Ok(None);
    }
    Ok(told.then(|| AlertJob {
        store_id: store_id.to_owned(),
        alert_id: format!("{id}-{since}-end"),
        subject: alert.0.to_owned(),
        text: alert.1.to_owned(),
    }))
}

/// Is incident `id` open? One read.
pub async fn is_open(store: &dyn Store, store_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(store
        .get(&store_pk(store_id), &incident_sk(id))
        .await?
        .is_some_and(|c| c.get("open") == Some(&Value::Bool(true))))
}

/// The store's open incidents, oldest first: one query.
pub async fn open_incidents(
    store: &dyn Store,
    store_id: &str,
) -> Result<Vec<Incident>, StoreError> {
    let items = store.query(&store_pk(store_id), INCIDENT_PREFIX).await?;
    let mut open: Vec<Incident> = items
        .iter()
        .filter(|i| i.get("open") == Some(&Value::Bool(true)))
        .map(|i| Incident {
            id: attr_str(i, "incident").unwrap_or_default().to_owned(),
            open: true,
            since: rfc3339(num(i, "since").unwrap_or(0)),
            detail: attr_str(i, "detail").unwrap_or_default().to_owned(),
        })
        .collect();
    open.sort_by(|a, b| a.since.cmp(&b.since));
    Ok(open)
}

/// A phone number as alerts show it: its first four digits and last four
/// (`5511…0000`), enough for the owner to tell their numbers apart.
pub fn masked_phone(phone: &str) -> String {
    if phone.len() <= 8 {
        return phone.to_owned();
    }
    format!("{}…{}", &phone[..4], &phone[phone.len() - 4..])
}
