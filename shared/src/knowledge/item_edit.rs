//! One item of the stored menu changed (the sold-out switch, a price) by parsing only the
//! category that holds it.
//!
//! `PATCH …/menu/items/{itemId}` changes one field of one item, yet parsing the whole
//! stored menu to find it and encoding it all again was most of the switch's time on a
//! 500-item menu. The head's index (`super::index`) says which category lists the item and
//! where it lies in the stored JSON: that category alone is parsed, changed and encoded;
//! the others are copied as stored. The result is byte for byte what parsing, changing and
//! encoding the whole menu gives (a stored category is canonical: see `super::rebase`), and
//! the chunks are cut by the same rule, so the save still rewrites only the chunk that
//! changed. Without a usable index the caller parses the whole menu, as before.

use super::encode::{MenuEncoder, MenuJson};
use super::index::{self, start_of};
use crate::domain::borrowed::Borrowed;
use crate::domain::menu::{Category, Item};

/// What [`change_item`] found.
#[derive(Debug)]
pub(super) enum ItemChange<R> {
    /// The menu with the item changed, and what the change returned.
    Changed(MenuJson, R),
    /// The index lists no item with that id.
    NoSuchItem,
}

/// The stored menu (`json`, whose categories `index` lists) with the item `item_id` changed
/// by `change`. `None` when the index doesn't describe `json`, or the category it names
/// doesn't parse or hold the item, or the result is too big: parse the whole menu instead.
pub(super) fn change_item<R>(
    json: &[u8],
    index: &str,
    item_id: &str,
    change: impl FnOnce(&mut Item<Borrowed>) -> R,
) -> Option<ItemChange<R>> {
    let marks = index::parse(index, json.len())?;
    let Some(k) = (marks.iter()).position(|mark| mark.items().any(|id| id == item_id)) else {
        return Some(ItemChange::NoSuchItem);
    };
    let text = simdutf8::basic::from_utf8(&json[start_of(&marks, k)..marks[k].end]).ok()?;
    let mut category: Category<Borrowed> = serde_json::from_str(text).ok()?;
    if category.id.as_ref() != marks[k].id {
        return None;
    }
    let item = (category.items.iter_mut()).find(|item| item.id.as_ref() == item_id)?;
    let outcome = change(item);
    let mut encoder = MenuEncoder::with_capacity(json.len() + 16);
    for (j, mark) in marks.iter().enumerate() {
        if j == k {
            encoder.push(&category).ok()?;
        } else {
            encoder.copy(&json[start_of(&marks, j)..mark.end], mark);
        }
    }
    Some(ItemChange::Changed(encoder.finish().ok()?, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::menu::{ItemPatch, Menu};
    use crate::knowledge::encode_menu;
    use crate::knowledge::rebase;

    const SOLD_OUT: ItemPatch = ItemPatch {
        available: Some(false),
        price_cents: None,
    };

    /// The test menu of `super::rebase`, as stored.
    fn menu(categories: usize, items: usize) -> Menu {
        let mut menu: Menu =
            serde_json::from_value(rebase::tests::menu(categories, items)).unwrap();
        menu.normalize();
        menu.validate().unwrap();
        menu
    }

    /// The whole menu parsed, the item patched, encoded again: what the switch did before.
    fn whole(menu: &Menu, item_id: &str, patch: &ItemPatch) -> MenuJson {
        let mut menu = menu.clone();
        menu.patch_item(item_id, patch).expect("the item");
        encode_menu(&menu).unwrap()
    }

    fn patched(json: &MenuJson, item_id: &str, patch: &ItemPatch) -> Option<ItemChange<i64>> {
        change_item(json.as_bytes(), json.index(), item_id, |item| {
            patch.apply(item);
            item.price_cents
        })
    }

    #[test]
    fn the_same_bytes_and_chunks_as_the_whole_menu() {
        let sold_out = SOLD_OUT;
        let dearer = ItemPatch {
            available: None,
            price_cents: Some(1_234_567),
        };
        let cheaper = ItemPatch {
            available: Some(true),
            price_cents: Some(0),
        };
        // One chunk, then several (the edited category in the first, a middle, the last).
        for (categories, items) in [(3, 4), (30, 16)] {
            let menu = menu(categories, items);
            let stored = encode_menu(&menu).unwrap();
            let (last, middle) = ((categories - 1, items - 1), (categories / 2, items / 2));
            for (c, i) in [(0, 0), (0, 1), (1, 0), middle, last] {
                for patch in [&sold_out, &dearer, &cheaper] {
                    let id = format!("item-{c}-{i}");
                    let expected = whole(&menu, &id, patch);
                    match patched(&stored, &id, patch) {
                        Some(ItemChange::Changed(json, price)) => {
                            assert_eq!(json, expected, "{id} {patch:?}");
                            if let Some(cents) = patch.price_cents {
                                assert_eq!(price, cents, "what the change returned");
                            }
                        }
                        other => panic!("{id}: {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn an_item_the_index_does_not_list_is_not_found() {
        let stored = encode_menu(&menu(3, 4)).unwrap();
        let patch = SOLD_OUT;
        assert!(matches!(
            patched(&stored, "item-9-9", &patch),
            Some(ItemChange::NoSuchItem)
        ));
        // A prefix of a listed id is not that id.
        assert!(matches!(
            patched(&stored, "item-1-1", &patch),
            Some(ItemChange::Changed(..))
        ));
        assert!(matches!(
            patched(&stored, "item-1-", &patch),
            Some(ItemChange::NoSuchItem)
        ));
    }

    #[test]
    fn an_index_that_does_not_describe_the_json_is_left_to_the_whole_parse() {
        let stored = encode_menu(&menu(3, 4)).unwrap();
        let patch = SOLD_OUT;
        let change = |json: &[u8], index: &str| {
            change_item(json, index, "item-1-1", |item| patch.apply(item)).is_none()
        };
        // Another format, another length of JSON, ends shifted off the categories.
        assert!(change(stored.as_bytes(), "menu-index 0\n"));
        assert!(change(&stored.as_bytes()[1..], stored.index()));
        let index = stored.index();
        let first_end = index.lines().nth(1).unwrap().split(' ').next().unwrap();
        let end: usize = first_end.parse().unwrap();
        let shifted = index.replacen(&format!("\n{end} "), &format!("\n{} ", end - 1), 1);
        assert_ne!(shifted, index);
        assert!(change(stored.as_bytes(), &shifted));
        // The index names another category where the item is listed.
        let renamed = stored.index().replace(" cat-1 ", " cat-9 ");
        assert!(change(stored.as_bytes(), &renamed));
    }
}
