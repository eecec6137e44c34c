//! What an order sets off beyond the customer's chat, so the kitchen knows at once: the
//! Pix QR image of its confirmation, the WhatsApp notice to the owner's own phones
//! (`notifyPhones`, through [`notify`]), and the signed POST to the owner's webhook
//! ([`order_webhook`]) when it is placed and at each status change, and, once accepted, the
//! order's trip to the store's Saipos POS (`saipos::orders`).
//!
//! Everything here is at-least-once and idempotent by key: the bot runs [`placed`] for the
//! order a turn placed (also when a retried turn finds it placed by the same message), so a
//! crash between placing and replying loses no notice; the notice's WhatsApp ids and the
//! webhook's `X-Platefull-Delivery` are the same on every run.

use crate::domain::order::Order;
use crate::domain::profile::{OrderWebhook, StoreProfile};
use crate::jobs::{Line, ReplyImage};
use crate::notify::{self, Notified};
use crate::order_webhook::Delivery;
use crate::queue::Queue;
use crate::store::{Store, StoreError};

/// The note on an order whose owner could not be told on WhatsApp.
pub const NO_LINE_NOTE: &str = "dono não avisado no WhatsApp: nenhum número da loja conectado";

/// The QR image of the order's Pix code, if it has one.
pub fn pix_image(order: &Order) -> Option<ReplyImage> {
    order.payment.pix_code.as_ref().map(|code| ReplyImage {
        qr: code.clone(),
        caption: format!(
            "QR Code Pix do pedido {} ({})",
            crate::bot::order_text::number(order.number),
            crate::bot::money::format(order.total_cents)
        ),
    })
}

/// The owner's notice of a new order (pt-BR): number, customer, lines, total, fulfilment
/// and payment.
pub fn new_order_text(order: &Order) -> String {
    use crate::bot::money::format as money;
    use crate::domain::order::{FulfillmentMode, PaymentMethod};
    let mut text = format!(
        "🔔 Novo pedido {}\nCliente: {}\n",
        crate::bot::order_text::number(order.number),
        order.customer_name.as_deref().unwrap_or(&order.chat)
    );
    for line in &order.items {
        text.push_str(&format!("• {}x {}", line.quantity, line.name));
        if !line.options.is_empty() {
            let options: Vec<&str> = line.options.iter().map(|o| o.name.as_str()).collect();
            text.push_str(&format!(" ({})", options.join(", ")));
        }
        if let Some(note) = &line.note {
            text.push_str(&format!(" — {note}"));
        }
        text.push_str(&format!(" — {}\n", money(line.total_cents)));
    }
    text.push_str(&format!("Total: {}", money(order.total_cents)));
    if order.delivery_fee_cents > 0 {
        text.push_str(&format!(" (entrega {})", money(order.delivery_fee_cents)));
    }
    text.push('\n');
    match order.fulfillment.mode {
        FulfillmentMode::Pickup => text.push_str("Retirada no balcão\n"),
        FulfillmentMode::Delivery => {
            let place: Vec<&str> = [&order.fulfillment.address, &order.fulfillment.neighborhood]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            text.push_str(&format!("Entrega: {}\n", place.join(", ")));
        }
    }
    text.push_str(match order.payment.method {
        PaymentMethod::Pix => "Pagamento: Pix",
        PaymentMethod::Cash => "Pagamento: dinheiro",
        PaymentMethod::Card => "Pagamento: cartão na entrega",
    });
    if let Some(change) = order.payment.change_for_cents {
        text.push_str(&format!(" (troco para {})", money(change)));
    }
    text
}

/// The webhook delivery of `event` for `order`, if the store has a webhook (with a secret).
pub fn webhook_delivery(
    store_id: &str,
    hook: Option<&OrderWebhook>,
    event: &str,
    key: String,
    order: &Order,
) -> Option<Delivery> {
    let hook = hook?;
    let sealed_secret = hook.sealed_secret.clone()?;
    let body = serde_json::json!({ "event": event, "storeId": store_id, "order": order });
    Some(Delivery {
        store_id: store_id.to_owned(),
        url: hook.url.clone(),
        sealed_secret,
        event: event.to_owned(),
        key,
        body: body.to_string(),
        attempt: 0,
    })
}

/// Why telling the kitchen failed (the caller retries the turn or logs it).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Notify(#[from] notify::NotifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// A new order: the notice to `notifyPhones` (with no connected line, noted on the order),
/// the `order.placed` webhook and the console's change feed (best effort). Queue sends and
/// one write, plus a read and a write of the order only when the notice can't go.
pub async fn placed(
    store: &dyn Store,
    inbound: &dyn Queue,
    profile: &StoreProfile,
    store_id: &str,
    order: &Order,
) -> Result<(), EventError> {
    crate::orders::touch_inbox(store, store_id, order).await;
    if !profile.notify_phones.is_empty() {
        // From the line the order came in on: it just carried the customer's message. An
        // order from before lines were recorded falls back to any connected line.
        let notified = notify::notify_owner_phones(
            store,
            inbound,
            store_id,
            Line::from_key(&order.line).as_ref(),
            &profile.notify_phones,
            &new_order_text(order),
            &format!("order#{}", order.id),
        )
        .await?;
        if notified == Notified::NoLine {
            tracing::warn!(store = %store_id, order = %order.id, "new order: no connected line to tell the owner's phones");
            note_on_order(store, store_id, &order.id).await?;
        }
    }
    let key = format!("{}#placed", order.id);
    if let Some(delivery) = webhook_delivery(
        store_id,
        profile.order_webhook.as_ref(),
        "order.placed",
        key,
        order,
    ) {
        inbound.send(delivery.outgoing(None)).await?;
    }
    Ok(())
}

/// An order's status changed (or it was marked paid: `step` names the change): the
/// `order.status` webhook, if the store has one, and the order's Saipos job when it was
/// just accepted by a store that sends orders to Saipos. One read of the profile.
pub async fn changed(
    store: &dyn Store,
    inbound: &dyn Queue,
    store_id: &str,
    order: &Order,
    step: &str,
) -> Result<(), EventError> {
    let profile = crate::knowledge::load(store, store_id).await?.profile;
    if step != "paid" {
        if let Some(job) =
            crate::saipos::orders::job_for(store_id, profile.saipos_orders.as_ref(), order)
        {
            inbound.send(job.outgoing(None)).await?;
        }
    }
    let key = format!("{}#{step}", order.id);
    if let Some(delivery) = webhook_delivery(
        store_id,
        profile.order_webhook.as_ref(),
        "order.status",
        key,
        order,
    ) {
        inbound.send(delivery.outgoing(None)).await?;
    }
    Ok(())
}

/// Notes on the order's first step that the owner was not told (once).
async fn note_on_order(
    store: &dyn Store,
    store_id: &str,
    order_id: &str,
) -> Result<(), StoreError> {
    crate::orders::modify(store, store_id, order_id, |order| {
        if let Some(first) = order.history.first_mut() {
            if first.note.is_none() {
                first.note = Some(NO_LINE_NOTE.to_owned());
            }
        }
        Ok::<(), StoreError>(())
    })
    .await
    .map(|_| ())
}
