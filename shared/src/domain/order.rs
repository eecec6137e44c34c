//! Orders taken over WhatsApp: the customer's cart while the attendant builds it, and the
//! order it becomes once the customer confirmed the summary. Every price, fee and total is
//! computed here from the store's menu and profile, never taken from the model: the cart
//! keeps only ids, quantities and notes, and [`Cart::price`] prices it against the current
//! menu each time it is shown.
//!
//! The cart rules (each refusal is a [`CartError`] with a stable code, and changes nothing):
//! the item exists and is available; each option belongs to one of the item's groups and
//! each group gets between its `min` and `max` options; delivery goes to a neighbourhood a
//! zone serves, with an address, and pickup only where the store offers it; the payment
//! method is one the store takes (Pix only with a key), change only for cash and not below
//! the total; and to be confirmed, the cart must reach the zone's minimum order while the
//! store is open.
//!
//! An order moves along [`OrderStatus::next`]: `new → accepted → preparing →
//! out_for_delivery (delivery) | ready_for_pickup (pickup) → delivered`, and any status
//! before `delivered` may go to `cancelled` (with a reason). Nothing else is allowed.

use serde::{Deserialize, Serialize};

use super::menu::{Item, Menu};
use super::profile::{Delivery, Payments, StoreProfile};

/// The most units of one line.
pub const MAX_QUANTITY: u32 = 50;
/// The most lines of one cart.
pub const MAX_LINES: usize = 30;
/// The longest note of a line, and the longest address.
pub const NOTE_MAX: usize = 200;
pub const ADDRESS_MAX: usize = 300;
/// The longest cancellation reason.
pub const REASON_MAX: usize = 300;

// ---------------------------------------------------------------------------------------
// The order (the contract's JSON shape)
// ---------------------------------------------------------------------------------------

/// Where an order stands. API values are snake case (`out_for_delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    Accepted,
    Preparing,
    OutForDelivery,
    ReadyForPickup,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::New,
        OrderStatus::Accepted,
        OrderStatus::Preparing,
        OrderStatus::OutForDelivery,
        OrderStatus::ReadyForPickup,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    /// The API's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Preparing => "preparing",
            OrderStatus::OutForDelivery => "out_for_delivery",
            OrderStatus::ReadyForPickup => "ready_for_pickup",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The statuses an order of this `mode` may move to from this one (the documented
    /// transitions; empty for a finished order).
    pub fn next(self, mode: FulfillmentMode) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match (self, mode) {
            (New, _) => &[Accepted, Cancelled],
            (Accepted, _) => &[Preparing, Cancelled],
            (Preparing, FulfillmentMode::Delivery) => &[OutForDelivery, Cancelled],
            (Preparing, FulfillmentMode::Pickup) => &[ReadyForPickup, Cancelled],
            (OutForDelivery, _) | (ReadyForPickup, _) => &[Delivered, Cancelled],
            (Delivered, _) | (Cancelled, _) => &[],
        }
    }

    /// Whether the order is finished (no transition leaves it).
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::Cancelled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FulfillmentMode {
    Delivery,
    Pickup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    Pix,
    Cash,
    Card,
}

/// One chosen option of a line, priced when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineOption {
    pub group_id: String,
    pub option_id: String,
    pub name: String,
    pub price_cents: i64,
}

/// One line of an order: `unitPriceCents` is the item plus its options, `totalCents` that
/// times the quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub item_id: String,
    pub name: String,
    pub quantity: u32,
    pub options: Vec<LineOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub unit_price_cents: i64,
    pub total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fulfillment {
    pub mode: FulfillmentMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighborhood: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_for_cents: Option<i64>,
    pub paid: bool,
    /// The Pix "copia e cola" code of the order (Pix with a key in the profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pix_code: Option<String>,
    /// The customer sent a picture or PDF (a Pix receipt?) while the order awaited
    /// payment: "comprovante recebido", for the owner to check. Never marks it paid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proof_received: bool,
}

