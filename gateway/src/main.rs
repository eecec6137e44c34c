//! The gateway's Fargate entrypoint. Thin on purpose: build the store, the secrets, the
//! queues and the WhatsApp Web transport from the environment, run the shared
//! [`Gateway`](platefull::whatsapp::gateway::Gateway) until SIGTERM, then close every
//! connection (links kept) and release every lease so another task takes over at once.
//!
//! Environment: the Lambda functions' (`PLATEFULL_TABLE`, `PLATEFULL_DATA_KEY_CIPHERTEXT`,
//! see `platefull::config`), plus `PLATEFULL_COMMANDS_QUEUE_URL` (required),
//! `PLATEFULL_INBOUND_QUEUE_URL` (optional: where customers' messages go),
//! `PLATEFULL_OUTBOUND_QUEUE_URL` (optional: the replies to send),
//! `PLATEFULL_LEASE_SECS` (default 30) and `PLATEFULL_PRINT_QR` (`1`: QR codes on stderr).

use std::sync::Arc;
use std::time::Duration;

use platefull::queue::sqs::SqsQueue;
use platefull::queue::Queue;
use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
use platefull::whatsapp::whatsapp_web::WhatsappWeb;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

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
    let state = platefull::config::state_from_env()
        .await
        .map_err(|e| e.to_string())?;
    let aws = platefull::config::aws_loader().load().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let commands_url =
        env("PLATEFULL_COMMANDS_QUEUE_URL").ok_or("PLATEFULL_COMMANDS_QUEUE_URL is required")?;
    let commands: Arc<dyn Queue> = Arc::new(SqsQueue::new(sqs.clone(), commands_url));
    let inbound = env("PLATEFULL_INBOUND_QUEUE_URL")
        .map(|url| Arc::new(SqsQueue::new(sqs.clone(), url)) as Arc<dyn Queue>);
    let outbound = env("PLATEFULL_OUTBOUND_QUEUE_URL")
        .map(|url| Arc::new(SqsQueue::new(sqs, url)) as Arc<dyn Queue>);
    let lease_secs = match env("PLATEFULL_LEASE_SECS") {
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| format!("PLATEFULL_LEASE_SECS must be seconds, got {v:?}"))?,
        None => 30,
    };
    let config = GatewayConfig {
        lease: Duration::from_secs(lease_secs.max(3)),
        print_qr: env("PLATEFULL_PRINT_QR").as_deref() == Some("1"),
        ..GatewayConfig::default()
    };
    let transport = Arc::new(WhatsappWeb::new(state.store.clone(), state.secrets.clone()));
    let gateway = Gateway::new(
        state.store,
        state.secrets,
        transport,
        GatewayQueues {
            commands,
            inbound,
            outbound,
        },
        config,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(gateway.run(stopped));
    platefull::telemetry::shutdown_signal().await;
    let _ = stop.send(true);
    task.await.map_err(|e| e.to_string())
}
