//! The menu as a spreadsheet: `POST /api/client/{storeId}/menu/import` takes a CSV with
//! one item per row, so an owner can paste the menu they already keep in Excel or Google
//! Sheets. [`parse`] turns it into a [`Menu`] or into the list of every bad row (the import
//! is all-or-nothing: one bad row and nothing is saved).
//!
//! Columns (first row: header; names in English or Portuguese, any case and order):
//!
//! | column | pt-BR | required | value |
//! |---|---|---|---|
//! | `category` | `categoria` | yes | the category's name (rows of one category may be apart) |
//! | `item` | `nome` | yes | the item's name |
//! | `description` | `descricao` | no | free text |
//! | `price` | `preco` | yes | `45,90`, `45.90`, `R$ 45,90`, `1.234,50`, `45` |
//! | `available` | `disponivel` | no | `sim`/`não`, `s`/`n`, `true`/`false`, `1`/`0`; empty: `sim` |
//! | `options` | `opcoes` | no | option groups, see below |
//! | `id` | — | no | the item's id; by default made from its name (`Pizza Calabresa` → `pizza-calabresa`) |
//!
//! Options: groups separated by `|`, each `Name[min-max]: option; option; …`, an option being
//! `Name=price` (what it adds; `Name` alone adds nothing):
//! `Tamanho[1-1]: Média=0; Grande=10,00 | Adicionais[0-3]: Bacon=4,00; Catupiry=5,00`.
//! `[1]` means exactly one; without brackets a group is `[0-1]` (optional, at most one).
//!
//! Separators: `,` or `;` (Excel in Brazil writes `;`), detected from the header; fields may
//! be quoted (`"45,90"`, `""` for a quote inside), and a cell holding the separator must be
//! (spreadsheets do it when they save). A row with more cells than the header is refused. UTF-8 (with or without BOM); a file that
//! isn't UTF-8 is read as Latin-1, what older Excel versions write.

use std::collections::HashMap;

use serde::Serialize;

use super::menu::{self, Category, Item, Menu, MenuOption, OptionGroup, PRICE_MAX_CENTS};
use super::text::fold;

/// One bad row: `row` is the line in the file (the header is row 1), `field` the column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub row: usize,
    pub field: String,
    pub message: String,
}

fn row_error(row: usize, field: &str, message: impl Into<String>) -> RowError {
    RowError {
        row,
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The most rows reported at once (the rest are likely the same mistake).
pub const MAX_REPORTED: usize = 50;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Column {
    Category,
    Item,
    Description,
    Price,
    Available,
    Options,
    Id,
    /// Optional: the item's Saipos integration code (`saiposCode`).
    SaiposCode,
}

impl Column {
    fn named(header: &str) -> Option<Self> {
        Some(match fold(header).as_str() {
            "category" | "categoria" => Column::Category,
            "item" | "nome" | "name" | "produto" => Column::Item,
            "description" | "descricao" => Column::Description,
            "price" | "preco" | "valor" => Column::Price,
            "available" | "disponivel" => Column::Available,
            "options" | "opcoes" => Column::Options,
            "id" => Column::Id,
            "saiposcode" | "saipos_code" | "saipos" | "codigo saipos" => Column::SaiposCode,
            _ => return None,
        })
    }

    fn field(self) -> &'static str {
        match self {
            Column::Category => "category",
            Column::Item => "item",
            Column::Description => "description",
            Column::Price => "price",
            Column::Available => "available",
            Column::Options => "options",
            Column::Id => "id",
            Column::SaiposCode => "saiposCode",
        }
    }
}

/// The text of a CSV body: UTF-8 (a BOM dropped) or else Latin-1.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|b| char::from(*b)).collect(),
    }
}

/// The records of a CSV text with their line numbers (RFC 4180: quoted fields may hold the
/// separator, line breaks and `""`). Blank lines are skipped.
fn records(text: &str, separator: char) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            c if c == separator => fields.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if fields.iter().any(|f| !f.trim().is_empty()) {
                    out.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                start_line = line;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(row_error(
            start_line,
            "",
            "a quoted field is never closed (a \" is missing)",
        ));
    }
    fields.push(field);
    if fields.iter().any(|f| !f.trim().is_empty()) {
        out.push((start_line, fields));
    }
    Ok(out)
}

