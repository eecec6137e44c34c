//! Usage per store per day: customer messages, replies, owner messages, orders and their
//! total, voice seconds, model calls, prompt/completion tokens and the AI cost in
//! micro-dollars (millionths of a US dollar: OpenRouter bills in dollars).
//!
//! One item per store and day (`STORE#<storeId>` / `USAGE#<YYYY-MM-DD>`, the day in the
//! store's time zone), whose counters only grow by atomic adds ([`WriteOp::Add`]): no read
//! before a count, and many writers at once never lose one. Each count rides in a write the
//! turn makes anyway, whose condition makes it happen once per message id:
//!
//! - a customer's or the owner's message: in the transaction that records it with its
//!   create-only `SEEN#…` marker (a redelivery fails that condition and counts nothing);
//! - a reply with its model calls, tokens and cost: in the transaction of the turn's claim
//!   (a retried turn after the claim resends the stored reply and claims nothing), together
//!   with the month's spend on `CONFIG#HEALTH` (read back for free by the turn's one query
//!   of the `CONFIG` prefix, so the budget costs no read).
//!
//! So counting adds no round trip to a turn: two more items in transactions it already
//! makes. Orders and voice messages use [`count_order`] / [`count_voice`] (or the `_op`
//! forms, to put the count in their own transaction).

use serde::Serialize;
use serde_json::Value;

use crate::store::keys::{store_pk, usage_sk, HEALTH_SK, USAGE_PREFIX};
use crate::store::{Item, Store, StoreError, WriteOp};

/// The counters of one day (or of a range, summed), as the usage route shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub customer_messages: i64,
    pub replies: i64,
    pub owner_messages: i64,
    pub orders: i64,
    pub orders_total_cents: i64,
    pub voice_seconds: i64,
    pub model_calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub ai_cost_micros: i64,
}

/// The stored attribute names, in the order of [`Counts`].
pub const FIELDS: [&str; 10] = [
    "customerMessages",
    "replies",
    "ownerMessages",
    "orders",
    "ordersTotalCents",
    "voiceSeconds",
    "modelCalls",
    "promptTokens",
    "completionTokens",
    "aiCostMicros",
];

impl Counts {
    fn slots(&mut self) -> [&mut i64; 10] {
        [
            &mut self.customer_messages,
            &mut self.replies,
            &mut self.owner_messages,
            &mut self.orders,
            &mut self.orders_total_cents,
            &mut self.voice_seconds,
            &mut self.model_calls,
            &mut self.prompt_tokens,
            &mut self.completion_tokens,
            &mut self.ai_cost_micros,
        ]
    }

    fn of(item: &Item) -> Self {
        let mut counts = Counts::default();
        for (slot, name) in counts.slots().into_iter().zip(FIELDS) {
            *slot = item.get(name).and_then(Value::as_i64).unwrap_or(0);
        }
        counts
    }

    /// Adds `other` to these counters.
    pub fn add(&mut self, other: &Counts) {
        let mut other = *other;
        for (slot, more) in self.slots().into_iter().zip(other.slots()) {
            *slot += *more;
        }
    }

    /// The non-zero counters as an add.
    fn as_add(&self) -> Vec<(String, i64)> {
        let mut me = *self;
        me.slots()
            .into_iter()
            .zip(FIELDS)
            .filter(|(v, _)| **v != 0)
            .map(|(v, name)| (name.to_owned(), *v))
            .collect()
    }
}

/// What one turn's model calls cost: from the response's `usage` when the server reports
/// it (OpenRouter does, with `cost` in dollars), else tokens × the configured prices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelUsage {
    pub calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: i64,
}

impl ModelUsage {
    pub fn add(&mut self, other: &ModelUsage) {
        self.calls += other.calls;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_micros += other.cost_micros;
    }
}

/// The platform's price of a model's tokens, in US dollars per million tokens
/// (`OPENROUTER_PROMPT_PRICE`, `OPENROUTER_COMPLETION_PRICE`), used when a response carries
/// no cost. Dollars per million tokens × tokens = micro-dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prices {
    pub prompt_per_million: f64,
    pub completion_per_million: f64,
}

impl Prices {
    pub fn cost_micros(&self, prompt_tokens: i64, completion_tokens: i64) -> i64 {
        (prompt_tokens as f64 * self.prompt_per_million
            + completion_tokens as f64 * self.completion_per_million)
            .round() as i64
    }
}

/// The day item's add of `counts`.
pub fn add_op(store_id: &str, day: &str, counts: &Counts) -> Option<WriteOp> {
    let add = counts.as_add();
    (!add.is_empty()).then(|| WriteOp::Add {
        pk: store_pk(store_id),
        sk: usage_sk(day),
        add,
    })
}

