//! Sales reports from Saipos data: totals per day (orders, revenue, average ticket), by
//! payment type and by channel, and the best-selling items. Sales are grouped by their
//! shift date (a shift past midnight belongs to the day it opened), in the store's own time
//! zone: a date or a local date-time is the store's calendar day as written; an instant
//! (`…Z`, `…+00:00`) is placed on the store's calendar with jiff's tz database, so a sale at
//! 23:30 in Rio Branco (UTC−5) stays on its day though it is already the next day in UTC and
//! in São Paulo. Money is summed in integer centavos, so totals are exact.
//!
//! Aggregation is per day first ([`DayTotals`]), because that is also the unit we cache:
//! a settled day's totals never change, so a report over a range combines cached days with
//! days fetched now.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::client::{Sale, SaleItems};

pub const LAG_NOTE: &str =
    "Saipos data may lag up to a day: today's and yesterday's figures can still change.";
pub const TOP_ITEMS: usize = 10;

fn cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

fn reais(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub cents: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemTally {
    /// Thousandths of a unit (items sold by weight have fractional quantities).
    pub milli_quantity: i64,
    pub cents: i64,
}

/// Everything a report needs about one day, in a form that adds up across days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayTotals {
    pub orders: u64,
    pub canceled: u64,
    pub revenue_cents: i64,
    pub by_payment: BTreeMap<String, Tally>,
    pub by_channel: BTreeMap<String, Tally>,
    pub items: BTreeMap<String, ItemTally>,
}

/// The channel a sale came through: the delivery partner when there is one, else its type.
pub fn channel(sale: &Sale) -> String {
    if let Some(name) = sale
        .partner_sale
        .as_ref()
        .and_then(|p| p.desc_partner_sale.as_deref())
    {
        if !name.trim().is_empty() {
            return name.trim().to_owned();
        }
    }
    match sale.id_sale_type {
        Some(1) => "Delivery",
        Some(2) => "Retirada",
        Some(3) => "Salão",
        Some(4) => "Ficha",
        _ => "Outro",
    }
    .to_owned()
}

/// The store's day (`YYYY-MM-DD`) of a sale: its shift date, else its creation time.
fn day_of(
    shift_date: &Option<String>,
    created_at: &Option<String>,
    zone: &jiff::tz::TimeZone,
) -> Option<String> {
    let raw = shift_date.as_deref().or(created_at.as_deref())?.trim();
    // An instant carries its offset (or `Z`); a plain date or local time carries none.
    if let Ok(at) = raw.parse::<jiff::Timestamp>() {
        return Some(at.to_zoned(zone.clone()).date().to_string());
    }
    (raw.len() >= 10 && raw.is_char_boundary(10)).then(|| raw[..10].to_owned())
}