/// The separator of the header line: `;` if it has one outside quotes and no `,`.
fn separator(text: &str) -> char {
    let header = text.lines().next().unwrap_or_default();
    if header.contains(';') && !header.contains(',') {
        ';'
    } else {
        ','
    }
}

/// An amount in reais as people write it, in centavos: `45,90`, `45.90`, `R$ 45,90`,
/// `1.234,50`, `1,234.50`, `45`. At most two decimals.
pub fn parse_price(text: &str) -> Option<i64> {
    let s: String = text
        .trim()
        .trim_start_matches("R$")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    // The decimal separator is the last `.` or `,` followed by 1 or 2 digits; any other is
    // a thousands separator.
    let (whole, cents) = match s.rfind(['.', ',']) {
        Some(at) if (2..=3).contains(&(s.len() - at)) => (&s[..at], &s[at + 1..]),
        _ => (s.as_str(), ""),
    };
    let whole: String = whole.chars().filter(char::is_ascii_digit).collect();
    if whole.is_empty() && cents.is_empty() {
        return None;
    }
    let reais: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().ok()? * 10,
        _ => cents.parse().ok()?,
    };
    reais.checked_mul(100)?.checked_add(cents)
}

fn parse_available(text: &str) -> Option<bool> {
    match fold(text).as_str() {
        "" | "sim" | "s" | "true" | "1" | "yes" | "y" | "disponivel" => Some(true),
        "nao" | "n" | "false" | "0" | "no" | "esgotado" | "indisponivel" => Some(false),
        _ => None,
    }
}

/// A unique id from `name` among `taken` (`grande`, `grande-2`, …).
fn unique_id(name: &str, fallback: &str, taken: &mut Vec<String>) -> String {
    let base = menu::slug(name, fallback);
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) {
        let suffix = format!("-{n}");
        let keep = menu::ID_MAX - suffix.len();
        id = format!("{}{suffix}", &base[..base.len().min(keep)]);
        n += 1;
    }
    taken.push(id.clone());
    id
}

/// The option groups of an `options` cell.
fn parse_options(text: &str) -> Result<Vec<OptionGroup>, String> {
    let mut groups = Vec::new();
    let mut group_ids = Vec::new();
    for (g, spec) in text.split('|').enumerate() {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        let (head, list) = spec.split_once(':').ok_or_else(|| {
            format!(
                "group {}: write it as Name[min-max]: Option=price; Option=price",
                g + 1
            )
        })?;
        let head = head.trim();
        let (name, min, max) = match head.split_once('[') {
            None => (head, 0, 1),
            Some((name, bounds)) => {
                let bounds = bounds.strip_suffix(']').ok_or_else(|| {
                    format!(
                        "group {:?}: the bounds must be [min-max], e.g. [0-3]",
                        name.trim()
                    )
                })?;
                let parse = |s: &str| s.trim().parse::<u32>().ok();
                let (min, max) = match bounds.split_once('-') {
                    Some((a, b)) => (parse(a), parse(b)),
                    None => (parse(bounds), parse(bounds)),
                };
                match (min, max) {
                    (Some(min), Some(max)) => (name.trim(), min, max),
                    _ => {
                        return Err(format!(
                            "group {:?}: the bounds must be [min-max], e.g. [0-3]",
                            name.trim()
                        ))
                    }
                }
            }
        };
        let mut options = Vec::new();
        let mut option_ids = Vec::new();
        for option in list.split(';') {
            let option = option.trim();
            if option.is_empty() {
                continue;
            }
            let (option_name, price) = match option.split_once('=') {
                Some((n, p)) => (
                    n.trim(),
                    parse_price(p).ok_or_else(|| {
                        format!(
                            "option {:?}: {:?} is not a price like 10,00",
                            n.trim(),
                            p.trim()
                        )
                    })?,
                ),
                None => (option, 0),
            };
            options.push(MenuOption {
                id: unique_id(
                    option_name,
                    &format!("opcao-{}", options.len() + 1),
                    &mut option_ids,
                ),
                name: option_name.to_owned(),
                price_cents: price,
            });
        }
        groups.push(OptionGroup {
            id: unique_id(name, &format!("grupo-{}", g + 1), &mut group_ids),
            name: name.to_owned(),
            min,
            max,
            options,
        });
    }
    Ok(groups)
}

