//! A menu save that sends most categories back as they were stored, checked and encoded
//! by parsing only the ones that changed.
//!
//! The console sends the whole menu on every save, `{"categories":[…]}`, each category
//! written the way GET gave it (its keys in the stored order, compact): after one price is
//! edited, all but a few hundred bytes of a 500-item menu's half megabyte are the stored
//! JSON again. Parsing, checking and encoding all of it was ~1.5 ms of a save's ~2.2.
//!
//! Here the body's categories are compared with the stored JSON from both ends (a
//! `memcmp`); the categories inside the common prefix and suffix, as the head's index
//! (`super::index`) delimits them, are kept: copied as stored, their ids counted against
//! the others ([`MenuCheck::kept`]). Only the categories between are parsed, normalized,
//! checked and encoded. The result is byte for byte the full path's: a stored category is
//! canonical (normalized, checked under the index's rules, encoded by `super::encode`),
//! and parsing and encoding it again gives the same bytes. Anything else — another key
//! order or spacing, no index, a change spread over most of the menu, a rule broken
//! anywhere — answers `None`, and the caller takes the full path, which also words the
//! errors. `tests::the_same_as_the_full_path` holds the two to the same outcome.

use std::borrow::Cow;
use std::ops::Range;

use super::encode::{MenuEncoder, MenuJson};
use super::index::{self, start_of, Mark};
use crate::domain::borrowed::Borrowed;
use crate::domain::menu::{Category, MenuCheck};

/// What the console's body starts with; it ends with `}`.
const FRAME: &[u8] = br#"{"categories":"#;

/// Whether `body` looks like a menu sent back as GET gave it (`{"categories":[{"id":"…",
/// "name":…`, the stored key order), worth reading the stored menu for before parsing it.
/// A guess, on the first bytes: [`rebase`] decides.
pub fn sent_back(body: &[u8]) -> bool {
    let Some(rest) = body.strip_prefix(FRAME) else {
        return false;
    };
    let Some(id) = rest.strip_prefix(br#"[{"id":""#) else {
        return false;
    };
    id.iter()
        .position(|b| *b == b'"')
        .is_some_and(|end| id[end..].starts_with(br#"","name":"#))
}

/// The menu `body` asks for, over the stored JSON (`parts`, the chunks as read, in order)
/// and its `index`, with its number of items; `None` when the categories it changed can't
/// be told apart from the kept ones this way (take the full path).
pub(super) fn rebase(body: &[u8], parts: &[&[u8]], index: &str) -> Option<(MenuJson, usize)> {
    let sent = body.strip_prefix(FRAME)?.strip_suffix(b"}")?;
    let stored = Stored::new(parts);
    let marks = index::parse(index, stored.len)?;
    let span = changed_span(sent, &stored, &marks)?;
    let middle = simdutf8::basic::from_utf8(&sent[span.sent.clone()]).ok()?;
    // Serde parses a sequence: the changed categories between brackets.
    let mut text = String::with_capacity(middle.len() + 2);
    text.push('[');
    text.push_str(middle);
    text.push(']');
    let changed: Vec<Category<Borrowed>> = serde_json::from_str(&text).ok()?;
    if changed.is_empty() {
        return None;
    }
    let mut check = MenuCheck::default();
    let mut encoder = MenuEncoder::with_capacity(sent.len());
    let keep = |check: &mut MenuCheck, encoder: &mut MenuEncoder, k: usize| {
        let mark = &marks[k];
        let ok = check.kept(mark.id, mark.items());
        encoder.copy(&stored.slice(start_of(&marks, k)..mark.end), mark);
        ok
    };
    for k in 0..span.before {
        if !keep(&mut check, &mut encoder, k) {
            return None;
        }
    }
    for mut category in changed {
        category.normalize();
        if !check.category(&category) {
            return None;
        }
        encoder.push(&category).ok()?;
    }
    for k in marks.len() - span.after..marks.len() {
        if !keep(&mut check, &mut encoder, k) {
            return None;
        }
    }
    let items = check.items();
    check.finish().ok()?;
    Some((encoder.finish().ok()?, items))
}

/// The stored JSON as the chunks it was read in: not joined (half a megabyte copied for
/// nothing when the body turns out not to match).
struct Stored<'a> {
    parts: &'a [&'a [u8]],
    len: usize,
}

