//! The store's menu (cardápio): categories of items with their price, availability and
//! option groups ("Tamanho": choose exactly 1; "Adicionais": up to 3). It is what the
//! attendant quotes from — every price the bot says comes from here — so it is data with
//! strict rules rather than free text: the routes (`/api/client/{storeId}/menu`) check it
//! with [`Menu::validate`] before anything is stored, and the bot's tools read it with
//! [`Menu::item`] and [`Menu::search`].
//!
//! Money is integer centavos (`priceCents`). An option's price is what it adds to the item.
//! Errors name the JSON path of the bad field (`categories[2].items[0].priceCents`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::borrowed::MenuText;
use super::error::DomainError;
use super::text::fold;
use super::validate;

pub const MAX_CATEGORIES: usize = 50;
/// Items in the whole menu.
pub const MAX_ITEMS: usize = 500;
pub const MAX_GROUPS_PER_ITEM: usize = 10;
pub const MAX_OPTIONS_PER_GROUP: usize = 30;
pub const NAME_MAX: usize = 80;
pub const DESCRIPTION_MAX: usize = 500;
pub const ID_MAX: usize = 40;
/// R$ 100.000,00: the most an item or option may cost.
pub const PRICE_MAX_CENTS: i64 = 10_000_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Menu<S = String> {
    pub categories: Vec<Category<S>>,
    /// When the menu was last saved (RFC 3339); set by the store, ignored on input.
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Category<S = String> {
    pub id: S,
    pub name: S,
    #[serde(default)]
    pub items: Vec<Item<S>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct Item<S = String> {
    pub id: S,
    pub name: S,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<S>,
    pub price_cents: i64,
    /// `false`: sold out (the bot doesn't offer it). Defaults to `true`.
    #[serde(default = "yes")]
    pub available: bool,
    #[serde(default)]
    pub option_groups: Vec<OptionGroup<S>>,
    /// The item's code in the store's Saipos POS (its "código de integração"): sent as
    /// `integration_code` when an accepted order goes to the Saipos Order API
    /// (`saipos/orders.rs`). Optional: without it the line goes by name only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saipos_code: Option<S>,
}

/// The longest `saiposCode`.
pub const SAIPOS_CODE_MAX: usize = 60;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct OptionGroup<S = String> {
    pub id: S,
    pub name: S,
    /// The fewest options the customer must choose (1 with `max` 1: exactly one).
    pub min: u32,
    /// The most options the customer may choose.
    pub max: u32,
    pub options: Vec<MenuOption<S>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct MenuOption<S = String> {
    pub id: S,
    pub name: S,
    /// What choosing this option adds to the item's price (0 for none).
    pub price_cents: i64,
}

/// Body of `PATCH /api/client/{storeId}/menu/items/{itemId}`: the quick switches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemPatch {
    pub available: Option<bool>,
    pub price_cents: Option<i64>,
}

impl ItemPatch {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.available.is_none() && self.price_cents.is_none() {
            return Err(DomainError::refused(
                "nothing_to_update",
                "send available and/or priceCents",
            ));
        }
        if let Some(cents) = self.price_cents {
            check_price(|| "priceCents".into(), cents)?;
        }
        Ok(())
    }

    /// Sets what the patch sends on `item`.
    pub fn apply<S>(&self, item: &mut Item<S>) {
        if let Some(available) = self.available {
            item.available = available;
        }
        if let Some(cents) = self.price_cents {
            item.price_cents = cents;
        }
    }
}

/// What replacing one menu by another changes, by id (the import's preview).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuDiff {
    pub categories_added: Vec<String>,
    pub categories_removed: Vec<String>,
    pub items_added: Vec<String>,
    pub items_removed: Vec<String>,
    /// Items in both whose name, price, availability, options, … differ.
    pub items_changed: Vec<String>,
    pub items_unchanged: usize,
}

