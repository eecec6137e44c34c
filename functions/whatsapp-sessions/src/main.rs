//! Lambda entrypoint for WhatsApp session routes (`/api/whatsapp/{storeId}/...`). Thin on purpose: build the state from the
//! environment, hand the shared router to the Lambda runtime. The local stack mounts the
//! same router.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    platefull::telemetry::init(true);
    let state = platefull::config::state_from_env().await?;
    lambda_http::run(platefull::http::sessions_router(state)).await
}
