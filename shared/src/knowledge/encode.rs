//! The stored menu's JSON: compact, byte for byte what `serde_json::to_string` writes of
//! its categories (so what GET serves is what serde would have served), cut into chunks on
//! category boundaries.
//!
//! It is written field by field, each string and number by serde_json, rather than through
//! `Serialize`: a 500-item menu has ~15,000 strings and ~25,000 fields,
//! and the generic serializer's cost per field was most of a save's encoding (0.5–0.6 ms
//! against ~0.25 ms this way). The field lists are destructured without `..`, so a field
//! added to the menu's types doesn't compile here until it is written;
//! `tests::the_same_bytes_as_serde_json` holds the two to the same output.

use serde_json::ser::{CompactFormatter, Formatter};
use serde_json::Error;

type Result<T> = std::result::Result<T, Error>;

use super::index;
use super::{CHUNK_BYTES, MENU_MAX_BYTES, PIECE_BYTES};
use crate::domain::borrowed::MenuText;
use crate::domain::menu::{Category, Item, Menu, MenuOption, OptionGroup};
use crate::ApiError;

/// A menu's compact JSON and where it is cut into chunks. Kept as bytes: it is UTF-8 by
/// construction (every string written from a `str`, the rest ASCII, cuts on character
/// boundaries), and only the chunks a save writes become `String`s, checked then, instead
/// of half a megabyte checked on every save.
#[derive(Debug, Clone, PartialEq)]
pub struct MenuJson {
    /// The categories as stored and served: `[{…},{…}]`.
    json: Vec<u8>,
    /// The end of each chunk in `json` (the last is `json.len()`).
    ends: Vec<usize>,
    /// Where each category ends, with its ids ([`super::index`]), kept in the head.
    index: String,
}

impl MenuJson {
    /// The JSON of categories whose ends in it and ids `index` lists, cut into chunks.
    pub(super) fn new(json: Vec<u8>, category_ends: &[usize], index: String) -> MenuJson {
        let ends = cuts(&json, category_ends);
        MenuJson { json, ends, index }
    }

    /// The whole JSON.
    pub fn as_bytes(&self) -> &[u8] {
        &self.json
    }

    /// The chunks, in order; joined they are the whole JSON.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, end)| &self.json[start..*end])
    }

    /// The index of its categories ([`super::index`]).
    pub fn index(&self) -> &str {
        &self.index
    }
}

/// Where `json` (`[…]`, whose categories end at `category_ends`) is cut into chunks: after
/// the category that brings a chunk to [`PIECE_BYTES`], and within a category only where it
/// alone would pass [`CHUNK_BYTES`] (on a character boundary). The last end is `json.len()`.
fn cuts(json: &[u8], category_ends: &[usize]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut start = 0;
    for &end in category_ends {
        while end - start > CHUNK_BYTES {
            let mut cut = start + CHUNK_BYTES;
            while !is_char_boundary(json, cut) {
                cut -= 1;
            }
            ends.push(cut);
            start = cut;
        }
        if end - start >= PIECE_BYTES {
            ends.push(end);
            start = end;
        }
    }
    // The closing bracket ends the last chunk (the one the last category ended, if it did).
    if ends.last() == Some(&(json.len() - 1)) {
        ends.pop();
    }
    ends.push(json.len());
    ends
}

/// The menu's compact JSON, refused when over [`MENU_MAX_BYTES`], with its cuts: after the
/// category that brings a chunk to [`PIECE_BYTES`], so an edit to one category leaves the
/// other chunks as they were, and within a category only where it alone would pass
/// [`CHUNK_BYTES`] (on a character boundary).
pub fn encode_menu<S: MenuText>(menu: &Menu<S>) -> std::result::Result<MenuJson, ApiError> {
    encode_with_capacity(menu, 64 * 1024)
}

pub(super) fn encode_with_capacity<S: MenuText>(
    menu: &Menu<S>,
    capacity: usize,
) -> std::result::Result<MenuJson, ApiError> {
    let mut encoder = MenuEncoder::with_capacity(capacity);
    for category in &menu.categories {
        encoder.push(category)?;
    }
    encoder.finish()
}