/// Is `id` a menu id: 1 to 40 of `a-z`, `0-9` and `-`?
pub fn is_id(id: &str) -> bool {
    (1..=ID_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A menu id made from a name: "Pizza Calabresa Grande" → `pizza-calabresa-grande`
/// (accents dropped, at most 40 characters; `fallback` when nothing is left).
pub fn slug(name: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in fold(name).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(ID_MAX).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out
    }
}

// The checks take the field's path as a closure: a menu has thousands of fields, and their
// paths are only spelled out for the one that fails.

/// A JSON path, built only when an error names it.
type At<'a> = &'a dyn Fn() -> String;

fn field(at: At, name: &str) -> String {
    format!("{}.{name}", at())
}

fn check_id(path: impl FnOnce() -> String, id: &str) -> Result<(), DomainError> {
    if is_id(id) {
        return Ok(());
    }
    let path = path();
    let message = format!("{path} must be 1 to {ID_MAX} characters of a-z, 0-9 and - (got {id:?})");
    Err(DomainError::invalid(path, message))
}

fn check_count(
    path: impl FnOnce() -> String,
    count: usize,
    max: usize,
    what: &str,
) -> Result<(), DomainError> {
    if count <= max {
        return Ok(());
    }
    let path = path();
    let message = format!("{path}: at most {max} {what} (got {count})");
    Err(DomainError::invalid(path, message))
}

fn check_price(path: impl FnOnce() -> String, cents: i64) -> Result<(), DomainError> {
    if (0..=PRICE_MAX_CENTS).contains(&cents) {
        return Ok(());
    }
    validate::range(path(), cents, 0, PRICE_MAX_CENTS, " centavos").map(|_| ())
}

fn check_text(
    path: impl FnOnce() -> String,
    value: &str,
    max: usize,
    min: usize,
    multiline: bool,
) -> Result<(), DomainError> {
    validate::check_text(value, min, max, multiline)
        .map(|_| ())
        .map_err(|problem| validate::text_error(path(), problem, min, max))
}

fn check_name(path: impl FnOnce() -> String, name: &str) -> Result<(), DomainError> {
    check_text(path, name, NAME_MAX, 1, false)
}

fn duplicate(path: String, what: &str, id: &str) -> DomainError {
    let message = format!("{path}: {what} {id:?} is used twice");
    DomainError::invalid(path, message)
}

/// Is `id` already the id of one of the first `before` of `ids`? (Groups and options are
/// few: a scan beats a set.)
fn repeated<'a>(mut ids: impl Iterator<Item = &'a str>, before: usize, id: &str) -> bool {
    ids.by_ref().take(before).any(|other| other == id)
}

impl<S: MenuText> Menu<S> {
    /// Trims every text and drops empty descriptions, so what is stored is what is shown.
    pub fn normalize(&mut self) {
        for category in &mut self.categories {
            category.normalize();
        }
    }

    /// Every rule of the contract; the error names the path of the first bad field.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut check = MenuCheck::default();
        for category in &self.categories {
            check.category(category);
        }
        check.finish()
    }

    /// The number of items in the whole menu.
    pub fn item_count(&self) -> usize {
        self.categories.iter().map(|c| c.items.len()).sum()
    }
    /// Applies a (validated) patch to the item with this id; `None` if there is none.
    pub fn patch_item(&mut self, id: &str, patch: &ItemPatch) -> Option<&Item<S>> {
        let item = self
            .categories
            .iter_mut()
            .flat_map(|c| c.items.iter_mut())
            .find(|item| item.id.as_ref() == id)?;
        patch.apply(item);
        Some(item)
    }
}

impl Menu {
    /// The item with this id and its category.
    pub fn item(&self, id: &str) -> Option<(&Category, &Item)> {
        self.items().find(|(_, item)| item.id == id)
    }

    /// What changes when `next` replaces this menu.
    pub fn diff(&self, next: &Menu) -> MenuDiff {
        let mut diff = MenuDiff::default();
        let ids =
            |m: &Menu| -> HashSet<String> { m.categories.iter().map(|c| c.id.clone()).collect() };
        let (before, after) = (ids(self), ids(next));
        diff.categories_added = next
            .categories
            .iter()
            .map(|c| c.id.clone())
            .filter(|id| !before.contains(id))
            .collect();
        diff.categories_removed = self
            .categories
            .iter()
            .map(|c| c.id.clone())
            .filter(|id| !after.contains(id))
            .collect();
        for (_, item) in next.items() {
            match self.item(&item.id) {
                None => diff.items_added.push(item.id.clone()),
                Some((_, old)) if old != item => diff.items_changed.push(item.id.clone()),
                Some(_) => diff.items_unchanged += 1,
            }
        }
        diff.items_removed = self
            .items()
            .filter(|(_, item)| next.item(&item.id).is_none())
            .map(|(_, item)| item.id.clone())
            .collect();
        diff
    }