impl<'a> Stored<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Stored<'a> {
        let len = parts.iter().map(|part| part.len()).sum();
        Stored { parts, len }
    }

    /// The bytes in `range` (copied only when it spans two chunks, which only a category
    /// bigger than a chunk does).
    fn slice(&self, range: Range<usize>) -> Cow<'a, [u8]> {
        let mut at = 0;
        let mut pieces = Vec::new();
        for part in self.parts {
            let (from, to) = (range.start.max(at), range.end.min(at + part.len()));
            if from < to {
                pieces.push(&part[from - at..to - at]);
            }
            at += part.len();
        }
        match pieces.as_slice() {
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.concat()),
        }
    }

    /// How many bytes `sent` and the stored JSON have in common from the start.
    fn prefix(&self, sent: &[u8]) -> usize {
        let mut common = 0;
        for part in self.parts {
            let same = common_prefix(&sent[common.min(sent.len())..], part);
            common += same;
            if same < part.len() {
                break;
            }
        }
        common
    }

    /// How many bytes `sent` and the stored JSON have in common from the end.
    fn suffix(&self, sent: &[u8]) -> usize {
        let mut common = 0;
        for part in self.parts.iter().rev() {
            let same = common_suffix(&sent[..sent.len() - common.min(sent.len())], part);
            common += same;
            if same < part.len() {
                break;
            }
        }
        common
    }
}

/// The length of the longest common prefix, compared a block at a time (`memcmp`).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + BLOCK <= len && a[at..at + BLOCK] == b[at..at + BLOCK] {
        at += BLOCK;
    }
    at + a[at..len]
        .iter()
        .zip(&b[at..len])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of the longest common suffix, compared a block at a time.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let len = a.len().min(b.len());
    let (a, b) = (&a[a.len() - len..], &b[b.len() - len..]);
    let mut common = 0;
    while common + BLOCK <= len
        && a[len - common - BLOCK..len - common] == b[len - common - BLOCK..len - common]
    {
        common += BLOCK;
    }
    common
        + a[..len - common]
            .iter()
            .rev()
            .zip(b[..len - common].iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
}

/// The part of a body that differs from the stored JSON.
#[derive(Debug, PartialEq)]
struct Span {
    /// Stored categories kept before it, and after it.
    before: usize,
    after: usize,
    /// The body's bytes between them: one or more categories, comma-separated.
    sent: Range<usize>,
}

/// The categories `sent` changed, between the stored ones it kept byte for byte, each with
/// the comma or bracket beside it; `None` when that leaves nothing kept, or the changed
/// part is over half the body (parsing it all costs no more), or the kept ones overlap.
fn changed_span(sent: &[u8], stored: &Stored, marks: &[Mark]) -> Option<Span> {
    let prefix = stored.prefix(sent);
    let room = sent.len().min(stored.len) - prefix;
    let suffix = stored.suffix(sent).min(room);
    // A category is kept before the change when it and the separator after it are in the
    // common prefix; after the change when it and the separator before it are in the
    // common suffix.
    let before = marks.iter().take_while(|mark| mark.end < prefix).count();
    let after = (before..marks.len())
        .rev()
        .take_while(|&k| start_of(marks, k) > stored.len - suffix)
        .count();
    if before + after == 0 {
        return None;
    }
    let from = start_of(marks, before);
    // The stored JSON from the separator before the first category kept after (or `]`).
    let tail = stored.len
        - if after > 0 {
            start_of(marks, marks.len() - after) - 1
        } else {
            stored.len - 1
        };
    let to = sent.len().checked_sub(tail)?;
    // Both ends of the body outside the span must be the stored bytes.
    if from > prefix || tail > suffix || from >= to || (to - from) * 2 > sent.len() {
        return None;
    }
    Some(Span {
        before,
        after,
        sent: from..to,
    })
}

