//! `siyu bench lottery`: draws over HTTP by many customers at once (the server in its own process,
//! this process the load), then checks that no prize was given past its stock and that the wins the
//! customers were told of are the prizes' counts. The reference in the same run commits as many
//! one-row transactions one after another on the same backend (`siyu_store::bench::bare_transactions`):
//! the ceiling of one commit per draw.

use super::ChildServer;
use super::flash_sale::{hammer, print_answers};
use crate::{App, Config};
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use siyu_domain::campaigns::TokenInput;

/// The target (issue 15): draws per second.
const TARGET_PER_S: f64 = 10_000.0;

/// Runs the benchmark.
pub async fn bench_lottery(config: &Config, customers: usize, draws: u64, concurrency: usize) -> anyhow::Result<()> {
    anyhow::ensure!(customers > 0 && draws > 0 && concurrency > 0, "customers, draws and concurrency must be positive");
    println!("preparing {customers} customers and their tokens …");
    let (lottery_id, tokens, key) = {
        let app = App::build(config).await?;
        let services = app.services().clone();
        let slug = format!("bench-lottery-{}", rand::random::<u32>());
        let ws = services.access.create_workspace(&NewWorkspace::parse(&slug, None, Some("UTC"), None)?).await?;
        let owner = Principal::cli(ws.id);
        let ids: Vec<String> = (0..customers).map(|i| format!("player-{i}")).collect();
        let mut customer_ids = Vec::with_capacity(customers);
        for chunk in ids.chunks(5_000) {
            customer_ids.extend(services.events.customers_for_user_ids(&owner, chunk).await?);
        }
        let input = TokenInput { ttl_seconds: Some(3_600) };
        let mut tokens = Vec::with_capacity(customers);
        for id in &customer_ids {
            tokens.push(services.campaigns.customer_token(&owner, *id, &input).await?.token);
        }
        let now = services.now();
        let lottery: siyu_domain::campaigns::lottery::LotteryInput = serde_json::from_value(serde_json::json!({
            "name": "bench", "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
            "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
            "prizes": [{"key": "grand", "name": "grand", "weight": 1, "stock": 10},
                       {"key": "cup", "name": "cup", "weight": 9, "stock": 500}],
            "no_prize_weight": 90, "per_day": 1000
        }))?;
        let lottery = services.campaigns.create_lottery(&owner, lottery).await?;
        let (_, key) = services.access.create_key(&owner, KeyKind::Secret, Role::Owner, "bench").await?;
        (lottery.id, tokens, key)
    };
    let reference = siyu_store::bench::bare_transactions(&config.backend(), draws.min(20_000)).await?;
    let reference_per_s = draws.min(20_000) as f64 / reference;

    let server = ChildServer::start(config).await?;
    let base = server.base.clone();
    let result = async {
        let client = crate::http_client().pool_max_idle_per_host(concurrency).build()?;
        let url = format!("{base}/c/v1/lotteries/{lottery_id}/draw");
        let (mut seen, seconds) = hammer(&client, &url, tokens, draws, concurrency).await?;
        let stored: serde_json::Value = client
            .get(format!("{base}/api/v1/lotteries/{lottery_id}"))
            .bearer_auth(&key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!("lottery: {customers} customers, {draws} draws over {concurrency} connections in {seconds:.2} s");
        print_answers(&mut seen);
        let drawn: u64 = seen.bought.values().sum();
        let won = seen.answers.get("201 won").copied().unwrap_or(0) as i64;
        let mut over = 0;
        let mut awarded = 0;
        for prize in stored["prizes"].as_array().into_iter().flatten() {
            let (given, stock) = (prize["awarded"].as_i64().unwrap_or(0), prize["stock"].as_i64().unwrap_or(0));
            println!("prize {}: {given} of {stock} given", prize["key"]);
            over += (given - stock).max(0);
            awarded += given;
        }
        let rate = drawn as f64 / seconds;
        println!("draws_per_s {rate:.0}");
        println!("over_awarded {over}");
        println!("reference_per_s {reference_per_s:.0} (one-row transactions committed one after another)");
        println!("ratio {:.2}", rate / reference_per_s);
        let verdict = if rate >= TARGET_PER_S { "met" } else { "not met" };
        println!("target: >= {TARGET_PER_S} draws/s: {verdict}");
        anyhow::ensure!(
            over == 0 && won == awarded,
            "prizes over-awarded ({over}) or wins ({won}) unlike the counts ({awarded})"
        );
        anyhow::Ok(())
    }
    .await;
    drop(server);
    result
}
