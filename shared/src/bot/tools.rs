//! The read tools the model calls to answer from the store's data, never from memory: their
//! definitions (names and argument names are part of the contract) and their dispatch over
//! the [`Knowledge`] read once for the turn, at the turn's instant in the store's zone.
//!
//! | tool | arguments | result |
//! |------|-----------|--------|
//! | `search_menu` | `query?`, `category?` (id or name), `includeUnavailable?` | `items` (id, name, category, description, `priceCents`, `price`, available, hasOptions), `count`, `truncated` |
//! | `get_item` | `itemId` | the item with `optionGroups` (min, max, options with `priceCents` and `totalCents` = item + option) |
//! | `store_status` | — | `open`, `now`, `today` (shifts), `closesAt`/`opensAt` in local words, `timezone` |
//! | `quote_delivery` | `neighborhood` | `served`, `zone`, `feeCents`, `minOrderCents`, `etaMinutes`, `pickup` |
//! | `payment_methods` | — | `pix` (`keyType`, `key`, `merchantName`) or null, `cash`, `card` |
//!
//! Money is integer centavos (`…Cents`, the menu's own values) with a display string next
//! to it (`price: "R$ 45,90"`) written by [`money::format`]. A bad call (arguments that
//! aren't a JSON object of the right types, an unknown tool, an unknown item) gets
//! `{"error":{"code","message"}}` for the model to read and correct.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};

use super::converse::Toolbox;
use super::llm::ToolSpec;
use super::{money, status};
use crate::domain::menu::{Category, Item};
use crate::knowledge::Knowledge;

/// The most items one `search_menu` returns (the model can narrow the query).
pub const SEARCH_LIMIT: usize = 15;