#[cfg(test)]
pub(in crate::knowledge) mod tests {
    use super::*;
    use crate::domain::menu::Menu;
    use crate::knowledge::encode::encode_menu;
    use serde_json::{json, Value};

    /// A menu of `categories` × `items` (ids `cat-{c}`, `item-{c}-{i}`), each item with a
    /// size group, names that need escaping.
    pub(in crate::knowledge) fn menu(categories: usize, items: usize) -> Value {
        let categories: Vec<Value> = (0..categories)
            .map(|c| {
                json!({
                    "id": format!("cat-{c}"),
                    "name": format!("Categoria {c}"),
                    "items": (0..items).map(|i| json!({
                        "id": format!("item-{c}-{i}"),
                        "name": format!("Item \"{c}\" nº {i}"),
                        "description": "Molho, queijo e orégano",
                        "priceCents": 1000 + i,
                        "available": true,
                        "optionGroups": [{"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1,
                            "options": [{"id": "media", "name": "Média", "priceCents": 0},
                                        {"id": "grande", "name": "Grande", "priceCents": 1000}]}]
                    })).collect::<Vec<_>>()
                })
            })
            .collect();
        json!({ "categories": categories })
    }

    /// What the console sends for `menu`: its categories as stored, in a frame.
    fn console_body(menu: &Value) -> Vec<u8> {
        let menu: Menu = serde_json::from_value(menu.clone()).expect("a menu");
        let json = encode_menu(&menu).expect("encodes");
        [FRAME, json.as_bytes(), b"}"].concat()
    }

    /// The full path: parse, normalize, validate, encode (`None`: refused).
    fn full(body: &[u8]) -> Option<(MenuJson, usize)> {
        let mut menu: Menu = serde_json::from_slice(body).ok()?;
        menu.normalize();
        menu.validate().ok()?;
        let items = menu.item_count();
        Some((encode_menu(&menu).ok()?, items))
    }

    /// The chunks `menu` is stored in.
    fn parts(menu: &MenuJson) -> Vec<&[u8]> {
        menu.pieces().collect()
    }

    /// The stored state after saving `menu` (its JSON, index).
    fn stored(menu: &Value) -> MenuJson {
        full(&console_body(menu)).expect("a valid menu").0
    }

    #[test]
    fn the_same_as_the_full_path() {
        // One chunk, and several (each edit then lands in one of them).
        for (categories, items) in [(12, 6), (30, 16)] {
            same_as_full_path_over(menu(categories, items));
        }
    }

