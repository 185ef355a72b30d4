//! The `ticket-bridge` command: parses the command line and hands over to the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ticket_bridge::config::{self, Config};
use ticket_bridge::usersig::UserSigner;
use ticket_bridge::{sandbox, startup, telemetry, Application};

#[derive(Parser)]
#[command(version, about = "Bridges Tencent Cloud IM (Chat) and Zendesk")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default), configured from the environment and `.env`.
    Serve,
    /// Run the service against built-in emulators of Zendesk and Tencent IM: no accounts needed.
    Sandbox,
    /// Print an IM UserSig for a user (debugging; needs IM_SDKAPPID and IM_SECRET_KEY).
    Usersig {
        /// The IM UserID.
        user: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 86_400)]
        expire: u64,
    },
    /// Exit 0 if the service on this machine answers /healthz (for container health checks).
    Healthcheck {
        #[arg(long, env = "PORT", default_value_t = 15000)]
        port: u16,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is fine; variables already set win over it.
    let _ = dotenvy::dotenv();
    telemetry::init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Sandbox => report(sandbox::run::run().await),
        Command::Usersig { user, expire } => usersig(&user, expire),
        Command::Healthcheck { port } => healthcheck(port).await,
    }
}

async fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    report(app.run_until(startup::shutdown_signal()).await)
}

fn usersig(user: &str, expire: u64) -> ExitCode {
    match config::im_signing_from_lookup(|k| std::env::var(k).ok()) {
        Ok((sdkappid, key)) => {
            // Printing the sig is this command's purpose; it never goes to the log.
            println!(
                "{}",
                UserSigner::new(sdkappid, key)
                    .generate(user, expire)
                    .expose()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

async fn healthcheck(port: u16) -> ExitCode {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let ok = match reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
    {
        Ok(r) => r.status().is_success(),
        Err(_) => false,
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("{url} did not answer 200");
        ExitCode::FAILURE
    }
}

fn report<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stopped with an error");
            ExitCode::FAILURE
        }
    }
}