/// Writes a menu's categories one at a time: [`encode_menu`], and the categories a save
/// changed between others kept as stored (`super::rebase`).
pub(super) struct MenuEncoder {
    json: Vec<u8>,
    category_ends: Vec<usize>,
    index: String,
}

impl MenuEncoder {
    /// An encoder whose buffer starts at `capacity` bytes (a body's length is a good guess).
    pub(super) fn with_capacity(capacity: usize) -> MenuEncoder {
        let mut json = Vec::with_capacity(capacity.min(MENU_MAX_BYTES + 1));
        json.push(b'[');
        MenuEncoder {
            json,
            category_ends: Vec::new(),
            index: index::header(),
        }
    }

    fn separate(&mut self) {
        if !self.category_ends.is_empty() {
            self.json.push(b',');
        }
    }

    /// Writes the next category.
    pub(super) fn push<S: MenuText>(
        &mut self,
        category: &Category<S>,
    ) -> std::result::Result<(), ApiError> {
        self.separate();
        write_category(&mut self.json, category)
            .map_err(|e| ApiError::Internal(format!("menu does not encode: {e}")))?;
        self.category_ends.push(self.json.len());
        let items = category.items.iter().map(|item| item.id.as_ref());
        index::line(
            &mut self.index,
            self.json.len(),
            category.id.as_ref(),
            items,
        );
        Ok(())
    }

    /// Copies a category already encoded (`json`, ending the stored JSON's category whose
    /// index line is `mark`).
    pub(super) fn copy(&mut self, json: &[u8], mark: &index::Mark) {
        self.separate();
        self.json.extend_from_slice(json);
        self.category_ends.push(self.json.len());
        index::line(&mut self.index, self.json.len(), mark.id, mark.items());
    }

    /// The JSON and its cuts, refused when over [`MENU_MAX_BYTES`].
    pub(super) fn finish(self) -> std::result::Result<MenuJson, ApiError> {
        let MenuEncoder {
            mut json,
            category_ends,
            index,
        } = self;
        json.push(b']');
        if json.len() > MENU_MAX_BYTES {
            return Err(ApiError::TooLarge(format!(
                "the menu takes {} bytes of JSON; the limit is {MENU_MAX_BYTES} (fewer or shorter descriptions and options)",
                json.len()
            )));
        }
        Ok(MenuJson::new(json, &category_ends, index))
    }
}

/// Whether `at` starts a character of the UTF-8 in `bytes` (or is its end).
fn is_char_boundary(bytes: &[u8], at: usize) -> bool {
    at >= bytes.len() || (bytes[at] as i8) >= -0x40
}

/// `"…"`, escaped by serde_json.
fn text<S: MenuText>(out: &mut Vec<u8>, value: &S) -> Result<()> {
    serde_json::to_writer(out, value.as_ref())
}

/// A number, as serde_json writes it.
fn int(out: &mut Vec<u8>, value: i64) -> Result<()> {
    CompactFormatter.write_i64(out, value).map_err(Error::io)
}

/// `{"id":…,"name":…`, how every object of the menu begins.
fn id_and_name<S: MenuText>(out: &mut Vec<u8>, id: &S, name: &S) -> Result<()> {
    out.extend_from_slice(br#"{"id":"#);
    text(out, id)?;
    out.extend_from_slice(br#","name":"#);
    text(out, name)
}

/// `,"name":…` for an optional text (nothing when absent, as `skip_serializing_if`).
fn optional<S: MenuText>(out: &mut Vec<u8>, key: &[u8], value: &Option<S>) -> Result<()> {
    if let Some(value) = value {
        out.extend_from_slice(key);
        text(out, value)?;
    }
    Ok(())
}

/// `[a,b,…]` of `write` over `items`.
fn array<T>(
    out: &mut Vec<u8>,
    items: &[T],
    write: impl Fn(&mut Vec<u8>, &T) -> Result<()>,
) -> Result<()> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item)?;
    }
    out.push(b']');
    Ok(())
}

