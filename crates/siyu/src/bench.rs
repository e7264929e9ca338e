//! `siyu bench`: end-to-end measurements over HTTP against a real server (see docs/BENCHMARKS.md).

use crate::{App, Config, demo};
use anyhow::Context;
use clap::Subcommand;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use siyu_domain::access::{Principal, Role};
use siyu_domain::api_keys::KeyKind;
use siyu_domain::workspaces::NewWorkspace;
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
    let ws = match services.workspace_by_slug(slug).await {
        Ok(ws) => ws,
        Err(_) => services.create_workspace(&NewWorkspace::parse(slug, None, None, None)?).await?,
    };
    let (_, token) = services.create_key(&Principal::cli(ws.id), KeyKind::Secret, role, "bench").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(app.serve(listener, std::future::pending()));
    Ok((base, token, services))
}

/// Runs a benchmark and prints its results.
pub async fn run(command: BenchCommand, config: &Config) -> anyhow::Result<()> {
    println!("backend: {}", config.backend.describe());
    match command {
        BenchCommand::Upsert { customers, batch, concurrency } => {
            let (base, token, _) = start(config, "bench-upsert", Role::Owner).await?;
            let client = reqwest::Client::new();
            let salt: u64 = rand::random::<u32>() as u64 * 10_000_000;
            let bodies: Vec<String> = {
                (0..customers.div_ceil(batch))
                    .map(|b| {
                        let items: Vec<_> = (b * batch..((b + 1) * batch).min(customers))
                            .map(|i| demo::customer(salt, salt + i))
                            .map(|c| json!({"identities": c.identities, "traits": c.traits}))
                            .collect();
                        json!({ "customers": items }).to_string()
                    })
                    .collect()
            };
            let bar = indicatif::ProgressBar::new(customers);
            let started = Instant::now();
            let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies.into_iter()));
            let mut workers = Vec::new();
            for _ in 0..concurrency {
                let (client, base, token, queue, bar) =
                    (client.clone(), base.clone(), token.clone(), queue.clone(), bar.clone());
                workers.push(tokio::spawn(async move {
                    loop {
                        let next = queue.lock().expect("queue lock").next();
                        let Some(body) = next else { return anyhow::Ok(()) };
                        let response = client
                            .post(format!("{base}/api/v1/customers/batch"))
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await?;
                        let status = response.status();
                        let answer: serde_json::Value = response.json().await?;
                        anyhow::ensure!(
                            status.is_success() && answer["rejected"] == 0,
                            "batch failed: {status} {answer}"
                        );
                        bar.inc(answer["accepted"].as_u64().unwrap_or(0));
                    }
                }));
            }
            for worker in workers {
                worker.await??;
            }
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
            let have = match services.workspace_by_slug(demo::SLUG).await {
                Ok(ws) => services.customer_count(&Principal::cli(ws.id)).await?,
                Err(_) => 0,
            };
            if (have as u64) < customers {
                println!("populating {customers} demo customers …");
                let summary = demo::run(&services, customers, 7, true).await?;
                println!("demo: {} customers in {:.1} s", summary.customers, summary.seconds);
            }
            let (base, token, _) = start(config, demo::SLUG, role).await?;
            let client = reqwest::Client::new();
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
