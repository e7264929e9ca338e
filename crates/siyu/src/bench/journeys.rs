//! `siyu bench journeys`: customers enter a journey through a segment trigger (wait → branch on a
//! consent segment → marketing send over the webhook channel to a receiver in another process)
//! while events arrive over HTTP. First the same-run reference (as many state rows claimed,
//! updated and appended to an outbox in batched transactions on the same database, nothing
//! else); then the run, whose figures are printed one per line: `executions_per_s`,
//! `lateness_p99_ms`, `delivered`, `duplicates`, `without_consent`, `in_quiet_hours`,
//! `baseline_per_s` (and the ratio).

use super::timers::paced_ingest;
use super::{Auth, event_bodies, send_all, tracking_accepted};
use crate::{App, Config};
use anyhow::Context;
use siyu_channels::webhook;
use siyu_core::{Clock, SystemClock};
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use siyu_domain::customers::CustomerInput;
use siyu_domain::customers::consent::{Channel, ConsentRecord, Purpose};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec-bench-journeys-0123456789";
/// One customer in this many has no marketing consent.
const NO_CONSENT_EVERY: u64 = 10;

/// A time zone in which it is about noon now, so that the run's marketing messages are not held
/// for quiet hours (the receiver still checks every arrival against them).
fn midday_zone() -> String {
    let hour = SystemClock.now().to_zoned(jiff::tz::TimeZone::UTC).hour() as i64;
    let offset = (12 - hour).clamp(-12, 14);
    // `Etc/GMT-8` is eight hours ahead of UTC.
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// What the receiver counted.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Counts {
    delivered: u64,
    duplicates: u64,
    without_consent: u64,
    in_quiet_hours: u64,
    bad_signatures: u64,
}

struct Receiver {
    keys: Mutex<HashSet<String>>,
    counts: Mutex<Counts>,
    no_consent: HashSet<i64>,
    tz: jiff::tz::TimeZone,
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> &'static str {
    let now = SystemClock.now();
    let verified =
        webhook::verify_headers(SECRET.as_bytes(), &headers, &body, now.as_second(), webhook::DEFAULT_REPLAY_WINDOW);
    let key = headers.get(webhook::IDEMPOTENCY_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let customer = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|b| b["customer_id"].as_i64())
        .unwrap_or_default();
    let new = receiver.keys.lock().expect("receiver").insert(key);
    let mut counts = receiver.counts.lock().expect("receiver");
    if verified.is_err() {
        counts.bad_signatures += 1;
    }
    counts.delivered += 1;
    if !new {
        counts.duplicates += 1;
    }
    if receiver.no_consent.contains(&customer) {
        counts.without_consent += 1;
    }
    let hour = now.to_zoned(receiver.tz.clone()).hour();
    if !(9..21).contains(&hour) {
        counts.in_quiet_hours += 1;
    }
    "ok"
}

async fn stats(axum::extract::State(receiver): axum::extract::State<Arc<Receiver>>) -> axum::Json<Counts> {
    axum::Json(receiver.counts.lock().expect("receiver").clone())
}