/// One data row as an item of a category (names as written), or its errors.
struct Row {
    line: usize,
    category: String,
    explicit_id: Option<String>,
    item: Item,
}

fn parse_row(
    line: usize,
    fields: &[String],
    header_len: usize,
    columns: &[(usize, Column)],
) -> Result<Row, Vec<RowError>> {
    if fields.iter().skip(header_len).any(|f| !f.trim().is_empty()) {
        return Err(vec![row_error(
            line,
            "",
            format!(
                "the row has {} fields and the header {header_len}; quote a cell that holds the separator",
                fields.len()
            ),
        )]);
    }
    let get = |column: Column| {
        columns
            .iter()
            .find(|(_, c)| *c == column)
            .and_then(|(i, _)| fields.get(*i))
            .map(|s| s.trim())
            .unwrap_or("")
    };
    let mut errors = Vec::new();
    let category = get(Column::Category);
    if category.is_empty() {
        errors.push(row_error(line, "category", "the category is empty"));
    }
    let name = get(Column::Item);
    if name.is_empty() {
        errors.push(row_error(line, "item", "the item's name is empty"));
    }
    let price_text = get(Column::Price);
    let price = parse_price(price_text);
    match price {
        None => errors.push(row_error(
            line,
            "price",
            format!("{price_text:?} is not a price like 45,90 or R$ 45,90"),
        )),
        Some(p) if p > PRICE_MAX_CENTS => errors.push(row_error(
            line,
            "price",
            format!("{price_text} is more than R$ 100.000,00"),
        )),
        Some(_) => {}
    }
    let available_text = get(Column::Available);
    let available = parse_available(available_text);
    if available.is_none() {
        errors.push(row_error(
            line,
            "available",
            format!("{available_text:?} is not sim or não"),
        ));
    }
    let option_groups = match parse_options(get(Column::Options)) {
        Ok(groups) => groups,
        Err(message) => {
            errors.push(row_error(line, "options", message));
            vec![]
        }
    };
    let id = get(Column::Id);
    if !errors.is_empty() {
        return Err(errors);
    }
    let description = get(Column::Description);
    let item = Item {
        id: id.to_owned(),
        name: name.to_owned(),
        description: (!description.is_empty()).then(|| description.to_owned()),
        price_cents: price.unwrap_or_default(),
        available: available.unwrap_or(true),
        option_groups,
        saipos_code: Some(get(Column::SaiposCode))
            .filter(|code| !code.is_empty())
            .map(str::to_owned),
    };
    // The item's own rules, checked alone so the error points at this row.
    let alone = Menu {
        categories: vec![Category {
            id: menu::slug(category, "categoria"),
            name: category.to_owned(),
            items: vec![Item {
                id: if id.is_empty() {
                    menu::slug(name, "item")
                } else {
                    id.to_owned()
                },
                ..item.clone()
            }],
        }],
        updated_at: None,
    };
    if let Err(err) = alone.validate() {
        let path = err.field().unwrap_or_default().to_owned();
        let message = err.to_string().replace("categories[0].items[0].", "");
        let field = csv_field(path.strip_prefix("categories[0].").unwrap_or(&path));
        return Err(vec![row_error(
            line,
            field,
            message.replace("categories[0].", ""),
        )]);
    }
    Ok(Row {
        line,
        category: category.to_owned(),
        explicit_id: (!id.is_empty()).then(|| id.to_owned()),
        item,
    })
}

