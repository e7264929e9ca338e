//! `siyu bench`: end-to-end measurements over HTTP against a real server (see docs/BENCHMARKS.md).

mod baseline;
mod coupons;
mod flash_sale;
mod journeys;
mod lottery;
mod timers;

use crate::{App, Config, demo};
use anyhow::Context;
use axum::body::Bytes;
use clap::Subcommand;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use std::time::Instant;

/// The benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Customer upsert through POST /api/v1/customers/batch.
    Upsert {
        /// Customers to write.
        #[arg(long, default_value_t = 200_000)]
        customers: u64,
        /// Customers per request.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
        /// Concurrent requests.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Lookup by phone through GET /api/v1/customers?identity=phone:… on a populated workspace.
    Lookup {
        /// Customers to populate first (skipped when the bench workspace already has them).
        #[arg(long, default_value_t = 1_000_000)]
        customers: u64,
        /// Lookups to time.
        #[arg(long, default_value_t = 20_000)]
        lookups: u64,
        /// Role of the API key: `analyst` sees masked data (no audit write); `owner` reads personal
        /// data unmasked, so every lookup also commits an audit entry.
        #[arg(long, default_value = "analyst")]
        role: String,
    },
    /// Event ingestion over HTTP through /v1/batch: sends the same batches first to a bare baseline
    /// (parse, append to a file, fsync in groups), then to `siyu serve` started as a separate
    /// process on the same store — the first events of new users (profiles created), then events
    /// of known users — and reports events acknowledged (durable) per second and siyu's ratio to
    /// the baseline for each phase.
    Ingest {
        /// Events to send in the timed phase.
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        /// Distinct users (profiles) the events come from.
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        /// Events per request.
        #[arg(long, default_value_t = 500)]
        batch: u64,
        /// Concurrent requests.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Imports a Parquet file of events (gen_events.py layout) into workspace `bench-analytics`
    /// (skipped when it already holds events), builds the index from the log, then times the
    /// funnel, weekly retention and RFM queries of scripts/reference/anchors.py in UTC, then the
    /// built-in models of every customer and the LTV fit on the workspace's orders.
    Analytics {
        /// The Parquet file.
        #[arg(long)]
        parquet: std::path::PathBuf,
        /// Runs per query; best and median are printed.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Full evaluation of a five-condition segment (tag, two traits, two event windows) over the
    /// `bench-analytics` workspace (imported from the Parquet file when empty); the first run gives
    /// `--profiles` of its customers a city, a level and every tenth the VIP tag.
    Segments {
        /// The Parquet file.
        #[arg(long)]
        parquet: std::path::PathBuf,
        /// Customers (user ids 0..N of the file) given traits and tags.
        #[arg(long, default_value_t = 1_000_000)]
        profiles: u64,
        /// Evaluations; best and median are printed.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Durable timers fired by the shared runner while events arrive over HTTP at `--rate`: first
    /// the same-run reference (claiming and deleting as many rows of a bare table in batched
    /// transactions on the same backend), then `--timers` timers due over `--over` seconds (their
    /// lateness), as many due at once (executions per second, and the ratio to the reference), and
    /// with `--nodes 2` one window shared by two siyu processes on the same database (no timer run
    /// twice; PostgreSQL).
    Timers {
        /// Timers per run.
        #[arg(long, default_value_t = 1_000_000)]
        timers: u64,
        /// Seconds over which the on-time run's timers come due.
        #[arg(long, default_value_t = 60)]
        over: u64,
        /// Events per second sent meanwhile.
        #[arg(long, default_value_t = 50_000)]
        rate: u64,
        /// Timers claimed per transaction.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// siyu processes sharing a last run (2 on PostgreSQL; 1 skips it).
        #[arg(long, default_value_t = 1)]
        nodes: usize,
    },
    /// Journeys at scale: `--customers` enter a journey through a segment trigger (wait → branch on
    /// a consent segment → marketing message over the webhook channel to a receiver in another
    /// process that checks signatures, repeats, consent and quiet hours) while events arrive over
    /// HTTP at `--rate`; first the same-run reference (as many state rows claimed, updated and
    /// appended to an outbox in batched transactions on the same database). Prints
    /// `executions_per_s`, `lateness_p99_ms`, `delivered`, `duplicates`, `without_consent`,
    /// `in_quiet_hours`, `baseline_per_s`, one a line.
    Journeys {
        /// Customers entering.
        #[arg(long, default_value_t = 1_000_000)]
        customers: u64,
        /// The journey's wait (`1m`, `5m`, …).
        #[arg(long, default_value = "1m")]
        wait: String,
        /// Events per second sent meanwhile.
        #[arg(long, default_value_t = 50_000)]
        rate: u64,
        /// State rows per transaction of the reference.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// siyu processes running the journey together (above 1 on PostgreSQL only).
        #[arg(long, default_value_t = 1)]
        nodes: usize,
    },
    /// A flash sale bought over HTTP by many customers at once (the server in its own process),
    /// beside the Redis + Lua reference with the same stock, customers, attempts and connections.
    /// Prints `attempts_per_s`, `sold`, `buyers`, `second_purchases`, `reference_per_s` and the ratio.
    FlashSale {
        /// Units for sale.
        #[arg(long, default_value_t = 1_000)]
        stock: i64,
        /// Distinct customers trying.
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        /// Purchase attempts in all (each by a random customer).
        #[arg(long, default_value_t = 300_000)]
        attempts: u64,
        /// Connections sending at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// A bulk coupon issue to a segment of N customers, from the request to the last batch, beside
    /// a bare insert of as many rows. Prints `issued`, `seconds`, `coupons_per_s` and the ratio.
    Coupons {
        /// Customers in the segment.
        #[arg(long, default_value_t = 1_000_000)]
        customers: u64,
    },
    /// Lottery draws over HTTP by many customers at once (the server in its own process), beside
    /// one-row transactions committed one after another. Prints `draws_per_s`, `over_awarded` and
    /// the ratio.
    Lottery {
        /// Distinct customers drawing.
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        /// Draws in all (each by a random customer).
        #[arg(long, default_value_t = 100_000)]
        draws: u64,
        /// Connections sending at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Another node of `bench journeys --nodes N` (started by it).
    #[command(hide = true)]
    JourneysNode {
        /// Where to write what it measured.
        #[arg(long)]
        report: std::path::PathBuf,
        /// It stops once this file exists.
        #[arg(long)]
        stop: std::path::PathBuf,
    },
    /// The receiver of `bench journeys` (started by it).
    #[command(hide = true)]
    JourneysReceiver {
        /// Where to write its address.
        #[arg(long)]
        port_file: std::path::PathBuf,
        /// Customers without consent, one id a line.
        #[arg(long)]
        no_consent: std::path::PathBuf,
        /// The workspace's time zone (for quiet hours).
        #[arg(long)]
        tz: String,
    },
    /// One process of `bench timers --nodes N` (started by it).
    #[command(hide = true)]
    TimersNode {
        /// Where to write the ids of the timers it fired.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Incremental segment membership under ingest load: a segment over event windows is kept on
    /// the `bench-analytics` workspace (imported from the Parquet file when empty) while events of
    /// its customers are appended at `--rate` events/s; prints the latency from each append to its
    /// memberships being updated (and entries/exits recorded).
    Membership {
        /// The Parquet file.
        #[arg(long)]
        parquet: std::path::PathBuf,
        /// Events appended per second.
        #[arg(long, default_value_t = 50_000)]
        rate: u64,
        /// Seconds of load.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Events per append.
        #[arg(long, default_value_t = 500)]
        batch: u64,
        /// Events the index's delta holds before it is folded into the base (at least; default
        /// 1,000,000 or 1/32 of the base). A large value holds folds off, to see their share.
        #[arg(long)]
        fold_events: Option<usize>,
    },
}

/// How a load generator authenticates.
enum Auth {
    /// A secret key as a Bearer token (admin API).
    Bearer(String),
    /// A write key as the Basic user name (Tracking API).
    Basic(String),
}

/// Sends every body to `url` with `concurrency` requests in flight; `accepted` reads how many items
/// an answer accepted, or `None` when it refused any. Returns the items acknowledged.
async fn send_all(
    url: &str,
    auth: Auth,
    bodies: Vec<Bytes>,
    concurrency: usize,
    bar: &indicatif::ProgressBar,
    accepted: fn(&serde_json::Value) -> Option<u64>,
) -> anyhow::Result<u64> {
    let client = crate::http_client().build()?;
    let auth = std::sync::Arc::new(auth);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies.into_iter()));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, auth, queue, bar) =
            (client.clone(), url.to_string(), auth.clone(), queue.clone(), bar.clone());
        workers.push(tokio::spawn(async move {
            let mut acknowledged = 0u64;
            loop {
                let next = queue.lock().expect("queue lock").next();
                let Some(body) = next else { return anyhow::Ok(acknowledged) };
                let request = client.post(&url).header("content-type", "application/json").body(body);
                let request = match auth.as_ref() {
                    Auth::Bearer(token) => request.bearer_auth(token),
                    Auth::Basic(key) => request.basic_auth(key, Some("")),
                };
                let response = request.send().await?;
                let status = response.status();
                let answer: serde_json::Value = response.json().await?;
                match accepted(&answer).filter(|_| status.is_success()) {
                    Some(n) => {
                        acknowledged += n;
                        bar.inc(n);
                    }
                    None => {
                        let mut text = answer.to_string();
                        text.truncate(600);
                        anyhow::bail!("batch failed: {status} {text}");
                    }
                }
            }
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await??;
    }
    Ok(total)
}

/// Accepted items of a Tracking API batch answer, if none was refused.
fn tracking_accepted(answer: &serde_json::Value) -> Option<u64> {
    answer["rejected"].as_array().filter(|r| r.is_empty()).and(answer["accepted"].as_u64())
}

fn event_bodies(first: u64, events: u64, users: u64, batch: u64, seed: u64, run: &str) -> Vec<Bytes> {
    const NAMES: [&str; 6] =
        ["Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Message Opened", "Coupon Applied"];
    let mut rng = StdRng::seed_from_u64(seed);
    let start = jiff::Timestamp::from_second(1_767_571_200).expect("valid instant");
    (first..first + events)
        .step_by(batch as usize)
        .map(|b| {
            let items: Vec<serde_json::Value> = (b..(b + batch).min(first + events))
                .map(|i| {
                    let name = NAMES[rng.random_range(0..NAMES.len())];
                    let at = start + jiff::SignedDuration::from_secs(i as i64 % 15_000_000);
                    let mut item = json!({
                        "type": "track",
                        "userId": format!("user-{}", if first == 0 && events == users { i } else { rng.random_range(0..users) }),
                        "event": name,
                        "messageId": format!("{run}-{i}"),
                        "timestamp": at.to_string(),
                        "properties": {"sku": format!("tea-{}", rng.random_range(0..200))},
                        "context": {"library": {"name": "siyu-bench", "version": "1"}, "ip": "10.0.0.1"},
                    });
                    if name == "Order Completed" {
                        item["properties"]["revenue"] = json!((rng.random_range(1_800..9_000) as f64) / 100.0);
                    }
                    item
                })
                .collect();
            Bytes::from(json!({ "batch": items }).to_string())
        })
        .collect()
}

/// siyu's share of the baseline's rate that issue 13 asks for: new senders (profiles created) and
/// known senders.
const NEW_SENDERS_TARGET: f64 = 0.25;
const KNOWN_SENDERS_TARGET: f64 = 0.5;

/// How many times each phase of the ingest baseline runs (its median counts).
const BASELINE_RUNS: usize = 3;

/// The median of `rates` (sorted in place).
fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn rates_text(rates: &[f64]) -> String {
    rates.iter().map(|rate| format!("{rate:.0}")).collect::<Vec<_>>().join(", ")
}

/// Sends `bodies` to `url` as the Tracking API's batches; returns the events acknowledged and the
/// seconds taken.
async fn timed_ingest(
    url: &str,
    key: &str,
    bodies: Vec<Bytes>,
    events: u64,
    concurrency: usize,
) -> anyhow::Result<(u64, f64)> {
    let bar = indicatif::ProgressBar::new(events);
    let started = Instant::now();
    let acknowledged =
        send_all(url, Auth::Basic(key.to_string()), bodies, concurrency, &bar, tracking_accepted).await?;
    bar.finish_and_clear();
    Ok((acknowledged, started.elapsed().as_secs_f64()))
}

/// Prints siyu's rate beside the baseline's, the ratio and whether it meets `target`.
fn print_ratio(phase: &str, siyu: f64, baseline: f64, target: f64) {
    let ratio = siyu / baseline;
    let verdict = if ratio >= target { "met" } else { "not met" };
    println!(
        "{phase:14} siyu {siyu:9.0} events/s   baseline {baseline:9.0} events/s   ratio {ratio:5.2}   target >= {target}: {verdict}"
    );
}

async fn bench_ingest(config: &Config, events: u64, users: u64, batch: u64, concurrency: usize) -> anyhow::Result<()> {
    let key = {
        let app = App::build(config).await?;
        let services = app.services();
        let ws = match services.access.workspace_by_slug("bench-ingest").await {
            Ok(ws) => ws,
            Err(_) => {
                services.access.create_workspace(&NewWorkspace::parse("bench-ingest", None, Some("UTC"), None)?).await?
            }
        };
        services.access.create_key(&Principal::cli(ws.id), KeyKind::Write, Role::Operator, "bench").await?.1
    };
    let run = format!("r{}", rand::random::<u32>());
    let signups = event_bodies(0, users, users, batch, 1, &format!("{run}-signup"));
    let known = event_bodies(users, events, users, batch, 2, &run);
    let shape = format!("batch {batch}, {concurrency} in flight");

    // The baseline first, alone on the machine, then siyu: the same bodies, the same sender. The
    // baseline's file lies in the data directory, on the same file system as siyu's event log.
    // Each baseline phase runs BASELINE_RUNS times and its median rate counts: a phase of a
    // fraction of a second (the first events of 100,000 users) varies by a third from run to run.
    let baseline = baseline::Baseline::start(&config.data_dir.join("bench-ingest-baseline.ndjson"))?;
    let mut rates = Vec::with_capacity(BASELINE_RUNS);
    for _ in 0..BASELINE_RUNS {
        let (_, seconds) = timed_ingest(&baseline.url, &key, signups.clone(), users, concurrency).await?;
        rates.push(users as f64 / seconds);
    }
    let baseline_new = median(&mut rates);
    println!(
        "baseline: first events of {users} users: {baseline_new:.0} events/s (median of {BASELINE_RUNS} runs: {})",
        rates_text(&rates)
    );
    let fsyncs = baseline.fsyncs();
    let mut rates = Vec::with_capacity(BASELINE_RUNS);
    let mut acknowledged = 0;
    for _ in 0..BASELINE_RUNS {
        let seconds;
        (acknowledged, seconds) = timed_ingest(&baseline.url, &key, known.clone(), events, concurrency).await?;
        rates.push(acknowledged as f64 / seconds);
    }
    let baseline_known = median(&mut rates);
    println!(
        "baseline: {acknowledged} further events acknowledged (fsync'd): {baseline_known:.0} events/s (median of \
         {BASELINE_RUNS} runs: {}; {shape}, {:.1} requests per fsync)",
        rates_text(&rates),
        (known.len() * BASELINE_RUNS) as f64 / (baseline.fsyncs() - fsyncs).max(1) as f64
    );
    baseline.stop().await?;

    let server = ChildServer::start(config).await?;
    let url = format!("{}/v1/batch", server.base);
    let result = async {
        let (_, seconds) = timed_ingest(&url, &key, signups, users, concurrency).await?;
        let siyu_new = users as f64 / seconds;
        println!("first events of {users} new users (profiles created): {seconds:.2} s = {siyu_new:.0} events/s");
        let (acknowledged, seconds) = timed_ingest(&url, &key, known, events, concurrency).await?;
        let siyu_known = acknowledged as f64 / seconds;
        println!(
            "ingest: {acknowledged} events of known users acknowledged (durable) in {seconds:.2} s = \
             {siyu_known:.0} events/s ({shape}, server in its own process)"
        );
        print_ratio("new senders", siyu_new, baseline_new, NEW_SENDERS_TARGET);
        print_ratio("known senders", siyu_known, baseline_known, KNOWN_SENDERS_TARGET);
        anyhow::Ok(())
    }
    .await;
    drop(server);
    result
}

/// `siyu serve` in a child process on an ephemeral port, killed when dropped.
struct ChildServer {
    child: std::process::Child,
    /// Its base URL.
    base: String,
}

impl ChildServer {
    /// Starts the server and waits (at most a minute) until it answers `/healthz`.
    async fn start(config: &Config) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = siyu_process(config)?;
        command.args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stderr(std::process::Stdio::null());
        let server =
            Self { child: command.spawn().context("starting siyu serve")?, base: format!("http://127.0.0.1:{port}") };
        let client = crate::http_client().build()?;
        let ready = Instant::now();
        while client.get(format!("{}/healthz", server.base)).send().await.is_err() {
            anyhow::ensure!(ready.elapsed().as_secs() < 60, "the server did not start");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(server)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This binary as a child process on this command's data directory, database and master key:
/// passed under the nested names, which win over any inherited variables (the environment, unlike
/// arguments, is not shown to other users by `ps`).
fn siyu_process(config: &Config) -> anyhow::Result<std::process::Command> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("--data-dir").arg(&config.data_dir);
    if let siyu_store::Backend::Postgres { url, .. } = config.backend() {
        command.env("SIYU_DATABASE__URL", url);
    }
    if let Some(key) = &config.secrets.master_key {
        command.env("SIYU_SECRETS__MASTER_KEY", key.expose());
    }
    Ok(command)
}

/// Times `run` `repeat` times; returns (best, median) seconds and the last answer.
fn timed<T>(repeat: usize, mut run: impl FnMut() -> T) -> (f64, f64, T) {
    let mut times = Vec::with_capacity(repeat);
    let mut answer = run();
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        answer = run();
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2], answer)
}

/// Returns the owner of workspace `bench-analytics`, importing `parquet` into it first when it
/// holds no events.
async fn analytics_workspace(services: &siyu_domain::Services, parquet: &std::path::Path) -> anyhow::Result<Principal> {
    let slug = "bench-analytics";
    let ws = match services.access.workspace_by_slug(slug).await {
        Ok(ws) => ws,
        Err(_) => services.access.create_workspace(&NewWorkspace::parse(slug, None, Some("UTC"), None)?).await?,
    };
    let owner = Principal::cli(ws.id);
    let started = Instant::now();
    let existing = services.events.event_index(&owner).await?;
    if existing.columns.event_count() == 0 {
        let bar = indicatif::ProgressBar::new(0);
        let progress = bar.clone();
        let report = crate::event_import::import(services, &owner, parquet, move |done, total| {
            progress.set_length(total.unwrap_or(0));
            progress.set_position(done);
        })
        .await?;
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "import: {} events ({} senders) in {seconds:.2} s = {:.0} events/s",
            report.imported,
            report.senders,
            report.imported as f64 / seconds
        );
    } else {
        println!("import: skipped, workspace {slug} already holds {} events", existing.columns.event_count());
    }
    Ok(owner)
}

async fn bench_analytics(config: &Config, parquet: &std::path::Path, repeat: usize) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let owner = analytics_workspace(app.services(), parquet).await?;
    let ws = owner.workspace_id();
    // Fresh process states, as after a restart: first without a snapshot (the whole log is read,
    // and a snapshot saved), then with it.
    app.services().stores.events.save_snapshot(ws, Vec::new()).await?;
    drop(app);
    let app = App::build(config).await?;
    let started = Instant::now();
    let index = app.services().events.event_index(&owner).await?;
    println!("index: built from the whole log in {:.2} s (snapshot saved)", started.elapsed().as_secs_f64());
    drop(index);
    drop(app);
    let app = App::build(config).await?;
    let services = app.services();
    let heap_before = status_mib("RssAnon");
    let started = Instant::now();
    let index = services.events.event_index(&owner).await?;
    let build = started.elapsed().as_secs_f64();
    let events = index.columns.event_count();
    println!(
        "restart: index from the snapshot (and the log after it) in {build:.2} s: {events} events, {} customers; \
         columns {:.1} MiB = {:.1} bytes/event (process heap grew {:.0} MiB)",
        index.columns.customer_count(),
        index.columns.heap_bytes() as f64 / 1048576.0,
        index.columns.heap_bytes() as f64 / events.max(1) as f64,
        status_mib("RssAnon") - heap_before
    );
    let steps: Vec<String> =
        ["Signed Up", "Product Added", "Checkout Started", "Order Completed"].map(String::from).to_vec();
    let utc = jiff::tz::TimeZone::UTC;
    // Queries are asked as of the data's end, so their defaults read all of it.
    let data_end = index.columns.time_range().map(|(_, end)| end).unwrap_or_default();
    let all = siyu_domain::events::analytics::Dates::all(data_end);
    let (best, median, funnel) = timed(repeat, || index.funnel(&steps, 7 * 86_400, &Default::default()));
    let funnel = funnel?;
    let counts: Vec<u64> = funnel.steps.iter().map(|s| s.customers).collect();
    println!("funnel     best {:8.2} ms  median {:8.2} ms  {counts:?}", best * 1e3, median * 1e3);
    let (best, median, retention) =
        timed(repeat, || index.retention(&utc, siyu_analytics::Granularity::Week, (None, None), all, &[]));
    println!("retention  best {:8.2} ms  median {:8.2} ms  {} cells", best * 1e3, median * 1e3, retention?.rows.len());
    let (best, median, rfm) = timed(repeat, || index.rfm(None, data_end));
    println!("rfm        best {:8.2} ms  median {:8.2} ms  {} customers", best * 1e3, median * 1e3, rfm?.customers);
    // The built-in models (RFM classes, lifecycle stage, value tier, churn warning and health of
    // every customer) as of the data's end, as the schedule computes them.
    let end = index.columns.time_range().map(|(_, end)| end).unwrap_or_default();
    let as_of = jiff::Timestamp::from_microsecond(end)?;
    drop(index);
    // `run_models` waits for the LTV fit that follows the models in the background; the fit's own
    // time is taken apart.
    let (mut times, mut fits) = (Vec::new(), Vec::new());
    let mut customers = 0;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let computed = services.models.run_models(&owner, Some(as_of)).await?;
        let fit_seconds = computed.ltv_fitted().await.fit_seconds;
        customers = computed.models.customers.len();
        times.push(started.elapsed().as_secs_f64() - fit_seconds);
        fits.push(fit_seconds);
    }
    times.sort_by(f64::total_cmp);
    fits.sort_by(f64::total_cmp);
    println!(
        "models     best {:8.2} ms  median {:8.2} ms  {customers} customers (RFM classes, lifecycle, tier, churn, health)",
        times[0] * 1e3,
        times[times.len() / 2] * 1e3
    );
    let ltv = services.models.ltv_model(&owner).await?;
    println!(
        "ltv        best {:8.2} ms  median {:8.2} ms  fit on {} buyers: {:?}, {} BG/NBD evaluations",
        fits[0] * 1e3,
        fits[fits.len() / 2] * 1e3,
        ltv.customers,
        ltv.status,
        ltv.bgnbd["evaluations"]
    );
    Ok(())
}

async fn bench_segments(
    config: &Config,
    parquet: &std::path::Path,
    profiles: u64,
    repeat: usize,
) -> anyhow::Result<()> {
    use siyu_domain::customers::CustomerInput;
    use siyu_domain::segments::DefinitionInput;
    let app = App::build(config).await?;
    let services = app.services();
    let owner = analytics_workspace(services, parquet).await?;
    if services.customers.tags(&owner).await?.iter().all(|t| t.name != "VIP") {
        services.customers.create_tag_group(&owner, "价值", "consumption_preference").await?;
        services.customers.create_tag(&owner, "价值", "VIP").await?;
        let started = Instant::now();
        let bar = indicatif::ProgressBar::new(profiles);
        const CITIES: [&str; 5] = ["上海", "北京", "广州", "深圳", "杭州"];
        for chunk in (0..profiles).collect::<Vec<_>>().chunks(5_000) {
            let inputs: Vec<CustomerInput> = chunk
                .iter()
                .map(|i| {
                    serde_json::from_value(json!({
                        "identities": [{"type": "user_id", "value": i.to_string()}],
                        "traits": {"city": CITIES[(*i % 5) as usize], "level": i % 10},
                        "tags": if i % 10 == 0 { vec!["VIP"] } else { vec![] },
                    }))
                })
                .collect::<Result<_, _>>()?;
            services.customers.upsert_customers(&owner, inputs, "bench", "").await?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        println!("profiles: {profiles} customers given traits and tags in {:.1} s", started.elapsed().as_secs_f64());
    }
    let index = services.events.event_index(&owner).await?;
    let (start, end) = index.columns.time_range().context("the workspace has no events")?;
    let day = |us: i64| jiff::Timestamp::from_microsecond(us).map(|t| t.to_string());
    let week_ago = day(end - 7 * siyu_analytics::DAY_US)?;
    let (start, end) = (day(start)?, day(end + 1)?);
    drop(index);
    let text = format!(
        "tag(\"VIP\") and trait.city = \"上海\" and trait.level >= 0 \
         and did(\"Order Completed\", between {start} and {end}) \
         and not did(\"Product Added\", between {week_ago} and {end})"
    );
    let input = DefinitionInput { definition: None, text: Some(text.clone()) };
    let started = Instant::now();
    let first = services.segments.preview_segment(&owner, &input).await?;
    println!("segment: {text}");
    println!(
        "first evaluation (reads the profile facts) {:.2} s: {} members",
        started.elapsed().as_secs_f64(),
        first.size
    );
    let mut times = Vec::new();
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let preview = services.segments.preview_segment(&owner, &input).await?;
        times.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(preview.size == first.size, "the size changed between runs");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "evaluation best {:8.2} ms  median {:8.2} ms  ({} customers in the workspace's index)",
        times[0] * 1e3,
        times[times.len() / 2] * 1e3,
        services.events.event_index(&owner).await?.columns.customer_count()
    );
    Ok(())
}

/// Prints p50, p99 and max of latencies in microseconds.
fn print_latencies(what: &str, latencies: &[u64]) -> anyhow::Result<()> {
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
    for us in latencies {
        histogram.record(*us)?;
    }
    println!(
        "{what}: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms over {} batches",
        histogram.value_at_quantile(0.5) as f64 / 1e3,
        histogram.value_at_quantile(0.99) as f64 / 1e3,
        histogram.max() as f64 / 1e3,
        latencies.len()
    );
    Ok(())
}

async fn bench_membership(
    config: &Config,
    parquet: &std::path::Path,
    rate: u64,
    seconds: u64,
    batch: u64,
    fold_events: Option<usize>,
) -> anyhow::Result<()> {
    use siyu_domain::events::{EventKind, NewEvent};
    use siyu_domain::segments::SegmentInput;
    let app = App::build(config).await?;
    let services = app.services().clone();
    if let Some(events) = fold_events {
        services.events.set_index_fold_events(events);
    }
    // The index's folds and the segment upkeep on their workers, as `siyu serve` runs them.
    let mut runner = siyu_jobs::Runner::new(services.clock(), siyu_domain::jobs::WorkerStatuses::default());
    crate::app::spawn_live_workers(&mut runner, &services);
    let owner = analytics_workspace(&services, parquet).await?;
    let index = services.events.event_index(&owner).await?;
    let customers: Vec<i64> = (0..index.columns.customer_count()).map(|u| index.columns.customer_id(u)).collect();
    drop(index);
    let key = "bench-recent-buyers";
    let _ = services.segments.delete_segment(&owner, key).await;
    let text = "did(\"Order Completed\", count >= 2, within 1h) and not did(\"Product Added\", within 5s)";
    let started = Instant::now();
    let input = SegmentInput { key: key.into(), name: None, definition: None, text: Some(text.into()) };
    services.segments.save_segment(&owner, &input, false).await?;
    println!("segment {key}: {text} (created and kept in {:.2} s)", started.elapsed().as_secs_f64());
    services.segments.take_upkeep_latencies(owner.workspace_id()).await;
    // Customers drawn from a hot set of 20,000 (a different one each run, so that they enter
    // afresh), so that they reach two orders and enter, and leave after adding a product.
    let step = (customers.len() / 20_000).max(1);
    let hot: Vec<i64> = customers.iter().skip(rand::random::<u32>() as usize % step).step_by(step).copied().collect();
    let total = rate * seconds;
    let bar = indicatif::ProgressBar::new(total);
    let interval = std::time::Duration::from_secs_f64(batch as f64 / rate as f64);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    let mut n = 0u64;
    // A dashboard open during the load: a query every 10 s (it sees every event, and starts the
    // index's folds when the delta has grown).
    let mut queried = Instant::now();
    while sent < total {
        tick.tick().await;
        if queried.elapsed() >= std::time::Duration::from_secs(10) {
            queried = Instant::now();
            let (services, owner) = (services.clone(), owner.clone());
            tokio::spawn(async move {
                let now_us = services.now().as_microsecond();
                let index = services.events.event_index(&owner).await?;
                index.kpis(&jiff::tz::TimeZone::UTC, None, now_us, &[])
            });
        }
        let now = services.now().as_microsecond();
        let events: Vec<NewEvent> = (0..batch)
            .map(|_| {
                n += 1;
                let customer = hot[(n.wrapping_mul(2_654_435_761) % hot.len() as u64) as usize];
                let name = if n.is_multiple_of(50) { "Product Added" } else { "Order Completed" };
                NewEvent {
                    customer: siyu_core::CustomerId(customer),
                    kind: EventKind::Track,
                    name: name.into(),
                    ts_us: now,
                    received_us: now,
                    message_id: format!("bench-m-{n}"),
                    user_id: customer.to_string(),
                    anonymous_id: String::new(),
                    properties: r#"{"revenue": 39}"#.into(),
                    context: "{}".into(),
                }
            })
            .collect();
        let (services, owner) = (services.clone(), owner.clone());
        in_flight.spawn(async move { services.events.append_events(&owner, &events).await });
        while in_flight.len() > 16 {
            in_flight.join_next().await.context("a task")???;
        }
        sent += batch;
        bar.set_position(sent);
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (updated, recorded) = services.segments.take_upkeep_latencies(owner.workspace_id()).await;
    let members = services.segments.segment_members(&owner, key, siyu_core::PageRequest::first(1)).await?.0;
    println!("ingest: {sent} events in {elapsed:.1} s = {:.0} events/s (batches of {batch})", sent as f64 / elapsed);
    print_latencies("membership updated after an append", &updated)?;
    print_latencies("entries and exits recorded (durable) after an append", &recorded)?;
    println!("{members} members now");
    // Profile changes: a tag added to 200 hot customers, one every 20 ms; each customer is
    // re-evaluated against every segment over its facts read anew and patched into the kept ones.
    let _ = services.customers.create_tag_group(&owner, "bench", "consumption_preference").await;
    let _ = services.customers.create_tag(&owner, "bench", "bench-hot").await;
    services.segments.take_upkeep_latencies(owner.workspace_id()).await;
    for customer in hot.iter().take(200) {
        services
            .customers
            .add_tags(&owner, siyu_core::CustomerId(*customer), &["bench-hot".to_string()], "manual")
            .await?;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (updated, _) = services.segments.take_upkeep_latencies(owner.workspace_id()).await;
    print_latencies("membership updated after a profile change (a tag added)", &updated)?;
    // Trait changes rewrite the trait's column (shared by every evaluation) without the customer.
    for (n, customer) in hot.iter().skip(200).take(100).enumerate() {
        let city = ["上海", "北京", "杭州"][n % 3];
        let input: siyu_domain::customers::CustomerInput = serde_json::from_value(json!({"traits": {"city": city}}))?;
        services.customers.update_customer(&owner, siyu_core::CustomerId(*customer), input).await?;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (updated, _) = services.segments.take_upkeep_latencies(owner.workspace_id()).await;
    print_latencies("membership updated after a profile change (a trait set)", &updated)?;
    // Merges: two customers learnt to be one person (as an identify naming both ids does); their
    // indexed events move to the survivor, and the next query waits for that.
    let mut waits = Vec::new();
    for pair in hot[400..].chunks(2).take(5) {
        let mut identities = Vec::new();
        for id in pair {
            let customer = services.customers.customer(&owner, siyu_core::CustomerId(*id)).await?;
            identities.extend(customer.identities.iter().map(|i| json!({"type": i.kind, "value": i.value})));
        }
        let input: siyu_domain::customers::CustomerInput = serde_json::from_value(json!({"identities": identities}))?;
        let started = Instant::now();
        services.customers.upsert_customer(&owner, input).await?;
        services.events.event_index(&owner).await?;
        waits.push(started.elapsed().as_micros() as u64);
    }
    print_latencies("a merge of two customers until the next query answers with their events joined", &waits)?;
    services.segments.delete_segment(&owner, key).await?;
    runner.shutdown().await;
    Ok(())
}

/// Returns a field of /proc/self/status in MiB (e.g. `RssAnon`: heap; `RssFile`: mapped file pages).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn start(config: &Config, slug: &str, role: Role) -> anyhow::Result<(String, String, siyu_domain::Services)> {
    let app = App::build(config).await?;
    let services = app.services().clone();
    let ws = match services.access.workspace_by_slug(slug).await {
        Ok(ws) => ws,
        Err(_) => services.access.create_workspace(&NewWorkspace::parse(slug, None, None, None)?).await?,
    };
    let (_, token) = services.access.create_key(&Principal::cli(ws.id), KeyKind::Secret, role, "bench").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(app.serve(listener, std::future::pending()));
    Ok((base, token, services))
}

/// Runs a benchmark and prints its results.
pub async fn run(command: BenchCommand, config: &Config) -> anyhow::Result<()> {
    println!("backend: {}", config.database_url());
    match command {
        BenchCommand::Ingest { events, users, batch, concurrency } => {
            bench_ingest(config, events, users, batch, concurrency).await
        }
        BenchCommand::Timers { timers, over, rate, batch, nodes } => {
            timers::bench_timers(config, timers, over, rate, batch, nodes).await
        }
        BenchCommand::TimersNode { out } => timers::timers_node(config, &out).await,
        BenchCommand::Journeys { customers, wait, rate, batch, nodes } => {
            journeys::bench_journeys(config, customers, &wait, rate, batch, nodes).await
        }
        BenchCommand::Lottery { customers, draws, concurrency } => {
            lottery::bench_lottery(config, customers, draws, concurrency).await
        }
        BenchCommand::Coupons { customers } => coupons::bench_coupons(config, customers).await,
        BenchCommand::FlashSale { stock, customers, attempts, concurrency } => {
            flash_sale::bench_flash_sale(config, stock, customers, attempts, concurrency).await
        }
        BenchCommand::JourneysNode { report, stop } => journeys::journeys_node(config, &report, &stop).await,
        BenchCommand::JourneysReceiver { port_file, no_consent, tz } => {
            journeys::receiver(&port_file, &no_consent, &tz).await
        }
        BenchCommand::Analytics { parquet, repeat } => bench_analytics(config, &parquet, repeat).await,
        BenchCommand::Segments { parquet, profiles, repeat } => {
            bench_segments(config, &parquet, profiles, repeat).await
        }
        BenchCommand::Membership { parquet, rate, seconds, batch, fold_events } => {
            bench_membership(config, &parquet, rate, seconds, batch, fold_events).await
        }
        BenchCommand::Upsert { customers, batch, concurrency } => {
            let (base, token, _) = start(config, "bench-upsert", Role::Owner).await?;
            let salt: u64 = rand::random::<u32>() as u64 * 10_000_000;
            let bodies: Vec<Bytes> = {
                (0..customers.div_ceil(batch))
                    .map(|b| {
                        let items: Vec<_> = (b * batch..((b + 1) * batch).min(customers))
                            .map(|i| demo::customer(salt, salt + i))
                            .map(|c| json!({"identities": c.identities, "traits": c.traits}))
                            .collect();
                        Bytes::from(json!({ "customers": items }).to_string())
                    })
                    .collect()
            };
            let bar = indicatif::ProgressBar::new(customers);
            let started = Instant::now();
            let url = format!("{base}/api/v1/customers/batch");
            send_all(&url, Auth::Bearer(token), bodies, concurrency, &bar, |answer| {
                (answer["rejected"] == 0).then(|| answer["accepted"].as_u64().unwrap_or(0))
            })
            .await?;
            bar.finish_and_clear();
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "upsert: {customers} customers in {seconds:.2} s = {:.0} customers/s (batch {batch}, concurrency {concurrency})",
                customers as f64 / seconds
            );
            Ok(())
        }
        BenchCommand::Lookup { customers, lookups, role } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role \"{role}\""))?;
            let app = App::build(config).await?;
            let services = app.services().clone();
            drop(app);
            let have = match services.access.workspace_by_slug(demo::SLUG).await {
                Ok(ws) => services.customers.customer_count(&Principal::cli(ws.id)).await?,
                Err(_) => 0,
            };
            if (have as u64) < customers {
                println!("populating {customers} demo customers …");
                let summary = demo::run(&services, customers, 7, true).await?;
                println!("demo: {} customers in {:.1} s", summary.customers, summary.seconds);
            }
            let (base, token, _) = start(config, demo::SLUG, role).await?;
            let client = crate::http_client().build()?;
            let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
            let mut rng = StdRng::seed_from_u64(99);
            // Rebuild the same phones the generator made, to look up customers that exist.
            for i in 0..lookups {
                let phone = demo::customer(7, rng.random_range(0..customers)).identities[0].value.clone();
                let started = Instant::now();
                let response = client
                    .get(format!("{base}/api/v1/customers"))
                    .query(&[("identity", format!("phone:{phone}"))])
                    .bearer_auth(&token)
                    .send()
                    .await?;
                let body: serde_json::Value = response.json().await?;
                let micros = started.elapsed().as_micros() as u64;
                anyhow::ensure!(
                    body["items"].as_array().map(Vec::len) == Some(1),
                    "lookup {i} of {phone} found {body}"
                );
                histogram.record(micros).context("record latency")?;
            }
            println!(
                "lookup by phone over HTTP as {} ({lookups} lookups, {customers} customers): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                role.as_str(),
                histogram.value_at_quantile(0.5) as f64 / 1000.0,
                histogram.value_at_quantile(0.99) as f64 / 1000.0,
                histogram.max() as f64 / 1000.0
            );
            println!(
                "resident memory: {:.0} MiB heap (RssAnon) + {:.0} MiB mapped database pages (RssFile, reclaimable page cache)",
                status_mib("RssAnon:"),
                status_mib("RssFile:")
            );
            Ok(())
        }
    }
}
