//! Money in Brazilian Portuguese text: [`format`] writes centavos the way a customer reads
//! them (`R$ 1.234,50`), and [`amounts`] finds every amount of money a reply mentions, so
//! the price guard ([`super::guard`]) can check each one against the store's data.
//!
//! What counts as an amount (case and accents ignored):
//! - a number after `R$` (with or without a space): `R$ 45`, `R$45,90`, `R$ 1.234,50`,
//!   `R$ 45.90` (a dot followed by exactly three digits groups thousands, otherwise it is the
//!   decimal point);
//! - a number before `real`/`reais` (or the slang `conto`/`contos`): `45 reais`,
//!   `45,90 reais`, `45 conto`, and `… reais e 90 centavos`;
//!   a number before `centavos` alone (`90 centavos`);
//! - a number with a decimal comma and exactly two decimals, anywhere: `45,90`, `1.234,50`
//!   (not before `%`);
//! - number words before `real`/`reais`: `quarenta e cinco reais`, `cem reais`,
//!   `mil e duzentos reais`, `dois reais e cinquenta centavos`.
//!
//! Not counted (documented limits): bare integers (`a pizza sai por 45`: a bare `45` is as
//! often a quantity, a size or minutes), ranges written once (`R$ 40 a 50` counts only 40),
//! and amounts spelled in words without `reais`.

use crate::domain::text::fold;

/// `R$ 1.234,50` for 123450; negative amounts get a leading `-`.
pub fn format(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let reais = (abs / 100).to_string();
    let mut grouped = String::with_capacity(reais.len() + reais.len() / 3);
    for (i, digit) in reais.chars().enumerate() {
        if i > 0 && (reais.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    format!("{sign}R$ {grouped},{:02}", abs % 100)
}

/// Every amount of money `text` mentions, in centavos, in order of appearance (repeats
/// included).
pub fn amounts(text: &str) -> Vec<i64> {
    let chars: Vec<char> = fold(text).chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if chars[i].is_ascii_digit() && boundary && !after_number_mark(&chars, i) {
            let end = number_end(&chars, i);
            let token: String = chars[i..end].iter().collect();
            if let Some((cents, next)) = digits_amount(&chars, i, end, &token) {
                found.push(cents);
                i = next;
            } else {
                i = end;
            }
            continue;
        }
        if chars[i].is_alphabetic() && boundary {
            if let Some((cents, next)) = words_amount(&chars, i) {
                found.push(cents);
                i = next;
                continue;
            }
            i = word_end(&chars, i);
            continue;
        }
        i += 1;
    }
    found
}

/// A number right after another number's separator (`1.5.3`, `10/12`) is not a new one.
fn after_number_mark(chars: &[char], i: usize) -> bool {
    i >= 2 && matches!(chars[i - 1], '.' | ',' | '/' | ':') && chars[i - 2].is_ascii_digit()
}

/// The end of the number starting at `start`: digits, with `.`/`,` between digits.
fn number_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() {
        let separator =
            matches!(chars[end], '.' | ',') && chars.get(end + 1).is_some_and(char::is_ascii_digit);
        if !(chars[end].is_ascii_digit() || separator) {
            break;
        }
        end += 1;
    }
    end
}

fn word_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() && chars[end].is_alphanumeric() {
        end += 1;
    }
    end
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The word starting at `i` (after spaces), and where it ends.
fn next_word(chars: &[char], i: usize) -> Option<(String, usize)> {
    let start = skip_spaces(chars, i);
    let end = word_end(chars, start);
    (end > start).then(|| (chars[start..end].iter().collect(), end))
}

fn has_currency_before(chars: &[char], start: usize) -> bool {
    let mut j = start;
    while j > 0 && chars[j - 1].is_whitespace() {
        j -= 1;
    }
    j >= 2 && chars[j - 1] == '$' && chars[j - 2] == 'r'
}

