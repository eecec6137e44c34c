//! `platefull` (package `platefull-cli`): the whole system on one machine, and the tools
//! around it.
//!
//! - `platefull dev` serves every route of every Lambda function in one process, with the
//!   embedded store in a data dir (so data survives restarts) and no AWS, no internet. It
//!   listens on loopback only unless `--public` (its dev sign-in trusts whoever calls), and
//!   its dev routes answer only its own `Host` (`platefull::http::dev_host`).
//! - `platefull dev-token --user ID` prints a user token the local stack accepts.
//! - The web console (`web/`) is served by `platefull dev` at `/`.

mod console;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "platefull",
    version,
    about = "Platefull: WhatsApp AI attendants for restaurants"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system locally (every route, embedded persistent store).
    Dev {
        /// Address to listen on: a loopback address unless --public is given.
        #[arg(long, default_value = "127.0.0.1:3000", env = "PLATEFULL_ADDR")]
        addr: SocketAddr,
        /// Allow --addr to be a non-loopback address (the LAN, the internet). Dangerous: the
        /// local stack's /dev/sign-in signs anyone in as any user.
        #[arg(long)]
        public: bool,
        /// Another host name the dev routes answer to (they refuse other Host headers, a
        /// defence against DNS rebinding); repeatable.
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_hosts: Vec<String>,
        /// Where data, the data key and the dev signing key live.
        #[arg(long, default_value = ".platefull", env = "PLATEFULL_DATA_DIR")]
        data_dir: PathBuf,
        /// How long session start/logout wait for the gateway, in milliseconds.
        #[arg(long, default_value_t = 3000)]
        session_wait_ms: u64,
        /// WhatsApp transport: the built-in simulator, or the real WhatsApp Web client (the QR
        /// is printed here and returned by the API; scan it with the phone).
        #[arg(long, value_enum, default_value_t = TransportKind::Simulator)]
        transport: TransportKind,
        /// Send the bot's replies at once: no typing pause, no pacing (tests, benchmarks).
        #[arg(long)]
        no_reply_pacing: bool,
        /// The web console's folder (index.html and assets/).
        #[arg(long, default_value_os_t = console::default_web_dir(), env = "PLATEFULL_WEB_DIR")]
        web_dir: PathBuf,
        /// How long a client may take to send a request's headers (and how long an idle
        /// keep-alive connection is kept), in milliseconds.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        header_read_timeout_ms: u64,
        /// A connection on which nothing moves for this long is closed, in milliseconds.
        #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout_ms: u64,
        /// At most this many connections at once; more wait until one closes.
        #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
    },
    /// Drive the WhatsApp simulator of a running local stack.
    Simulate {
        #[command(subcommand)]
        action: Simulate,
        /// The local stack's URL.
        #[arg(
            long,
            global = true,
            default_value = "http://127.0.0.1:3000",
            env = "PLATEFULL_URL"
        )]
        url: String,
    },
    /// Print a user token that a local stack with the same data dir accepts (last line of stdout).
    DevToken {
        /// The user id (the token's subject).
        #[arg(long)]
        user: String,
        /// Where the local stack keeps its data.
        #[arg(long, default_value = ".platefull", env = "PLATEFULL_DATA_DIR")]
        data_dir: PathBuf,
        /// How long the token is valid, in hours.
        #[arg(long, default_value_t = 12)]
        hours: i64,
    },
    /// Print the Pix "copia e cola" an order confirmation carries, for a key and an amount
    /// (to check a store's Pix data in a bank app before customers pay with it).
    PixCode {
        /// The Pix key as the profile keeps it (e-mail, +55 phone, CPF/CNPJ digits, UUID).
        #[arg(long)]
        key: String,
        /// The merchant name (at most 25 characters).
        #[arg(long)]
        name: String,
        /// The merchant city (at most 15 characters).
        #[arg(long)]
        city: String,
        /// The amount, in centavos.
        #[arg(long)]
        amount_cents: i64,
        /// The payment's identifier (an order id).
        #[arg(long, default_value = "***")]
        txid: String,
    },
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum TransportKind {
    Simulator,
    WhatsappWeb,
}

