//! The `siyu` command: serve the platform, seed demo data, administer workspaces, users and keys,
//! import, check the configuration, and benchmark. Every command accepts `--config`, `--data-dir` and
//! `--database-url` (docs/CONFIG.md).

use anyhow::Context;
use clap::{Parser, Subcommand};
use siyu::config::{Flag, OutputFormat, Sources};
use siyu::{App, bench, demo};
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use std::io::Read;
use std::path::PathBuf;

// The bulk write path allocates many small strings and JSON values; glibc malloc took about a
// quarter of its CPU time in profiles, mimalloc far less (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// siyu: the private-domain operations platform (私域运营平台).
#[derive(Parser)]
#[command(name = "siyu", version, about, propagate_version = true)]
struct Cli {
    /// Configuration file (TOML, see docs/CONFIG.md) [env: SIYU_CONFIG] [default: siyu.toml in the
    /// data dir, if there is one].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Directory holding the SQLite database and the master key file [env: SIYU_DATA_DIR] [default:
    /// ./siyu-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use this database instead of the embedded SQLite file (postgres://… or sqlite:PATH) [env:
    /// SIYU_DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Returns what the configuration is read from: `--config`, the environment and the flags
    /// that set keys (the defaults and the flag-less keys live in `siyu::config`).
    fn config_sources(&self) -> Sources {
        let mut flags = Vec::new();
        let mut flag = |name, key, value: Option<String>| {
            if let Some(value) = value {
                flags.push(Flag { name, key, value });
            }
        };
        flag("--data-dir", "data_dir", self.data_dir.as_ref().map(|d| d.to_string_lossy().into_owned()));
        flag("--database-url", "database.url", self.database_url.clone());
        if let Command::Serve { addr, public_url, .. } = &self.command {
            flag("--addr", "http.addr", addr.clone());
            flag("--public-url", "http.public_url", public_url.clone());
        }
        let env = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.to_string_lossy().into_owned())))
            .collect();
        Sources { config_file: self.config.clone(), env, flags }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serves the API and console; GET /healthz answers 200 when ready, with the background workers' states.
    Serve {
        /// Address to listen on [env: SIYU_ADDR] [default: 127.0.0.1:8080].
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// Create or refresh the demo workspace before serving.
        #[arg(long)]
        demo: bool,
        /// Customers in the demo workspace (with --demo).
        #[arg(long, default_value_t = 20_000)]
        demo_customers: u64,
        /// Public base URL used in links [env: SIYU_PUBLIC_URL] [default: http://ADDR].
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
    /// Creates or refreshes the demo workspace (slug `demo`, a tea-drink brand).
    Demo {
        /// Number of customers.
        #[arg(long, default_value_t = 20_000)]
        customers: u64,
        /// Random seed (same seed, same customers).
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Applies pending database migrations.
    Migrate,
    /// Manages workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manages console users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manages API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Imports data.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Exports data.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Answers analytics queries: funnel, retention, rfm, segmentation, paths and kpi.
    #[command(subcommand)]
    Query(siyu::query::QueryCommand),
    /// Customer models: RFM classes, lifecycle, tiers, recall list, health, LTV (BG/NBD + Gamma-Gamma).
    #[command(subcommand)]
    Model(siyu::model::ModelCommand),
    /// A customer's data under PIPL: export it as JSON, or erase the customer.
    #[command(subcommand)]
    Customer(siyu::customer::CustomerCommand),
    /// Segments: create from the segment language, preview, show, members.
    #[command(subcommand)]
    Segment(siyu::segment::SegmentCommand),
    /// Lotteries: verify every draw of a closed lottery from its audit.
    #[command(subcommand)]
    Lottery(siyu::lottery::LotteryCommand),
    /// WeCom tools: check and open a callback by hand.
    #[command(subcommand)]
    Wecom(siyu::wecom::WecomCommand),
    /// Checks the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Prints the OpenAPI 3.1 document of the admin API.
    Openapi,
    /// Measures performance (see docs/BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Prints the effective configuration (secrets redacted) and the layers it came from; fails,
    /// naming the key, when it is invalid. Opens no database.
    Check {
        /// toml or json.
        #[arg(long, value_enum, default_value = "toml")]
        format: OutputFormat,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Creates a workspace.
    Create {
        /// URL-safe name, e.g. `chayu`.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// IANA time zone.
        #[arg(long, default_value = "Asia/Shanghai")]
        tz: String,
        /// ISO 4217 currency.
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Adds a user to a workspace with a role; creates the account with the password when the e-mail
    /// has none (an existing account keeps its password: see `user reset-password`).
    Add {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Role: owner, operator, analyst, cs_agent or auditor.
        #[arg(long, default_value = "owner")]
        role: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Password of a new account; read from standard input when omitted.
        #[arg(long, env = "SIYU_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Sets an account's password and ends its sessions (for the server's operator, e.g. a forgotten
    /// password; over HTTP nobody can set another person's password).
    ResetPassword {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// New password; read from standard input when omitted.
        #[arg(long, env = "SIYU_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// Returns the password given, or the first line of standard input.
fn password_or_stdin(password: Option<String>) -> anyhow::Result<String> {
    Ok(match password {
        Some(password) => password,
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
    })
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Creates an API key and prints it on stdout (shown only once).
    Create {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// `secret` (admin API) or `write` (event ingestion).
        #[arg(long)]
        kind: String,
        /// Role of a secret key.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Label.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Exports a workspace's events as Parquet or NDJSON (Segment messages).
    Events {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// parquet or ndjson.
        #[arg(long, value_enum)]
        format: siyu::event_export::ExportFormat,
        /// Output file (NDJSON goes to stdout without it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Imports events from a Parquet, CSV or NDJSON file (layout in docs/EVENTS.md), with a progress bar.
    Events {
        /// .parquet, .csv or .ndjson file.
        file: PathBuf,
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
    },
    /// Imports customers from a CSV file (layout in docs/IMPORT.md).
    Customers {
        /// CSV file.
        file: PathBuf,
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIYU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only on a terminal: a log redirected to a file or a pipe gets no escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    siyu_channels::tls::install_crypto_provider();
    let cli = Cli::parse();
    let loaded = siyu::config::load(&cli.config_sources())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let config = &loaded.config;
    match cli.command {
        Command::Serve { demo: with_demo, demo_customers, .. } => {
            serve(config, with_demo.then_some(demo_customers)).await
        }
        Command::Demo { customers, seed } => {
            let app = App::build(config).await?;
            let summary = demo::run(app.services(), customers, seed, true).await?;
            println!("demo workspace \"{}\": {} customers in {:.1} s", demo::SLUG, summary.customers, summary.seconds);
            println!("console: http://127.0.0.1:8080/  (after `siyu serve`)");
            for (email, _, role) in demo::USERS {
                println!("  {:<9} {email}", role.as_str());
            }
            println!("  (the demo password is in README.md)");
            Ok(())
        }
        Command::Migrate => {
            App::build(config).await?;
            println!("migrations applied to {}", config.database_url());
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Create { slug, name, tz, currency }) => {
            let app = App::build(config).await?;
            let new = NewWorkspace::parse(&slug, name.as_deref(), Some(&tz), Some(&currency))?;
            let ws = app.services().access.create_workspace(&new).await?;
            println!("created workspace {} (id {}, {}, {})", ws.slug, ws.id, ws.time_zone, ws.currency);
            Ok(())
        }
        Command::User(command) => user(config, command).await,
        Command::Key(KeyCommand::Create { workspace, kind, role, name }) => {
            let app = App::build(config).await?;
            let kind = KeyKind::parse(&kind)
                .with_context(|| format!("unknown key kind \"{kind}\"; expected secret or write"))?;
            let role = Role::parse(&role).with_context(|| format!("unknown role \"{role}\""))?;
            let ws = app.services().access.workspace_by_slug(&workspace).await?;
            let (_, token) = app.services().access.create_key(&Principal::cli(ws.id), kind, role, &name).await?;
            println!("{token}");
            Ok(())
        }
        Command::Import(command) => import(config, command).await,
        Command::Export(ExportCommand::Events { workspace, format, out }) => {
            let app = App::build(config).await?;
            let ws = app.services().access.workspace_by_slug(&workspace).await?;
            let bar = spinner("{spinner} {pos} events {per_sec}");
            let progress = bar.clone();
            let count =
                siyu::event_export::export(app.services(), &Principal::cli(ws.id), format, out.as_deref(), move |n| {
                    progress.set_position(n)
                })
                .await?;
            bar.finish_and_clear();
            eprintln!("exported {count} events");
            Ok(())
        }
        Command::Query(command) => {
            let app = App::build(config).await?;
            siyu::query::run(app.services(), command).await
        }
        Command::Model(command) => {
            if command.needs_workspace() {
                let app = App::build(config).await?;
                siyu::model::run(command, Some(app.services())).await
            } else {
                siyu::model::run(command, None).await
            }
        }
        Command::Customer(command) => {
            let app = App::build(config).await?;
            siyu::customer::run(app.services(), command).await
        }
        Command::Segment(command) => {
            let app = App::build(config).await?;
            siyu::segment::run(app.services(), command).await
        }
        Command::Config(ConfigCommand::Check { format }) => {
            print!("{}", loaded.render(format)?);
            Ok(())
        }
        Command::Lottery(command) => match siyu::lottery::run(command) {
            0 => Ok(()),
            status => std::process::exit(status),
        },
        Command::Wecom(command) => match siyu::wecom::run(command) {
            Ok(message) => {
                println!("{message}");
                Ok(())
            }
            Err(reason) => {
                eprintln!("error: {reason}");
                std::process::exit(2);
            }
        },
        Command::Openapi => {
            println!("{}", siyu_web::api::openapi_json());
            Ok(())
        }
        Command::Bench(command) => bench::run(command, config).await,
    }
}

/// `siyu serve [--demo]`: builds the app (with the demo brand's `demo` customers first, if asked),
/// listens on `http.addr` and serves until Ctrl-C.
async fn serve(config: &siyu::config::Config, demo_customers: Option<u64>) -> anyhow::Result<()> {
    let addr = &config.http.addr;
    let app = App::build(config).await?;
    if let Some(customers) = demo_customers {
        let summary = demo::run(app.services(), customers, 7, true).await?;
        eprintln!("demo workspace ready: {} customers in {:.1} s", summary.customers, summary.seconds);
    }
    let listener = tokio::net::TcpListener::bind(addr.as_str())
        .await
        .with_context(|| format!("cannot listen on {addr} (http.addr)"))?;
    let bound = listener.local_addr()?;
    eprintln!("siyu is serving on http://{bound}  (console: http://{bound}/ , API docs: http://{bound}/api/docs)");
    if demo_customers.is_some() {
        // The demo password is documented in the README; logs should never carry passwords.
        eprintln!("log in as {} (the demo password is in README.md)", demo::USERS[0].0);
    }
    app.serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// `siyu user add|reset-password`.
async fn user(config: &siyu::config::Config, command: UserCommand) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    match command {
        UserCommand::Add { workspace, email, role, name, password } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role \"{role}\"; expected owner, operator, analyst, cs_agent or auditor")
            })?;
            let password = password_or_stdin(password)?;
            let ws = app.services().access.workspace_by_slug(&workspace).await?;
            let id = app.services().access.add_user(ws.id, &email, &name, &password, role).await?;
            println!("user {email} (id {id}) is {} of {workspace}", role.as_str());
        }
        UserCommand::ResetPassword { email, password } => {
            let password = password_or_stdin(password)?;
            let id = app.services().access.reset_password(&email, &password).await?;
            println!("password of {email} (id {id}) set; their sessions have ended");
        }
    }
    Ok(())
}

/// `siyu import customers|events`: prints the report as JSON, and exits with 2 when rows failed.
async fn import(config: &siyu::config::Config, command: ImportCommand) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let (failed, report) = match command {
        ImportCommand::Customers { file, workspace } => {
            let ws = app.services().access.workspace_by_slug(&workspace).await?;
            let reader = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let bar = spinner("{spinner} {pos} rows {per_sec}");
            let progress = bar.clone();
            let report = app
                .services()
                .customers
                .import_customers(&Principal::cli(ws.id), std::io::BufReader::new(reader), move |rows| {
                    progress.set_position(rows)
                })
                .await?;
            bar.finish_and_clear();
            (report.failed, serde_json::to_string_pretty(&report)?)
        }
        ImportCommand::Events { file, workspace } => {
            let ws = app.services().access.workspace_by_slug(&workspace).await?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} events [{bar:40}] {percent}% {elapsed} eta {eta}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            // Senders are resolved before the first row is counted: keep the spinner and clock moving.
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
            let started = std::time::Instant::now();
            let progress = bar.clone();
            let report =
                siyu::event_import::import(app.services(), &Principal::cli(ws.id), &file, move |done, total| {
                    if let Some(total) = total {
                        progress.set_length(total);
                    }
                    progress.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            eprintln!("imported {} events in {:.1} s", report.imported, started.elapsed().as_secs_f64());
            (report.failed, serde_json::to_string_pretty(&report)?)
        }
    };
    println!("{report}");
    if failed > 0 {
        std::process::exit(2);
    }
    Ok(())
}

/// A spinner with a count, for work whose total is not known up front.
fn spinner(template: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("static template"));
    bar
}
