//! `siyu bench flash-sale`: a flash sale bought over HTTP by many customers at once. The server
//! runs in its own process; this process generates the load (each attempt a random customer with
//! their own token and address) and checks the outcome: exactly the stock sold, nobody twice. The
//! reference is the usual Redis + Lua stock deduction driven by `redis-benchmark` on the same
//! machine with the same stock, customers, attempts and connections
//! (`scripts/reference/redis_seckill.sh`).

use super::ChildServer;
use crate::{App, Config};
use rand::{Rng, SeedableRng};
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use siyu_domain::campaigns::{FlashSaleInput, TokenInput};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The reference: Redis + Lua, as `../shared/bench/` has it.
const REDIS_SECKILL: &str = include_str!("../../../../scripts/reference/redis_seckill.sh");

/// What the load generator saw.
#[derive(Default)]
pub(super) struct Seen {
    /// Customer index → 201 answers they got.
    pub(super) bought: HashMap<usize, u64>,
    /// Answers by status and problem type (a 201 by its `outcome`, if it has one).
    pub(super) answers: HashMap<String, u64>,
    /// Latency of each attempt, µs.
    pub(super) latencies: Vec<u64>,
}

/// Sends `attempts` POSTs to `url` over `concurrency` connections, each by a random customer with
/// their token and an address of their own (as a proxy on this host reports it); returns what came
/// back and the seconds it took.
pub(super) async fn hammer(
    client: &reqwest::Client,
    url: &str,
    tokens: Vec<String>,
    attempts: u64,
    concurrency: usize,
) -> anyhow::Result<(Seen, f64)> {
    let tokens = Arc::new(tokens);
    let left = Arc::new(AtomicU64::new(attempts));
    let bar = indicatif::ProgressBar::new(attempts);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, tokens, left, bar) =
            (client.clone(), url.to_string(), tokens.clone(), left.clone(), bar.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut rng = rand::rngs::StdRng::from_os_rng();
            while left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                let customer = rng.random_range(0..tokens.len());
                let address = format!("10.{}.{}.{}", customer >> 16 & 255, customer >> 8 & 255, customer & 255);
                let sent = Instant::now();
                let response =
                    client.post(&url).bearer_auth(&tokens[customer]).header("x-forwarded-for", address).send().await?;
                let status = response.status().as_u16();
                let body = response.bytes().await?;
                seen.latencies.push(sent.elapsed().as_micros() as u64);
                let text = String::from_utf8_lossy(&body);
                let field =
                    |after: &str| text.split(after).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_string);
                let kind = if status == 201 {
                    *seen.bought.entry(customer).or_default() += 1;
                    format!("201 {}", field("\"outcome\":\"").unwrap_or_else(|| "order".into()))
                } else {
                    format!("{status} {}", field("problems/").unwrap_or_else(|| "unreadable".into()))
                };
                *seen.answers.entry(kind).or_default() += 1;
                bar.inc(1);
            }
            anyhow::Ok(seen)
        }));
    }
    let mut seen = Seen::default();
    for worker in workers {
        let part = worker.await??;
        for (customer, n) in part.bought {
            *seen.bought.entry(customer).or_default() += n;
        }
        for (kind, n) in part.answers {
            *seen.answers.entry(kind).or_default() += n;
        }
        seen.latencies.extend(part.latencies);
    }
    bar.finish_and_clear();
    Ok((seen, started.elapsed().as_secs_f64()))
}