#[derive(Subcommand)]
enum Simulate {
    /// Link a simulated phone to a slot that is showing its QR code.
    Pair {
        #[arg(long)]
        store: String,
        #[arg(long)]
        slot: u8,
        /// The simulated phone's number (digits); random if omitted.
        #[arg(long)]
        phone: Option<String>,
        /// The pairing code (the `code=` of the link inside the QR).
        #[arg(long, required_unless_present = "key", conflicts_with = "key")]
        code: Option<String>,
        /// The store's apiKey or its owner's token: the code is fetched with it
        /// (GET /dev/simulator/{store}/{slot}/pairing).
        #[arg(long, env = "PLATEFULL_KEY", hide_env_values = true)]
        key: Option<String>,
    },
    /// A customer writes to the slot's number.
    Message {
        #[arg(long)]
        store: String,
        #[arg(long)]
        slot: u8,
        /// The customer's number (digits).
        #[arg(long)]
        from: String,
        #[arg(long)]
        text: String,
        /// WhatsApp message id (send the same id again to simulate a redelivery).
        #[arg(long)]
        id: Option<String>,
    },
    /// The owner writes from the linked phone.
    OwnerMessage {
        #[arg(long)]
        store: String,
        #[arg(long)]
        slot: u8,
        #[arg(long)]
        to: String,
        #[arg(long)]
        text: String,
    },
    /// The phone removes the linked device: the slot is unlinked (its owner is alerted).
    Unlink {
        #[arg(long)]
        store: String,
        #[arg(long)]
        slot: u8,
    },
    /// The connection stops answering without closing (the gateway finds it silent,
    /// alerts and reconnects); `--off`: it answers again.
    Silence {
        #[arg(long)]
        store: String,
        #[arg(long)]
        slot: u8,
        #[arg(long)]
        off: bool,
    },
    /// What was sent to a customer from the slot, oldest first.
    Outbox {
        #[arg(long)]
        store: String,
        #[arg(long)]
        slot: u8,
        #[arg(long)]
        chat: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev {
            addr,
            public,
            allow_hosts,
            data_dir,
            session_wait_ms,
            transport,
            no_reply_pacing,
            web_dir,
            header_read_timeout_ms,
            idle_timeout_ms,
            max_connections,
        } => {
            let limits = serve::Limits {
                header_read_timeout: std::time::Duration::from_millis(header_read_timeout_ms),
                idle_timeout: std::time::Duration::from_millis(idle_timeout_ms),
                max_connections: max_connections as usize,
            };
            dev(
                Listen {
                    addr,
                    public,
                    allow_hosts,
                },
                data_dir,
                session_wait_ms,
                transport,
                no_reply_pacing,
                web_dir,
                limits,
            )
            .await
        }
        Command::Simulate { action, url } => simulate(&url, action).await,
        Command::DevToken {
            user,
            data_dir,
            hours,
        } => dev_token(&user, &data_dir, hours),
        Command::PixCode {
            key,
            name,
            city,
            amount_cents,
            txid,
        } => pix_code(key, name, city, amount_cents, &txid),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("platefull: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn pix_code(key: String, name: String, city: String, cents: i64, txid: &str) -> Result<(), String> {
    if cents <= 0 {
        return Err("--amount-cents must be positive".into());
    }
    let pix = platefull::domain::profile::Pix {
        key,
        // The payload doesn't carry the key's type.
        key_type: platefull::domain::profile::PixKeyType::Random,
        merchant_name: name,
        merchant_city: city,
    };
    println!("{}", platefull::domain::pix::brcode(&pix, cents, txid));
    Ok(())
}

/// The simulator's outbox in the data dir (one JSON line per message sent).
const SIMULATOR_OUTBOX: &str = "simulator-outbox.jsonl";

/// Where `dev` listens, and who may reach its dev routes.
struct Listen {
    addr: SocketAddr,
    /// `--public`: a non-loopback address is allowed.
    public: bool,
    /// `--allow-host`: more names the dev routes answer to.
    allow_hosts: Vec<String>,
}

/// Refuses a non-loopback address without `--public`: everyone who can reach the local
/// stack can sign in as anyone through `/dev/sign-in`.
fn check_listen(listen: &Listen) -> Result<(), String> {
    if listen.addr.ip().is_loopback() || listen.public {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {}: it is not a loopback address, and anyone who can reach the \
         local stack can sign in as any user (/dev/sign-in). Use --addr 127.0.0.1:<port>, or \
         pass --public to expose it anyway",
        listen.addr
    ))
}

async fn dev(
    listen: Listen,
    data_dir: PathBuf,
    session_wait_ms: u64,
    transport: TransportKind,
    no_reply_pacing: bool,
    web_dir: PathBuf,
    limits: serve::Limits,
) -> Result<(), String> {
    use platefull::bot::reply::Pacing;
    use platefull::bot::worker::Bot;
    use platefull::whatsapp::gateway::{Gateway, GatewayConfig, GatewayQueues};
    use platefull::whatsapp::simulator::{Simulator, SimulatorTransport};
    use std::sync::Arc;
    use std::time::Duration;

    check_listen(&listen)?;
    platefull::telemetry::init(false);
    let addr = listen.addr;
    let mut state = platefull::local::open_state(&data_dir)?;
    let data_dir = data_dir.canonicalize().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("can't listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if !bound.ip().is_loopback() {
        eprintln!(
            "platefull: WARNING: --public: listening on {bound}, beyond this machine. Anyone who \
             can reach it can sign in as any user through /dev/sign-in and read or change \
             every owner's data; use it only on a network you trust."
        );
    }
    let hosts = platefull::http::dev_host::DevHosts::new(bound, listen.allow_hosts);
    // The gateway runs in-process, with the simulator and an in-process command queue.
    // Its outbox (what simulated customers received) outlives the process, as a phone's would.
    let simulator =
        Simulator::with_outbox_file(&format!("http://{bound}"), &data_dir.join(SIMULATOR_OUTBOX))
            .map_err(|e| format!("simulator outbox: {e}"))?;
    // Durable: what they held when the last run stopped (or died) carries on.
    let platefull::local::LocalQueues {
        commands,
        inbound,
        outbound,
    } = platefull::local::LocalQueues::open(&state.store)
        .await
        .map_err(|e| format!("queues: {e}"))?;
    state.notices = Some(inbound.clone());
    state.sessions = Some(platefull::http::SessionCommands {
        queue: commands.clone(),
        wait: Duration::from_millis(session_wait_ms),
        outbound: Some(outbound.clone()),
    });
    let platform = platefull::config::PlatformSecrets::from_env();
    if let (Some(app_secret), Some(verify_token)) = (
        platform.meta_app_secret.clone(),
        platform.meta_verify_token.clone(),
    ) {
        state.webhook = Some(platefull::http::webhook::WebhookSettings {
            app_secret,
            verify_token,
            inbound: inbound.clone(),
        });
    }
    let bot = Arc::new(Bot {
        store: state.store.clone(),
        secrets: state.secrets.clone(),
        llm: platefull::config::llm(&platform),
        inbound: inbound.clone(),
        outbound: Some(outbound.clone()),
        graph: platefull::bot::cloud_api::GraphClient::new(&platefull::config::graph_url()),
        backoff: platefull::bot::worker::DEFAULT_BACKOFF,
        turn_limit: Default::default(),
        health: platefull::config::health::health_settings(platform.resend_api_key.as_deref())
            .map_err(|e| e.to_string())?,
        webhooks: platefull::outbound::OutboundClient::for_webhooks(
            platefull::outbound::Policy::LocalStack,
        ),
        saipos_orders: Arc::new(platefull::saipos::orders::OrderApi::from_env(
            platefull::outbound::Policy::LocalStack,
        )),
        media: Arc::new(platefull::media::MediaTools::from_env(
            &platefull::config::graph_url(),
            platform.transcribe_api_key.as_deref(),
            Some(Arc::new(
                platefull::whatsapp::whatsapp_web::CdnMedia::default(),
            )),
        )),
    });
    let llm = bot.llm.describe();
    let gateway = Gateway::new(
        state.store.clone(),
        state.secrets.clone(),
        match transport {
            TransportKind::Simulator => Arc::new(SimulatorTransport(simulator.clone())),
            TransportKind::WhatsappWeb => {
                Arc::new(platefull::whatsapp::whatsapp_web::WhatsappWeb::new(
                    state.store.clone(),
                    state.secrets.clone(),
                ))
            }
        },
        GatewayQueues {
            commands,
            inbound: Some(inbound),
            outbound: Some(outbound),
        },
        GatewayConfig {
            lease: Duration::from_secs(15),
            sole_gateway: true,
            print_qr: transport == TransportKind::WhatsappWeb,
            pacing: if no_reply_pacing {
                Pacing::none()
            } else {
                Pacing::default()
            },
            ..GatewayConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let gateway_task = tokio::spawn(gateway.run(stopped.clone()));
    let bot_task = tokio::spawn(platefull::bot::worker::run_local(bot, stopped));
    println!("Platefull local stack");
    println!("  data:      {}", data_dir.display());
    println!(
        "  token:     platefull dev-token --user <id> --data-dir {}",
        data_dir.display()
    );
    match transport {
        TransportKind::Simulator => println!("  whatsapp:  simulator (platefull simulate --help)"),
        TransportKind::WhatsappWeb => println!(
            "  whatsapp:  WhatsApp Web (QR codes are printed here and returned by the API)"
        ),
    }
    println!("  bot:       {llm}");
    if state.webhook.is_none() {
        println!("  webhook:   off (set META_APP_SECRET and META_VERIFY_TOKEN to receive Cloud API webhooks)");
    }
    let app = match transport {
        TransportKind::Simulator => {
            let simulator = platefull::http::simulator::router(simulator, state.clone());
            platefull::http::all_routes(state)
                .merge(platefull::http::dev_host::guard(simulator, hosts.clone()))
        }
        TransportKind::WhatsappWeb => platefull::http::all_routes(state),
    }
    .merge(platefull::http::openapi::router());
    let simulated = transport == TransportKind::Simulator;
    let app = match console::routes(&web_dir, &data_dir, simulated, hosts) {
        Ok(console) => {
            println!("  console:   http://{bound}/");
            app.merge(console)
        }
        Err(reason) => {
            println!("  console:   off ({reason})");
            app
        }
    };
    println!("listening on http://{bound}");
    serve::serve(
        listener,
        app,
        limits,
        platefull::telemetry::shutdown_signal(),
    )
    .await;
    let _ = stop.send(true);
    let _ = bot_task.await;
    let _ = gateway_task.await;
    tracing::info!("stopped");
    Ok(())
}

async fn simulate(url: &str, action: Simulate) -> Result<(), String> {
    let client = reqwest::Client::new();
    let base = url.trim_end_matches('/');
    let request = match action {
        Simulate::Pair {
            store,
            slot,
            phone,
            code,
            key,
        } => {
            let code = match (code, key) {
                (Some(code), _) => code,
                (None, Some(key)) => pairing_code(&client, base, &store, slot, &key).await?,
                (None, None) => return Err("--code or --key is required".into()),
            };
            let body = match phone {
                Some(phone) => serde_json::json!({ "phone": phone }),
                None => serde_json::json!({}),
            };
            client
                .post(format!("{base}/dev/simulator/{store}/{slot}/pair"))
                .query(&[("code", code)])
                .json(&body)
        }
        Simulate::Message {
            store,
            slot,
            from,
            text,
            id,
        } => client
            .post(format!("{base}/dev/simulator/{store}/{slot}/messages"))
            .json(&serde_json::json!({ "from": from, "text": text, "id": id })),
        Simulate::OwnerMessage {
            store,
            slot,
            to,
            text,
        } => client
            .post(format!(
                "{base}/dev/simulator/{store}/{slot}/owner-messages"
            ))
            .json(&serde_json::json!({ "to": to, "text": text })),
        Simulate::Unlink { store, slot } => {
            client.post(format!("{base}/dev/simulator/{store}/{slot}/unlink"))
        }
        Simulate::Silence { store, slot, off } => client
            .post(format!("{base}/dev/simulator/{store}/{slot}/silence"))
            .json(&serde_json::json!({ "silent": !off })),
        Simulate::Outbox { store, slot, chat } => client
            .get(format!("{base}/dev/simulator/{store}/{slot}/outbox"))
            .query(&[("chat", chat)]),
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("can't reach the local stack at {base}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        println!("{text}");
        Ok(())
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// The pairing code a slot shows, asked with the store's apiKey or its owner's token.
async fn pairing_code(
    client: &reqwest::Client,
    base: &str,
    store: &str,
    slot: u8,
    key: &str,
) -> Result<String, String> {
    let response = client
        .get(format!("{base}/dev/simulator/{store}/{slot}/pairing"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| format!("can't reach the local stack at {base}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("pairing code: {status}: {text}"));
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("pairing code: unexpected answer {text}"))
}

fn dev_token(user: &str, data_dir: &std::path::Path, hours: i64) -> Result<(), String> {
    let user = user.trim();
    if user.is_empty() || user.len() > 200 || user.chars().any(char::is_control) {
        return Err("--user must be 1..200 printable characters".into());
    }
    if !(1..=24 * 30).contains(&hours) {
        return Err("--hours must be between 1 and 720".into());
    }
    let signer = platefull::local::signer(data_dir)
        .map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
    eprintln!(
        "token for user {user:?}, valid {hours} h, for the local stack using {}",
        data_dir.display()
    );
    println!("{}", signer.token(user, hours * 3600));
    Ok(())
}
