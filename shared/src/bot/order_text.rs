//! What our code (never the model) writes to the customer about an order, in Brazilian
//! Portuguese: the summary the customer confirms, the confirmation with the order's number
//! (and the Pix "copia e cola" when paying by Pix), the message of each status change, and
//! the words for a status. Amounts are written by [`money::format`] from the computed
//! totals, so what the customer confirms is exactly what is placed.

use super::money;
use crate::domain::order::{
    Cart, FulfillmentMode, Order, OrderLine, OrderStatus, PaymentMethod, Priced,
};

/// `#0042`: the order's number as the customer and the kitchen see it.
pub fn number(n: u32) -> String {
    format!("#{n:04}")
}

fn method(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Pix => "Pix",
        PaymentMethod::Cash => "dinheiro",
        PaymentMethod::Card => "cartão na entrega",
    }
}

fn line_text(line: &OrderLine) -> String {
    let mut text = format!("{}x {}", line.quantity, line.name);
    if !line.options.is_empty() {
        let names: Vec<&str> = line.options.iter().map(|o| o.name.as_str()).collect();
        text.push_str(&format!(" ({})", names.join(", ")));
    }
    text.push_str(&format!(" — {}", money::format(line.total_cents)));
    if let Some(note) = &line.note {
        text.push_str(&format!("\n   obs.: {note}"));
    }
    text
}

/// The summary of `cart` priced as `priced`, ending with the request to confirm.
pub fn summary(cart: &Cart, priced: &Priced) -> String {
    let mut text = String::from("*Resumo do pedido*\n");
    for line in &priced.lines {
        text.push_str(&line_text(&line.line));
        text.push('\n');
    }
    text.push_str(&format!(
        "Subtotal: {}\n",
        money::format(priced.subtotal_cents)
    ));
    if let Some(f) = &cart.fulfillment {
        match f.mode {
            FulfillmentMode::Delivery => {
                text.push_str(&format!(
                    "Taxa de entrega: {}\n",
                    money::format(priced.delivery_fee_cents)
                ));
                text.push_str(&format!("*Total: {}*\n", money::format(priced.total_cents)));
                text.push_str(&format!(
                    "Entrega em: {} — {}",
                    f.address.as_deref().unwrap_or_default(),
                    f.neighborhood.as_deref().unwrap_or_default()
                ));
                if let Some(eta) = priced.eta_minutes {
                    text.push_str(&format!(" (cerca de {eta} min)"));
                }
                text.push('\n');
            }
            FulfillmentMode::Pickup => {
                text.push_str(&format!("*Total: {}*\n", money::format(priced.total_cents)));
                text.push_str("Retirada na loja\n");
            }
        }
    }
    if let Some(payment) = &cart.payment {
        text.push_str(&format!("Pagamento: {}", method(payment.method)));
        if let Some(change) = payment.change_for_cents {
            text.push_str(&format!(" (troco para {})", money::format(change)));
        }
        text.push('\n');
    }
    text.push_str("\nEstá tudo certo? Responda *sim* para confirmar o pedido.");
    text
}

/// The confirmation of a placed order (with its Pix code, if it has one).
pub fn confirmation(order: &Order) -> String {
    let mut text = format!(
        "Pedido *{}* confirmado! ✅\nTotal: {} — pagamento: {}.",
        number(order.number),
        money::format(order.total_cents),
        method(order.payment.method)
    );
    if let Some(change) = order.payment.change_for_cents {
        text.push_str(&format!(" Levaremos troco para {}.", money::format(change)));
    }
    if let Some(code) = &order.payment.pix_code {
        text.push_str(&format!(
            "\n\nPix copia e cola (valor {}):\n{code}",
            money::format(order.total_cents)
        ));
    }
    text.push_str("\nAvisaremos aqui cada etapa do pedido.");
    text
}

/// The status in the customer's words.
pub fn status_words(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::New => "recebido, aguardando a loja aceitar",
        OrderStatus::Accepted => "aceito",
        OrderStatus::Preparing => "em preparo",
        OrderStatus::OutForDelivery => "saiu para entrega",
        OrderStatus::ReadyForPickup => "pronto para retirada",
        OrderStatus::Delivered => "entregue",
        OrderStatus::Cancelled => "cancelado",
    }
}

/// The message the customer gets when the order moves to `status`.
pub fn status_message(order: &Order, status: OrderStatus, reason: Option<&str>) -> String {
    let n = number(order.number);
    match status {
        OrderStatus::New => format!("Recebemos seu pedido {n}."),
        OrderStatus::Accepted => format!("Seu pedido {n} foi aceito! Logo entra em preparo."),
        OrderStatus::Preparing => format!("Seu pedido {n} está em preparo. 👨‍🍳"),
        OrderStatus::OutForDelivery => format!("Seu pedido {n} saiu para entrega! 🛵"),
        OrderStatus::ReadyForPickup => {
            format!("Seu pedido {n} está pronto para retirada! Pode vir buscar.")
        }
        OrderStatus::Delivered => {
            format!("Pedido {n} entregue. Obrigado pela preferência! 😊")
        }
        OrderStatus::Cancelled => match reason {
            Some(reason) => format!("Seu pedido {n} foi cancelado. Motivo: {reason}"),
            None => format!("Seu pedido {n} foi cancelado."),
        },
    }
}

/// The message the customer gets when the owner marks the order paid.
pub fn paid_message(order: &Order) -> String {
    format!(
        "Pagamento do pedido {} confirmado. Obrigado!",
        number(order.number)
    )
}
