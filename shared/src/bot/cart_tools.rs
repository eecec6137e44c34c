//! The order tools: the model builds the chat's cart, has our code send the summary, and
//! places the order once the customer confirmed — every price and total computed by
//! [`crate::domain::order`], every refusal an `{"error":{"code","message"}}` that changes
//! nothing. They sit beside the read tools ([`StoreTools`]) in one toolbox.
//!
//! | tool | arguments | does |
//! |------|-----------|------|
//! | `add_to_cart` | `itemId`, `quantity`, `optionIds?`, `note?` | adds a line (item available, options within each group's min/max) |
//! | `update_cart_line` | `lineId`, `quantity?`, `optionIds?`, `note?` | changes a line |
//! | `remove_from_cart` | `lineId` | removes a line |
//! | `view_cart` | — | the cart |
//! | `set_fulfillment` | `mode` (`delivery`/`pickup`), `address?`, `neighborhood?`, `useLocation?` (the address from the chat's latest pin) | zone, fee, ETA |
//! | `set_payment` | `method` (`pix`/`cash`/`card`), `changeForCents?` | the payment |
//! | `request_confirmation` | — | checks the cart is ready; our code appends the summary to the reply |
//! | `place_order` | — | places the order the customer confirmed; our code appends the confirmation |
//! | `order_status` | — | the chat's latest order and its status |
//!
//! Each returns the cart (`lines` with `lineId`, `subtotalCents`, `deliveryFeeCents`,
//! `totalCents`, …). The cart lives in memory during the turn and is stored with the
//! claim of the turn's reply (so the summary sent and the version it shows are stored
//! together); `place_order` writes the order at once ([`orders::place`]). It succeeds only
//! if the customer's latest message came after the summary of this exact cart version
//! ([`Cart::confirmed`]): a change since, or a summary sent in this same turn, is refused.
//! A retried turn of the confirming message gets the order it placed, not a second one.

use async_trait::async_trait;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::chat::ChatRef;
use super::converse::Toolbox;
use super::llm::ToolSpec;
use super::tools::StoreTools;
use super::{money, order_text, status};
use crate::domain::order::{
    Cart, CartError, FulfillmentMode, LineChange, Order, PaymentMethod, Placed, Priced, Shown,
};
use crate::domain::pix;
use crate::knowledge::Knowledge;
use crate::media::Location;
use crate::orders::{self, Placement, StoredCart};
use crate::store::{Store, StoreError, WriteOp};