/// Groups sales and their items by the store's day (`YYYY-MM-DD`) in `zone`. Canceled sales
/// count only as canceled: no revenue, no payments, no items. Deleted items are left out.
pub fn aggregate(
    sales: &[Sale],
    items: &[SaleItems],
    zone: &jiff::tz::TimeZone,
) -> HashMap<String, DayTotals> {
    let mut days: HashMap<String, DayTotals> = HashMap::new();
    let mut canceled = HashSet::new();
    for sale in sales {
        let Some(day) = day_of(&sale.shift_date, &sale.created_at, zone) else {
            continue;
        };
        let totals = days.entry(day).or_default();
        if sale.canceled.as_deref() == Some("Y") {
            canceled.insert(sale.id_sale);
            totals.canceled += 1;
            continue;
        }
        let amount = cents(sale.total_amount);
        totals.orders += 1;
        totals.revenue_cents += amount;
        let by_channel = totals.by_channel.entry(channel(sale)).or_default();
        by_channel.count += 1;
        by_channel.cents += amount;
        for payment in sale.payments.iter().flatten() {
            let name = payment
                .desc_store_payment_type
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .unwrap_or("Não informado");
            let tally = totals.by_payment.entry(name.to_owned()).or_default();
            tally.count += 1;
            tally.cents += cents(payment.payment_amount);
        }
    }
    for sale in items {
        if canceled.contains(&sale.id_sale) {
            continue;
        }
        let Some(day) = day_of(&sale.shift_date, &sale.created_at, zone) else {
            continue;
        };
        let totals = days.entry(day).or_default();
        for item in sale.items.iter().flatten() {
            if item.deleted.as_deref() == Some("Y") {
                continue;
            }
            let name = item
                .desc_sale_item
                .as_deref()
                .map(str::trim)
                .unwrap_or("")
                .to_owned();
            if name.is_empty() {
                continue;
            }
            let tally = totals.items.entry(name).or_default();
            tally.milli_quantity += (item.quantity * 1000.0).round() as i64;
            tally.cents += cents(item.quantity * item.unit_price);
        }
    }
    days
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayRow {
    pub date: String,
    pub orders: u64,
    pub canceled: u64,
    pub revenue: f64,
    pub average_ticket: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    pub name: String,
    pub orders: u64,
    pub amount: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopItem {
    pub name: String,
    pub quantity: f64,
    pub revenue: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub orders: u64,
    pub canceled: u64,
    pub revenue: f64,
    pub average_ticket: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub from: String,
    pub to: String,
    pub currency: &'static str,
    pub totals: Totals,
    pub days: Vec<DayRow>,
    pub by_payment_type: Vec<Breakdown>,
    pub by_channel: Vec<Breakdown>,
    pub top_items: Vec<TopItem>,
    pub note: &'static str,
}

fn average(cents: i64, orders: u64) -> f64 {
    if orders == 0 {
        0.0
    } else {
        reais((cents as f64 / orders as f64).round() as i64)
    }
}

fn breakdown(map: BTreeMap<String, Tally>) -> Vec<Breakdown> {
    let mut rows: Vec<_> = map
        .into_iter()
        .map(|(name, t)| Breakdown {
            name,
            orders: t.count,
            amount: reais(t.cents),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.amount
            .total_cmp(&a.amount)
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

/// Builds the report for consecutive `days` (each with its totals; a day without sales has
/// empty totals). Top items are ranked by quantity, then revenue.
pub fn build(from: &str, to: &str, days: Vec<(String, DayTotals)>) -> Report {
    let mut totals = DayTotals::default();
    let mut rows = Vec::with_capacity(days.len());
    for (date, day) in days {
        rows.push(DayRow {
            date,
            orders: day.orders,
            canceled: day.canceled,
            revenue: reais(day.revenue_cents),
            average_ticket: average(day.revenue_cents, day.orders),
        });
        totals.orders += day.orders;
        totals.canceled += day.canceled;
        totals.revenue_cents += day.revenue_cents;
        for (name, t) in day.by_payment {
            let sum = totals.by_payment.entry(name).or_default();
            sum.count += t.count;
            sum.cents += t.cents;
        }
        for (name, t) in day.by_channel {
            let sum = totals.by_channel.entry(name).or_default();
            sum.count += t.count;
            sum.cents += t.cents;
        }
        for (name, t) in day.items {
            let sum = totals.items.entry(name).or_default();
            sum.milli_quantity += t.milli_quantity;
            sum.cents += t.cents;
        }
    }
    let mut items: Vec<_> = totals.items.into_iter().collect();
    items.sort_by(|(an, a), (bn, b)| {
        b.milli_quantity
            .cmp(&a.milli_quantity)
            .then(b.cents.cmp(&a.cents))
            .then_with(|| an.cmp(bn))
    });
    Report {
        from: from.to_owned(),
        to: to.to_owned(),
        currency: "BRL",
        totals: Totals {
            orders: totals.orders,
            canceled: totals.canceled,
            revenue: reais(totals.revenue_cents),
            average_ticket: average(totals.revenue_cents, totals.orders),
        },
        days: rows,
        by_payment_type: breakdown(totals.by_payment),
        by_channel: breakdown(totals.by_channel),
        top_items: items
            .into_iter()
            .take(TOP_ITEMS)
            .map(|(name, t)| TopItem {
                name,
                quantity: t.milli_quantity as f64 / 1000.0,
                revenue: reais(t.cents),
            })
            .collect(),
        note: LAG_NOTE,
    }
}
