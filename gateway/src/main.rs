//! The gateway's Fargate entrypoint. Thin on purpose: take the store, the secrets, the
//! queues and the settings from the environment (`platefull::config::gateway`, which lists
//! the variables), add the WhatsApp Web transport, run the shared
//! [`Gateway`](platefull::whatsapp::gateway::Gateway) until SIGTERM, then close every
//! connection (links kept) and release every lease so another task takes over at once.

use std::sync::Arc;

use platefull::whatsapp::gateway::Gateway;
use platefull::whatsapp::whatsapp_web::WhatsappWeb;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    platefull::telemetry::init(true);
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(%message, "gateway failed to start");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let parts = platefull::config::gateway_from_env()
        .await
        .map_err(|e| e.to_string())?;
    let transport = Arc::new(WhatsappWeb::new(parts.store.clone(), parts.secrets.clone()));
    let gateway = Gateway::new(
        parts.store,
        parts.secrets,
        transport,
        parts.queues,
        parts.config,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(gateway.run(stopped));
    platefull::telemetry::shutdown_signal().await;
    let _ = stop.send(true);
    task.await.map_err(|e| e.to_string())
}
