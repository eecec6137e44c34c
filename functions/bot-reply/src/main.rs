//! Lambda entrypoint of the bot: an SQS consumer of the inbound queue. Thin on purpose:
//! build the worker from the environment and hand each batch to the shared handler, which
//! reports the records to try again as batch item failures (one slow turn never makes SQS
//! redeliver the whole batch). The local stack runs the same worker in-process.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    platefull::telemetry::init(true);
    let bot = Arc::new(platefull::config::bot_from_env().await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<_>| {
            let bot = bot.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    platefull::bot::worker::handle_sqs_batch(bot, event.payload).await,
                )
            }
        },
    ))
    .await
}
