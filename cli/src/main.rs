//! `platefull`: the whole system on one machine, and the tools around it.
//!
//! - `platefull dev` serves every route of every Lambda function in one process, with the
//!   embedded store in a data dir (so data survives restarts) and no AWS, no internet.
//! - `platefull dev-token --user ID` prints a user token the local stack accepts.

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
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000", env = "PLATEFULL_ADDR")]
        addr: SocketAddr,
        /// Where data, the data key and the dev signing key live.
        #[arg(long, default_value = ".platefull", env = "PLATEFULL_DATA_DIR")]
        data_dir: PathBuf,
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
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev { addr, data_dir } => dev(addr, data_dir).await,
        Command::DevToken {
            user,
            data_dir,
            hours,
        } => dev_token(&user, &data_dir, hours),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("platefull: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dev(addr: SocketAddr, data_dir: PathBuf) -> Result<(), String> {
    platefull::telemetry::init(false);
    let state = platefull::local::open_state(&data_dir)?;
    let data_dir = data_dir.canonicalize().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("can't listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    println!("Platefull local stack");
    println!("  data:      {}", data_dir.display());
    println!(
        "  token:     platefull dev-token --user <id> --data-dir {}",
        data_dir.display()
    );
    println!("listening on http://{bound}");
    let app = platefull::http::all_routes(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
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