    /// Every item with its category, in menu order.
    pub fn items(&self) -> impl Iterator<Item = (&Category, &Item)> {
        self.categories
            .iter()
            .flat_map(|c| c.items.iter().map(move |i| (c, i)))
    }

    /// Items matching every word of `query` in their name, description or category's name,
    /// ignoring case and accents ("pao de queijo" finds "Pão de Queijo"), in the category
    /// given by id or name (if any), available ones only unless `include_unavailable`.
    /// Items whose name holds the whole query come first, then menu order.
    pub fn search(
        &self,
        query: Option<&str>,
        category: Option<&str>,
        include_unavailable: bool,
    ) -> Vec<(&Category, &Item)> {
        let query = query.map(fold).unwrap_or_default();
        let words: Vec<&str> = query.split(' ').filter(|w| !w.is_empty()).collect();
        let category = category.map(fold).filter(|c| !c.is_empty());
        let mut found: Vec<(bool, &Category, &Item)> = self
            .items()
            .filter(|(_, item)| include_unavailable || item.available)
            .filter(|(c, _)| {
                category
                    .as_deref()
                    .is_none_or(|wanted| c.id == wanted || fold(&c.name) == wanted)
            })
            .filter_map(|(c, item)| {
                let name = fold(&item.name);
                let haystack = format!(
                    "{name} {} {}",
                    item.description.as_deref().map(fold).unwrap_or_default(),
                    fold(&c.name)
                );
                words
                    .iter()
                    .all(|w| haystack.contains(w))
                    .then(|| (!query.is_empty() && name.contains(&query), c, item))
            })
            .collect();
        // Stable: menu order within each rank.
        found.sort_by_key(|(in_name, _, _)| !in_name);
        found.into_iter().map(|(_, c, i)| (c, i)).collect()
    }
}

impl<S: MenuText> Category<S> {
    /// [`Menu::normalize`] for one category.
    pub fn normalize(&mut self) {
        self.id.trim();
        self.name.trim();
        for item in &mut self.items {
            item.id.trim();
            item.name.trim();
            if let Some(description) = &mut item.description {
                description.trim();
            }
            if item
                .description
                .as_ref()
                .is_some_and(|d| d.as_ref().is_empty())
            {
                item.description = None;
            }
            for group in &mut item.option_groups {
                group.id.trim();
                group.name.trim();
                for option in &mut group.options {
                    option.id.trim();
                    option.name.trim();
                }
            }
        }
    }
}

/// The checks of [`Menu::validate`], one category at a time, so that categories sent back
/// as they were stored need not be parsed to be counted (`knowledge::rebase`, with
/// [`MenuCheck::kept`]). Fed every category in order, it ends with the error `validate`
/// gives: the count of categories first, then the first bad field. It keeps the ids it has
/// seen, not the categories.
#[derive(Debug, Default)]
pub struct MenuCheck {
    categories: usize,
    items: usize,
    category_ids: HashSet<Id>,
    item_ids: HashSet<Id>,
    error: Option<DomainError>,
}

/// A checked menu id, kept by value (at most [`ID_MAX`] ASCII bytes): the checker outlives
/// the categories it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Id {
    len: u8,
    bytes: [u8; ID_MAX],
}

impl Id {
    /// `id`, which [`is_id`] has accepted.
    fn of(id: &str) -> Id {
        let mut bytes = [0; ID_MAX];
        bytes[..id.len()].copy_from_slice(id.as_bytes());
        Id {
            len: id.len() as u8,
            bytes,
        }
    }
}

impl MenuCheck {
    /// Checks the next category; whether it passed (after a bad field or past
    /// [`MAX_CATEGORIES`] the rest are only counted).
    pub fn category<S: MenuText>(&mut self, category: &Category<S>) -> bool {
        self.next(|check, c| {
            let at = || format!("categories[{c}]");
            check.add_category(c, category.id.as_ref())?;
            check_name(|| field(&at, "name"), category.name.as_ref())?;
            for (i, item) in category.items.iter().enumerate() {
                check.add_item(c, i, item.id.as_ref())?;
                item.validate(&|| format!("categories[{c}].items[{i}]"))?;
            }
            Ok(())
        })
    }