/// One step of the order's life. `note`: something the customer was not told (e.g. the
/// Cloud API's 24-hour window had closed), for the owner to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub status: OrderStatus,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An order as the API shows it (and as it is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// `YYYYMMDD-NNNN`: the store-local day and the number of the day.
    pub id: String,
    /// The number of the day (from 1), shown as `#0042`.
    pub number: u32,
    pub status: OrderStatus,
    /// The line the chat is on (`w1`: slot 1; `c<phoneNumberId>`: a Cloud API number).
    pub line: String,
    /// The customer's number (the chat).
    pub chat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    pub items: Vec<OrderLine>,
    pub subtotal_cents: i64,
    pub delivery_fee_cents: i64,
    pub total_cents: i64,
    pub fulfillment: Fulfillment,
    pub payment: Payment,
    pub history: Vec<HistoryEntry>,
    pub created_at: String,
    pub updated_at: String,
    /// How sending it to the store's Saipos POS went (stores with the Saipos Order API
    /// set up, once it was accepted); absent: not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saipos: Option<SaiposSync>,
}

/// The order's trip to the Saipos Order API (`saipos/orders.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaiposSync {
    pub status: SaiposSyncStatus,
    /// Why it failed (Saipos's code and message, or what went wrong on the way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SaiposSyncStatus {
    /// Saipos took it (or already had it: a duplicate is a success).
    Sent,
    /// The last attempt failed and another is queued.
    Retrying,
    /// Given up: Saipos refused it, or every attempt failed.
    Failed,
}

/// The id of order `number` of local day `date` (`YYYY-MM-DD`).
pub fn order_id(date: &str, number: u32) -> String {
    format!("{}-{number:04}", date.replace('-', ""))
}

/// `(date YYYY-MM-DD, number)` of an order id; `None` for anything that isn't one.
pub fn parse_order_id(id: &str) -> Option<(String, u32)> {
    let (day, number) = id.split_once('-')?;
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u32 = number.parse().ok().filter(|n| *n > 0)?;
    let date = format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..]);
    super::profile::parse_date(&date)?;
    Some((date, number))
}

/// Why a status change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// Not one of the documented transitions from the current status (a 409).
    NotAllowed { from: OrderStatus, to: OrderStatus },
    /// A cancellation needs a reason (a 400).
    ReasonRequired,
    /// The reason is too long (a 400).
    ReasonTooLong,
}

impl std::fmt::Display for TransitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransitionError::NotAllowed { from, to } => write!(
                f,
                "an order that is {} can't become {}",
                from.as_str(),
                to.as_str()
            ),
            TransitionError::ReasonRequired => write!(f, "a cancellation needs a reason"),
            TransitionError::ReasonTooLong => {
                write!(f, "reason: at most {REASON_MAX} characters")
            }
        }
    }
}

impl Order {
    /// Moves the order to `to` at `at` (RFC 3339), if that is a documented transition.
    pub fn transition(
        &mut self,
        to: OrderStatus,
        reason: Option<&str>,
        at: &str,
    ) -> Result<(), TransitionError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if !self.status.next(self.fulfillment.mode).contains(&to) {
            return Err(TransitionError::NotAllowed {
                from: self.status,
                to,
            });
        }
        if to == OrderStatus::Cancelled && reason.is_none() {
            return Err(TransitionError::ReasonRequired);
        }
        if reason.is_some_and(|r| r.chars().count() > REASON_MAX) {
            return Err(TransitionError::ReasonTooLong);
        }
        self.status = to;
        self.updated_at = at.to_owned();
        self.history.push(HistoryEntry {
            status: to,
            at: at.to_owned(),
            reason: reason.map(str::to_owned),
            note: None,
        });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The cart
// ---------------------------------------------------------------------------------------

/// A tool call the cart refuses: `code` is stable, `message` tells the model what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartError {
    pub code: &'static str,
    pub message: String,
}