/// The order tools' definitions, as the model sees them.
pub fn specs() -> Vec<ToolSpec> {
    let none = json!({"type": "object", "properties": {}, "additionalProperties": false});
    let options = json!({"type": "array", "items": {"type": "string"},
        "description": "ids of the chosen options (from get_item's optionGroups)"});
    vec![
        ToolSpec {
            name: "add_to_cart",
            description: "Add an item to the customer's cart. Returns the cart with each \
                line's lineId and the totals computed by the store.",
            parameters: json!({"type": "object", "properties": {
                "itemId": {"type": "string"},
                "quantity": {"type": "integer", "minimum": 1},
                "optionIds": options,
                "note": {"type": "string", "description": "e.g. \"sem cebola\""},
            }, "required": ["itemId", "quantity"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "update_cart_line",
            description: "Change a cart line's quantity, options or note.",
            parameters: json!({"type": "object", "properties": {
                "lineId": {"type": "string"},
                "quantity": {"type": "integer", "minimum": 1},
                "optionIds": options,
                "note": {"type": "string"},
            }, "required": ["lineId"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "remove_from_cart",
            description: "Remove a line from the cart.",
            parameters: json!({"type": "object", "properties": {
                "lineId": {"type": "string"},
            }, "required": ["lineId"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "view_cart",
            description: "The customer's cart with its totals.",
            parameters: none.clone(),
        },
        ToolSpec {
            name: "set_fulfillment",
            description: "Delivery (with the neighborhood and the address with number) or \
                pickup. Returns the delivery fee and time. When the customer sent a location \
                pin, useLocation: true takes the address from it (still give the neighborhood).",
            parameters: json!({"type": "object", "properties": {
                "mode": {"type": "string", "enum": ["delivery", "pickup"]},
                "address": {"type": "string", "description": "street and number, complement"},
                "neighborhood": {"type": "string"},
                "useLocation": {"type": "boolean", "description": "the address from the customer's location pin"},
            }, "required": ["mode"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "set_payment",
            description: "How the customer pays; for cash, the bill to change \
                (changeForCents) if any.",
            parameters: json!({"type": "object", "properties": {
                "method": {"type": "string", "enum": ["pix", "cash", "card"]},
                "changeForCents": {"type": "integer", "minimum": 1},
            }, "required": ["method"], "additionalProperties": false}),
        },
        ToolSpec {
            name: "request_confirmation",
            description: "When the cart, delivery/pickup and payment are complete: the \
                system appends the official order summary to your reply. Then ask the \
                customer to confirm; don't repeat the summary.",
            parameters: none.clone(),
        },
        ToolSpec {
            name: "place_order",
            description: "Place the order, only after the customer confirmed the summary in \
                a new message. The system appends the confirmation with the order number.",
            parameters: none.clone(),
        },
        ToolSpec {
            name: "order_status",
            description: "The customer's latest order: number and status.",
            parameters: none,
        },
    ]
}

/// The chat a turn is about, and when.
pub struct TurnContext<'a> {
    pub store: &'a dyn Store,
    pub chat: ChatRef<'a>,
    pub tz: TimeZone,
    pub now: Timestamp,
    pub now_ms: i64,
    /// Receipt time (ms) of the customer's latest message (the one being answered).
    pub latest_at_ms: i64,
    /// The customer's latest location pin in the turn's history (`set_fulfillment`'s
    /// `useLocation`).
    pub pin: Option<Location>,
}

/// The customer's latest location pin among `history` (oldest first).
pub fn latest_pin(history: &[super::chat::Entry]) -> Option<Location> {
    history
        .iter()
        .rev()
        .filter(|e| e.role == super::chat::Role::Customer)
        .find_map(|e| Location::from_text(&e.text))
}

/// What the turn did to the cart, for the worker to store and send.
#[derive(Debug, Default)]
pub struct CartOutcome {
    /// Our text to append to the reply (summary or confirmation).
    pub appendix: Option<String>,
    /// The cart to store with the claim, and the rev it must find.
    pub stored: StoredCart,
    pub cart: Cart,
    /// The summary of `cart`'s version goes out with this reply.
    pub shows_summary: bool,
    /// A store failure inside a tool: the turn goes back to the queue.
    pub failed: Option<StoreError>,
    /// The order this turn placed (or found placed by this very message, on a retried
    /// turn): its confirmation carries the Pix QR, and the kitchen is told of it.
    pub placed: Option<Order>,
}

impl CartOutcome {
    /// The write that stores the cart with the claim at `at_ms`, if it changed.
    pub fn write(&self, chat: &ChatRef<'_>, at_ms: i64) -> Result<Option<WriteOp>, StoreError> {
        if self.cart == self.stored.cart && !self.shows_summary && self.stored.rev.is_some() {
            return Ok(None);
        }
        if self.cart.is_empty() && self.stored.rev.is_none() && self.cart.placed.is_none() {
            return Ok(None); // nothing worth keeping
        }
        let mut cart = self.cart.clone();
        if self.shows_summary {
            cart.shown = Some(Shown {
                version: cart.version,
                at_ms,
            });
        }
        Ok(Some(
            orders::cart_write(chat, &self.stored, &cart, at_ms)?.0,
        ))
    }
}

/// The read tools and the order tools over one turn.
pub struct TurnTools<'a> {
    read: StoreTools<'a>,
    knowledge: &'a Knowledge,
    turn: TurnContext<'a>,
    specs: Vec<ToolSpec>,
    state: Mutex<CartOutcome>,
}

impl<'a> TurnTools<'a> {
    pub fn new(knowledge: &'a Knowledge, turn: TurnContext<'a>, stored: StoredCart) -> Self {
        let read = StoreTools::new(knowledge, turn.tz.clone(), turn.now);
        let mut all = read.specs().to_vec();
        all.extend(specs());
        Self {
            read,
            knowledge,
            turn,
            specs: all,
            state: Mutex::new(CartOutcome {
                cart: stored.cart.clone(),
                stored,
                ..CartOutcome::default()
            }),
        }
    }

    /// What the turn did to the cart.
    pub fn finish(self) -> CartOutcome {
        self.state.into_inner()
    }
}

fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"error": {"code": code, "message": message.into()}})
}

fn refused(err: CartError) -> Value {
    error(err.code, err.message)
}

/// The call's arguments as `T` (an empty text is `{}`).
fn arguments<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, Value> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| error("invalid_arguments", format!("arguments are not JSON: {e}")))?;
    if !value.is_object() {
        return Err(error(
            "invalid_arguments",
            "arguments must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| error("invalid_arguments", e.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Add {
    item_id: String,
    quantity: u32,
    #[serde(default)]
    option_ids: Vec<String>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateLine {
    line_id: String,
    quantity: Option<u32>,
    option_ids: Option<Vec<String>>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Remove {
    line_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetFulfillment {
    mode: FulfillmentMode,
    address: Option<String>,
    neighborhood: Option<String>,
    #[serde(default)]
    use_location: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetPayment {
    method: PaymentMethod,
    change_for_cents: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

/// The cart as a tool result.
pub fn cart_view(cart: &Cart, priced: &Priced) -> Value {
    let lines: Vec<Value> = priced
        .lines
        .iter()
        .map(|l| {
            let mut line = json!({
                "lineId": l.line_id, "itemId": l.line.item_id, "name": l.line.name,
                "quantity": l.line.quantity,
                "options": l.line.options.iter().map(|o| json!({"optionId": o.option_id,
                    "name": o.name, "priceCents": o.price_cents})).collect::<Vec<_>>(),
                "unitPriceCents": l.line.unit_price_cents,
                "totalCents": l.line.total_cents,
                "total": money::format(l.line.total_cents),
            });
            if let Some(note) = &l.line.note {
                line["note"] = note.as_str().into();
            }
            line
        })
        .collect();
    let mut view = json!({
        "lines": lines,
        "subtotalCents": priced.subtotal_cents,
        "deliveryFeeCents": priced.delivery_fee_cents,
        "totalCents": priced.total_cents,
        "total": money::format(priced.total_cents),
        "fulfillment": cart.fulfillment,
        "payment": cart.payment,
    });
    if priced.min_order_cents > 0 {
        view["minOrderCents"] = priced.min_order_cents.into();
    }
    if let Some(eta) = priced.eta_minutes {
        view["etaMinutes"] = eta.into();
    }
    if !priced.problems.is_empty() {
        view["problems"] = json!(priced.problems);
    }
    view
}

const CART_TOOLS: [&str; 9] = [
    "add_to_cart",
    "update_cart_line",
    "remove_from_cart",
    "view_cart",
    "set_fulfillment",
    "set_payment",
    "request_confirmation",
    "place_order",
    "order_status",
];

#[async_trait]
impl Toolbox for TurnTools<'_> {
    fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    async fn call(&self, name: &str, text: &str) -> Value {
        if !CART_TOOLS.contains(&name) {
            return self.read.run(name, text);
        }
        let mut state = self.state.lock().await;
        let result = match name {
            "add_to_cart" => match arguments::<Add>(text) {
                Ok(a) => self.change(&mut state, |cart, k| {
                    cart.add(
                        &k.menu,
                        &a.item_id,
                        a.quantity,
                        a.option_ids.clone(),
                        a.note.as_deref(),
                    )
                    .map(|_| ())
                }),
                Err(e) => Err(e),
            },
            "update_cart_line" => match arguments::<UpdateLine>(text) {
                Ok(a) => self.change(&mut state, |cart, k| {
                    let change = LineChange {
                        quantity: a.quantity,
                        option_ids: a.option_ids.clone(),
                        note: a.note.clone(),
                    };
                    cart.update(&k.menu, &a.line_id, change)
                }),
                Err(e) => Err(e),
            },
            "remove_from_cart" => match arguments::<Remove>(text) {
                Ok(a) => self.change(&mut state, |cart, _| cart.remove(&a.line_id)),
                Err(e) => Err(e),
            },
            "view_cart" => arguments::<NoArguments>(text).map(|_| self.view(&state.cart)),
            "set_fulfillment" => match arguments::<SetFulfillment>(text) {
                Ok(a) if a.use_location && a.mode != FulfillmentMode::Delivery => {
                    Err(error("invalid_arguments", "useLocation is for delivery"))
                }
                Ok(a) if a.use_location && self.turn.pin.is_none() => Err(error(
                    "no_location",
                    "the customer sent no location pin: ask for the address",
                )),
                Ok(a) => {
                    let address = match (&self.turn.pin, a.use_location) {
                        (Some(pin), true) => Some(pin.delivery_address(a.address.as_deref())),
                        _ => a.address.clone(),
                    };
                    self.change(&mut state, |cart, k| {
                        cart.set_fulfillment(
                            &k.profile.delivery,
                            a.mode,
                            address.as_deref(),
                            a.neighborhood.as_deref(),
                        )
                    })
                }
                Err(e) => Err(e),
            },
            "set_payment" => match arguments::<SetPayment>(text) {
                Ok(a) => self.change(&mut state, |cart, k| {
                    cart.set_payment(&k.profile.payments, a.method, a.change_for_cents)
                }),
                Err(e) => Err(e),
            },
            "request_confirmation" => match arguments::<NoArguments>(text) {
                Ok(_) => self.request_confirmation(&mut state),
                Err(e) => Err(e),
            },
            "place_order" => match arguments::<NoArguments>(text) {
                Ok(_) => self.place(&mut state).await,
                Err(e) => Err(e),
            },
            _ => match arguments::<NoArguments>(text) {
                Ok(_) => self.order_status(&mut state).await,
                Err(e) => Err(e),
            },
        };
        result.unwrap_or_else(|err| err)
    }
}

impl TurnTools<'_> {
    fn open(&self) -> Option<bool> {
        status::status(&self.knowledge.profile, &self.turn.tz, self.turn.now).map(|s| s.open)
    }

    fn view(&self, cart: &Cart) -> Value {
        cart_view(
            cart,
            &cart.price(&self.knowledge.menu, &self.knowledge.profile),
        )
    }

    /// Applies `change` to a copy of the cart; on success the copy becomes the cart.
    fn change(
        &self,
        state: &mut CartOutcome,
        change: impl FnOnce(&mut Cart, &Knowledge) -> Result<(), CartError>,
    ) -> Result<Value, Value> {
        let mut cart = state.cart.clone();
        change(&mut cart, self.knowledge).map_err(refused)?;
        state.cart = cart;
        // A change after the summary in this turn: that summary no longer applies.
        if state.shows_summary {
            state.shows_summary = false;
            state.appendix = None;
        }
        Ok(self.view(&state.cart))
    }

    fn request_confirmation(&self, state: &mut CartOutcome) -> Result<Value, Value> {
        let priced = state
            .cart
            .check_ready(&self.knowledge.menu, &self.knowledge.profile, self.open())
            .map_err(refused)?;
        state.appendix = Some(order_text::summary(&state.cart, &priced));
        state.shows_summary = true;
        let mut view = cart_view(&state.cart, &priced);
        view["summaryAppended"] = true.into();
        view["next"] = "The summary is appended to your reply. Ask the customer to confirm; \
            call place_order only after they confirm in a new message."
            .into();
        Ok(view)
    }

    /// The order placed from this turn's customer message, if the cart was placed before
    /// (a retried turn): that order.
    fn placed_by_this_message<'c>(&self, cart: &'c Cart) -> Option<&'c Placed> {
        cart.placed.as_ref().filter(|p| {
            cart.is_empty() && cart.version == 0 && p.confirmed_at_ms == self.turn.latest_at_ms
        })
    }

    async fn placed_result(&self, state: &mut CartOutcome, order_id: &str) -> Result<Value, Value> {
        match orders::get(self.turn.store, self.turn.chat.store_id, order_id).await {
            Ok(Some((order, _))) => {
                state.appendix = Some(order_text::confirmation(&order));
                let mut view = placed_view(&order);
                view["confirmationAppended"] = true.into();
                state.placed = Some(order);
                Ok(view)
            }
            Ok(None) => Err(error("not_found", "the order was not found")),
            Err(err) => Err(self.store_failed(state, err)),
        }
    }

    fn store_failed(&self, state: &mut CartOutcome, err: StoreError) -> Value {
        tracing::warn!(error = %err, "store unavailable in an order tool; the turn will be retried");
        state.failed = Some(err);
        error(
            "unavailable",
            "the order system is unavailable; try again shortly",
        )
    }

    async fn place(&self, state: &mut CartOutcome) -> Result<Value, Value> {
        if let Some(placed) = self.placed_by_this_message(&state.cart).cloned() {
            return self.placed_result(state, &placed.order_id).await;
        }
        if state.cart != state.stored.cart || !state.cart.confirmed(self.turn.latest_at_ms) {
            return Err(error(
                "not_confirmed",
                "the customer has not confirmed this cart: call request_confirmation (the \
                 summary goes with your reply) and place the order only after the customer \
                 confirms in a new message",
            ));
        }
        let priced = state
            .cart
            .check_ready(&self.knowledge.menu, &self.knowledge.profile, self.open())
            .map_err(refused)?;
        let date = orders::local_date(&self.turn.tz, self.turn.now);
        let at = self.turn.now.to_string();
        let line = self.turn.chat.line.key();
        let pix = self.knowledge.profile.payments.pix.clone();
        let cart = state.cart.clone();
        // The customer's name as the inbox learned it from their messages (best effort).
        let at_chat = crate::inbox::At {
            store_id: self.turn.chat.store_id,
            line: &line,
            chat: self.turn.chat.chat,
        };
        let name = crate::inbox::summary(self.turn.store, at_chat)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.name);
        let build = |number: u32| {
            let mut order = cart.to_order(
                priced.clone(),
                &date,
                number,
                &line,
                self.turn.chat.chat,
                name.clone(),
                &at,
            );
            if let (PaymentMethod::Pix, Some(pix)) = (order.payment.method, &pix) {
                order.payment.pix_code = Some(pix::brcode(pix, order.total_cents, &order.id));
            }
            order
        };
        let placed = orders::place(
            self.turn.store,
            &self.turn.chat,
            &state.stored,
            &date,
            self.turn.latest_at_ms,
            build,
            self.turn.now_ms,
        )
        .await;
        match placed {
            Ok(Placement::Placed { order, cart }) => {
                tracing::info!(store = %self.turn.chat.store_id, order = %order.id, total = order.total_cents, "order placed");
                crate::metrics::count("OrdersPlaced", 1.0, &[("Service", "bot")]);
                state.cart = cart.cart.clone();
                state.stored = *cart;
                state.shows_summary = false;
                state.appendix = Some(order_text::confirmation(&order));
                let mut view = placed_view(&order);
                view["confirmationAppended"] = true.into();
                state.placed = Some(*order);
                Ok(view)
            }
            Ok(Placement::Already(placed)) => self.placed_result(state, &placed.order_id).await,
            Ok(Placement::CartChanged) => Err(error(
                "cart_changed",
                "the cart changed meanwhile; show it again with request_confirmation",
            )),
            Err(err) => Err(self.store_failed(state, err)),
        }
    }

    async fn order_status(&self, state: &mut CartOutcome) -> Result<Value, Value> {
        let Some(placed) = state.cart.placed.clone() else {
            return Ok(json!({"order": null, "message": "this customer has no recent order"}));
        };
        match orders::get(self.turn.store, self.turn.chat.store_id, &placed.order_id).await {
            Ok(Some((order, _))) => {
                let mut view = placed_view(&order);
                view["statusText"] = order_text::status_words(order.status).into();
                Ok(view)
            }
            Ok(None) => Ok(json!({"order": null, "message": "this customer has no recent order"})),
            Err(err) => Err(self.store_failed(state, err)),
        }
    }
}

fn placed_view(order: &Order) -> Value {
    json!({
        "placed": true,
        "orderId": order.id,
        "number": order_text::number(order.number),
        "status": order.status,
        "totalCents": order.total_cents,
        "total": money::format(order.total_cents),
    })
}
