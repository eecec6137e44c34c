//! Who is calling. Owners present a user token (a Stack Auth ES256 JWT; locally one the
//! stack signs itself); machines present a connection's apiKey, which opens only that
//! connection's store routes.

pub mod api_key;
pub mod caller;
pub mod dev;
pub mod jwt;