/// The amount a number token is, if its context makes it money; and where scanning goes on.
fn digits_amount(chars: &[char], start: usize, end: usize, token: &str) -> Option<(i64, usize)> {
    let prefixed = has_currency_before(chars, start);
    let after = next_word(chars, end);
    let unit = after.as_ref().map(|(w, _)| w.as_str());
    let reais = matches!(unit, Some("reais" | "real" | "conto" | "contos"));
    if !reais && matches!(unit, Some("centavos" | "centavo")) && !token.contains([',', '.']) {
        let cents: i64 = token.parse().ok()?;
        return Some((cents, after?.1));
    }
    let comma_cents = token
        .rsplit_once(',')
        .is_some_and(|(_, frac)| frac.len() == 2);
    let percent = chars.get(skip_spaces(chars, end)) == Some(&'%');
    if !(prefixed || reais || (comma_cents && !percent)) {
        return None;
    }
    let mut cents = parse_number(token, prefixed || reais)?;
    let mut next = end;
    if reais {
        next = after?.1;
        if let Some((extra, after_cents)) = cents_after(chars, next) {
            cents += extra;
            next = after_cents;
        }
    }
    Some((cents, next))
}

/// `… e 90 centavos` / `… e cinquenta centavos` after `reais`.
fn cents_after(chars: &[char], i: usize) -> Option<(i64, usize)> {
    let (word, after_e) = next_word(chars, i)?;
    if word != "e" {
        return None;
    }
    let start = skip_spaces(chars, after_e);
    let (value, end) = if chars.get(start).is_some_and(char::is_ascii_digit) {
        let end = word_end(chars, start);
        let digits: String = chars[start..end].iter().collect();
        (digits.parse().ok()?, end)
    } else {
        number_words(chars, start)?
    };
    let (unit, after_unit) = next_word(chars, end)?;
    (matches!(unit.as_str(), "centavos" | "centavo") && value < 100).then_some((value, after_unit))
}

/// Centavos of a number token: `,` is the decimal mark (dots group thousands); without a
/// comma, a dot followed by three digits groups thousands and otherwise is the decimal
/// point. `loose`: the context says money, so one or 3+ decimals are read too.
fn parse_number(token: &str, loose: bool) -> Option<i64> {
    let (int, frac) = match token.rsplit_once(',') {
        Some((int, frac)) => (int, frac),
        None => match token.rsplit_once('.') {
            Some((_, last)) if last.len() == 3 => (token, ""),
            Some((int, frac)) => (int, frac),
            None => (token, ""),
        },
    };
    if int.contains(',') || (!loose && frac.len() != 2 && !frac.is_empty()) {
        return None;
    }
    let int: String = int.chars().filter(|c| *c != '.').collect();
    if int.is_empty() || int.len() > 12 {
        return None;
    }
    let reais: i64 = int.parse().ok()?;
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac[..2].parse().ok()?,
    };
    Some(reais * 100 + cents)
}

fn word_value(word: &str) -> Option<i64> {
    Some(match word {
        "zero" => 0,
        "um" | "uma" => 1,
        "dois" | "duas" => 2,
        "tres" => 3,
        "quatro" => 4,
        "cinco" => 5,
        "seis" => 6,
        "sete" => 7,
        "oito" => 8,
        "nove" => 9,
        "dez" => 10,
        "onze" => 11,
        "doze" => 12,
        "treze" => 13,
        "catorze" | "quatorze" => 14,
        "quinze" => 15,
        "dezesseis" => 16,
        "dezessete" => 17,
        "dezoito" => 18,
        "dezenove" => 19,
        "vinte" => 20,
        "trinta" => 30,
        "quarenta" => 40,
        "cinquenta" => 50,
        "sessenta" => 60,
        "setenta" => 70,
        "oitenta" => 80,
        "noventa" => 90,
        "cem" | "cento" => 100,
        "duzentos" | "duzentas" => 200,
        "trezentos" | "trezentas" => 300,
        "quatrocentos" | "quatrocentas" => 400,
        "quinhentos" | "quinhentas" => 500,
        "seiscentos" | "seiscentas" => 600,
        "setecentos" | "setecentas" => 700,
        "oitocentos" | "oitocentas" => 800,
        "novecentos" | "novecentas" => 900,
        "mil" => 1000,
        _ => return None,
    })
}