    /// An edit of a test: what it is called, what it does, the path it takes.
    type Edit = (&'static str, Box<dyn Fn(&mut Value)>, Path);

    fn same_as_full_path_over(base: Value) {
        let saved = stored(&base);
        let edits: Vec<Edit> = vec![
            (
                "one price",
                Box::new(|m| m["categories"][5]["items"][2]["priceCents"] = json!(4590)),
                Fast,
            ),
            (
                "first category",
                Box::new(|m| m["categories"][0]["name"] = json!("Entradas")),
                Fast,
            ),
            (
                "last category",
                Box::new(|m| m["categories"][11]["items"][5]["available"] = json!(false)),
                Fast,
            ),
            (
                "untrimmed name",
                Box::new(|m| m["categories"][3]["items"][0]["name"] = json!("  Pizza  ")),
                Fast,
            ),
            (
                "blank description dropped",
                Box::new(|m| m["categories"][3]["items"][1]["description"] = json!("   ")),
                Fast,
            ),
            (
                "item added",
                Box::new(|m| {
                    m["categories"][4]["items"].as_array_mut().unwrap().push(json!(
                {"id": "nova", "name": "Nova", "priceCents": 100, "available": true, "optionGroups": []}))
                }),
                Fast,
            ),
            (
                "item removed",
                Box::new(|m| {
                    m["categories"][4]["items"]
                        .as_array_mut()
                        .unwrap()
                        .remove(0);
                }),
                Fast,
            ),
            (
                "category inserted",
                Box::new(|m| {
                    m["categories"].as_array_mut().unwrap().insert(
                        6,
                        json!(
                {"id": "bebidas", "name": "Bebidas", "items": []}),
                    )
                }),
                Fast,
            ),
            (
                "two categories near",
                Box::new(|m| {
                    m["categories"][5]["name"] = json!("Cinco");
                    m["categories"][7]["name"] = json!("Sete");
                }),
                Fast,
            ),
            // Most of the menu between the two: parsed whole.
            (
                "two categories apart",
                Box::new(|m| {
                    let last = m["categories"].as_array().unwrap().len() - 1;
                    m["categories"][1]["name"] = json!("Um");
                    m["categories"][last]["name"] = json!("Última");
                }),
                Full,
            ),
            (
                "categories swapped",
                Box::new(|m| m["categories"].as_array_mut().unwrap().swap(3, 4)),
                Fast,
            ),
            // Refused, whatever the path: the full path words it.
            (
                "an item id used in a kept category",
                Box::new(|m| m["categories"][5]["items"][0]["id"] = json!("item-0-0")),
                Refused,
            ),
            (
                "a category id used twice",
                Box::new(|m| m["categories"][5]["id"] = json!("cat-9")),
                Refused,
            ),
            (
                "a negative price",
                Box::new(|m| m["categories"][5]["items"][0]["priceCents"] = json!(-1)),
                Refused,
            ),
            (
                "an unknown field",
                Box::new(|m| m["categories"][5]["items"][0]["preco"] = json!(1)),
                Refused,
            ),
            (
                "too many items",
                Box::new(|m| {
                    let items = m["categories"][5]["items"].as_array_mut().unwrap();
                    for n in 0..440 {
                        items.push(json!({"id": format!("extra-{n}"), "name": "X", "priceCents": 1, "available": true, "optionGroups": []}));
                    }
                }),
                Refused,
            ),
        ];
        for (what, edit, path) in edits {
            let mut next = base.clone();
            edit(&mut next);
            // The body the console sends: the edited category as the user left it (raw),
            // the others as stored.
            let body = edited_console_body(&base, &next);
            let fast = rebase(&body, &parts(&saved), saved.index());
            let whole = full(&body);
            assert_eq!(whole.is_some(), path != Refused, "{what}: the full path");
            assert_eq!(fast.is_some(), path == Fast, "{what}: the path taken");
            if let Some(fast) = &fast {
                assert_eq!(
                    Some(fast),
                    whole.as_ref(),
                    "{what}: the same JSON, cuts and index"
                );
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Path {
        Fast,
        Full,
        Refused,
    }
    use Path::*;

    /// The console's body for `next`, a change of `base`: every category of `next` that is
    /// also in `base` unchanged as stored, the others as serde_json writes them (keys in
    /// the struct's order, text untrimmed).
    fn edited_console_body(base: &Value, next: &Value) -> Vec<u8> {
        let stored: Vec<String> = base["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let mut out = FRAME.to_vec();
        out.push(b'[');
        for (i, category) in next["categories"].as_array().unwrap().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let raw = category.to_string();
            if stored.contains(&raw) {
                let one: Category = serde_json::from_value(category.clone()).unwrap();
                let json = encode_menu(&Menu {
                    categories: vec![one],
                    updated_at: None,
                })
                .unwrap();
                let bytes = json.as_bytes();
                out.extend_from_slice(&bytes[1..bytes.len() - 1]);
            } else {
                out.extend_from_slice(raw.as_bytes());
            }
        }
        out.extend_from_slice(b"]}");
        out
    }

    #[test]
    fn a_body_sent_back_is_told_by_its_first_keys() {
        assert!(sent_back(
            br#"{"categories":[{"id":"pizzas","name":"Pizzas","items":[]}]}"#
        ));
        assert!(!sent_back(
            br#"{"categories":[{"id":"pizzas","items":[],"name":"Pizzas"}]}"#
        ));
        assert!(!sent_back(
            br#"{"categories": [{"id":"pizzas","name":"Pizzas"}]}"#
        ));
        assert!(!sent_back(br#"{"categories":[]}"#));
        assert!(!sent_back(br#"{"categories":[{"id":"pizzas"#));
        assert!(!sent_back(b""));
    }

    #[test]
    fn common_ends_and_slices_across_chunks() {
        let naive_prefix = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let naive_suffix = |a: &[u8], b: &[u8]| {
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        };
        let text: Vec<u8> = (0..1000u32).map(|n| (n % 251) as u8).collect();
        for at in [0, 1, 63, 64, 65, 500, 999] {
            let mut other = text.clone();
            other[at] ^= 1;
            assert_eq!(common_prefix(&text, &other), naive_prefix(&text, &other));
            assert_eq!(common_suffix(&text, &other), naive_suffix(&text, &other));
            assert_eq!(
                common_prefix(&text[..at], &other),
                naive_prefix(&text[..at], &other)
            );
            assert_eq!(
                common_suffix(&text[at..], &other),
                naive_suffix(&text[at..], &other)
            );
        }
        let parts: Vec<&[u8]> = vec![&text[..300], &text[300..301], &text[301..]];
        let stored = Stored::new(&parts);
        assert_eq!(stored.len, 1000);
        assert_eq!(&*stored.slice(10..20), &text[10..20]);
        assert!(matches!(stored.slice(10..20), Cow::Borrowed(_)));
        assert_eq!(&*stored.slice(250..400), &text[250..400]);
        let mut sent = text.clone();
        sent[700] = 0;
        assert_eq!(stored.prefix(&sent), 700);
        assert_eq!(stored.suffix(&sent), 299);
        sent[100] = 0;
        assert_eq!((stored.prefix(&sent), stored.suffix(&sent)), (100, 299));
        assert_eq!(stored.prefix(&text[..500]), 500);
        assert_eq!(stored.suffix(&text[500..]), 500);
    }

    #[test]
    fn only_a_console_body_with_an_index_is_taken() {
        let base = menu(6, 4);
        let saved = stored(&base);
        let mut next = base.clone();
        next["categories"][2]["items"][0]["priceCents"] = json!(1);
        let body = edited_console_body(&base, &next);
        assert!(rebase(&body, &parts(&saved), saved.index()).is_some());
        // Keys sorted (serde_json's Value), or spaced: parsed whole.
        let sorted = serde_json::to_vec(&next).unwrap();
        assert!(rebase(&sorted, &parts(&saved), saved.index()).is_none());
        let spaced = serde_json::to_vec_pretty(&next).unwrap();
        assert!(rebase(&spaced, &parts(&saved), saved.index()).is_none());
        // No index (a menu saved before it existed), or another format's.
        assert!(rebase(&body, &parts(&saved), "").is_none());
        let older = saved.index().replacen("menu-index 1", "menu-index 0", 1);
        assert!(rebase(&body, &parts(&saved), &older).is_none());
        // Everything changed: nothing to keep.
        let mut all = base.clone();
        for c in all["categories"].as_array_mut().unwrap() {
            c["name"] = json!("Outra");
        }
        assert!(rebase(
            &edited_console_body(&base, &all),
            &parts(&saved),
            saved.index()
        )
        .is_none());
        // The same menu again: nothing changed, nothing to parse; the full path is as cheap.
        assert!(rebase(&console_body(&base), &parts(&saved), saved.index()).is_none());
    }

    #[test]
    fn a_body_that_is_not_json_is_left_to_the_full_path() {
        let base = menu(6, 4);
        let saved = stored(&base);
        let body = console_body(&base);
        let json = saved.as_bytes();
        // A stray comma, a cut category, bytes that aren't UTF-8, in the changed part.
        let at = saved
            .index()
            .lines()
            .nth(3)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let at: usize = at.parse().unwrap();
        for broken in [
            [&body[..FRAME.len() + at], b",,", &body[FRAME.len() + at..]].concat(),
            [&body[..FRAME.len() + at - 5], &body[FRAME.len() + at..]].concat(),
            [
                &body[..FRAME.len() + at - 3],
                &[0xff],
                &body[FRAME.len() + at - 2..],
            ]
            .concat(),
        ] {
            assert!(rebase(&broken, &[json], saved.index()).is_none());
            assert!(full(&broken).is_none());
        }
    }
}
