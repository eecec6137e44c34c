//! Where carts and orders are kept (keys in [`crate::store::keys`]), and the writes that keep
//! "exactly one order" true.
//!
//! - A chat's cart is one item under the chat's prefix (`CHAT#<line>#<chat>#~cart`), so the
//!   turn's one newest-first query of the chat reads it with the history (no extra round
//!   trip). It is written with the claim of the turn's reply (the same transaction: the
//!   summary a reply carries and the cart version it shows are stored together), each
//!   write conditioned on the `rev` it read. A cart untouched for longer than the chat's
//!   context time starts over (its latest order is kept for `order_status`).
//! - An order is `ORDER#<date>#<nnnnnn>` in the store's partition (`date`: the store-local
//!   day), its number given by the day's counter `ORDERSEQ#<date>`. Placing is ONE
//!   transaction: the counter moved from the number read to the next (so two orders can't
//!   share a number and a failed attempt uses none: no gaps), the order created, and the
//!   cart replaced by a fresh one that remembers which cart version became which order,
//!   conditioned on the cart's `rev`. A retried turn finds the cart placed and gets the same
//!   order back; two workers racing on one cart: one transaction wins, the other reads the
//!   cart again and finds the order. Cost: one read of the counter and one transaction
//!   (which also adds the order to the day's usage: `orders`, `ordersTotalCents`).
//! - Status changes and "paid" rewrite the order conditioned on its `rev`.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

use crate::bot::chat::ChatRef;
use crate::domain::order::{parse_order_id, Cart, Order, OrderStatus, Placed};
use crate::store::keys::{self, store_pk};
use crate::store::{Cond, Item, Store, StoreError, WriteOp};

/// How often a write that lost a race reads again before giving up.
const ATTEMPTS: usize = 8;
/// A cart (and the chat's latest order reference) is kept this long after its last change.
const CART_KEEP_SECS: i64 = 30 * 86_400;
/// Orders one page of the list holds.
pub const PAGE: usize = 100;
/// The most orders one query of a filtered list reads.
pub const CHUNK_MAX: usize = 800;
const REV: &str = "rev";

fn data_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Data(format!("stored {what} does not decode: {e}"))
}

/// The store-local day (`YYYY-MM-DD`) of an instant: the day an order placed then belongs to.
pub fn local_date(tz: &TimeZone, at: Timestamp) -> String {
    at.to_zoned(tz.clone()).date().to_string()
}

// --- Carts ---

/// A chat's cart as read, with the `rev` its next write must find (`None`: never stored).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredCart {
    pub cart: Cart,
    pub rev: Option<i64>,
}

/// A new cart id (random; a cart id only has to differ from the chat's earlier carts).
pub fn new_cart_id() -> String {
    crate::ids::new_id("cart")
}

/// The chat's cart from its stored item (`None`: no cart yet): a cart untouched for more
/// than `context_minutes` starts over, keeping the chat's latest order.
pub fn cart_from(
    item: Option<&Item>,
    context_minutes: u32,
    now_ms: i64,
) -> Result<StoredCart, StoreError> {
    let Some(item) = item else {
        return Ok(StoredCart {
            cart: Cart::fresh(new_cart_id(), None),
            rev: None,
        });
    };
    let mut cart: Cart =
        serde_json::from_value(Value::Object(item.clone())).map_err(|e| data_error("cart", e))?;
    let rev = item.get(REV).and_then(Value::as_i64);
    let touched = item.get("touchedAt").and_then(Value::as_i64).unwrap_or(0);
    if touched < now_ms - i64::from(context_minutes) * 60_000 {
        cart = Cart::fresh(new_cart_id(), cart.placed);
    }
    Ok(StoredCart { cart, rev })
}

fn rev_cond(rev: Option<i64>) -> Cond {
    match rev {
        Some(rev) => Cond::Matches(vec![(REV.into(), rev.into())]),
        None => Cond::NotExists,
    }
}

/// The write that stores `cart` over `stored` (conditioned on the rev read); the new rev.
pub fn cart_write(
    chat: &ChatRef<'_>,
    stored: &StoredCart,
    cart: &Cart,
    now_ms: i64,
) -> Result<(WriteOp, i64), StoreError> {
    let rev = stored.rev.unwrap_or(0) + 1;
    let item = keys::item(
        store_pk(chat.store_id),
        keys::chat_cart_sk(&chat.line.key(), chat.chat),
    )
    .record(cart)?
    .set(REV, rev)
    .set("touchedAt", now_ms)
    .set("expiresAt", now_ms / 1000 + CART_KEEP_SECS)
    .build();
    Ok((
        WriteOp::Put {
            item,
            cond: rev_cond(stored.rev),
        },
        rev,
    ))
}