/// The tools' definitions, as the model sees them.
pub fn specs() -> Vec<ToolSpec> {
    let no_arguments = json!({"type": "object", "properties": {}, "additionalProperties": false});
    vec![
        ToolSpec {
            name: "search_menu",
            description: "Search the store's menu (case and accents ignored). Returns items \
                with their ids and prices in centavos (priceCents). Available items only unless \
                includeUnavailable. Call it for every price you mention.",
            parameters: json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "words of the item's name or description, e.g. \"calabresa\""},
                "category": {"type": "string", "description": "a category's id or name"},
                "includeUnavailable": {"type": "boolean", "description": "also list sold-out items"},
            }, "additionalProperties": false}),
        },
        ToolSpec {
            name: "get_item",
            description: "One menu item by id, with its option groups (sizes, extras): each \
                option's priceCents (added to the item) and totalCents (item + that option).",
            parameters: json!({"type": "object", "properties": {
                "itemId": {"type": "string", "description": "the item's id from search_menu"},
            }, "required": ["itemId"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "store_status",
            description: "Whether the store is open now, today's hours and the next opening \
                or closing, in the store's local time.",
            parameters: no_arguments.clone(),
        },
        ToolSpec {
            name: "quote_delivery",
            description: "Delivery to a neighbourhood: whether it is served, the fee \
                (feeCents), minimum order (minOrderCents) and time (etaMinutes); and whether \
                pickup is offered.",
            parameters: json!({"type": "object", "properties": {
                "neighborhood": {"type": "string", "description": "the customer's neighbourhood, e.g. \"Vila Mariana\""},
            }, "required": ["neighborhood"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "payment_methods",
            description: "The payment methods the store takes: Pix (with its key), cash, card \
                on delivery.",
            parameters: no_arguments,
        },
    ]
}

/// The tools over one turn's data.
pub struct StoreTools<'a> {
    knowledge: &'a Knowledge,
    tz: TimeZone,
    now: Timestamp,
    specs: Vec<ToolSpec>,
}

impl<'a> StoreTools<'a> {
    pub fn new(knowledge: &'a Knowledge, tz: TimeZone, now: Timestamp) -> Self {
        Self {
            knowledge,
            tz,
            now,
            specs: specs(),
        }
    }
}

fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"error": {"code": code, "message": message.into()}})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Search {
    query: Option<String>,
    category: Option<String>,
    #[serde(default)]
    include_unavailable: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetItem {
    item_id: String,
}

#[derive(Deserialize)]
struct Quote {
    neighborhood: String,
}

/// The call's arguments as `T`; an empty text is `{}` (some models send it for no arguments).
fn arguments<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, Value> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| error("invalid_arguments", format!("arguments are not JSON: {e}")))?;
    if !value.is_object() {
        return Err(error(
            "invalid_arguments",
            "arguments must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| error("invalid_arguments", e.to_string()))
}

#[async_trait::async_trait]
impl Toolbox for StoreTools<'_> {
    fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    async fn call(&self, name: &str, text: &str) -> Value {
        self.run(name, text)
    }
}

impl StoreTools<'_> {
    /// Runs one read tool (they need nothing but the turn's data).
    pub fn run(&self, name: &str, text: &str) -> Value {
        let result = match name {
            "search_menu" => arguments(text).map(|a| self.search(a)),
            "get_item" => arguments(text).map(|a| self.get_item(a)),
            "store_status" => arguments::<Value>(text).map(|_| self.store_status()),
            "quote_delivery" => arguments(text).map(|a| self.quote(a)),
            "payment_methods" => arguments::<Value>(text).map(|_| self.payments()),
            other => Err(error(
                "unknown_tool",
                format!("no tool named {other:?}; use one of the tools offered"),
            )),
        };
        result.unwrap_or_else(|err| err)
    }
}

fn item_summary(category: &Category, item: &Item) -> Value {
    let mut value = json!({
        "id": item.id, "name": item.name, "category": category.name,
        "priceCents": item.price_cents, "price": money::format(item.price_cents),
        "available": item.available, "hasOptions": !item.option_groups.is_empty(),
    });
    if let Some(description) = &item.description {
        value["description"] = description.as_str().into();
    }
    value
}

impl StoreTools<'_> {
    fn search(&self, args: Search) -> Value {
        let menu = &self.knowledge.menu;
        let found = menu.search(
            args.query.as_deref(),
            args.category.as_deref(),
            args.include_unavailable,
        );
        let items: Vec<Value> = found
            .iter()
            .take(SEARCH_LIMIT)
            .map(|(c, i)| item_summary(c, i))
            .collect();
        let mut result = json!({
            "items": items, "count": found.len(), "truncated": found.len() > SEARCH_LIMIT,
        });
        if found.is_empty() {
            let categories: Vec<Value> = menu
                .categories
                .iter()
                .map(|c| json!({"id": c.id, "name": c.name}))
                .collect();
            result["categories"] = categories.into();
        }
        result
    }

    fn get_item(&self, args: GetItem) -> Value {
        let Some((category, item)) = self.knowledge.menu.item(&args.item_id) else {
            return error(
                "not_found",
                format!(
                    "no item with id {:?}; find ids with search_menu",
                    args.item_id
                ),
            );
        };
        let mut value = item_summary(category, item);
        value["optionGroups"] = item
            .option_groups
            .iter()
            .map(|group| {
                json!({
                    "id": group.id, "name": group.name, "min": group.min, "max": group.max,
                    "options": group.options.iter().map(|o| json!({
                        "id": o.id, "name": o.name,
                        "priceCents": o.price_cents, "price": money::format(o.price_cents),
                        "totalCents": item.price_cents + o.price_cents,
                        "total": money::format(item.price_cents + o.price_cents),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        value
    }

    fn store_status(&self) -> Value {
        let profile = &self.knowledge.profile;
        let local = self.now.to_zoned(self.tz.clone());
        let mut value = json!({
            "now": super::prompt::local_time_of(&local),
            "timezone": self.tz.iana_name().unwrap_or("UTC"),
        });
        match status::status(profile, &self.tz, self.now) {
            None => {
                value["hoursKnown"] = false.into();
                value["message"] = "the store has not entered its opening hours".into();
            }
            Some(s) => {
                value["hoursKnown"] = true.into();
                value["open"] = s.open.into();
                value["today"] = status::today_hours(profile, &self.tz, self.now).into();
                if let Some(at) = s.closes_at {
                    value["closesAt"] = status::when(&self.tz, self.now, at).into();
                }
                if let Some(at) = s.opens_at {
                    value["opensAt"] = status::when(&self.tz, self.now, at).into();
                }
            }
        }
        value
    }

    fn quote(&self, args: Quote) -> Value {
        let delivery = &self.knowledge.profile.delivery;
        if args.neighborhood.trim().is_empty() {
            return error("invalid_arguments", "neighborhood must not be empty");
        }
        let mut value = match delivery.zone_for(&args.neighborhood) {
            Some(zone) => json!({
                "served": true, "zone": zone.name,
                "feeCents": zone.fee_cents, "fee": money::format(zone.fee_cents),
                "minOrderCents": zone.min_order_cents,
                "minOrder": money::format(zone.min_order_cents),
                "etaMinutes": zone.eta_minutes,
            }),
            None => json!({"served": false}),
        };
        value["neighborhood"] = args.neighborhood.trim().into();
        value["pickup"] = delivery.pickup.into();
        if let (true, Some(address)) = (delivery.pickup, &self.knowledge.profile.address) {
            value["pickupAddress"] = address.as_str().into();
        }
        value
    }

    fn payments(&self) -> Value {
        let payments = &self.knowledge.profile.payments;
        json!({
            "pix": payments.pix.as_ref().map(|pix| json!({
                "keyType": pix.key_type, "key": pix.key, "merchantName": pix.merchant_name,
            })),
            "cash": payments.cash,
            "card": payments.card,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn knowledge(items: usize) -> Knowledge {
        let items: Vec<Value> = (0..items)
            .map(|i| json!({"id": format!("pizza-{i}"), "name": format!("Pizza {i}"), "priceCents": 3000 + i as i64}))
            .collect();
        let menu = json!({"categories": [
            {"id": "pizzas", "name": "Pizzas", "items": items},
            {"id": "bebidas", "name": "Bebidas", "items": [{"id": "agua", "name": "Água", "priceCents": 500}]}]});
        Knowledge {
            menu: serde_json::from_value(menu).unwrap(),
            ..Knowledge::default()
        }
    }

    fn tools(knowledge: &Knowledge) -> StoreTools<'_> {
        StoreTools::new(
            knowledge,
            status::zone("America/Sao_Paulo"),
            Timestamp::UNIX_EPOCH,
        )
    }

    #[test]
    fn searches_are_capped_and_an_empty_one_lists_the_categories() {
        let k = knowledge(40);
        let t = tools(&k);
        let all = t.run("search_menu", r#"{"query":"pizza"}"#);
        assert_eq!(all["count"], 40);
        assert_eq!(all["truncated"], true);
        assert_eq!(all["items"].as_array().unwrap().len(), SEARCH_LIMIT);
        let drinks = t.run("search_menu", r#"{"category":"BEBIDAS"}"#);
        assert_eq!(drinks["items"][0]["name"], "Água");
        assert_eq!(drinks["items"][0]["price"], "R$ 5,00");
        let none = t.run("search_menu", r#"{"query":"lasanha"}"#);
        assert_eq!(none["count"], 0);
        assert_eq!(
            none["categories"][1],
            json!({"id": "bebidas", "name": "Bebidas"})
        );
    }

    #[test]
    fn an_empty_profile_has_no_hours_no_zones_and_no_payments() {
        let k = knowledge(1);
        let t = tools(&k);
        let status = t.run("store_status", "{}");
        assert_eq!(status["hoursKnown"], false);
        assert!(
            status.get("open").is_none(),
            "never 'closed' without hours: {status}"
        );
        let quote = t.run("quote_delivery", r#"{"neighborhood":"Centro"}"#);
        assert_eq!(
            (quote["served"].clone(), quote["pickup"].clone()),
            (json!(false), json!(false))
        );
        assert_eq!(
            t.run("quote_delivery", r#"{"neighborhood":"  "}"#)["error"]["code"],
            "invalid_arguments"
        );
        assert_eq!(
            t.run("payment_methods", "{}"),
            json!({"pix": null, "cash": false, "card": false})
        );
    }
}