    /// Counts a category stored earlier and sent back unchanged (`knowledge::rebase`): only
    /// its id and its items' ids are checked against the others, the rest was checked when
    /// it was saved. Whether it passed.
    pub fn kept<'i>(&mut self, id: &str, items: impl IntoIterator<Item = &'i str>) -> bool {
        self.next(|check, c| {
            check.add_category(c, id)?;
            for (i, id) in items.into_iter().enumerate() {
                check.add_item(c, i, id)?;
            }
            Ok(())
        })
    }

    /// The items of the categories checked so far.
    pub fn items(&self) -> usize {
        self.items
    }

    /// The verdict on the whole menu, once every category has been seen.
    pub fn finish(self) -> Result<(), DomainError> {
        check_count(
            || "categories".into(),
            self.categories,
            MAX_CATEGORIES,
            "categories",
        )?;
        self.error.map_or(Ok(()), Err)
    }

    /// Counts the next category and runs `check` on it (given its position), unless an
    /// earlier one failed or it is past [`MAX_CATEGORIES`]; keeps the first error.
    fn next(&mut self, check: impl FnOnce(&mut Self, usize) -> Result<(), DomainError>) -> bool {
        let c = self.categories;
        self.categories += 1;
        if self.error.is_some() || c >= MAX_CATEGORIES {
            return false;
        }
        match check(self, c) {
            Ok(()) => true,
            Err(error) => {
                self.error = Some(error);
                false
            }
        }
    }

    /// Category `c`'s id: well formed and not seen before.
    fn add_category(&mut self, c: usize, id: &str) -> Result<(), DomainError> {
        let at = || format!("categories[{c}]");
        check_id(|| field(&at, "id"), id)?;
        if !self.category_ids.insert(Id::of(id)) {
            return Err(duplicate(field(&at, "id"), "category id", id));
        }
        Ok(())
    }

    /// Item `i` of category `c`: within [`MAX_ITEMS`], its id well formed and not seen
    /// before.
    fn add_item(&mut self, c: usize, i: usize, id: &str) -> Result<(), DomainError> {
        let at = || format!("categories[{c}].items[{i}]");
        if self.items == MAX_ITEMS {
            let message = format!("the menu may have at most {MAX_ITEMS} items");
            return Err(DomainError::invalid(at(), message));
        }
        check_id(|| field(&at, "id"), id)?;
        if !self.item_ids.insert(Id::of(id)) {
            return Err(duplicate(field(&at, "id"), "item id", id));
        }
        self.items += 1;
        Ok(())
    }
}

impl<S: MenuText> Item<S> {
    fn validate(&self, at: At) -> Result<(), DomainError> {
        check_name(|| field(at, "name"), self.name.as_ref())?;
        if let Some(description) = &self.description {
            check_text(
                || field(at, "description"),
                description.as_ref(),
                DESCRIPTION_MAX,
                0,
                true,
            )?;
        }
        check_price(|| field(at, "priceCents"), self.price_cents)?;
        if let Some(code) = &self.saipos_code {
            check_text(
                || field(at, "saiposCode"),
                code.as_ref(),
                SAIPOS_CODE_MAX,
                1,
                false,
            )?;
        }
        check_count(
            || field(at, "optionGroups"),
            self.option_groups.len(),
            MAX_GROUPS_PER_ITEM,
            "option groups per item",
        )?;
        for (g, group) in self.option_groups.iter().enumerate() {
            let at = || format!("{}.optionGroups[{g}]", at());
            let id = group.id.as_ref();
            check_id(|| field(&at, "id"), id)?;
            if repeated(self.option_groups.iter().map(|g| g.id.as_ref()), g, id) {
                return Err(duplicate(field(&at, "id"), "option group id", id));
            }
            group.validate(&at)?;
        }
        Ok(())
    }
}