fn refuse<T>(code: &'static str, message: impl Into<String>) -> Result<T, CartError> {
    Err(CartError {
        code,
        message: message.into(),
    })
}

/// One line of a cart: ids only, priced from the menu when shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub line_id: String,
    pub item_id: String,
    pub quantity: u32,
    #[serde(default)]
    pub option_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The payment the customer chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartPayment {
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_for_cents: Option<i64>,
}

/// The summary the customer was shown: of cart `version`, sent at `atMs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shown {
    pub version: u64,
    pub at_ms: i64,
}

/// The order a cart version became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placed {
    pub cart_id: String,
    pub version: u64,
    pub order_id: String,
    pub number: u32,
    /// Receipt time (ms) of the customer message that confirmed it: a retried turn of that
    /// same message gets this order back instead of an empty cart.
    #[serde(default)]
    pub confirmed_at_ms: i64,
}

/// A chat's cart. `version` counts its changes (each tool call that changes it adds one):
/// the summary shown is of one version, and a cart version is placed at most once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cart {
    /// A new id for each cart (after an order, the chat starts a new one).
    pub id: String,
    pub version: u64,
    pub lines: Vec<CartLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfillment: Option<Fulfillment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<CartPayment>,
    /// The last summary the customer was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<Shown>,
    /// The chat's latest order (kept after the cart starts over: `order_status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placed: Option<Placed>,
    /// The number of the next line id (`l1`, `l2`, …).
    pub next_line: u32,
}

/// A cart line priced against the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub line_id: String,
    pub line: OrderLine,
}

/// A cart priced against the menu and profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub subtotal_cents: i64,
    pub delivery_fee_cents: i64,
    pub total_cents: i64,
    /// The zone's minimum order (0 for pickup or no zone).
    pub min_order_cents: i64,
    /// The zone's promised time, for delivery.
    pub eta_minutes: Option<u32>,
    /// Lines that can't be ordered as they are any more (item gone or sold out, options
    /// changed): the customer must change them first.
    pub problems: Vec<String>,
}

/// The options `option_ids` of `item`, checked against its groups' rules.
pub fn choose_options(item: &Item, option_ids: &[String]) -> Result<Vec<LineOption>, CartError> {
    let mut chosen = Vec::with_capacity(option_ids.len());
    for id in option_ids {
        if option_ids.iter().filter(|other| *other == id).count() > 1 {
            return refuse("invalid_options", format!("option {id:?} is chosen twice"));
        }
        let found = item.option_groups.iter().find_map(|group| {
            group
                .options
                .iter()
                .find(|option| &option.id == id)
                .map(|option| (group, option))
        });
        let Some((group, option)) = found else {
            return refuse(
                "invalid_options",
                format!(
                    "{} has no option {id:?}; see its optionGroups with get_item",
                    item.name
                ),
            );
        };
        chosen.push(LineOption {
            group_id: group.id.clone(),
            option_id: option.id.clone(),
            name: option.name.clone(),
            price_cents: option.price_cents,
        });
    }
    for group in &item.option_groups {
        let count = chosen.iter().filter(|o| o.group_id == group.id).count() as u32;
        if count < group.min || count > group.max {
            let range = if group.min == group.max {
                format!("exactly {}", group.min)
            } else {
                format!("between {} and {}", group.min, group.max)
            };
            return refuse(
                "invalid_options",
                format!(
                    "{}: choose {range} of \"{}\" (got {count}); option ids from get_item",
                    item.name, group.name
                ),
            );
        }
    }
    Ok(chosen)
}

fn check_quantity(quantity: u32) -> Result<(), CartError> {
    if quantity == 0 || quantity > MAX_QUANTITY {
        return refuse(
            "invalid_quantity",
            format!("quantity must be between 1 and {MAX_QUANTITY}"),
        );
    }
    Ok(())
}

fn tidy_note(note: Option<&str>) -> Result<Option<String>, CartError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > NOTE_MAX) {
        return refuse(
            "invalid_note",
            format!("note: at most {NOTE_MAX} characters"),
        );
    }
    Ok(note.map(str::to_owned))
}