/// Prints the answers and the latencies' percentiles.
pub(super) fn print_answers(seen: &mut Seen) {
    seen.latencies.sort_unstable();
    let at = |q: f64| seen.latencies[((seen.latencies.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    let mut answers: Vec<_> = seen.answers.iter().collect();
    answers.sort();
    println!("answers: {}", answers.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", "));
    println!("latency per attempt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.99), at(1.0));
}

/// Runs the benchmark.
pub async fn bench_flash_sale(
    config: &Config,
    stock: i64,
    customers: usize,
    attempts: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        customers > 0 && concurrency > 0 && attempts > 0,
        "customers, attempts and concurrency must be positive"
    );
    // The reference first, alone on the machine.
    let reference = redis_reference(stock, customers, attempts, concurrency);
    match &reference {
        Ok((rate, line)) => println!("reference (Redis + Lua, redis-benchmark): {rate:.0} attempts/s; {line}"),
        Err(why) => println!("reference (Redis + Lua) not run: {why}"),
    }

    println!("preparing {customers} customers and their tokens …");
    let (sale_id, tokens, key) = {
        let app = App::build(config).await?;
        let services = app.services().clone();
        let slug = format!("bench-flash-{}", rand::random::<u32>());
        let ws = services.access.create_workspace(&NewWorkspace::parse(&slug, None, Some("UTC"), None)?).await?;
        let owner = Principal::cli(ws.id);
        let ids: Vec<String> = (0..customers).map(|i| format!("buyer-{i}")).collect();
        let mut customer_ids = Vec::with_capacity(customers);
        for chunk in ids.chunks(5_000) {
            customer_ids.extend(services.events.customers_for_user_ids(&owner, chunk).await?);
        }
        let mut tokens = Vec::with_capacity(customers);
        let input = TokenInput { ttl_seconds: Some(3_600) };
        for id in &customer_ids {
            tokens.push(services.campaigns.customer_token(&owner, *id, &input).await?.token);
        }
        let now = services.now();
        let sale = services
            .campaigns
            .create_flash_sale(
                &owner,
                FlashSaleInput {
                    name: "bench".into(),
                    sku: "bench-1".into(),
                    title: "Bench item".into(),
                    price_fen: 990,
                    stock,
                    starts_at: (now - jiff::SignedDuration::from_mins(1)).to_string(),
                    ends_at: (now + jiff::SignedDuration::from_hours(1)).to_string(),
                    per_customer: Some(1),
                    segment: None,
                    pay_minutes: Some(60),
                },
            )
            .await?;
        let (_, key) = services.access.create_key(&owner, KeyKind::Secret, Role::Owner, "bench").await?;
        (sale.id, tokens, key)
    };

    let server = ChildServer::start(config).await?;
    let base = server.base.clone();
    let result = async {
        let client = crate::http_client().pool_max_idle_per_host(concurrency).build()?;
        let url = format!("{base}/c/v1/flash-sales/{sale_id}/purchase");
        let (mut seen, seconds) = hammer(&client, &url, tokens, attempts, concurrency).await?;
        let rate = attempts as f64 / seconds;
        // What the server stored (its attempt counts are saved each second).
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let stored: serde_json::Value = client
            .get(format!("{base}/api/v1/flash-sales/{sale_id}"))
            .bearer_auth(&key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let sold = seen.bought.values().sum::<u64>();
        let buyers = seen.bought.len() as u64;
        let second = seen.bought.values().filter(|n| **n > 1).map(|n| n - 1).sum::<u64>();
        let held = stored["reserved"].as_i64().unwrap_or(-1) + stored["paid"].as_i64().unwrap_or(0);
        let stored_second = held - stored["buyers"].as_i64().unwrap_or(0);
        println!(
            "flash sale: stock {stock}, {customers} customers, {attempts} attempts over {concurrency} connections in {seconds:.2} s"
        );
        print_answers(&mut seen);
        println!(
            "stored: sold {}, reserved {}, buyers {}, attempts counted {}",
            stored["sold"], stored["reserved"], stored["buyers"], stored["attempts"]["attempts"]
        );
        println!("attempts_per_s {rate:.0}");
        println!("sold {sold}");
        println!("buyers {buyers}");
        println!("second_purchases {}", second.max(stored_second.max(0) as u64));
        if let Ok((reference, _)) = &reference {
            println!("reference_per_s {reference:.0}");
            println!("ratio {:.2} (siyu / Redis + Lua)", rate / reference);
        }
        let exact = sold as i64 == stock.min(customers as i64)
            && stored["sold"].as_i64() == Some(sold as i64)
            && buyers == sold
            && second == 0
            && stored_second == 0;
        anyhow::ensure!(exact, "the sale was not exact: {sold} sold to {buyers} buyers, stored {stored}");
        anyhow::Ok(())
    }
    .await;
    drop(server);
    result
}

/// Runs the Redis + Lua reference; returns its attempts per second and its own check line.
fn redis_reference(stock: i64, customers: usize, attempts: u64, concurrency: usize) -> Result<(f64, String), String> {
    let output = std::process::Command::new("bash")
        .args(["-c", REDIS_SECKILL, "redis_seckill"])
        .args([stock.to_string(), customers.to_string(), attempts.to_string(), concurrency.to_string()])
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    if !output.status.success() {
        return Err(format!(
            "it failed (needs Redis on 127.0.0.1:6379 and redis-tools): {}{}",
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let rate = text
        .split("requests per second")
        .next()
        .and_then(|head| head.rsplit([' ', ':']).find(|w| !w.is_empty()))
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| format!("no rate in its output: {text}"))?;
    let check = text.lines().find(|l| l.starts_with("stock ")).unwrap_or_default().to_string();
    Ok((rate, check))
}
