//! Wiring: opens the store, builds the services and the router, and serves HTTP until told to stop.

use crate::config::{Config, JobsConfig};
use anyhow::Context;
use siyu_core::SystemClock;
use siyu_domain::Services;
use siyu_domain::jobs::WorkerStatuses;
use siyu_jobs::{Every, OnWake, Runner, WorkError};
use siyu_web::AppState;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A built application, ready to serve.
pub struct App {
    services: Services,
    /// Builds the adapters of the workspaces' channels.
    factory: Arc<siyu_channels::factory::Factory>,
    public_url: Option<String>,
    jobs: JobsConfig,
    /// The shared runner: the store's checkpoints from the start (every command writes), the
    /// server's other workers once it serves.
    runner: Runner,
}

impl App {
    /// Opens the store (applying migrations) and builds the services.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let database_url = config.database_url();
        if config.secrets.master_key.is_none() || database_url.is_sqlite() {
            config.prepare_data_dir()?;
        }
        let master_key = config.master_key()?;
        let stores = siyu_store::open(&config.backend())
            .await
            .with_context(|| format!("cannot open the database {database_url}"))?;
        let clock: Arc<dyn siyu_core::Clock> = Arc::new(SystemClock);
        let factory =
            Arc::new(siyu_channels::factory::Factory::new(clock.clone(), config.channels.allow_private_addresses));
        let services =
            Services::new(stores, master_key, clock).with_channels(factory.clone(), config.http.public_url.as_deref());
        // A store written by an older siyu may hold identities, notes and logged events in the
        // clear: they are sealed before anything is served.
        let sealed = services.customers.seal_clear_values().await.map_err(|e| anyhow::anyhow!(e.chain()))?;
        if sealed > 0 {
            tracing::info!(sealed, "sealed identities and notes an older siyu kept in the clear");
        }
        let sealed = services.events.seal_clear_events().await.map_err(|e| anyhow::anyhow!(e.chain()))?;
        if sealed > 0 {
            tracing::info!(sealed, "sealed events an older siyu logged in the clear");
        }
        // The trigger listener knows the active journeys before any event is served.
        services.journeys.load().await.map_err(|e| anyhow::anyhow!(e.chain()))?;
        let mut runner = Runner::new(services.clock(), WorkerStatuses::default());
        let maintenance = services.stores.maintenance.clone();
        let half_second = jiff::SignedDuration::from_millis(500);
        runner.spawn(Every::new("store.checkpoint", half_second, services.now(), move |_| {
            let maintenance = maintenance.clone();
            async move { maintenance.checkpoint().await.map_err(WorkError::from) }
        }));
        Ok(Self { services, factory, public_url: config.http.public_url.clone(), jobs: config.jobs.clone(), runner })
    }

    /// Returns the domain services (for CLI commands and tests).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves HTTP on a bound listener until `shutdown` completes, then drains open requests.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        let Self { services, factory, public_url, jobs, mut runner } = self;
        let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
        // Messages link back (unsubscribe, tracking) to where the server is reached.
        let services = services.with_channels(factory, Some(&public_url));
        start_workers(&mut runner, &services, &jobs);
        let workers = runner.statuses();
        let state = AppState::new(siyu_web::AppParts {
            services,
            workers,
            // Browsers send Secure cookies only over https; the public URL says how they reach us.
            secure_cookies: secure_cookies_for(&public_url),
            public_url,
        });
        // The peer address is kept for the Tracking API's `context.ip`.
        let service = siyu_web::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, service).with_graceful_shutdown(shutdown).await;
        runner.shutdown().await;
        Ok(served?)
    }
}

/// Starts the background work on the shared runner (unless `jobs.enabled` is false): the live
/// workers (`spawn_live_workers`), and every
/// `jobs.pass_interval_s` (a minute by default, first that long after start), models older than
/// their refresh interval are recomputed (`models.refresh`) and every segment gets a full pass for
/// sliding windows, profile changes and models (`segments.refresh`).
fn start_workers(runner: &mut Runner, services: &Services, jobs: &JobsConfig) {
    if !jobs.enabled {
        return;
    }
    spawn_live_workers(runner, services);
    let pass = jiff::SignedDuration::from_secs(i64::try_from(jobs.pass_interval_s).unwrap_or(i64::MAX));
    let first = services.now().checked_add(pass).unwrap_or(jiff::Timestamp::MAX);
    let models = services.clone();
    runner.spawn(Every::new("models.refresh", pass, first, move |_| {
        let models = models.clone();
        async move {
            models.models.refresh_due_models().await;
            Ok::<(), WorkError>(())
        }
    }));
    let segments = services.clone();
    runner.spawn(Every::new("segments.refresh", pass, first, move |_| {
        let segments = segments.clone();
        async move {
            segments.segments.refresh_segments().await;
            Ok::<(), WorkError>(())
        }
    }));
}