/// The receiver process: verifies each delivery's signature and counts deliveries, repeated
/// keys, customers without consent (listed in `no_consent`, one id a line) and arrivals inside
/// 21:00–09:00 in `tz`; writes its address to `port_file`; serves `GET /stats`.
pub async fn receiver(port_file: &std::path::Path, no_consent: &std::path::Path, tz: &str) -> anyhow::Result<()> {
    let no_consent = std::fs::read_to_string(no_consent)?.lines().filter_map(|l| l.parse().ok()).collect();
    let receiver = Arc::new(Receiver {
        keys: Mutex::default(),
        counts: Mutex::default(),
        no_consent,
        tz: jiff::tz::TimeZone::get(tz)?,
    });
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route("/stats", axum::routing::get(stats))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    std::fs::write(port_file, listener.local_addr()?.to_string())?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// Creates `count` customers of the cohort (user ids `bj-{run}-{i}`), every one but each tenth
/// with marketing consent on SMS; returns the ids of those without.
async fn customers(
    services: &siyu_domain::Services,
    owner: &Principal,
    run: &str,
    count: u64,
) -> anyhow::Result<Vec<i64>> {
    let bar = indicatif::ProgressBar::new(count).with_message("customers");
    let mut without = Vec::new();
    let mut i = 0;
    while i < count {
        let n = (count - i).min(1_000);
        let inputs: Vec<CustomerInput> = (i..i + n)
            .map(|k| {
                serde_json::from_value(serde_json::json!({
                    "identities": [{"type": "user_id", "value": format!("bj-{run}-{k}")}],
                    "traits": {"cohort": "bench"},
                }))
                .expect("a valid customer")
            })
            .collect();
        let results = services.customers.upsert_customers(owner, inputs, "import", "").await?;
        let mut records = Vec::new();
        for (k, result) in (i..i + n).zip(results) {
            let id = result.map_err(|e| anyhow::anyhow!("customer {k}: {e:?}"))?.id;
            if k % NO_CONSENT_EVERY == 0 {
                without.push(id.0);
            } else {
                let record = ConsentRecord {
                    purpose: Purpose::Marketing,
                    channel: Channel::Sms,
                    granted: true,
                    source: "import".into(),
                    policy_version: "v1".into(),
                    recorded_at: services.now(),
                };
                records.push((id, record));
            }
        }
        services.stores.consent.record(owner.workspace_id(), &records).await?;
        bar.inc(n);
        i += n;
    }
    bar.finish_and_clear();
    Ok(without)
}

/// What the receiver at `receiver` has counted so far.
async fn receiver_counts(receiver: &str) -> anyhow::Result<Counts> {
    Ok(reqwest::get(format!("http://{receiver}/stats")).await?.json().await?)
}

/// The benchmark.
pub async fn bench_journeys(
    config: &Config,
    count: u64,
    wait: &str,
    rate: u64,
    batch: usize,
    nodes: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        nodes == 1 || !config.database_url().is_sqlite(),
        "--nodes above 1 needs a PostgreSQL database (--database-url postgres://…): an SQLite file is one process's"
    );
    anyhow::ensure!((1..=8).contains(&nodes), "--nodes is 1 to 8");
    let mut config = config.clone();
    // The receiver is on this host.
    config.channels.allow_private_addresses = true;
    let reference = siyu_store::bench::bare_journeys(&config.backend(), count, batch).await?;
    let baseline = reference.rows as f64 / reference.seconds;
    println!(
        "reference: {} state rows claimed, updated and given an outbox row in batches of {batch} in {:.2} s",
        reference.rows, reference.seconds
    );

    let app = App::build(&config).await?;
    let services = app.services().clone();
    let run = format!("{}", rand::random::<u32>());
    let tz = midday_zone();
    let slug = format!("bench-journeys-{run}");
    let ws = services.access.create_workspace(&NewWorkspace::parse(&slug, None, Some(&tz), None)?).await?;
    let owner = Principal::cli(ws.id);
    let without = customers(&services, &owner, &run, count).await?;
    println!("{count} customers, {} without marketing consent; workspace time zone {tz}", without.len());

    // The receiver, in a process of its own.
    let dir = tempfile::tempdir()?;
    let (port_file, no_consent) = (dir.path().join("receiver.addr"), dir.path().join("no-consent.txt"));
    std::fs::write(&no_consent, without.iter().map(|id| format!("{id}\n")).collect::<String>())?;
    let mut command = super::siyu_process(&config)?;
    command
        .args(["bench", "journeys-receiver", "--port-file"])
        .arg(&port_file)
        .arg("--no-consent")
        .arg(&no_consent)
        .args(["--tz", &tz])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut receiver_process = command.spawn().context("starting the receiver")?;
    let started = Instant::now();
    let receiver_addr = loop {
        if let Ok(addr) = std::fs::read_to_string(&port_file)
            && !addr.is_empty()
        {
            break addr;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the receiver did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let plan = Plan { count, wait, rate, nodes, config: &config, dir: dir.path() };
    let result = measured_run(&services, &owner, app, &run, &plan, &receiver_addr, baseline).await;
    // Other nodes stop on their own once this exists, also after a failed run.
    let _ = std::fs::write(dir.path().join("stop"), b"");
    let _ = receiver_process.kill();
    let _ = receiver_process.wait();
    result
}

/// What the run is asked to do.
struct Plan<'a> {
    count: u64,
    wait: &'a str,
    rate: u64,
    /// siyu processes running the journey (this one and `nodes - 1` started for it).
    nodes: usize,
    config: &'a Config,
    /// Where the other nodes write what they measured.
    dir: &'a std::path::Path,
}

/// What a node measured: its node executions, when it ran the first and last (Unix ms), and how
/// late each ended wait ran (µs).
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct NodeReport {
    executions: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    lateness_us: Vec<i64>,
}

/// Follows a probe's executions: when the first ran and when their count last changed.
#[derive(Default)]
struct Watch {
    executions: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl Watch {
    fn look(&mut self, executions: u64) {
        let now = SystemClock.now().as_millisecond();
        if executions > 0 && self.first_ms.is_none() {
            self.first_ms = Some(now);
        }
        if executions != self.executions {
            self.executions = executions;
            self.last_ms = Some(now);
        }
    }
}

/// Another node of the run: serves as a second siyu server on the same database (its step and
/// send workers claiming under leases beside the first node's) until `stop` exists, then writes
/// its [`NodeReport`] to `report`.
pub async fn journeys_node(config: &Config, report: &std::path::Path, stop: &std::path::Path) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.channels.allow_private_addresses = true;
    let app = App::build(&config).await?;
    let services = app.services().clone();
    let probe = services.journeys.probe();
    probe.record_lateness();
    // A whole server, as a second node of a deployment runs: every worker (its segments kept in
    // memory, its sends, its steps), its API on a port of its own.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let stopping = stop.to_path_buf();
    let served = tokio::spawn(app.serve(listener, async move {
        while !stopping.exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }));
    let mut watch = Watch::default();
    while !stop.exists() {
        watch.look(probe.executions.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    served.await.context("the node's server")??;
    watch.look(probe.executions.load(Ordering::Relaxed));
    let measured = NodeReport {
        executions: watch.executions,
        first_ms: watch.first_ms,
        last_ms: watch.last_ms,
        lateness_us: probe.take_lateness(),
    };
    let written = report.with_extension("tmp");
    std::fs::write(&written, serde_json::to_vec(&measured)?)?;
    std::fs::rename(&written, report)?;
    Ok(())
}

async fn measured_run(
    services: &siyu_domain::Services,
    owner: &Principal,
    app: App,
    run: &str,
    plan: &Plan<'_>,
    receiver: &str,
    baseline: f64,
) -> anyhow::Result<()> {
    let Plan { count, wait, rate, .. } = *plan;
    let channel = serde_json::json!({
        "kind": "webhook",
        "settings": {"url": format!("http://{receiver}/hook"), "consent_channel": "sms"},
        "secrets": {"secret": SECRET},
    });
    services.messaging.save_channel(owner, "receiver", serde_json::from_value(channel)?).await?;
    let segment = |key: &str, text: &str| siyu_domain::segments::SegmentInput {
        key: key.into(),
        name: Some(key.into()),
        definition: None,
        text: Some(text.into()),
    };
    services.segments.save_segment(owner, &segment("consented", "consent(\"marketing\", \"sms\")"), false).await?;
    let journey = serde_json::json!({
        "name": "bench",
        "definition": {
            "trigger": {"type": "segment_entered", "segment": "cohort"},
            "start": "wait",
            "nodes": {
                "wait": {"type": "wait", "duration": wait, "next": "check"},
                "check": {"type": "branch", "condition": {"segment": "consented"}, "yes": "send", "no": "end"},
                "send": {"type": "send", "channel": "receiver", "class": "marketing", "body": "{{ customer.id }}，新品上市"},
                "end": {"type": "exit"},
            },
        },
    });
    // The trigger's segment exists before the journey is published, empty; the cohort enters it
    // when its definition is set.
    services.segments.save_segment(owner, &segment("cohort", "trait.cohort = \"nobody\""), false).await?;
    let id = services.journeys.create(owner, &serde_json::from_value(journey)?).await?.id;
    services.journeys.publish(owner, id).await?;
    let probe = services.journeys.probe();
    probe.record_lateness();
    // The other nodes start once the journey is published, before anyone enters it.
    let stop_file = plan.dir.join("stop");
    let mut others = Vec::new();
    for node in 1..plan.nodes {
        let report = plan.dir.join(format!("node-{node}.json"));
        let mut command = super::siyu_process(plan.config)?;
        command
            .args(["bench", "journeys-node", "--report"])
            .arg(&report)
            .arg("--stop")
            .arg(&stop_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        others.push((command.spawn().context("starting another node")?, report));
    }

    // The server (its workers run the journey) and ingestion at `rate` meanwhile.
    let (_, key) = services.access.create_key(owner, KeyKind::Write, Role::Operator, "bench").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/batch", listener.local_addr()?);
    tokio::spawn(app.serve(listener, std::future::pending()));
    let users = 10_000;
    let signups = event_bodies(0, users, users, 500, 1, &format!("{run}-signup"));
    send_all(&url, Auth::Basic(key.clone()), signups, 4, &indicatif::ProgressBar::hidden(), tracking_accepted).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let ingest_started = Instant::now();
    let ingest = tokio::spawn(paced_ingest(url, key, rate, users, run.to_string(), stop.clone()));

    let started = Instant::now();
    let started_ms = SystemClock.now().as_millisecond();
    services.segments.save_segment(owner, &segment("cohort", "trait.cohort = \"bench\""), true).await?;
    let consented = count - count.div_ceil(NO_CONSENT_EVERY);
    let bar = indicatif::ProgressBar::new(consented).with_message("messages delivered");
    let deadline = started + Duration::from_secs(3600);
    let mut watch = Watch::default();
    let mut last_stats = Instant::now();
    // The executions counter is in memory and the receiver's count one HTTP call: both are read
    // often. The journey's counts scan every entry and message, which at a million customers
    // loads the run it measures: they are read once every message arrived (to see every entry
    // done), or every half minute (to see a run that cannot finish, e.g. sends that failed).
    for tick in 0u64.. {
        watch.look(probe.executions.load(Ordering::Relaxed));
        if tick % 10 == 9 {
            let delivered = receiver_counts(receiver).await?.delivered;
            bar.set_position(delivered);
            if delivered >= consented || last_stats.elapsed() >= Duration::from_secs(30) {
                last_stats = Instant::now();
                let stats = services.journeys.stats_now(owner, id).await?;
                let done = stats.entries.get("done").copied().unwrap_or(0) as u64;
                let send = stats.nodes.get("send").cloned().unwrap_or_default();
                let settled =
                    ["sent", "blocked", "failed"].iter().map(|s| send.get(*s).copied().unwrap_or(0)).sum::<i64>();
                if done >= count && settled as u64 >= consented {
                    break;
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "the journey did not finish within an hour");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
    stop.store(true, Ordering::Relaxed);
    let acknowledged = ingest.await.context("ingest task")??;
    // The other nodes stop and say what they ran.
    std::fs::write(&stop_file, b"")?;
    let mut reports = vec![NodeReport {
        executions: watch.executions,
        first_ms: watch.first_ms,
        last_ms: watch.last_ms,
        lateness_us: probe.take_lateness(),
    }];
    for (node, (mut child, report)) in others.into_iter().enumerate() {
        let status = child.wait()?;
        anyhow::ensure!(status.success(), "node {} failed: {status}", node + 1);
        reports.push(serde_json::from_slice(&std::fs::read(&report)?)?);
    }
    for (node, report) in reports.iter().enumerate() {
        if plan.nodes > 1 {
            println!("node {node}: {} node executions, {} ended waits", report.executions, report.lateness_us.len());
        }
    }
    let executions: u64 = reports.iter().map(|r| r.executions).sum();
    let first = reports.iter().filter_map(|r| r.first_ms).min().unwrap_or_default();
    let last = reports.iter().filter_map(|r| r.last_ms).max().unwrap_or_default();
    let wait_s = siyu_domain::journeys::definition::parse_duration(wait).map_or(0.0, |d| d.as_secs_f64());
    let span = (last - first) as f64 / 1000.0;
    // The run's executions over the time they took, less the wait every customer spends idle.
    let busy = (span - wait_s).max(0.001);
    let executions_per_s = executions as f64 / busy;
    let mut late: Vec<i64> = reports.into_iter().flat_map(|r| r.lateness_us).collect();
    late.sort_unstable();
    let counts = receiver_counts(receiver).await?;
    println!(
        "run: {count} customers entered by segment in {:.1} s; {executions} node executions over {span:.1} s less the {wait_s:.0} s wait; ingest meanwhile {:.0} events/s (asked {rate})",
        started.elapsed().as_secs_f64(),
        acknowledged as f64 / ingest_started.elapsed().as_secs_f64()
    );
    let last_start = probe.last_start_ms.load(Ordering::Relaxed);
    if last_start > 0 {
        println!("first steps paced over {:.1} s", (last_start - started_ms).max(0) as f64 / 1000.0);
    }
    println!("executions_per_s {executions_per_s:.0}");
    let at = |q: f64| late.get(((late.len().saturating_sub(1)) as f64 * q).round() as usize).copied().unwrap_or(0);
    println!("lateness_p99_ms {:.0}", at(0.99) as f64 / 1000.0);
    println!(
        "(lateness p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms)",
        at(0.5) as f64 / 1e3,
        at(0.9) as f64 / 1e3,
        at(1.0) as f64 / 1e3
    );
    println!("delivered {}", counts.delivered);
    println!("duplicates {}", counts.duplicates);
    println!("without_consent {}", counts.without_consent);
    println!("in_quiet_hours {}", counts.in_quiet_hours);
    println!("baseline_per_s {baseline:.0}");
    println!("ratio {:.2}", executions_per_s / baseline);
    anyhow::ensure!(counts.bad_signatures == 0, "{} deliveries failed their signature", counts.bad_signatures);
    anyhow::ensure!(counts.delivered == consented, "{} delivered, {consented} expected", counts.delivered);
    Ok(())
}