/// What placing a cart came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Placed now: the order, and the chat's fresh cart as stored.
    Placed {
        order: Box<Order>,
        cart: Box<StoredCart>,
    },
    /// This cart version was placed before (a retried turn, a redelivery): that order.
    Already(Placed),
    /// The cart changed meanwhile (another turn of the chat): nothing placed.
    CartChanged,
}

/// Places `stored`'s cart as the next order of local day `date`: `build(number)` makes the
/// order. One read of the day's counter and one transaction (more only when another order
/// of the store took the number meanwhile). `latest_at_ms`: the customer message that
/// confirmed, remembered with the order reference.
pub async fn place(
    store: &dyn Store,
    chat: &ChatRef<'_>,
    stored: &StoredCart,
    date: &str,
    latest_at_ms: i64,
    build: impl Fn(u32) -> Order,
    now_ms: i64,
) -> Result<Placement, StoreError> {
    let cart = &stored.cart;
    if let Some(placed) = cart
        .placed
        .as_ref()
        .filter(|p| p.cart_id == cart.id && p.version == cart.version)
    {
        return Ok(Placement::Already(placed.clone()));
    }
    let pk = store_pk(chat.store_id);
    let counter_sk = keys::order_counter_sk(date);
    for _ in 0..ATTEMPTS {
        let last = store
            .get(&pk, &counter_sk)
            .await?
            .and_then(|item| item.get("n").and_then(Value::as_u64))
            .unwrap_or(0) as u32;
        let number = last + 1;
        let order = build(number);
        let placed = Placed {
            cart_id: cart.id.clone(),
            version: cart.version,
            order_id: order.id.clone(),
            number,
            confirmed_at_ms: latest_at_ms,
        };
        let fresh = Cart::fresh(new_cart_id(), Some(placed.clone()));
        let (cart_op, rev) = cart_write(chat, stored, &fresh, now_ms)?;
        let counter = keys::item(pk.clone(), counter_sk.clone())
            .set("n", number)
            .build();
        let counter_cond = if last == 0 {
            Cond::NotExists
        } else {
            Cond::Matches(vec![("n".into(), last.into())])
        };
        let order_item = keys::item(pk.clone(), keys::order_sk(date, number))
            .record(&order)?
            .set(REV, 1)
            .build();
        let ops = vec![
            WriteOp::Put {
                item: counter,
                cond: counter_cond,
            },
            WriteOp::Put {
                item: order_item,
                cond: Cond::NotExists,
            },
            cart_op,
            // Counted once: the order's create-only put makes the count happen once.
            crate::health::usage::order_op(chat.store_id, date, order.total_cents),
        ];
        match store.write(ops).await {
            Ok(()) => {
                return Ok(Placement::Placed {
                    order: Box::new(order),
                    cart: Box::new(StoredCart {
                        cart: fresh,
                        rev: Some(rev),
                    }),
                })
            }
            Err(StoreError::ConditionFailed) => {}
            Err(other) => return Err(other),
        }
        // Lost a race: on the counter (try the next number) or on the cart.
        let now = store
            .get(&pk, &keys::chat_cart_sk(&chat.line.key(), chat.chat))
            .await?;
        let now_rev = now
            .as_ref()
            .and_then(|i| i.get(REV).and_then(Value::as_i64));
        if now_rev != stored.rev {
            let current = cart_from(now.as_ref(), u32::MAX, now_ms)?;
            return Ok(match current.cart.placed {
                Some(p) if p.cart_id == cart.id && p.version == cart.version => {
                    Placement::Already(p)
                }
                _ => Placement::CartChanged,
            });
        }
    }
    Err(StoreError::Unavailable(
        "the day's order numbers kept changing; try again".into(),
    ))
}

// --- Orders ---

fn decode_order(item: Item) -> Result<(Order, i64), StoreError> {
    let rev = item.get(REV).and_then(Value::as_i64).unwrap_or(0);
    let order = serde_json::from_value(Value::Object(item)).map_err(|e| data_error("order", e))?;
    Ok((order, rev))
}

