//! The price guard: no amount of money reaches a customer unless the store's data has it.
//!
//! A reply may mention an amount ([`super::money::amounts`] says which forms are caught)
//! only if it equals one of:
//! - a price in the menu (every item, available or not) or an option's price;
//! - a delivery zone's fee or minimum order;
//! - an amount the owner wrote: in the base prompt, the closed message, or in this chat
//!   (the owner's messages in the history);
//! - an amount in a tool result of this turn (every `…Cents` field), which is how an item
//!   with an option (`totalCents` of `get_item`) becomes sayable.
//!
//! Sums are not allowed by themselves: "2 × R$ 45,90 = R$ 91,80" fails unless a tool
//! returned 9180 (order totals come with the orders' quote tool). Amounts the customer
//! wrote are not allowed either, so a customer can't get a made-up price confirmed by
//! writing it first. A reply that fails is sent back to the model once, without tools,
//! naming the amounts ([`correction`]); if the second try fails too the customer gets
//! [`SAFE_REPLY`].

use std::collections::BTreeSet;

use serde_json::Value;

use super::chat::{Entry, Role};
use super::money;
use crate::domain::bot_config::BotConfig;
use crate::knowledge::Knowledge;

/// What the customer gets when the model can't keep to the store's prices.
pub const SAFE_REPLY: &str = "Vou confirmar esse valor com a equipe e já te respondo.";

/// The amounts (centavos) a reply of this turn may mention.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allowed(BTreeSet<i64>);

impl Allowed {
    /// The amounts in the store's data and in the owner's own words.
    pub fn from_store(knowledge: &Knowledge, config: &BotConfig, history: &[Entry]) -> Self {
        let mut allowed = Self::default();
        for category in &knowledge.menu.categories {
            for item in &category.items {
                allowed.0.insert(item.price_cents);
                for group in &item.option_groups {
                    allowed
                        .0
                        .extend(group.options.iter().map(|option| option.price_cents));
                }
            }
        }
        for zone in &knowledge.profile.delivery.zones {
            allowed.0.extend([zone.fee_cents, zone.min_order_cents]);
        }
        let owner_texts = [
            config.base_prompt.as_deref(),
            knowledge.profile.closed_message.as_deref(),
        ];
        for text in owner_texts.into_iter().flatten() {
            allowed.0.extend(money::amounts(text));
        }
        for entry in history.iter().filter(|e| e.role == Role::Owner) {
            allowed.0.extend(money::amounts(&entry.text));
        }
        allowed
    }

    pub fn contains(&self, cents: i64) -> bool {
        self.0.contains(&cents)
    }

    pub fn insert(&mut self, cents: i64) {
        self.0.insert(cents);
    }

    /// Every `…Cents` number in a tool result becomes sayable for the rest of the turn.
    pub fn add_result(&mut self, result: &Value) {
        match result {
            Value::Object(map) => {
                for (key, value) in map {
                    match value.as_i64() {
                        Some(cents) if key.ends_with("Cents") => {
                            self.0.insert(cents);
                        }
                        _ => self.add_result(value),
                    }
                }
            }
            Value::Array(values) => values.iter().for_each(|v| self.add_result(v)),
            _ => {}
        }
    }

    /// The amounts of `text` that are not allowed, in order (repeats included).
    pub fn invented(&self, text: &str) -> Vec<i64> {
        money::amounts(text)
            .into_iter()
            .filter(|cents| !self.contains(*cents))
            .collect()
    }
}

/// The message that sends a reply with invented amounts back to the model (not the
/// customer's words: it says so).
pub fn correction(invented: &[i64]) -> String {
    let mut named: Vec<String> = Vec::new();
    for cents in invented {
        let text = money::format(*cents);
        if !named.contains(&text) {
            named.push(text);
        }
    }
    format!(
        "[Verificação automática da loja, não é o cliente] Sua resposta cita valores que não \
         estão nos dados da loja nem nos resultados das ferramentas: {}. Reescreva a resposta \
         ao cliente sem esses valores: use somente preços e taxas que vieram das ferramentas, \
         sem somar nem calcular totais; se não tiver o valor, diga que vai confirmar com a \
         equipe.",
        named.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_results_allow_their_cents_fields_only() {
        let mut allowed = Allowed::default();
        allowed.add_result(&json!({
            "items": [{"id": "calabresa", "priceCents": 4590, "price": "R$ 45,90",
                "optionGroups": [{"min": 1, "max": 1, "options": [{"priceCents": 1000, "totalCents": 5590}]}]}],
            "feeCents": 700, "etaMinutes": 40, "total": 3
        }));
        for cents in [4590, 1000, 5590, 700] {
            assert!(allowed.contains(cents), "{cents}");
        }
        assert!(!allowed.contains(4000) && !allowed.contains(300));
        assert_eq!(
            allowed.invented(
                "A calabresa sai R$ 45,90, com a grande R$ 55,90; 2 saem R$ 91,80 e a taxa 7 reais"
            ),
            [9180]
        );
    }

    #[test]
    fn the_correction_names_each_amount_once() {
        let text = correction(&[9180, 100, 9180]);
        assert!(text.contains("R$ 91,80, R$ 1,00."), "{text}");
        assert_eq!(text.matches("91,80").count(), 1);
    }
}