/// The CSV column of a JSON path inside a category (`items[0].priceCents` → `price`).
fn csv_field(path: &str) -> &'static str {
    if !path.starts_with("items") {
        return "category";
    }
    match path.split_once("].").map(|(_, rest)| rest) {
        None => "item",
        Some("id") => "id",
        Some("name") => "item",
        Some("description") => "description",
        Some("priceCents") => "price",
        Some(_) => "options",
    }
}

/// The menu a CSV describes, or every bad row (at most [`MAX_REPORTED`]).
pub fn parse(text: &str) -> Result<Menu, Vec<RowError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let separator = separator(text);
    let mut records = records(text, separator).map_err(|e| vec![e])?.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(vec![row_error(
            1,
            "",
            "the file is empty; the first row names the columns",
        )]);
    };
    let mut columns = Vec::new();
    for (i, name) in header.iter().enumerate() {
        match Column::named(name) {
            Some(column) if columns.iter().any(|(_, c)| *c == column) => {
                return Err(vec![row_error(1, column.field(), format!("column {name:?} appears twice"))]);
            }
            Some(column) => columns.push((i, column)),
            None if name.trim().is_empty() => {}
            None => {
                return Err(vec![row_error(
                    1,
                    name.trim(),
                    format!(
                        "unknown column {name:?}; the columns are category, item, description, price, available, options, id, saiposCode"
                    ),
                )])
            }
        }
    }
    for required in [Column::Category, Column::Item, Column::Price] {
        if !columns.iter().any(|(_, c)| *c == required) {
            return Err(vec![row_error(
                1,
                required.field(),
                format!("the header has no {:?} column", required.field()),
            )]);
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (n, (line, fields)) in records.enumerate() {
        if n >= menu::MAX_ITEMS {
            errors.push(row_error(
                line,
                "",
                format!("the menu may have at most {} items", menu::MAX_ITEMS),
            ));
            break;
        }
        match parse_row(line, &fields, header.len(), &columns) {
            Ok(row) => rows.push(row),
            Err(mut bad) => errors.append(&mut bad),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        return Err(vec![row_error(
            2,
            "",
            "the file has no items below the header",
        )]);
    }
    if !errors.is_empty() {
        errors.truncate(MAX_REPORTED);
        return Err(errors);
    }
    assemble(rows)
}

/// Groups the rows into categories (in order of first appearance) and gives every item a
/// unique id; whole-menu rules (counts, explicit ids used twice) point at their row.
fn assemble(rows: Vec<Row>) -> Result<Menu, Vec<RowError>> {
    let mut menu = Menu::default();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut category_ids = Vec::new();
    let mut item_ids: Vec<String> = rows.iter().filter_map(|r| r.explicit_id.clone()).collect();
    let mut lines: Vec<Vec<usize>> = Vec::new();
    for row in rows {
        let index = *by_name.entry(fold(&row.category)).or_insert_with(|| {
            menu.categories.push(Category {
                id: unique_id(&row.category, "categoria", &mut category_ids),
                name: row.category.clone(),
                items: vec![],
            });
            lines.push(vec![]);
            menu.categories.len() - 1
        });
        let mut item = row.item;
        if row.explicit_id.is_none() {
            item.id = unique_id(&item.name, "item", &mut item_ids);
        }
        menu.categories[index].items.push(item);
        lines[index].push(row.line);
    }
    if let Err(err) = menu.validate() {
        let path = err.field().unwrap_or_default().to_owned();
        let (line, field) = locate(&path, &lines);
        return Err(vec![row_error(line, field, err.to_string())]);
    }
    Ok(menu)
}

/// The file line and CSV column of a whole-menu error at `path`.
fn locate(path: &str, lines: &[Vec<usize>]) -> (usize, &'static str) {
    let index = |s: &str| -> Option<usize> { s.split_once(']')?.0.parse().ok() };
    let Some(rest) = path.strip_prefix("categories[") else {
        // Too many categories: the first row of the first one over the limit.
        let line = lines.get(menu::MAX_CATEGORIES).and_then(|l| l.first());
        return (line.copied().unwrap_or(0), "category");
    };
    let c = index(rest).unwrap_or(0);
    let inside = rest.split_once("].").map(|(_, r)| r).unwrap_or("");
    match inside.strip_prefix("items[").and_then(index) {
        Some(i) => (
            lines.get(c).and_then(|l| l.get(i)).copied().unwrap_or(0),
            csv_field(inside),
        ),
        None => (
            lines.get(c).and_then(|l| l.first()).copied().unwrap_or(0),
            "category",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\u{feff}categoria;item;descricao;preco;disponivel;opcoes\n\
        Pizzas;Pizza Calabresa;Calabresa, cebola e azeitona;R$ 45,90;sim;\"Tamanho[1-1]: Média=0; Grande=10,00 | Adicionais[0-3]: Bacon=4,00; Catupiry=5; Cheddar=5,50\"\n\
        Pizzas;Pizza Portuguesa;\"Presunto; ovo \"\"caipira\"\"\";48.90;não;\n\
        \n\
        Bebidas;Coca-Cola 2L;;12;;\n\
        Pizzas;Pizza Calabresa;Outra;1.234,50;1;\n";

    #[test]
    fn an_optional_saipos_code_column_sets_the_items_integration_code() {
        let menu = parse(
            "categoria;nome;preco;codigo saipos\nPizzas;Calabresa;45,90;CAL-1\nPizzas;Atum;50;\n",
        )
        .unwrap();
        menu.validate().unwrap();
        let items = &menu.categories[0].items;
        assert_eq!(items[0].saipos_code.as_deref(), Some("CAL-1"));
        assert_eq!(items[1].saipos_code, None);
        let json = serde_json::to_value(&menu).unwrap();
        assert_eq!(json["categories"][0]["items"][0]["saiposCode"], "CAL-1");
        assert!(json["categories"][0]["items"][1]
            .get("saiposCode")
            .is_none());
        // Without the column: no codes, as before.
        assert_eq!(
            parse(GOOD).unwrap().categories[0].items[0].saipos_code,
            None
        );
    }

    #[test]
    fn a_good_file_becomes_a_menu() {
        let menu = parse(GOOD).unwrap();
        menu.validate().unwrap();
        assert_eq!(menu.categories.len(), 2);
        let pizzas = &menu.categories[0];
        assert_eq!((pizzas.id.as_str(), pizzas.items.len()), ("pizzas", 3));
        let calabresa = &pizzas.items[0];
        assert_eq!(calabresa.id, "pizza-calabresa");
        assert_eq!(calabresa.price_cents, 4590);
        assert_eq!(
            calabresa.description.as_deref(),
            Some("Calabresa, cebola e azeitona")
        );
        let groups = &calabresa.option_groups;
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].id.as_str(), groups[0].min, groups[0].max),
            ("tamanho", 1, 1)
        );
        assert_eq!(groups[0].options[0].id, "media");
        assert_eq!(groups[0].options[1].price_cents, 1000);
        assert_eq!((groups[1].min, groups[1].max), (0, 3));
        assert_eq!(groups[1].options[1].price_cents, 500);
        let portuguesa = &pizzas.items[1];
        assert_eq!(
            portuguesa.description.as_deref(),
            Some("Presunto; ovo \"caipira\"")
        );
        assert_eq!(
            (portuguesa.price_cents, portuguesa.available),
            (4890, false)
        );
        // The same name twice gets a second id.
        assert_eq!(pizzas.items[2].id, "pizza-calabresa-2");
        assert_eq!(pizzas.items[2].price_cents, 123_450);
        let coca = &menu.categories[1].items[0];
        assert_eq!(
            (coca.id.as_str(), coca.price_cents, coca.available),
            ("coca-cola-2l", 1200, true)
        );
        assert!(coca.description.is_none());
    }

    #[test]
    fn commas_and_english_headers_work_too() {
        let csv = "Category,Item,Price,Options,id\r\nLanches,X-Burger,\"25,00\",Ponto: Mal passado; Ao ponto,xb\r\n";
        let menu = parse(csv).unwrap();
        let item = &menu.categories[0].items[0];
        assert_eq!((item.id.as_str(), item.price_cents), ("xb", 2500));
        let group = &item.option_groups[0];
        assert_eq!((group.min, group.max, group.options.len()), (0, 1, 2));
    }

    #[test]
    fn every_bad_row_is_reported() {
        let csv = "categoria;item;preco;disponivel;opcoes\n\
            Pizzas;Calabresa;45,90;sim;\n\
            Pizzas;;45,90;sim;\n\
            Pizzas;Mussarela;quarenta;sim;\n\
            Pizzas;Atum;45,90;talvez;\n\
            Pizzas;Napolitana;45,90;sim;Tamanho 1-1 Média\n\
            Pizzas;Marguerita;45,90;sim;\"Tamanho[2-1]: Média; Grande\"\n\
            ;Sem categoria;10;;\n\
            Pizzas;Cara;200.000,00;;\n\
            Pizzas;Longa;10;sim;Tamanho: P; G;extra\n";
        let errors = parse(csv).unwrap_err();
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "item"),
                (4, "price"),
                (5, "available"),
                (6, "options"),
                (7, "options"),
                (8, "category"),
                (9, "price"),
                (10, "")
            ],
            "{errors:?}"
        );
        assert!(
            errors[1].message.contains("quarenta"),
            "{}",
            errors[1].message
        );
        assert!(errors[4].message.contains("min"), "{}", errors[4].message);
    }

    #[test]
    fn whole_menu_rules_point_at_their_row() {
        let csv = "category,item,price,id\nA,One,1,same\nA,Two,2,same\n";
        let errors = parse(csv).unwrap_err();
        assert_eq!(
            (errors[0].row, errors[0].field.as_str()),
            (3, "id"),
            "{errors:?}"
        );
        let mut many = String::from("category,item,price\n");
        for i in 0..501 {
            many.push_str(&format!("C{},Item {i},1\n", i % 40));
        }
        let errors = parse(&many).unwrap_err();
        assert_eq!(errors[0].row, 502, "{errors:?}");
        let mut cats = String::from("category,item,price\n");
        for i in 0..51 {
            cats.push_str(&format!("Categoria {i},Item {i},1\n"));
        }
        let errors = parse(&cats).unwrap_err();
        assert_eq!(
            (errors[0].row, errors[0].field.as_str()),
            (52, "category"),
            "{errors:?}"
        );
    }

    #[test]
    fn headers_and_quotes_are_checked() {
        assert_eq!(parse("").unwrap_err()[0].row, 1);
        assert_eq!(parse("category,item\nA,B\n").unwrap_err()[0].field, "price");
        assert_eq!(
            parse("category,item,price,color\n").unwrap_err()[0].field,
            "color"
        );
        assert_eq!(parse("category,item,price\n").unwrap_err()[0].row, 2);
        assert_eq!(
            parse("category,item,price\nA,\"B,1\n").unwrap_err()[0].row,
            2
        );
    }

    #[test]
    fn prices_are_read_as_written_in_brazil() {
        for (text, cents) in [
            ("45,90", 4590),
            ("45.90", 4590),
            ("R$ 45,90", 4590),
            ("R$45,9", 4590),
            ("45", 4500),
            ("0", 0),
            ("1.234,50", 123_450),
            ("1,234.50", 123_450),
            ("1.234", 123_400),
            (" 10,00 ", 1000),
        ] {
            assert_eq!(parse_price(text), Some(cents), "{text}");
        }
        for text in ["", "abc", "-5", "4 5,9x", "R$", "1e3"] {
            assert_eq!(parse_price(text), None, "{text}");
        }
    }

    #[test]
    fn latin1_files_are_read() {
        let bytes = b"categoria;item;pre\xe7o\nBebidas;Guaran\xe1;5\n";
        let menu = parse(&decode(bytes)).unwrap();
        assert_eq!(menu.categories[0].items[0].name, "Guaraná");
    }
}