/// One order by id (`None`: no such order, or not an order id), with its rev.
pub async fn get(
    store: &dyn Store,
    store_id: &str,
    order_id: &str,
) -> Result<Option<(Order, i64)>, StoreError> {
    let Some((date, number)) = parse_order_id(order_id) else {
        return Ok(None);
    };
    match store
        .get(&store_pk(store_id), &keys::order_sk(&date, number))
        .await?
    {
        Some(item) => decode_order(item).map(Some),
        None => Ok(None),
    }
}

/// One page of a day's orders, newest (highest number) first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub orders: Vec<Order>,
    /// Pass as `cursor` for the next page; `None`: this was the last.
    pub next_cursor: Option<String>,
}

/// The orders of local day `date`, newest first, of one status if given, after `cursor`
/// (the number the previous page ended at). Reads newest-first chunks of the day below the
/// cursor (`query_last_before`): the first chunk is [`PAGE`] + 1 orders, so an unfiltered
/// page (first or later) is one query of 101 items; a status filter reads on in doubling
/// chunks (up to [`CHUNK_MAX`]) until its page is full or the day is read, so a common
/// status costs one query and a rare one a few, never the whole day in one.
pub async fn list(
    store: &dyn Store,
    store_id: &str,
    date: &str,
    status: Option<OrderStatus>,
    cursor: Option<u32>,
) -> Result<Page, StoreError> {
    let pk = store_pk(store_id);
    let prefix = keys::order_day_prefix(date);
    let mut before = cursor.map(|c| keys::order_sk(date, c));
    let mut chunk = PAGE + 1;
    // Filtered on the raw items; only the page's orders are decoded.
    let mut orders = Vec::with_capacity(PAGE);
    let mut more = false;
    loop {
        let items = store
            .query_last_before(&pk, &prefix, before.as_deref(), chunk)
            .await?;
        let read_all = items.len() < chunk;
        before = items
            .last()
            .and_then(|item| crate::store::attr_str(item, "sk"))
            .map(str::to_owned);
        for item in items {
            if status
                .is_some_and(|s| item.get("status").and_then(Value::as_str) != Some(s.as_str()))
            {
                continue;
            }
            if orders.len() == PAGE {
                more = true;
                break;
            }
            orders.push(decode_order(item)?.0);
        }
        if more || read_all || before.is_none() {
            break;
        }
        chunk = (chunk * 2).min(CHUNK_MAX);
    }
    let next_cursor = if more {
        orders.last().map(|o| o.number.to_string())
    } else {
        None
    };
    Ok(Page {
        orders,
        next_cursor,
    })
}

/// Tells the console's change feed that `order`'s chat has news (placed, a status, paid, a
/// receipt): kind `order`. Best effort: one write, a failure is logged, the change stands.
pub async fn touch_inbox(store: &dyn Store, store_id: &str, order: &Order) {
    let at = crate::inbox::At {
        store_id,
        line: &order.line,
        chat: &order.chat,
    };
    let touched = crate::inbox::touch(store, at, crate::inbox::Kind::Order, crate::ids::now_ms());
    if let Err(err) = touched.await {
        tracing::warn!(store = %store_id, order = %order.id, error = %err, "could not tell the inbox of an order's change");
    }
}

/// Applies `change` to the stored order and writes it back conditioned on its rev (read
/// again and re-applied on a lost race). `Ok(None)`: no such order. `change`'s error is
/// returned as is, with nothing written.
pub async fn modify<E: From<StoreError>>(
    store: &dyn Store,
    store_id: &str,
    order_id: &str,
    change: impl Fn(&mut Order) -> Result<(), E>,
) -> Result<Option<Order>, E> {
    for _ in 0..ATTEMPTS {
        let Some((mut order, rev)) = get(store, store_id, order_id).await? else {
            return Ok(None);
        };
        change(&mut order)?;
        let Some((date, number)) = parse_order_id(&order.id) else {
            return Err(StoreError::Data("a stored order with a bad id".into()).into());
        };
        let item = keys::item(store_pk(store_id), keys::order_sk(&date, number))
            .record(&order)
            .map_err(E::from)?
            .set(REV, rev + 1)
            .build();
        let op = WriteOp::Put {
            item,
            cond: Cond::Matches(vec![(REV.into(), rev.into())]),
        };
        match store.write(vec![op]).await {
            Ok(()) => return Ok(Some(order)),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(StoreError::Unavailable("the order kept changing; try again".into()).into())
}
