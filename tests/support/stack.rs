//! The local stack's moving parts wired in-process, for the suites and benches that drive
//! WhatsApp slots and the bot: in-process queues, a gateway over the simulator transport
//! (in the test's runtime, or in a runtime of its own that can be killed like a crashed
//! process), the session and webhook routes that feed them, and a bot worker. Each is built
//! over a [`TestApp`]'s store and secrets, so the routes, the gateway and the bot share one
//! store as they do in `platefull dev`.

use std::sync::Arc;
use std::time::Duration;

use platefull::bot::cloud_api::GraphClient;
use platefull::bot::llm::{Llm, OpenAiCompatible, OpenAiSettings};
use platefull::bot::worker::Bot;
use platefull::http::webhook::WebhookSettings;
use platefull::http::SessionCommands;
use platefull::queue::memory::MemoryQueue;
use platefull::queue::Queue;
use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
use platefull::whatsapp::simulator::{Simulator, SimulatorTransport};
use tokio::sync::watch;

use crate::TestApp;

/// The Meta app secret the webhook routes check signatures with.
pub const APP_SECRET: &str = "meta-app-secret-for-tests";
/// The webhook handshake's verify token.
pub const VERIFY_TOKEN: &str = "verify-me-please";

/// An in-process standard queue (like the inbound queue) with a 5 s visibility timeout.
pub fn standard_queue() -> Arc<MemoryQueue> {
    Arc::new(MemoryQueue::standard(Duration::from_secs(5)))
}

/// An in-process FIFO queue (like the commands and outbound queues) with a 5 s visibility
/// timeout.
pub fn fifo_queue() -> Arc<MemoryQueue> {
    Arc::new(MemoryQueue::fifo(Duration::from_secs(5)))
}

/// Client settings for the fake LLM at `url`: quick retries, short waits.
pub fn llm_settings(url: &str) -> OpenAiSettings {
    let mut settings = OpenAiSettings::new(url, "test-key", "test/primary");
    settings.backoff_base = Duration::from_millis(5);
    settings.max_wait = Duration::from_secs(2);
    settings.timeout = Duration::from_secs(5);
    settings
}

impl TestApp {
    /// Session routes that send their commands to `commands` (waiting up to `wait` for the
    /// gateway's answer), and the simulator's dev routes (the QR's pairing link).
    pub fn with_sessions(
        self,
        commands: Arc<dyn Queue>,
        wait: Duration,
        sim: &Arc<Simulator>,
    ) -> Self {
        let mut app = self.with_state(|state| {
            state.sessions = Some(SessionCommands {
                queue: commands,
                wait,
                outbound: None,
            })
        });
        app.router = app.router.merge(platefull::http::simulator::router(
            sim.clone(),
            app.state.clone(),
        ));
        app
    }

    /// The Cloud API webhook routes, queueing to `inbound` ([`APP_SECRET`], [`VERIFY_TOKEN`]).
    pub fn with_webhook(self, inbound: Arc<dyn Queue>) -> Self {
        self.with_state(|state| {
            state.webhook = Some(WebhookSettings {
                app_secret: APP_SECRET.into(),
                verify_token: VERIFY_TOKEN.into(),
                inbound,
            })
        })
    }

    /// A gateway over this app's store and secrets, with the simulator transport.
    pub fn gateway(
        &self,
        sim: &Arc<Simulator>,
        queues: GatewayQueues,
        config: GatewayConfig,
    ) -> Arc<Gateway> {
        Gateway::new(
            self.state.store.clone(),
            self.state.secrets.clone(),
            Arc::new(SimulatorTransport(sim.clone())),
            queues,
            config,
        )
    }

    /// A bot worker over this app's store and secrets, asking `llm`, taking turns from
    /// `inbound` and handing replies to `outbound`; the Graph API is a closed port and a
    /// retry waits 20 ms.
    pub fn bot(&self, llm: Arc<dyn Llm>, inbound: Arc<dyn Queue>, outbound: Arc<dyn Queue>) -> Bot {
        Bot {
            store: self.state.store.clone(),
            secrets: self.state.secrets.clone(),
            llm,
            inbound,
            outbound: Some(outbound),
            graph: GraphClient::new("http://127.0.0.1:9"),
            backoff: Duration::from_millis(20),
            turn_limit: Default::default(),
            health: Default::default(),
            webhooks: platefull::outbound::OutboundClient::for_webhooks(
                platefull::outbound::Policy::LocalStack,
            ),
            saipos_orders: Arc::new(platefull::saipos::orders::OrderApi::new(
                platefull::outbound::Policy::LocalStack,
                "http://127.0.0.1:9",
            )),
            media: Default::default(),
        }
    }

    /// [`TestApp::bot`] asking the fake LLM at `llm_url` through the real client.
    pub fn bot_over_fake_llm(
        &self,
        llm_url: &str,
        inbound: Arc<dyn Queue>,
        outbound: Arc<dyn Queue>,
    ) -> Bot {
        let llm = Arc::new(OpenAiCompatible::new(llm_settings(llm_url)));
        self.bot(llm, inbound, outbound)
    }
}

/// A gateway running in its own runtime, so that killing it kills every task it has (a crash).
pub struct GatewayProcess {
    pub gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GatewayProcess {
    /// Starts `gateway` on a one-thread runtime of its own.
    pub fn spawn(gateway: Arc<Gateway>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let g = gateway.clone();
        let thread = std::thread::spawn(move || handle.block_on(g.run(stopped)));
        Self {
            gateway,
            stop,
            runtime: Some(runtime),
            thread: Some(thread),
        }
    }

    /// Graceful stop (SIGTERM): connections closed, leases released.
    pub fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("the gateway stopped cleanly");
        let runtime = self.runtime.take().unwrap();
        // A runtime can't be shut down from inside another one's async context.
        std::thread::spawn(move || runtime.shutdown_timeout(Duration::from_secs(5)))
            .join()
            .unwrap();
    }

    /// A crash: every task gone, nothing released.
    pub fn kill(mut self) {
        self.runtime.take().unwrap().shutdown_background();
        drop(self.thread.take());
    }
}
