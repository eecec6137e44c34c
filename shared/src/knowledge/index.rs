//! The stored menu's index, kept in its head item (`index`): where each category ends in
//! the stored JSON, its id and its items' ids. With it, a save that sends most categories
//! back as they were stored checks and copies those without parsing them (`super::rebase`).
//!
//! Text, one line per category after a tag line: `<end> <categoryId> <itemId>,<itemId>…`.
//! Ids are `[a-z0-9-]`, so spaces, commas and newlines can't occur in them. About 12 bytes
//! an item: ~6 KB for a 500-item menu. The tag names the format and the rules the stored
//! categories passed: change either (a new rule in `Menu::validate`, another encoding)
//! and bump it, and menus indexed before are parsed and checked whole on their next save.

/// The first line of an index written by this code.
const TAG: &str = "menu-index 1";

/// An index with no categories yet.
pub(super) fn header() -> String {
    let mut index = String::with_capacity(8 * 1024);
    index.push_str(TAG);
    index.push('\n');
    index
}

/// Appends a category's line: it ends at `end` in the JSON.
pub(super) fn line<'a>(
    out: &mut String,
    end: usize,
    id: &str,
    items: impl IntoIterator<Item = &'a str>,
) {
    use std::fmt::Write;
    let _ = write!(out, "{end} {id} ");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push('\n');
}

/// One category of a stored menu, as its index line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark<'a> {
    /// Where it ends in the JSON (just past its `}`).
    pub end: usize,
    pub id: &'a str,
    items: &'a str,
}

impl<'a> Mark<'a> {
    /// Its items' ids, in order.
    pub fn items(&self) -> impl Iterator<Item = &'a str> {
        self.items.split(',').filter(|id| !id.is_empty())
    }
}

/// Where the `k`th category of `marks` starts in the JSON (`[`, then categories separated
/// by commas).
pub(super) fn start_of(marks: &[Mark], k: usize) -> usize {
    match k {
        0 => 1,
        k => marks[k - 1].end + 1,
    }
}

/// The categories of an index of `json_len` bytes of JSON; `None` for an index of another
/// format (or rules), or one that doesn't describe such JSON.
pub(super) fn parse(index: &str, json_len: usize) -> Option<Vec<Mark<'_>>> {
    let mut lines = index.lines();
    if lines.next()? != TAG {
        return None;
    }
    let mut marks: Vec<Mark> = Vec::new();
    for line in lines {
        let mut fields = line.splitn(3, ' ');
        let end: usize = fields.next()?.parse().ok()?;
        let id = fields.next()?;
        let items = fields.next()?;
        let start = start_of(&marks, marks.len());
        if end <= start || end >= json_len {
            return None;
        }
        marks.push(Mark { end, id, items });
    }
    let last = marks.last().map_or(1, |mark| mark.end);
    (last + 1 == json_len).then_some(marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back() {
        let mut index = header();
        line(&mut index, 40, "pizzas", ["calabresa", "portuguesa"]);
        line(&mut index, 60, "vazia", []);
        let marks = parse(&index, 61).expect("parses");
        assert_eq!(marks.len(), 2);
        assert_eq!(marks[0].end, 40);
        assert_eq!(marks[0].id, "pizzas");
        assert_eq!(
            marks[0].items().collect::<Vec<_>>(),
            ["calabresa", "portuguesa"]
        );
        assert_eq!(marks[1].items().count(), 0);
        assert_eq!(parse(&header(), 2), Some(vec![]));
    }

    #[test]
    fn another_format_or_other_json_is_refused() {
        let mut index = header();
        line(&mut index, 40, "pizzas", ["calabresa"]);
        assert_eq!(parse(&index, 60), None, "the JSON is longer than indexed");
        assert_eq!(parse(&index.replace("index 1", "index 0"), 41), None);
        let mut backwards = header();
        line(&mut backwards, 40, "a", []);
        line(&mut backwards, 30, "b", []);
        assert_eq!(parse(&backwards, 31), None);
        assert_eq!(parse("", 2), None);
    }
}
