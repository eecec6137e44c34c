//! The hook between media and orders: a picture or PDF a customer sends may be a Pix
//! receipt. When the chat's latest order awaits Pix payment (Pix, not paid, not
//! cancelled), [`proof_received`] sets `payment.proofReceived` on it ("comprovante
//! recebido", with a note in its history) and tells the owner's `notifyPhones`, for the
//! owner to check the bank: a picture proves nothing, so the order is never marked paid
//! here. Anything else (no order, paid, cash) answers `false` and the picture is handled
//! as any other.

use super::chat::ChatRef;
use crate::domain::order::{HistoryEntry, Order, OrderStatus, PaymentMethod};
use crate::orders;
use crate::queue::Queue;
use crate::store::keys::{self, store_pk};
use crate::store::{Store, StoreError};

/// The history note of a received receipt (console text, pt-BR).
pub const PROOF_NOTE: &str = "comprovante recebido: confira o pagamento";

/// Whether `order` waits for a Pix payment (a receipt for it makes sense).
pub fn awaits_pix(order: &Order) -> bool {
    order.payment.method == PaymentMethod::Pix
        && !order.payment.paid
        && order.status != OrderStatus::Cancelled
}

/// The owner's notice of a receipt (pt-BR).
pub fn owner_text(order: &Order) -> String {
    format!(
        "🧾 Comprovante Pix recebido do pedido {} ({}, {}). Confira no banco antes de marcar como pago.",
        super::order_text::number(order.number),
        order.customer_name.as_deref().unwrap_or(&order.chat),
        super::money::format(order.total_cents),
    )
}

/// Did this chat's latest order await Pix payment, now flagged "comprovante recebido"?
/// Reads the chat's cart (which remembers its latest order) and the order; writes the
/// order once (a second receipt changes nothing but is answered the same); the owner's
/// notice is best effort (one per order: its id comes from the order's).
pub async fn proof_received(
    store: &dyn Store,
    inbound: &dyn Queue,
    chat: &ChatRef<'_>,
) -> Result<bool, StoreError> {
    let cart = store
        .get(
            &store_pk(chat.store_id),
            &keys::chat_cart_sk(&chat.line.key(), chat.chat),
        )
        .await?;
    let Some(cart) = cart else {
        return Ok(false);
    };
    let Some(placed) = orders::cart_from(Some(&cart), u32::MAX, 0)?.cart.placed else {
        return Ok(false);
    };
    let Some((order, _)) = orders::get(store, chat.store_id, &placed.order_id).await? else {
        return Ok(false);
    };
    if !awaits_pix(&order) {
        return Ok(false);
    }
    if order.payment.proof_received {
        return Ok(true);
    }
    let at = jiff::Timestamp::now().to_string();
    let changed = orders::modify(store, chat.store_id, &placed.order_id, |order| {
        if awaits_pix(order) && !order.payment.proof_received {
            order.payment.proof_received = true;
            order.updated_at = at.clone();
            order.history.push(HistoryEntry {
                status: order.status,
                at: at.clone(),
                reason: None,
                note: Some(PROOF_NOTE.to_owned()),
            });
        }
        Ok::<(), StoreError>(())
    })
    .await?;
    let Some(order) = changed.filter(|o| o.payment.proof_received) else {
        return Ok(false); // paid or cancelled meanwhile
    };
    tracing::info!(store = %chat.store_id, order = %order.id, "Pix receipt received");
    orders::touch_inbox(store, chat.store_id, &order).await;
    let profile = match crate::knowledge::load(store, chat.store_id).await {
        Ok(knowledge) => knowledge.profile,
        Err(err) => {
            tracing::warn!(store = %chat.store_id, order = %order.id, error = %err, "could not read the profile to tell the owner of a receipt");
            return Ok(true);
        }
    };
    let sent = crate::notify::notify_owner_phones(
        store,
        inbound,
        chat.store_id,
        Some(chat.line),
        &profile.notify_phones,
        &owner_text(&order),
        &format!("proof#{}", order.id),
    )
    .await;
    if let Err(err) = sent {
        tracing::warn!(store = %chat.store_id, order = %order.id, error = %err, "could not tell the owner of a receipt");
    }
    Ok(true)
}