/// The available item `item_id` of the menu.
fn orderable<'m>(menu: &'m Menu, item_id: &str) -> Result<&'m Item, CartError> {
    match menu.item(item_id) {
        None => refuse(
            "item_not_found",
            format!("no item with id {item_id:?}; find ids with search_menu"),
        ),
        Some((_, item)) if !item.available => refuse(
            "item_unavailable",
            format!("{} is sold out right now", item.name),
        ),
        Some((_, item)) => Ok(item),
    }
}

/// A line's order line priced from `item`.
fn price_line(item: &Item, line: &CartLine) -> Result<OrderLine, CartError> {
    let options = choose_options(item, &line.option_ids)?;
    let unit = item.price_cents + options.iter().map(|o| o.price_cents).sum::<i64>();
    Ok(OrderLine {
        item_id: item.id.clone(),
        name: item.name.clone(),
        quantity: line.quantity,
        options,
        note: line.note.clone(),
        unit_price_cents: unit,
        total_cents: unit * i64::from(line.quantity),
    })
}

/// A change to a line (`update_cart_line`): only what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineChange {
    pub quantity: Option<u32>,
    pub option_ids: Option<Vec<String>>,
    pub note: Option<String>,
}

impl Cart {
    /// A new, empty cart with this id that remembers the chat's latest order.
    pub fn fresh(id: String, placed: Option<Placed>) -> Cart {
        Cart {
            id,
            placed,
            ..Cart::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn changed(&mut self) {
        self.version += 1;
    }

    /// Adds `quantity` of `item_id` with those options (checked) and note; the new line's id.
    pub fn add(
        &mut self,
        menu: &Menu,
        item_id: &str,
        quantity: u32,
        option_ids: Vec<String>,
        note: Option<&str>,
    ) -> Result<String, CartError> {
        check_quantity(quantity)?;
        if self.lines.len() >= MAX_LINES {
            return refuse("cart_full", format!("a cart has at most {MAX_LINES} lines"));
        }
        let item = orderable(menu, item_id)?;
        let note = tidy_note(note)?;
        let line = CartLine {
            line_id: format!("l{}", self.next_line + 1),
            item_id: item.id.clone(),
            quantity,
            option_ids,
            note,
        };
        price_line(item, &line)?;
        self.next_line += 1;
        let id = line.line_id.clone();
        self.lines.push(line);
        self.changed();
        Ok(id)
    }

    fn line_index(&self, line_id: &str) -> Result<usize, CartError> {
        match self.lines.iter().position(|l| l.line_id == line_id) {
            Some(i) => Ok(i),
            None => refuse(
                "line_not_found",
                format!("the cart has no line {line_id:?}; see view_cart"),
            ),
        }
    }

    /// Changes a line's quantity, options or note (checked as when added).
    pub fn update(
        &mut self,
        menu: &Menu,
        line_id: &str,
        change: LineChange,
    ) -> Result<(), CartError> {
        let index = self.line_index(line_id)?;
        if change.quantity.is_none() && change.option_ids.is_none() && change.note.is_none() {
            return refuse(
                "nothing_to_update",
                "give quantity, optionIds or note to change",
            );
        }
        let mut line = self.lines[index].clone();
        if let Some(quantity) = change.quantity {
            check_quantity(quantity)?;
            line.quantity = quantity;
        }
        if let Some(options) = change.option_ids {
            line.option_ids = options;
        }
        if let Some(note) = change.note {
            line.note = tidy_note(Some(&note))?;
        }
        let item = orderable(menu, &line.item_id)?;
        price_line(item, &line)?;
        self.lines[index] = line;
        self.changed();
        Ok(())
    }

    pub fn remove(&mut self, line_id: &str) -> Result<(), CartError> {
        let index = self.line_index(line_id)?;
        self.lines.remove(index);
        self.changed();
        Ok(())
    }

    /// Delivery to `neighborhood` at `address` (a zone must serve it), or pickup (if offered).
    pub fn set_fulfillment(
        &mut self,
        delivery: &Delivery,
        mode: FulfillmentMode,
        address: Option<&str>,
        neighborhood: Option<&str>,
    ) -> Result<(), CartError> {
        let address = address.map(str::trim).filter(|a| !a.is_empty());
        let neighborhood = neighborhood.map(str::trim).filter(|n| !n.is_empty());
        let fulfillment = match mode {
            FulfillmentMode::Pickup => {
                if !delivery.pickup {
                    return refuse("pickup_unavailable", "this store doesn't offer pickup");
                }
                Fulfillment {
                    mode,
                    address: None,
                    neighborhood: None,
                }
            }
            FulfillmentMode::Delivery => {
                let Some(neighborhood) = neighborhood else {
                    return refuse(
                        "neighborhood_required",
                        "delivery needs the customer's neighborhood",
                    );
                };
                let Some(zone) = delivery.zone_for(neighborhood) else {
                    return refuse(
                        "not_served",
                        format!("the store doesn't deliver to {neighborhood:?}"),
                    );
                };
                // The zone's own spelling ("vila mariana" → "Vila Mariana").
                let wanted = super::text::fold(neighborhood);
                let neighborhood = zone
                    .neighborhoods
                    .iter()
                    .find(|n| super::text::fold(n) == wanted)
                    .map_or(neighborhood, String::as_str);
                let Some(address) = address else {
                    return refuse(
                        "address_required",
                        "delivery needs the address (street and number)",
                    );
                };
                if address.chars().count() > ADDRESS_MAX {
                    return refuse(
                        "invalid_address",
                        format!("address: at most {ADDRESS_MAX} characters"),
                    );
                }
                Fulfillment {
                    mode,
                    address: Some(address.to_owned()),
                    neighborhood: Some(neighborhood.to_owned()),
                }
            }
        };
        self.fulfillment = Some(fulfillment);
        self.changed();
        Ok(())
    }

    /// The payment method (one the store takes); change only for cash.
    pub fn set_payment(
        &mut self,
        payments: &Payments,
        method: PaymentMethod,
        change_for_cents: Option<i64>,
    ) -> Result<(), CartError> {
        let taken = match method {
            PaymentMethod::Pix => payments.pix.is_some(),
            PaymentMethod::Cash => payments.cash,
            PaymentMethod::Card => payments.card,
        };
        if !taken {
            return refuse(
                "payment_not_accepted",
                "the store doesn't take this payment method; see payment_methods",
            );
        }
        if change_for_cents.is_some() && method != PaymentMethod::Cash {
            return refuse("invalid_change", "change (changeForCents) is only for cash");
        }
        if change_for_cents.is_some_and(|c| !(1..=super::menu::PRICE_MAX_CENTS).contains(&c)) {
            return refuse("invalid_change", "changeForCents must be a positive amount");
        }
        self.payment = Some(CartPayment {
            method,
            change_for_cents,
        });
        self.changed();
        Ok(())
    }

    /// The cart priced against the menu and the profile's zones.
    pub fn price(&self, menu: &Menu, profile: &StoreProfile) -> Priced {
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut problems = Vec::new();
        for line in &self.lines {
            let priced = orderable(menu, &line.item_id).and_then(|item| price_line(item, line));
            match priced {
                Ok(order_line) => lines.push(PricedLine {
                    line_id: line.line_id.clone(),
                    line: order_line,
                }),
                Err(err) => problems.push(format!("line {}: {}", line.line_id, err.message)),
            }
        }
        let subtotal: i64 = lines.iter().map(|l| l.line.total_cents).sum();
        let zone = self
            .fulfillment
            .as_ref()
            .filter(|f| f.mode == FulfillmentMode::Delivery)
            .and_then(|f| f.neighborhood.as_deref())
            .and_then(|n| profile.delivery.zone_for(n));
        let fee = zone.map_or(0, |z| z.fee_cents);
        Priced {
            lines,
            subtotal_cents: subtotal,
            delivery_fee_cents: fee,
            total_cents: subtotal + fee,
            min_order_cents: zone.map_or(0, |z| z.min_order_cents),
            eta_minutes: zone.map(|z| z.eta_minutes),
            problems,
        }
    }

    /// Whether the cart can be confirmed as it is: items, delivery or pickup, payment, the
    /// zone's minimum, change not below the total, and the store open (`open`: `None` when
    /// the store has not entered its hours).
    pub fn check_ready(
        &self,
        menu: &Menu,
        profile: &StoreProfile,
        open: Option<bool>,
    ) -> Result<Priced, CartError> {
        if open == Some(false) {
            return refuse(
                "store_closed",
                "the store is closed now; orders are taken while it is open (store_status)",
            );
        }
        if self.lines.is_empty() {
            return refuse("cart_empty", "the cart is empty; add items first");
        }
        let priced = self.price(menu, profile);
        if let Some(problem) = priced.problems.first() {
            return refuse(
                "cart_invalid",
                format!("{problem}; change or remove that line"),
            );
        }
        let Some(fulfillment) = &self.fulfillment else {
            return refuse(
                "fulfillment_required",
                "ask delivery or pickup and call set_fulfillment",
            );
        };
        if fulfillment.mode == FulfillmentMode::Delivery {
            let served = fulfillment
                .neighborhood
                .as_deref()
                .is_some_and(|n| profile.delivery.zone_for(n).is_some());
            if !served {
                return refuse(
                    "not_served",
                    "the store no longer delivers to that neighborhood",
                );
            }
        }
        if priced.subtotal_cents < priced.min_order_cents {
            return refuse(
                "below_minimum",
                format!(
                    "the minimum order for this neighborhood is {} centavos (the cart has {})",
                    priced.min_order_cents, priced.subtotal_cents
                ),
            );
        }
        let Some(payment) = &self.payment else {
            return refuse(
                "payment_required",
                "ask how the customer pays and call set_payment",
            );
        };
        if payment.method == PaymentMethod::Pix && profile.payments.pix.is_none()
            || payment.method == PaymentMethod::Cash && !profile.payments.cash
            || payment.method == PaymentMethod::Card && !profile.payments.card
        {
            return refuse(
                "payment_not_accepted",
                "the store no longer takes this payment method",
            );
        }
        if let Some(change) = payment.change_for_cents {
            if change < priced.total_cents {
                return refuse(
                    "invalid_change",
                    format!(
                        "change for {change} centavos is below the total of {} centavos",
                        priced.total_cents
                    ),
                );
            }
        }
        Ok(priced)
    }

    /// Whether the customer confirmed this exact cart: its summary of the current version
    /// was sent, and the customer's latest message (received at `latest_at_ms`) came after
    /// (strictly, in milliseconds: a message received in the same millisecond as the
    /// summary was claimed may have been written before it was seen).
    pub fn confirmed(&self, latest_at_ms: i64) -> bool {
        self.shown
            .is_some_and(|s| s.version == self.version && latest_at_ms > s.at_ms)
    }

    /// The order this cart becomes, number `number` of local day `date`, at `at`.
    #[allow(clippy::too_many_arguments)]
    pub fn to_order(
        &self,
        priced: Priced,
        date: &str,
        number: u32,
        line: &str,
        chat: &str,
        customer_name: Option<String>,
        at: &str,
    ) -> Order {
        let payment = self.payment.clone().unwrap_or(CartPayment {
            method: PaymentMethod::Cash,
            change_for_cents: None,
        });
        Order {
            id: order_id(date, number),
            number,
            status: OrderStatus::New,
            line: line.to_owned(),
            chat: chat.to_owned(),
            customer_name,
            items: priced.lines.into_iter().map(|l| l.line).collect(),
            subtotal_cents: priced.subtotal_cents,
            delivery_fee_cents: priced.delivery_fee_cents,
            total_cents: priced.total_cents,
            fulfillment: self.fulfillment.clone().unwrap_or(Fulfillment {
                mode: FulfillmentMode::Pickup,
                address: None,
                neighborhood: None,
            }),
            payment: Payment {
                method: payment.method,
                change_for_cents: payment.change_for_cents,
                paid: false,
                pix_code: None,
                proof_received: false,
            },
            history: vec![HistoryEntry {
                status: OrderStatus::New,
                at: at.to_owned(),
                reason: None,
                note: None,
            }],
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
            saipos: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn menu() -> Menu {
        serde_json::from_value(
            json!({"categories": [{"id": "pizzas", "name": "Pizzas", "items": [
            {"id": "calabresa", "name": "Calabresa", "priceCents": 4590, "optionGroups": [
                {"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1, "options": [
                    {"id": "media", "name": "Média", "priceCents": 0},
                    {"id": "grande", "name": "Grande", "priceCents": 1000}]},
                {"id": "extras", "name": "Extras", "min": 0, "max": 2, "options": [
                    {"id": "bacon", "name": "Bacon", "priceCents": 400},
                    {"id": "catupiry", "name": "Catupiry", "priceCents": 500},
                    {"id": "cheddar", "name": "Cheddar", "priceCents": 450}]}]},
            {"id": "atum", "name": "Atum", "priceCents": 5500, "available": false}]}]}),
        )
        .unwrap()
    }

    fn profile() -> StoreProfile {
        serde_json::from_value(json!({
            "delivery": {"pickup": false, "zones": [{"name": "Sul", "neighborhoods": ["Moema"],
                "feeCents": 700, "minOrderCents": 6000, "etaMinutes": 40}]},
            "payments": {"cash": true}}))
        .unwrap()
    }

    #[test]
    fn statuses_move_only_along_the_documented_transitions() {
        use OrderStatus::*;
        let order = |mode| Order {
            id: order_id("2026-12-06", 42),
            number: 42,
            status: New,
            line: "w1".into(),
            chat: "55".into(),
            customer_name: None,
            items: vec![],
            subtotal_cents: 0,
            delivery_fee_cents: 0,
            total_cents: 0,
            fulfillment: Fulfillment {
                mode,
                address: None,
                neighborhood: None,
            },
            payment: Payment {
                method: PaymentMethod::Cash,
                change_for_cents: None,
                paid: false,
                pix_code: None,
                proof_received: false,
            },
            history: vec![],
            created_at: "t0".into(),
            updated_at: "t0".into(),
            saipos: None,
        };
        let mut delivery = order(FulfillmentMode::Delivery);
        for to in [Accepted, Preparing, OutForDelivery, Delivered] {
            delivery.transition(to, None, "t1").unwrap();
        }
        assert_eq!(delivery.history.len(), 4);
        assert_eq!(
            delivery.transition(Cancelled, Some("x"), "t2"),
            Err(TransitionError::NotAllowed {
                from: Delivered,
                to: Cancelled
            })
        );
        let mut pickup = order(FulfillmentMode::Pickup);
        assert!(
            pickup.transition(Preparing, None, "t").is_err(),
            "no skipping"
        );
        pickup.transition(Accepted, None, "t").unwrap();
        pickup.transition(Preparing, None, "t").unwrap();
        assert!(pickup.transition(OutForDelivery, None, "t").is_err());
        assert_eq!(
            pickup.transition(Cancelled, Some("  "), "t"),
            Err(TransitionError::ReasonRequired)
        );
        pickup
            .transition(Cancelled, Some(" sem massa "), "t")
            .unwrap();
        assert_eq!(pickup.history[2].reason.as_deref(), Some("sem massa"));
        assert!(Cancelled.next(FulfillmentMode::Pickup).is_empty());
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(json!(status), json!(status.as_str()));
        }
    }

    #[test]
    fn order_ids_read_back() {
        assert_eq!(order_id("2026-12-06", 42), "20261206-0042");
        assert_eq!(
            parse_order_id("20261206-0042"),
            Some(("2026-12-06".into(), 42))
        );
        assert_eq!(
            parse_order_id("20261206-12345"),
            Some(("2026-12-06".into(), 12345))
        );
        for bad in [
            "",
            "x",
            "20261206",
            "20261206-",
            "20261206-0",
            "20261399-0001",
            "2026120-0001",
            "20261206-00a1",
            "20261206-+1",
        ] {
            assert_eq!(parse_order_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_cart_checks_options_and_prices_from_the_menu() {
        let (menu, profile) = (menu(), profile());
        let mut cart = Cart::fresh("c1".into(), None);
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (options, code) in [
            (ids(&[]), "invalid_options"),
            (ids(&["media", "grande"]), "invalid_options"),
            (
                ids(&["grande", "bacon", "catupiry", "cheddar"]),
                "invalid_options",
            ),
            (ids(&["grande", "grande"]), "invalid_options"),
            (ids(&["nada"]), "invalid_options"),
        ] {
            let err = cart.add(&menu, "calabresa", 1, options, None).unwrap_err();
            assert_eq!(err.code, code);
        }
        assert_eq!(
            cart.add(&menu, "atum", 1, vec![], None).unwrap_err().code,
            "item_unavailable"
        );
        assert_eq!(cart.version, 0, "refusals change nothing");
        let line = cart
            .add(
                &menu,
                "calabresa",
                2,
                ids(&["grande", "bacon"]),
                Some(" sem cebola "),
            )
            .unwrap();
        assert_eq!((line.as_str(), cart.version), ("l1", 1));
        let priced = cart.price(&menu, &profile);
        assert_eq!(priced.lines[0].line.unit_price_cents, 4590 + 1000 + 400);
        assert_eq!(priced.subtotal_cents, 2 * 5990);
        assert_eq!(priced.lines[0].line.note.as_deref(), Some("sem cebola"));
        // Pickup isn't offered; delivery to the zone adds its fee.
        assert_eq!(
            cart.set_fulfillment(&profile.delivery, FulfillmentMode::Pickup, None, None)
                .unwrap_err()
                .code,
            "pickup_unavailable"
        );
        cart.set_fulfillment(
            &profile.delivery,
            FulfillmentMode::Delivery,
            Some("Rua A, 1"),
            Some("moema"),
        )
        .unwrap();
        let priced = cart.price(&menu, &profile);
        assert_eq!(priced.total_cents, 2 * 5990 + 700);
        // Ready: cash with change; the change must cover the total.
        assert_eq!(
            cart.check_ready(&menu, &profile, Some(true))
                .unwrap_err()
                .code,
            "payment_required"
        );
        cart.set_payment(&profile.payments, PaymentMethod::Cash, Some(10_000))
            .unwrap();
        assert_eq!(
            cart.check_ready(&menu, &profile, Some(true))
                .unwrap_err()
                .code,
            "invalid_change"
        );
        cart.set_payment(&profile.payments, PaymentMethod::Cash, Some(20_000))
            .unwrap();
        assert!(
            cart.check_ready(&menu, &profile, None).is_ok(),
            "no hours: no closed"
        );
        assert_eq!(
            cart.check_ready(&menu, &profile, Some(false))
                .unwrap_err()
                .code,
            "store_closed"
        );
        // Below the zone's minimum after a change.
        cart.update(
            &menu,
            "l1",
            LineChange {
                quantity: Some(1),
                ..LineChange::default()
            },
        )
        .unwrap();
        assert_eq!(
            cart.check_ready(&menu, &profile, Some(true))
                .unwrap_err()
                .code,
            "below_minimum"
        );
        // Confirmation is of one version, by a later message.
        cart.shown = Some(Shown {
            version: cart.version,
            at_ms: 1000,
        });
        assert!(cart.confirmed(1001));
        assert!(!cart.confirmed(1000));
        cart.remove("l1").unwrap();
        assert!(!cart.confirmed(2000));
    }
}