/// A number in words starting at `i` (`quarenta e cinco`, `mil e duzentos`): its value and
/// end. `e` joins number words only.
fn number_words(chars: &[char], i: usize) -> Option<(i64, usize)> {
    let (mut total, mut current) = (0i64, 0i64);
    let mut end = None;
    let mut at = i;
    while let Some((word, after)) = next_word(chars, at) {
        if let Some(value) = word_value(&word) {
            // "quarenta e cinco", and also "mil duzentos", "duzentos mil" without an `e`.
            if value == 1000 {
                total += current.max(1) * 1000;
                current = 0;
            } else {
                current += value;
            }
            end = Some(after);
            at = after;
        } else if word == "e"
            && end.is_some()
            && next_word(chars, after).is_some_and(|(w, _)| word_value(&w).is_some())
        {
            at = after;
        } else if end.is_none() {
            return None;
        } else {
            break;
        }
    }
    end.map(|end| (total + current, end))
}

/// An amount in words at `i` (`quarenta e cinco reais [e noventa centavos]`).
fn words_amount(chars: &[char], i: usize) -> Option<(i64, usize)> {
    let (value, end) = number_words(chars, i)?;
    let (unit, after) = next_word(chars, end)?;
    match unit.as_str() {
        "reais" | "real" => {
            let mut cents = value * 100;
            let mut next = after;
            if let Some((extra, after_cents)) = cents_after(chars, after) {
                cents += extra;
                next = after_cents;
            }
            Some((cents, next))
        }
        "centavos" | "centavo" if value < 100 => Some((value, after)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_the_brazilian_way() {
        assert_eq!(format(4590), "R$ 45,90");
        assert_eq!(format(4500), "R$ 45,00");
        assert_eq!(format(0), "R$ 0,00");
        assert_eq!(format(5), "R$ 0,05");
        assert_eq!(format(123_450), "R$ 1.234,50");
        assert_eq!(format(100_000_000), "R$ 1.000.000,00");
        assert_eq!(format(-1000), "-R$ 10,00");
    }

    #[test]
    fn every_written_form_of_an_amount_is_found() {
        let cases: &[(&str, &[i64])] = &[
            ("A calabresa sai por R$ 45,90.", &[4590]),
            ("Fica R$45 a grande", &[4500]),
            ("r$ 45,9 hoje", &[4590]),
            ("São 45 reais", &[4500]),
            ("só 45 conto", &[4500]),
            ("45,90 reais cada", &[4590]),
            ("Custa 45,90", &[4590]),
            ("Total: R$ 1.234,50!", &[123_450]),
            ("1.234,50 no total", &[123_450]),
            ("R$ 45.90 ou R$ 1.234", &[4590, 123_400]),
            ("quarenta e cinco reais", &[4500]),
            ("Quarenta e Cinco Reais e noventa centavos", &[4590]),
            ("cem reais", &[10_000]),
            ("mil e duzentos reais", &[120_000]),
            ("três reais", &[300]),
            ("um real e 50 centavos", &[150]),
            ("45 reais e 90 centavos", &[4590]),
            ("só 90 centavos", &[90]),
            ("2 pizzas = R$ 91,80 (R$ 45,90 cada)", &[9180, 4590]),
            ("R$ 10 + R$ 5,50 = R$ 15,50", &[1000, 550, 1550]),
        ];
        for (text, want) in cases {
            assert_eq!(amounts(text), *want, "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_money_are_left_alone() {
        for text in [
            "Abrimos às 18:00 e fechamos 23h30",
            "Entrega em 40 minutos",
            "2 pizzas grandes, 8 fatias cada",
            "Natal: 25/12 fechado",
            "Desconto de 10,50% hoje",
            "Telefone 11 99999-0000",
            "Pizza 35 cm, 1,5 kg",
            "uma pizza e duas cocas",
            "versão 1.2.3",
        ] {
            assert_eq!(amounts(text), Vec::<i64>::new(), "{text}");
        }
    }

    #[test]
    fn formatted_amounts_read_back_as_themselves() {
        for cents in [0, 1, 99, 100, 4590, 123_450, 10_000_000, 987_654_321] {
            assert_eq!(amounts(&format!("sai por {}", format(cents))), [cents]);
        }
    }
}