fn write_category<S: MenuText>(out: &mut Vec<u8>, category: &Category<S>) -> Result<()> {
    let Category { id, name, items } = category;
    id_and_name(out, id, name)?;
    out.extend_from_slice(br#","items":"#);
    array(out, items, write_item)?;
    out.push(b'}');
    Ok(())
}

fn write_item<S: MenuText>(out: &mut Vec<u8>, item: &Item<S>) -> Result<()> {
    let Item {
        id,
        name,
        description,
        price_cents,
        available,
        option_groups,
        saipos_code,
    } = item;
    id_and_name(out, id, name)?;
    optional(out, br#","description":"#, description)?;
    out.extend_from_slice(br#","priceCents":"#);
    int(out, *price_cents)?;
    out.extend_from_slice(br#","available":"#);
    out.extend_from_slice(if *available { b"true" } else { b"false" });
    out.extend_from_slice(br#","optionGroups":"#);
    array(out, option_groups, write_group)?;
    optional(out, br#","saiposCode":"#, saipos_code)?;
    out.push(b'}');
    Ok(())
}

fn write_group<S: MenuText>(out: &mut Vec<u8>, group: &OptionGroup<S>) -> Result<()> {
    let OptionGroup {
        id,
        name,
        min,
        max,
        options,
    } = group;
    id_and_name(out, id, name)?;
    out.extend_from_slice(br#","min":"#);
    int(out, (*min).into())?;
    out.extend_from_slice(br#","max":"#);
    int(out, (*max).into())?;
    out.extend_from_slice(br#","options":"#);
    array(out, options, write_option)?;
    out.push(b'}');
    Ok(())
}

fn write_option<S: MenuText>(out: &mut Vec<u8>, option: &MenuOption<S>) -> Result<()> {
    let MenuOption {
        id,
        name,
        price_cents,
    } = option;
    id_and_name(out, id, name)?;
    out.extend_from_slice(br#","priceCents":"#);
    int(out, *price_cents)?;
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::borrowed::Borrowed;

    /// Byte for byte what serde_json writes, escapes and all, for a menu of `String`s and
    /// for one borrowed from a body (whose escaped strings are owned).
    #[test]
    fn the_same_bytes_as_serde_json() {
        let tricky = "aspas \" barra \\ / controle \u{1}\u{1f}\u{7f} linha\n\r\t ação 🍕 \u{2028}\u{2029} \u{fffd}";
        let value = json!({"categories": [{"id": "c", "name": tricky, "items": [
            {"id": "i", "name": tricky, "description": tricky, "priceCents": 4590, "available": false, "saiposCode": "X1",
             "optionGroups": [{"id": "g", "name": "G", "min": 0, "max": 1, "options": [{"id": "o", "name": tricky, "priceCents": 0}]}]},
            {"id": "j", "name": "J", "priceCents": 10_000_000, "optionGroups": [
                {"id": "g", "name": "Tamanho", "min": 1, "max": 4_000_000_000u32, "options": []}]},
            {"id": "k", "name": "K", "description": "", "priceCents": -1, "available": true, "saiposCode": tricky}
        ]}, {"id": "vazia", "name": "Vazia", "items": []}]});
        let menu: Menu = serde_json::from_value(value.clone()).expect("menu");
        let expected = serde_json::to_string(&menu.categories).expect("serde_json");
        assert_eq!(
            encode_menu(&menu).expect("encodes").as_bytes(),
            expected.as_bytes()
        );
        let body = serde_json::to_string(&value).unwrap();
        let borrowed: Menu<Borrowed> = serde_json::from_str(&body).expect("borrowed");
        assert_eq!(
            encode_menu(&borrowed).expect("encodes").as_bytes(),
            expected.as_bytes()
        );
        assert_eq!(
            encode_menu(&Menu::<String>::default()).unwrap().as_bytes(),
            b"[]"
        );
    }
}
