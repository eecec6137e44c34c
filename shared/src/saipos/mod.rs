//! Saipos, the restaurants' POS: its read-only Data API (`https://data.saipos.io/v1`,
//! one bearer token per store) gives sales and sold items. We use it to test an owner's
//! token and to build sales reports; reports of settled days are cached in our store, so
//! looking at the same period again costs Saipos nothing. Its Order API takes the orders
//! the owner accepts into the store's POS (`orders`).

pub mod cache;
pub mod client;
pub mod orders;
pub mod report;