impl<S: MenuText> OptionGroup<S> {
    fn validate(&self, at: At) -> Result<(), DomainError> {
        check_name(|| field(at, "name"), self.name.as_ref())?;
        check_count(
            || field(at, "options"),
            self.options.len(),
            MAX_OPTIONS_PER_GROUP,
            "options per group",
        )?;
        if self.max as usize > self.options.len() {
            let path = field(at, "max");
            let message = format!(
                "{path} must be at most the number of options ({}, got {})",
                self.options.len(),
                self.max
            );
            return Err(DomainError::invalid(path, message));
        }
        if self.min > self.max {
            let path = field(at, "min");
            let message = format!(
                "{path} must be at most max ({}, got {})",
                self.max, self.min
            );
            return Err(DomainError::invalid(path, message));
        }
        for (o, option) in self.options.iter().enumerate() {
            let at = || format!("{}.options[{o}]", at());
            let id = option.id.as_ref();
            check_id(|| field(&at, "id"), id)?;
            if repeated(self.options.iter().map(|o| o.id.as_ref()), o, id) {
                return Err(duplicate(field(&at, "id"), "option id", id));
            }
            check_name(|| field(&at, "name"), option.name.as_ref())?;
            check_price(|| field(&at, "priceCents"), option.price_cents)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn menu(value: serde_json::Value) -> Menu {
        serde_json::from_value(value).unwrap()
    }

    fn sample() -> Menu {
        menu(json!({"categories": [
            {"id": "pizzas", "name": "Pizzas", "items": [
                {"id": "calabresa", "name": "Pizza Calabresa", "description": "Calabresa, cebola e azeitona",
                 "priceCents": 4590, "available": true, "optionGroups": [
                    {"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1, "options": [
                        {"id": "media", "name": "Média", "priceCents": 0},
                        {"id": "grande", "name": "Grande", "priceCents": 1000}]},
                    {"id": "adicionais", "name": "Adicionais", "min": 0, "max": 3, "options": [
                        {"id": "bacon", "name": "Bacon", "priceCents": 400},
                        {"id": "catupiry", "name": "Catupiry", "priceCents": 500},
                        {"id": "cheddar", "name": "Cheddar", "priceCents": 500}]}]},
                {"id": "portuguesa", "name": "Pizza Portuguesa", "priceCents": 4890, "available": false}]},
            {"id": "salgados", "name": "Salgados", "items": [
                {"id": "pao-de-queijo", "name": "Pão de Queijo", "priceCents": 800}]}]}))
    }

    fn field_of(m: &Menu) -> String {
        m.validate().unwrap_err().field().unwrap().to_owned()
    }

    #[test]
    fn a_good_menu_passes_and_defaults_apply() {
        let m = sample();
        m.validate().unwrap();
        let (_, pao) = m.item("pao-de-queijo").unwrap();
        assert!(pao.available && pao.option_groups.is_empty() && pao.description.is_none());
        // Round trip in the contract's shape.
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["categories"][0]["items"][0]["priceCents"], 4590);
        assert_eq!(back["updatedAt"], serde_json::Value::Null);
        assert!(back["categories"][1]["items"][0]
            .get("description")
            .is_none());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<Menu>(json!({"categories": [], "extra": 1})).is_err());
        assert!(serde_json::from_value::<Menu>(json!({"categories": [
            {"id": "a", "name": "A", "items": [{"id": "x", "name": "X", "price": 1}]}]}))
        .is_err());
    }

    #[test]
    fn every_field_is_checked_with_its_path() {
        type Case = (Box<dyn Fn(&mut Menu)>, &'static str);
        let cases: Vec<Case> = vec![
            (
                Box::new(|m| m.categories[1].id = "Salgados".into()),
                "categories[1].id",
            ),
            (
                Box::new(|m| m.categories[1].id = "pizzas".into()),
                "categories[1].id",
            ),
            (
                Box::new(|m| m.categories[1].id = "a".repeat(41)),
                "categories[1].id",
            ),
            (
                Box::new(|m| m.categories[0].name = " ".into()),
                "categories[0].name",
            ),
            (
                Box::new(|m| m.categories[0].items[1].id = "calabresa".into()),
                "categories[0].items[1].id",
            ),
            (
                Box::new(|m| m.categories[1].items[0].id = "calabresa".into()),
                "categories[1].items[0].id",
            ),
            (
                Box::new(|m| m.categories[1].items[0].id = "pão".into()),
                "categories[1].items[0].id",
            ),
            (
                Box::new(|m| m.categories[1].items[0].id = String::new()),
                "categories[1].items[0].id",
            ),
            (
                Box::new(|m| m.categories[0].items[1].name = "n".repeat(81)),
                "categories[0].items[1].name",
            ),
            (
                Box::new(|m| m.categories[0].items[1].description = Some("d".repeat(501))),
                "categories[0].items[1].description",
            ),
            (
                Box::new(|m| m.categories[0].items[1].price_cents = -1),
                "categories[0].items[1].priceCents",
            ),
            (
                Box::new(|m| m.categories[0].items[1].price_cents = 10_000_001),
                "categories[0].items[1].priceCents",
            ),
            (
                Box::new(|m| m.categories[0].items[0].option_groups[1].id = "tamanho".into()),
                "categories[0].items[0].optionGroups[1].id",
            ),
            (
                Box::new(|m| m.categories[0].items[0].option_groups[1].name = String::new()),
                "categories[0].items[0].optionGroups[1].name",
            ),
            (
                Box::new(|m| m.categories[0].items[0].option_groups[1].max = 4),
                "categories[0].items[0].optionGroups[1].max",
            ),
            (
                Box::new(|m| m.categories[0].items[0].option_groups[0].min = 2),
                "categories[0].items[0].optionGroups[0].min",
            ),
            (
                Box::new(|m| {
                    m.categories[0].items[0].option_groups[1].options[2].id = "bacon".into()
                }),
                "categories[0].items[0].optionGroups[1].options[2].id",
            ),
            (
                Box::new(|m| {
                    m.categories[0].items[0].option_groups[1].options[2].id = "Bacon!".into()
                }),
                "categories[0].items[0].optionGroups[1].options[2].id",
            ),
            (
                Box::new(|m| {
                    m.categories[0].items[0].option_groups[1].options[0].name = "x\u{7}".into()
                }),
                "categories[0].items[0].optionGroups[1].options[0].name",
            ),
            (
                Box::new(|m| m.categories[0].items[0].option_groups[1].options[0].price_cents = -5),
                "categories[0].items[0].optionGroups[1].options[0].priceCents",
            ),
        ];
        for (i, (change, path)) in cases.into_iter().enumerate() {
            let mut m = sample();
            change(&mut m);
            assert_eq!(field_of(&m), path, "case {i}");
        }
        // Bounds themselves are accepted.
        let mut m = sample();
        m.categories[0].items[1].price_cents = PRICE_MAX_CENTS;
        m.categories[0].items[1].description = Some("d".repeat(500));
        m.categories[0].items[1].name = "ç".repeat(80);
        m.categories[1].items[0].id = "a".repeat(40);
        m.categories[0].items[0].option_groups[1].max = 3;
        m.validate().unwrap();
    }

    #[test]
    fn counts_are_limited() {
        let item = |n: usize| Item {
            id: format!("i{n}"),
            name: format!("Item {n}"),
            description: None,
            price_cents: 100,
            available: true,
            option_groups: vec![],
            saipos_code: None,
        };
        let mut m = Menu {
            categories: vec![],
            updated_at: None,
        };
        m.categories = (0..MAX_CATEGORIES)
            .map(|c| Category {
                id: format!("c{c}"),
                name: format!("C {c}"),
                items: (0..10).map(|i| item(c * 10 + i)).collect(),
            })
            .collect();
        m.validate().unwrap();
        assert_eq!(m.item_count(), 500);
        m.categories[49].items.push(item(9999));
        assert_eq!(field_of(&m), "categories[49].items[10]");
        m.categories[49].items.pop();
        m.categories.push(Category {
            id: "extra".into(),
            name: "Extra".into(),
            items: vec![],
        });
        assert_eq!(field_of(&m), "categories");

        let mut m = sample();
        let group = m.categories[0].items[0].option_groups[0].clone();
        m.categories[0].items[0].option_groups = (0..11)
            .map(|g| OptionGroup {
                id: format!("g{g}"),
                ..group.clone()
            })
            .collect();
        assert_eq!(field_of(&m), "categories[0].items[0].optionGroups");
        m.categories[0].items[0].option_groups.truncate(10);
        m.validate().unwrap();
        m.categories[0].items[0].option_groups[0].options = (0..31)
            .map(|o| MenuOption {
                id: format!("o{o}"),
                name: format!("O {o}"),
                price_cents: 0,
            })
            .collect();
        assert_eq!(
            field_of(&m),
            "categories[0].items[0].optionGroups[0].options"
        );
        m.categories[0].items[0].option_groups[0]
            .options
            .truncate(30);
        m.validate().unwrap();
    }

    #[test]
    fn normalize_trims_and_drops_empty_descriptions() {
        let mut m = sample();
        m.categories[1].items[0].name = "  Pão de Queijo ".into();
        m.categories[1].items[0].description = Some("   ".into());
        m.normalize();
        assert_eq!(m.categories[1].items[0].name, "Pão de Queijo");
        assert_eq!(m.categories[1].items[0].description, None);
    }

    #[test]
    fn search_ignores_case_and_accents_and_skips_sold_out() {
        let m = sample();
        let ids = |found: Vec<(&Category, &Item)>| {
            found
                .into_iter()
                .map(|(_, i)| i.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(m.search(Some("PAO de queijo"), None, false)),
            ["pao-de-queijo"]
        );
        assert_eq!(ids(m.search(Some("cebola"), None, false)), ["calabresa"]);
        assert_eq!(ids(m.search(Some("pizza"), None, false)), ["calabresa"]);
        assert_eq!(
            ids(m.search(Some("pizza"), None, true)),
            ["calabresa", "portuguesa"]
        );
        assert_eq!(
            ids(m.search(None, Some("salgados"), false)),
            ["pao-de-queijo"]
        );
        assert_eq!(
            ids(m.search(None, Some("SALGADOS"), false)),
            ["pao-de-queijo"]
        );
        assert_eq!(
            ids(m.search(Some("pizza"), Some("salgados"), false)),
            Vec::<String>::new()
        );
        assert_eq!(
            ids(m.search(None, None, false)),
            ["calabresa", "pao-de-queijo"]
        );
        assert_eq!(
            ids(m.search(Some("sushi"), None, true)),
            Vec::<String>::new()
        );
        // Whole-name matches come first: "queijo" is in the Pão's name and only in the
        // description of a pizza listed before it.
        let mut m2 = m.clone();
        m2.categories[0].items[0].description = Some("Com queijo".into());
        assert_eq!(
            ids(m2.search(Some("queijo"), None, false)),
            ["pao-de-queijo", "calabresa"]
        );
        let (category, item) = m.item("portuguesa").unwrap();
        assert_eq!((category.id.as_str(), item.available), ("pizzas", false));
        assert!(m.item("nope").is_none());
    }

    #[test]
    fn patches_switch_availability_and_price() {
        let patch = |json: serde_json::Value| serde_json::from_value::<ItemPatch>(json);
        assert!(patch(json!({"sold": true})).is_err());
        let empty = patch(json!({})).unwrap();
        assert!(matches!(
            empty.validate(),
            Err(DomainError::Refused {
                code: "nothing_to_update",
                ..
            })
        ));
        let bad = patch(json!({"priceCents": -1})).unwrap();
        assert_eq!(bad.validate().unwrap_err().field(), Some("priceCents"));
        let sold_out = patch(json!({"available": false, "priceCents": 4990})).unwrap();
        sold_out.validate().unwrap();
        let mut m = sample();
        let item = m.patch_item("calabresa", &sold_out).unwrap();
        assert_eq!((item.available, item.price_cents), (false, 4990));
        assert!(m.search(Some("calabresa"), None, false).is_empty());
        assert!(m.patch_item("nope", &sold_out).is_none());
    }

    #[test]
    fn diffs_name_what_changes() {
        let old = sample();
        let mut new = sample();
        new.categories[0].items[1].price_cents += 100;
        new.categories[1].items.push(Item {
            id: "coxinha".into(),
            name: "Coxinha".into(),
            description: None,
            price_cents: 700,
            available: true,
            option_groups: vec![],
            saipos_code: None,
        });
        new.categories[0].items.remove(0);
        new.categories.push(Category {
            id: "bebidas".into(),
            name: "Bebidas".into(),
            items: vec![],
        });
        let diff = old.diff(&new);
        assert_eq!(diff.categories_added, ["bebidas"]);
        assert!(diff.categories_removed.is_empty());
        assert_eq!(diff.items_added, ["coxinha"]);
        assert_eq!(diff.items_removed, ["calabresa"]);
        assert_eq!(diff.items_changed, ["portuguesa"]);
        assert_eq!(diff.items_unchanged, 1);
        assert_eq!(Menu::default().diff(&Menu::default()), MenuDiff::default());
    }

    #[test]
    fn slugs_are_ids() {
        assert_eq!(
            slug("Pizza Calabresa (Grande)", "x"),
            "pizza-calabresa-grande"
        );
        assert_eq!(slug("Pão de Queijo", "x"), "pao-de-queijo");
        assert_eq!(slug("!!!", "item-3"), "item-3");
        let long = slug(&"abc ".repeat(30), "x");
        assert!(is_id(&long) && long.len() <= 40, "{long}");
    }
}