/// The month's AI spend, on the store's `CONFIG#HEALTH` item (`spend<YYYY-MM>`).
pub fn spend_op(store_id: &str, month: &str, micros: i64) -> Option<WriteOp> {
    (micros != 0).then(|| WriteOp::Add {
        pk: store_pk(store_id),
        sk: HEALTH_SK.into(),
        add: vec![(spend_attr(month), micros)],
    })
}

/// The attribute of `CONFIG#HEALTH` holding a month's spend.
pub fn spend_attr(month: &str) -> String {
    format!("spend{month}")
}

/// The count of one customer message.
pub fn customer_message() -> Counts {
    Counts {
        customer_messages: 1,
        ..Counts::default()
    }
}

/// The count of one owner message.
pub fn owner_message() -> Counts {
    Counts {
        owner_messages: 1,
        ..Counts::default()
    }
}

/// The count of one reply and the model calls it took.
pub fn reply(model: &ModelUsage) -> Counts {
    Counts {
        replies: 1,
        model_calls: model.calls,
        prompt_tokens: model.prompt_tokens,
        completion_tokens: model.completion_tokens,
        ai_cost_micros: model.cost_micros,
        ..Counts::default()
    }
}

/// The count of one order of `total_cents`, for the orders work to put in its own
/// transaction (where it is created once).
pub fn order_op(store_id: &str, day: &str, total_cents: i64) -> WriteOp {
    let counts = Counts {
        orders: 1,
        orders_total_cents: total_cents,
        ..Counts::default()
    };
    add_op(store_id, day, &counts).expect("an order counts")
}

/// Counts one order of `total_cents` on `day` (one write). Call it where the order is
/// created exactly once, or use [`order_op`] inside that write.
pub async fn count_order(
    store: &dyn Store,
    store_id: &str,
    day: &str,
    total_cents: i64,
) -> Result<(), StoreError> {
    store
        .write(vec![order_op(store_id, day, total_cents)])
        .await
}

/// The count of `seconds` of voice messages, for the voice work's own transaction.
pub fn voice_op(store_id: &str, day: &str, seconds: i64) -> Option<WriteOp> {
    let counts = Counts {
        voice_seconds: seconds,
        ..Counts::default()
    };
    add_op(store_id, day, &counts)
}

/// Counts `seconds` of voice on `day` (one write; nothing for zero seconds).
pub async fn count_voice(
    store: &dyn Store,
    store_id: &str,
    day: &str,
    seconds: i64,
) -> Result<(), StoreError> {
    match voice_op(store_id, day, seconds) {
        Some(op) => store.write(vec![op]).await,
        None => Ok(()),
    }
}

/// One day's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The days from `from` to `to` (inclusive, `YYYY-MM-DD`) that counted anything, oldest
/// first: one query of the dates' common prefix.
pub async fn days(
    store: &dyn Store,
    store_id: &str,
    from: &str,
    to: &str,
) -> Result<Vec<Day>, StoreError> {
    let common = from
        .chars()
        .zip(to.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect::<String>();
    let items = store
        .query(&store_pk(store_id), &format!("{USAGE_PREFIX}{common}"))
        .await?;
    Ok(items
        .iter()
        .filter_map(|item| {
            let sk = item.get("sk")?.as_str()?;
            let date = sk.strip_prefix(USAGE_PREFIX)?;
            (date >= from && date <= to).then(|| Day {
                date: date.to_owned(),
                counts: Counts::of(item),
            })
        })
        .collect())
}

/// The day (`YYYY-MM-DD`) and month (`YYYY-MM`) of `ms` in `tz`.
pub fn day_and_month(tz: &jiff::tz::TimeZone, ms: i64) -> (String, String) {
    let at = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let date = at.to_zoned(tz.clone()).date();
    let day = date.strftime("%Y-%m-%d").to_string();
    let month = day[..7].to_owned();
    (day, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_micro_dollars_per_token_per_million() {
        // $0.15 / M prompt tokens, $0.60 / M completion tokens.
        let prices = Prices {
            prompt_per_million: 0.15,
            completion_per_million: 0.60,
        };
        assert_eq!(prices.cost_micros(1_000_000, 0), 150_000);
        assert_eq!(prices.cost_micros(2_000, 500), 300 + 300);
    }

    #[test]
    fn only_non_zero_counters_are_added() {
        let op = add_op("st_1", "2026-12-06", &customer_message()).unwrap();
        let WriteOp::Add { sk, add, .. } = op else {
            panic!("an add")
        };
        assert_eq!(sk, "USAGE#2026-12-06");
        assert_eq!(add, vec![("customerMessages".to_owned(), 1)]);
        assert!(add_op("st_1", "2026-12-06", &Counts::default()).is_none());
    }

    #[test]
    fn days_are_the_store_zone_s() {
        let tz = jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap();
        // 2026-12-01 02:00 UTC is still November 30th in São Paulo (UTC-3).
        let ms = 1_796_090_400_000;
        assert_eq!(
            day_and_month(&tz, ms),
            ("2026-11-30".to_owned(), "2026-11".to_owned())
        );
    }
}
