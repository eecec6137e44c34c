//! Lambda entrypoint for Meta's WhatsApp Cloud API webhook (`/webhooks/whatsapp`). Thin on
//! purpose: build the webhook's state (table, Meta's secrets, inbound queue) from the
//! environment and hand the shared router to the Lambda runtime. The local stack mounts the
//! same routes.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    platefull::telemetry::init(true);
    let state = platefull::config::webhook_state_from_env().await?;
    lambda_http::run(platefull::http::webhook_router(state)).await
}
