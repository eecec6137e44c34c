//! Answers without a model (no LLM key: [`super::llm::Offline`]): the common questions are
//! answered from the store's data by simple keyword matching on the customer's latest
//! message (case and accents ignored), and anything else gets the offline notice.
//!
//! | the customer writes | the answer |
//! |---------------------|------------|
//! | `horário`, `aberto/aberta`, `abre`, `fecha`, `funciona` | open or closed now, today's shifts |
//! | `cardápio`, `menu` | the available items with prices (categories and counts for a large menu) |
//! | `entrega`, `taxa`, `frete`, `delivery`, or a neighbourhood of a zone | that zone's fee, minimum and time; else the zones |
//! | `pix`, `pagamento`, `pagar`, `cartão`, `dinheiro` | the payment methods, with the Pix key |
//!
//! Several topics in one message get one paragraph each. Every amount is the data's own,
//! formatted by [`money::format`].

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::{money, status};
use crate::domain::menu::Menu;
use crate::domain::profile::{PixKeyType, Zone};
use crate::domain::text::fold;
use crate::knowledge::Knowledge;

/// Menus up to this many available items are listed whole offline.
const LIST_MAX_ITEMS: usize = 40;

fn has_word(words: &[&str], stems: &[&str]) -> bool {
    words
        .iter()
        .any(|w| stems.iter().any(|stem| w.starts_with(stem)))
}

/// The answer to `text` from the data, if it asks something the data answers.
pub fn answer(knowledge: &Knowledge, tz: &TimeZone, now: Timestamp, text: &str) -> Option<String> {
    let folded = fold(text);
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut parts = Vec::new();
    if has_word(
        &words,
        &["horario", "aberto", "aberta", "abre", "fecha", "funciona"],
    ) {
        parts.push(hours(knowledge, tz, now));
    }
    if has_word(&words, &["cardapio", "menu"]) {
        parts.push(menu(&knowledge.menu));
    }
    let zone = neighborhood_in(knowledge, &folded);
    if zone.is_some() || has_word(&words, &["entrega", "taxa", "frete", "delivery"]) {
        parts.push(delivery(knowledge, zone));
    }
    if has_word(&words, &["pix", "pagamento", "pagar", "cartao", "dinheiro"]) {
        parts.push(payments(knowledge));
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

fn hours(knowledge: &Knowledge, tz: &TimeZone, now: Timestamp) -> String {
    let profile = &knowledge.profile;
    let Some(s) = status::status(profile, tz, now) else {
        return "Ainda não temos o horário de funcionamento cadastrado aqui; a loja confirma \
                assim que possível."
            .to_owned();
    };
    let mut text = match (s.open, s.closes_at, s.opens_at) {
        (true, Some(at), _) => format!("Estamos abertos agora, até {}.", status::when(tz, now, at)),
        (true, None, _) => "Estamos abertos agora.".to_owned(),
        (false, _, Some(at)) => format!(
            "Estamos fechados agora; abrimos {}.",
            status::when(tz, now, at)
        ),
        (false, _, None) => "Estamos fechados agora.".to_owned(),
    };
    let today = status::today_hours(profile, tz, now);
    if today.is_empty() {
        text.push_str(" Hoje não abrimos.");
    } else {
        text.push_str(&format!(" Horário de hoje: {}.", today.join(", ")));
    }
    text
}

fn menu(menu: &Menu) -> String {
    let available: usize = menu.items().filter(|(_, i)| i.available).count();
    if available == 0 {
        return "O cardápio ainda não está disponível por aqui.".to_owned();
    }
    if available > LIST_MAX_ITEMS {
        let categories: Vec<String> = menu
            .categories
            .iter()
            .map(|c| {
                format!(
                    "{} ({} itens)",
                    c.name,
                    c.items.iter().filter(|i| i.available).count()
                )
            })
            .collect();
        return format!(
            "Nosso cardápio tem {available} itens: {}. Diga o que procura que eu te passo os \
             detalhes.",
            categories.join(", ")
        );
    }
    let mut text = String::from("Nosso cardápio:");
    for category in &menu.categories {
        let items: Vec<String> = category
            .items
            .iter()
            .filter(|i| i.available)
            .map(|i| format!("{} {}", i.name, money::format(i.price_cents)))
            .collect();
        if !items.is_empty() {
            text.push_str(&format!("\n*{}*: {}", category.name, items.join("; ")));
        }
    }
    text
}

/// The zone of a neighbourhood named in the (folded) text, as whole words.
fn neighborhood_in<'a>(knowledge: &'a Knowledge, folded: &str) -> Option<&'a Zone> {
    let padded = format!(" {} ", folded.replace(|c: char| !c.is_alphanumeric(), " "));
    knowledge.profile.delivery.zones.iter().find(|zone| {
        zone.neighborhoods.iter().any(|n| {
            let n = fold(n);
            !n.is_empty() && padded.contains(&format!(" {n} "))
        })
    })
}

fn zone_line(zone: &Zone) -> String {
    format!(
        "taxa {}, pedido mínimo {}, cerca de {} min",
        money::format(zone.fee_cents),
        money::format(zone.min_order_cents),
        zone.eta_minutes
    )
}

fn delivery(knowledge: &Knowledge, zone: Option<&Zone>) -> String {
    let delivery = &knowledge.profile.delivery;
    let pickup = if delivery.pickup {
        match &knowledge.profile.address {
            Some(address) => format!(" Também dá para retirar na loja: {address}."),
            None => " Também dá para retirar na loja.".to_owned(),
        }
    } else {
        String::new()
    };
    if let Some(zone) = zone {
        return format!(
            "Entregamos aí ({}): {}.{pickup}",
            zone.name,
            zone_line(zone)
        );
    }
    if delivery.zones.is_empty() {
        return format!("No momento não fazemos entregas.{pickup}");
    }
    let zones: Vec<String> = delivery
        .zones
        .iter()
        .map(|z| {
            format!(
                "- {} ({}): {}",
                z.name,
                z.neighborhoods.join(", "),
                zone_line(z)
            )
        })
        .collect();
    format!(
        "Entregamos nestas regiões:\n{}\nMe diga seu bairro para confirmar.{pickup}",
        zones.join("\n")
    )
}

fn payments(knowledge: &Knowledge) -> String {
    let payments = &knowledge.profile.payments;
    let mut ways = Vec::new();
    if let Some(pix) = &payments.pix {
        let kind = match pix.key_type {
            PixKeyType::Cpf => "CPF",
            PixKeyType::Cnpj => "CNPJ",
            PixKeyType::Email => "e-mail",
            PixKeyType::Phone => "telefone",
            PixKeyType::Random => "aleatória",
        };
        ways.push(format!(
            "Pix (chave {kind}: {}, em nome de {})",
            pix.key, pix.merchant_name
        ));
    }
    if payments.cash {
        ways.push("dinheiro (levamos troco)".to_owned());
    }
    if payments.card {
        ways.push("cartão na entrega".to_owned());
    }
    if ways.is_empty() {
        return "As formas de pagamento ainda não estão cadastradas; a loja confirma com você."
            .to_owned();
    }
    format!("Aceitamos: {}.", ways.join("; "))
}
