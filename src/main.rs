//! The `ticket-bridge` command: parses the command line and hands over to the library.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ticket_bridge::config::{self, Config};
use ticket_bridge::operator::SetupAction;
use ticket_bridge::startup::Components;
use ticket_bridge::usersig::UserSigner;
use ticket_bridge::zendesk::ZendeskClient;
use ticket_bridge::{operator, sandbox, startup, telemetry, Application};

/// A case allocates a few hundred small objects across two threads (HTTP, JSON, SQL rows);
/// mimalloc serves them from per-thread pages at about half of glibc's cost per call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Finish every case whose ticket, group or greeting is not done (safe while serve runs).
    Reconcile,
    /// Show the job queue: counts, and every job that failed for good.
    Jobs,
    /// Create or update (idempotently, found by name) the Zendesk webhook the bridge needs and
    /// print its signing secret.
    SetupZendesk {
        /// The bridge's public base URL, e.g. https://bridge.example.com
        #[arg(long)]
        url: String,
        /// Show what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
    // A missing .env is fine; variables already set win over it. A broken one is not: every
    // setting after the bad line would be silently lost.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("cannot read .env: {e}");
            return ExitCode::from(2);
        }
    }
    telemetry::init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Sandbox => report(sandbox::run::run().await),
        Command::Reconcile => reconcile().await,
        Command::Jobs => jobs().await,
        Command::SetupZendesk { url, dry_run } => setup_zendesk(&url, dry_run).await,
        Command::Usersig { user, expire } => usersig(&user, expire),
        Command::Healthcheck { port } => healthcheck(port).await,
    }
}

fn config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })
}

async fn components() -> Result<Components, ExitCode> {
    let config = config()?;
    Components::build(&config).await.map_err(|e| {
        eprintln!("cannot start: {e}");
        ExitCode::FAILURE
    })
}

async fn reconcile() -> ExitCode {
    let parts = match components().await {
        Ok(p) => p,
        Err(code) => return code,
    };
    match operator::reconcile(&parts.store, &parts.jobs).await {
        Ok(r) => {
            println!(
                "unfinished cases: {}; open tickets checked: {}; conversations caught up: {}; jobs finished now: {}; will retry: {}; failed: {}",
                r.unfinished, r.tickets_checked, r.conversations_checked, r.done, r.retrying, r.failed
            );
            if r.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("reconcile failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn setup_zendesk(url: &str, dry_run: bool) -> ExitCode {
    let zendesk = match config::zendesk_from_lookup(|k| std::env::var(k).ok()) {
        Ok(z) => z,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        eprintln!(
            "--url must be the bridge's public http(s) base URL, e.g. https://bridge.example.com"
        );
        return ExitCode::from(2);
    }
    let http = match ticket_bridge::upstream::HttpClient::new() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let client = ZendeskClient::new(http, zendesk.base_url, zendesk.auth, zendesk.timeout);
    match operator::setup_zendesk(&client, url, dry_run).await {
        Ok(report) => {
            let w = &report.webhook;
            let what = match report.action {
                SetupAction::Created => "created",
                SetupAction::Updated => "updated",
                SetupAction::Unchanged => "unchanged:",
                SetupAction::WouldCreate => "dry run: would create",
                SetupAction::WouldUpdate => "dry run: would update",
            };
            println!("{what} webhook `{}` {} -> {}", w.name, w.id, w.endpoint);
            println!("  subscribed to: {}", w.subscriptions.join(", "));
            match &report.secret {
                // Printing the secret is this command's purpose; it never goes to the log.
                Some(secret) => println!(
                    "\nPut this in the bridge's environment:\nZENDESK_WEBHOOK_SECRET={}",
                    secret.expose()
                ),
                None => println!("\n(the signing secret exists once the webhook is created)"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("setup-zendesk failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn jobs() -> ExitCode {
    let parts = match components().await {
        Ok(p) => p,
        Err(code) => return code,
    };
    match operator::jobs_report(&parts.store).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot read the job queue: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    let config = match config() {
        Ok(c) => c,
        Err(code) => return code,
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