/// Starts the workers that keep derived state current as data arrives, each woken by the slice
/// that queues its work: `index.upkeep` moves merged profiles' events, rebuilds an index after an
/// erasure and folds a workspace's analytics delta into its base once the index asks;
/// `segments.upkeep` applies queued events and profile changes to memberships (first starting the
/// upkeep of every workspace with segments); `segments.record` records entries and exits.
pub fn spawn_live_workers(runner: &mut Runner, services: &Services) {
    let events = services.events.clone();
    let index = OnWake::new("index.upkeep", move || {
        let events = events.clone();
        async move { Ok(events.upkeep_indexes().await) }
    });
    runner.spawn_woken(index, services.events.index_wake().into());
    let wakes = services.segments.wakes.clone();
    let (segments, started) = (services.segments.clone(), Arc::new(std::sync::atomic::AtomicBool::new(false)));
    let upkeep = OnWake::new("segments.upkeep", move || {
        let (segments, started) = (segments.clone(), started.clone());
        async move {
            if !started.load(std::sync::atomic::Ordering::Acquire) {
                segments.start_all_upkeep().await?;
                started.store(true, std::sync::atomic::Ordering::Release);
            }
            Ok(segments.apply_upkeep().await?)
        }
    });
    runner.spawn_woken(upkeep, wakes.apply.into());
    let segments = services.segments.clone();
    let recorder = OnWake::new("segments.record", move || {
        let segments = segments.clone();
        async move { Ok(segments.record_upkeep().await?) }
    });
    runner.spawn_woken(recorder, wakes.record.into());
    // Sends give way to the journeys' steps while due entries wait for them.
    let backlog = siyu_jobs::Backlog::default();
    spawn_send_worker(runner, services, backlog.clone());
    spawn_journey_workers(runner, services, backlog);
    spawn_campaign_worker(runner, services);
}

/// Starts `campaigns.upkeep`: each second it saves the attempts and refusals counted in memory,
/// releases the orders not paid in time (their units back on sale), expires coupons whose window
/// ended and records the reminders due, fails the groups whose time ran out (their reservations
/// back, their members told), gives the top ranks' prizes of quizzes that closed, and looks for bulk coupon issues another process left;
/// and `campaigns.issue`, which issues a bulk issue's coupons batch after batch, woken when one is
/// asked for. Several processes on one PostgreSQL database may all run them: an order is released,
/// a coupon expired and a batch issued once.
pub fn spawn_campaign_worker(runner: &mut Runner, services: &Services) {
    let campaigns = services.campaigns.clone();
    let second = jiff::SignedDuration::from_secs(1);
    runner.spawn(Every::new("campaigns.upkeep", second, services.now(), move |_| {
        let campaigns = campaigns.clone();
        async move {
            campaigns.save_attempt_counts().await?;
            campaigns.release_unpaid().await?;
            campaigns.coupon_upkeep().await?;
            campaigns.fail_expired_groups().await?;
            campaigns.award_quiz_prizes().await?;
            campaigns.issue_wake().notify_one();
            Ok::<(), WorkError>(())
        }
    }));
    let campaigns = services.campaigns.clone();
    let owner = format!("{}-{}-issue", std::process::id(), services.now().as_nanosecond());
    let issue = OnWake::new("campaigns.issue", move || {
        let (campaigns, owner) = (campaigns.clone(), owner.clone());
        async move { Ok(campaigns.run_coupon_issue(&owner).await?) }
    });
    runner.spawn_woken(issue, services.campaigns.issue_wake().into());
}

/// Messages sent at once, per batch: a send mostly waits for its provider.
const SEND_CONCURRENCY: usize = 64;

/// Starts `channels.send`: claims due send jobs (under a lease, so several processes on one
/// PostgreSQL database share them) and sends each through `Messaging::deliver`; woken when a
/// message is queued here, and looking every second for those another process queued. It holds
/// back new batches while `steps` says the journeys' step worker is behind (at most two seconds
/// at a time): a step that waits makes every later timer late, a send that waits is sent a moment
/// later.
pub fn spawn_send_worker(runner: &mut Runner, services: &Services, steps: siyu_jobs::Backlog) {
    let owner = format!("{}-{}", std::process::id(), services.now().as_nanosecond());
    let worker = siyu_jobs::JobWorker::new(
        "channels.send",
        services.stores.jobs.clone(),
        owner,
        jiff::SignedDuration::from_secs(120),
        100,
    )
    .handle(siyu_jobs::send::SEND_KIND, siyu_jobs::send::SendHandler::new(services.messaging.clone()))
    .concurrency(SEND_CONCURRENCY)
    .yield_to(steps);
    runner.spawn_woken(worker, services.messaging.wake().into());
}

/// Starts the journeys' workers: `journeys.enter` (woken when an event fires a trigger or reaches
/// a goal: enters the customers, converts the goals), `journeys.step` (runs due entries, under a
/// lease; woken when customers enter, looking every second for entries another process made) and
/// `journeys.schedule` (fires broadcasts and anniversaries when their occurrence comes) and
/// `journeys.position` (the triggers' durable position in the event log, read from after a crash).
pub fn spawn_journey_workers(runner: &mut Runner, services: &Services, backlog: siyu_jobs::Backlog) {
    let enter = siyu_jobs::journeys::EnterWorker::new(services.journeys.clone()).yield_to(backlog.clone());
    runner.spawn_woken(enter, services.journeys.enter_wake().into());
    let owner = format!("{}-{}-journeys", std::process::id(), services.now().as_nanosecond());
    let step = siyu_jobs::journeys::StepWorker::new(services.journeys.clone(), owner, siyu_jobs::journeys::STEP_BATCH)
        .reports(backlog);
    runner.spawn_woken(step, services.journeys.step_wake().into());
    let schedule = siyu_jobs::journeys::ScheduleWorker::new(services.journeys.clone());
    runner.spawn_woken(schedule, services.journeys.schedule_wake().into());
    runner.spawn(siyu_jobs::journeys::PositionWorker::new(services.journeys.clone()));
}

/// Returns whether cookies must carry `Secure`: whenever the public URL is https.
pub fn secure_cookies_for(public_url: &str) -> bool {
    public_url.trim().get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_exactly_when_the_public_url_is_https() {
        assert!(secure_cookies_for("https://crm.brand.cn"));
        assert!(secure_cookies_for("HTTPS://crm.brand.cn/"));
        assert!(!secure_cookies_for("http://127.0.0.1:8080"));
        assert!(!secure_cookies_for("httpsx"));
    }
}
