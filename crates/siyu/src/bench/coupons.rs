//! `siyu bench coupons`: a bulk issue of one coupon to each member of a segment of N customers, from
//! the request to the last batch committed (the members evaluated, the coupons issued by the same
//! rounds the `campaigns.issue` worker runs), against the same-run reference: as many rows of the
//! coupons table's shape inserted bare (`siyu_store::bench::bare_coupons`).

use crate::{App, Config};
use siyu_domain::access::Principal;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::segments::SegmentInput;
use std::time::Instant;

/// The issue's target (issue 15): a million coupons in at most 30 s.
const TARGET_SECONDS: f64 = 30.0;

/// Runs the benchmark.
pub async fn bench_coupons(config: &Config, customers: u64) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let services = app.services().clone();
    let slug = format!("bench-coupons-{}", rand::random::<u32>());
    let ws = services.access.create_workspace(&NewWorkspace::parse(&slug, None, Some("UTC"), None)?).await?;
    let owner = Principal::cli(ws.id);
    let bar = indicatif::ProgressBar::new(customers);
    let started = Instant::now();
    let mut first = 0u64;
    while first < customers {
        let ids: Vec<String> = (first..(first + 10_000).min(customers)).map(|i| format!("member-{i}")).collect();
        services.events.customers_for_user_ids(&owner, &ids).await?;
        first += ids.len() as u64;
        bar.set_position(first);
    }
    bar.finish_and_clear();
    println!("{customers} customers made in {:.1} s", started.elapsed().as_secs_f64());
    let everyone = SegmentInput {
        key: "everyone".into(),
        name: None,
        definition: None,
        text: Some("has_identity(\"user_id\")".into()),
    };
    services.segments.save_segment(&owner, &everyone, false).await?;
    let template: siyu_domain::campaigns::TemplateInput = serde_json::from_value(serde_json::json!({
        "name": "会员日 立减10元", "benefit": {"kind": "fixed", "amount_fen": 1000},
        "validity": {"kind": "days_after_issue", "days": 30}, "remind_days_before": 3
    }))?;
    let template = services.campaigns.create_coupon_template(&owner, template).await?;

    let bar = indicatif::ProgressBar::new(customers);
    let started = Instant::now();
    let issue = services.campaigns.issue_coupons(&owner, template.id, "everyone").await?;
    let asked = started.elapsed().as_secs_f64();
    while services.campaigns.run_coupon_issue("bench").await? {
        bar.set_position(services.campaigns.coupon_issue(&owner, issue.id).await?.issued as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let done = services.campaigns.coupon_issue(&owner, issue.id).await?;
    anyhow::ensure!(
        done.status == "done" && done.issued as u64 == customers,
        "the issue ended {} with {} of {customers} coupons",
        done.status,
        done.issued
    );
    drop(app);
    let reference = siyu_store::bench::bare_coupons(&config.backend(), customers).await?;
    println!("issued {}", done.issued);
    println!("seconds {seconds:.2} (the request, with the segment's members, {asked:.2} s)");
    println!("coupons_per_s {:.0}", customers as f64 / seconds);
    println!("reference_seconds {reference:.2} (bare inserts of as many rows of the same shape)");
    println!("ratio {:.2} (reference time / siyu time)", reference / seconds);
    let scaled = seconds * 1_000_000.0 / customers as f64;
    let verdict = if scaled <= TARGET_SECONDS { "met" } else { "not met" };
    println!("target: 1,000,000 in <= {TARGET_SECONDS} s: {scaled:.1} s at this rate, {verdict}");
    Ok(())
}
