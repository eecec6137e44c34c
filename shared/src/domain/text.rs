//! Text as customers type it: "vila mariana", "CALABRESA", "pão de queijo" and "pao de
//! queijo" must find the same thing. [`fold`] reduces a text to a comparison key (lowercase,
//! accents removed, whitespace collapsed), used by menu search and neighbourhood matching.
//!
//! The accents are a table of the Latin letters Portuguese (and the Spanish and French names
//! on menus) use, not full Unicode decomposition: it covers every letter a Brazilian menu or
//! street name has, without a normalization crate.

/// Lowercase, without accents, words separated by one space, trimmed.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(unaccent(c));
    }
    out
}

/// The base letter of a lowercase accented Latin letter; any other character unchanged.
fn unaccent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ª' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'º' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_case_accents_and_spaces() {
        assert_eq!(fold("  Vila   Mariana "), "vila mariana");
        assert_eq!(fold("PÃO DE QUEIJO"), "pao de queijo");
        assert_eq!(fold("Açaí\tcom  Granola"), "acai com granola");
        assert_eq!(fold("Crème brûlée"), "creme brulee");
        assert_eq!(fold("São João\n"), "sao joao");
        assert_eq!(fold("Coca-Cola 2L"), "coca-cola 2l");
        assert_eq!(fold("   "), "");
        assert_eq!(fold("ÀÉÎÕÜÇÑ"), "aeiouçn".replace('ç', "c"));
    }
}
