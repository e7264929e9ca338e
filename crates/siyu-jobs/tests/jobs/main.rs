//! Durable jobs end to end on both backends: the job worker over a real store, driven by a manual
//! clock (no sleeps), including restarts, dead workers, retries, burials and two nodes claiming
//! side by side on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use siyu_core::WorkspaceId;
use siyu_core::clock::{Clock, ManualClock};
use siyu_core::crypto::SecretKey;
use siyu_domain::Services;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::jobs::{Job, JobState, JobStore, NewJob};
use siyu_jobs::{Failure, Handler, JobWorker, Outcome, Worker};
use siyu_store::Backend;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

mod journeys;
mod sends;
use journeys::{
    a_journey_waits_branches_sends_once_and_converts, a_large_cohort_starts_in_paced_slots_so_its_waits_end_on_time,
    a_trigger_no_process_heard_is_read_again_from_the_log, a_webhook_node_calls_once_per_entry_whatever_the_consent,
    an_abandoned_cart_waits_for_the_order_or_reminds, broadcasts_and_anniversaries_fire_once_per_occurrence,
    campaign_actions_give_a_coupon_and_draws_once_per_entry,
    each_reentry_policy_lets_a_customer_in_again_only_when_it_says, two_step_workers_never_run_an_entry_twice,
};
use sends::{
    a_message_is_sent_once_through_retries_and_a_refusal_is_dead_lettered,
    a_send_repeated_after_a_stopped_process_carries_the_same_key,
    an_sms_reaches_the_customers_phone_with_its_parameters_rendered,
    marketing_is_held_to_consent_the_cap_and_quiet_hours_when_it_is_sent,
    staff_hear_of_each_new_task_and_of_failed_messages_once_a_window,
    the_workspace_sets_its_guardrails_and_a_channel_its_rate,
};

/// A fresh store with two workspaces, and how to open it again.
struct Fixture {
    backend: Backend,
    store: Arc<dyn JobStore>,
    /// The services over the same store, at `clock`.
    services: Services,
    clock: Arc<ManualClock>,
    workspaces: [WorkspaceId; 2],
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn reopen(&self) -> Arc<dyn JobStore> {
        siyu_store::open(&self.backend).await.unwrap().jobs
    }
}

async fn fixture(backend: Backend, dir: Option<tempfile::TempDir>) -> Fixture {
    let stores = siyu_store::open(&backend).await.unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let services = Services::new(stores.clone(), SecretKey::generate().unwrap(), clock.clone());
    let mut workspaces = [WorkspaceId(0); 2];
    for (i, slug) in ["brand-a", "brand-b"].iter().enumerate() {
        workspaces[i] =
            services.access.create_workspace(&NewWorkspace::parse(slug, None, None, None).unwrap()).await.unwrap().id;
    }
    Fixture { backend, store: stores.jobs, services, clock, workspaces, _dir: dir }
}

async fn fresh_sqlite() -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::Sqlite { path: dir.path().join("siyu.db") };
    Some(fixture(backend, Some(dir)).await)
}

/// A fresh schema in the PostgreSQL of `SIYU_TEST_PG_URL`; without it the case is skipped, except
/// under CI (`SIYU_CI` set by scripts/test), where that is a failure.
async fn fresh_postgres() -> Option<Fixture> {
    let Ok(url) = std::env::var("SIYU_TEST_PG_URL") else {
        assert!(std::env::var_os("SIYU_CI").is_none(), "SIYU_TEST_PG_URL must be set under CI");
        eprintln!("SIYU_TEST_PG_URL is unset: PostgreSQL case skipped");
        return None;
    };
    let schema = format!("t_{}", &SecretKey::generate().unwrap().to_hex()[..16]);
    Some(fixture(Backend::Postgres { url, schema: Some(schema) }, None).await)
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                if let Some(fixture) = crate::fresh_sqlite().await { super::$case(fixture).await }
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() {
                if let Some(fixture) = crate::fresh_postgres().await { super::$case(fixture).await }
            })*
        }
    };
}

both!(
    a_slow_job_holds_one_slot_of_its_batch_not_the_batch,
    a_message_is_sent_once_through_retries_and_a_refusal_is_dead_lettered,
    a_send_repeated_after_a_stopped_process_carries_the_same_key,
    an_sms_reaches_the_customers_phone_with_its_parameters_rendered,
    marketing_is_held_to_consent_the_cap_and_quiet_hours_when_it_is_sent,
    the_workspace_sets_its_guardrails_and_a_channel_its_rate,
    staff_hear_of_each_new_task_and_of_failed_messages_once_a_window,
    a_journey_waits_branches_sends_once_and_converts,
    campaign_actions_give_a_coupon_and_draws_once_per_entry,
    a_large_cohort_starts_in_paced_slots_so_its_waits_end_on_time,
    two_step_workers_never_run_an_entry_twice,
    each_reentry_policy_lets_a_customer_in_again_only_when_it_says,
    a_webhook_node_calls_once_per_entry_whatever_the_consent,
    an_abandoned_cart_waits_for_the_order_or_reminds,
    broadcasts_and_anniversaries_fire_once_per_occurrence,
    a_trigger_no_process_heard_is_read_again_from_the_log,
    a_scheduled_job_runs_once_when_due_and_its_key_schedules_it_only_once,
    a_worker_yielding_to_a_backlog_holds_back_at_most_its_limit,
    a_failing_job_is_retried_with_backoff_then_buried_with_the_reason,
    a_job_whose_worker_died_is_claimed_again_after_its_lease_and_buried_after_too_many,
    jobs_survive_a_restart_and_listings_stay_in_their_workspace,
    a_handler_that_panics_fails_its_job_not_the_worker,
    timers_scheduled_in_bulk_fire_in_due_order_and_complete_per_workspace_in_one_batch,
);

fn start() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn at(seconds: i64) -> Timestamp {
    start().checked_add(SignedDuration::from_secs(seconds)).unwrap()
}

fn job(kind: &str, key: &str, run_at: Timestamp, max_attempts: u32) -> NewJob {
    NewJob { kind: kind.into(), key: key.into(), payload: format!("{{\"key\":\"{key}\"}}"), run_at, max_attempts }
}

/// Records the jobs it ran; fails the keys listed in `failing` (`true`: for good).
#[derive(Clone, Default)]
struct Recorder {
    ran: Arc<Mutex<Vec<(String, u32)>>>,
    failing: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Recorder {
    fn ran(&self) -> Vec<(String, u32)> {
        self.ran.lock().unwrap().clone()
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, job: &Job) -> Result<(), Failure> {
        self.ran.lock().unwrap().push((job.key.clone(), job.attempts));
        match self.failing.lock().unwrap().get(&job.key) {
            Some(true) => Err(Failure::Permanent(format!("{} cannot be sent", job.key))),
            Some(false) => Err(Failure::Retry("the provider is away".into())),
            None => Ok(()),
        }
    }
}

fn worker(store: &Arc<dyn JobStore>, owner: &str, recorder: &Recorder) -> JobWorker {
    JobWorker::new("jobs", store.clone(), owner, SignedDuration::from_secs(60), 10).handle("send", recorder.clone())
}

async fn state_of(store: &Arc<dyn JobStore>, ws: WorkspaceId, key: &str) -> (JobState, Option<String>) {
    for state in [JobState::Pending, JobState::Done, JobState::Dead] {
        if let Some(record) = store.jobs(ws, state, 100).await.unwrap().into_iter().find(|r| r.job.key == key) {
            return (record.state, record.last_error);
        }
    }
    panic!("no job {key}");
}

/// Runs key `slow` only once another job of the batch has run.
#[derive(Clone, Default)]
struct Relay {
    release: Arc<tokio::sync::Notify>,
    ran: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Handler for Relay {
    async fn handle(&self, job: &Job) -> Result<(), Failure> {
        if job.key == "slow" {
            self.release.notified().await;
            self.ran.lock().unwrap().push(job.key.clone());
        } else {
            self.ran.lock().unwrap().push(job.key.clone());
            self.release.notify_one();
        }
        Ok(())
    }
}

async fn a_slow_job_holds_one_slot_of_its_batch_not_the_batch(f: Fixture) {
    let ws = f.workspaces[0];
    f.store.schedule(ws, &job("send", "slow", at(0), 3), start()).await.unwrap();
    f.store.schedule(ws, &job("send", "fast", at(1), 3), start()).await.unwrap();
    let relay = Relay::default();
    let mut worker = JobWorker::new("jobs", f.store.clone(), "node-1", SignedDuration::from_secs(60), 10)
        .handle("send", relay.clone())
        .concurrency(2);
    // One after another, the slow job (claimed first) would wait for the fast one forever; side by
    // side, the fast one releases it. (The timeout only turns a hang into a failure.)
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), worker.run_once(at(1)))
        .await
        .expect("the batch's jobs ran side by side");
    assert_eq!(outcome.unwrap(), Outcome::Worked);
    assert_eq!(*relay.ran.lock().unwrap(), ["fast", "slow"]);
    assert_eq!(state_of(&f.store, ws, "slow").await, (JobState::Done, None));
    assert_eq!(state_of(&f.store, ws, "fast").await, (JobState::Done, None));
}

async fn a_scheduled_job_runs_once_when_due_and_its_key_schedules_it_only_once(f: Fixture) {
    let ws = f.workspaces[0];
    let (id, new) = f.store.schedule(ws, &job("send", "welcome-1", at(30), 3), start()).await.unwrap();
    assert!(new);
    assert_eq!(f.store.schedule(ws, &job("send", "welcome-1", at(99), 3), start()).await.unwrap(), (id, false));
    let recorder = Recorder::default();
    let mut worker = worker(&f.store, "node-1", &recorder);
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Idle { next_due: Some(at(30)) }, "not due yet");
    assert_eq!(worker.run_once(at(30)).await.unwrap(), Outcome::Worked);
    assert_eq!(recorder.ran(), vec![("welcome-1".into(), 1)]);
    assert_eq!(worker.run_once(at(31)).await.unwrap(), Outcome::Idle { next_due: None });
    assert_eq!(state_of(&f.store, ws, "welcome-1").await, (JobState::Done, None));
    // Done is final: the same key does not schedule it again.
    assert!(!f.store.schedule(ws, &job("send", "welcome-1", at(40), 3), at(40)).await.unwrap().1);
    assert_eq!(worker.run_once(at(41)).await.unwrap(), Outcome::Idle { next_due: None });
    assert_eq!(recorder.ran().len(), 1);
    // Another workspace has keys of its own.
    assert!(f.store.schedule(f.workspaces[1], &job("send", "welcome-1", at(40), 3), at(40)).await.unwrap().1);
}

async fn a_worker_yielding_to_a_backlog_holds_back_at_most_its_limit(f: Fixture) {
    let ws = f.workspaces[0];
    for key in ["a", "b"] {
        f.store.schedule(ws, &job("send", key, start(), 3), start()).await.unwrap();
    }
    let (recorder, backlog) = (Recorder::default(), siyu_jobs::Backlog::default());
    let mut worker = JobWorker::new("jobs", f.store.clone(), "node-1", SignedDuration::from_secs(60), 1)
        .handle("send", recorder.clone())
        .yield_to(backlog.clone());
    backlog.set(true);
    let look =
        |t: Timestamp| Outcome::Idle { next_due: Some(t.checked_add(SignedDuration::from_millis(100)).unwrap()) };
    assert_eq!(worker.run_once(at(1)).await.unwrap(), look(at(1)), "held while the work that goes first is behind");
    assert_eq!(worker.run_once(at(2)).await.unwrap(), look(at(2)));
    assert!(recorder.ran().is_empty());
    // Held for the longest it may be: one batch goes anyway, then it holds again.
    let limit = at(1).checked_add(siyu_jobs::worker::MAX_HOLD).unwrap();
    assert_eq!(worker.run_once(limit).await.unwrap(), Outcome::Worked);
    assert_eq!(recorder.ran().len(), 1);
    assert_eq!(worker.run_once(limit).await.unwrap(), look(limit));
    // Caught up: it runs at once.
    backlog.set(false);
    assert_eq!(worker.run_once(limit).await.unwrap(), Outcome::Worked);
    assert_eq!(recorder.ran().len(), 2);
}

async fn timers_scheduled_in_bulk_fire_in_due_order_and_complete_per_workspace_in_one_batch(f: Fixture) {
    let (a, b) = (f.workspaces[0], f.workspaces[1]);
    // 1,200 timers in one workspace (more than one multi-row statement), due a second apart, and
    // a key scheduled twice in the same call: it is one timer.
    let mut timers: Vec<NewJob> = (0..1200).map(|i| job("send", &format!("t-{i}"), at(i), 3)).collect();
    timers.push(job("send", "t-7", at(5000), 3));
    assert_eq!(f.store.schedule_many(a, &timers, start()).await.unwrap(), 1200);
    assert_eq!(f.store.schedule_many(a, &timers[..10], start()).await.unwrap(), 0, "keys schedule once");
    assert_eq!(f.store.schedule_many(b, &[job("send", "t-0", at(0), 3)], start()).await.unwrap(), 1);
    let recorder = Recorder::default();
    recorder.failing.lock().unwrap().insert("t-3".into(), false);
    let mut worker = JobWorker::new("jobs", f.store.clone(), "node-1", SignedDuration::from_secs(60), 500)
        .handle("send", recorder.clone());
    // At 9 s: ten of workspace a's and workspace b's one are due, earliest first.
    assert_eq!(worker.run_once(at(9)).await.unwrap(), Outcome::Worked);
    let ran: Vec<String> = recorder.ran().into_iter().map(|(key, _)| key).collect();
    assert_eq!(ran.len(), 11);
    assert_eq!(ran[..2], ["t-0".to_string(), "t-0".to_string()], "both workspaces' first timers first");
    for i in 0..10 {
        let expected = if i == 3 { JobState::Pending } else { JobState::Done };
        assert_eq!(state_of(&f.store, a, &format!("t-{i}")).await.0, expected, "t-{i}");
    }
    assert_eq!(state_of(&f.store, b, "t-0").await.0, JobState::Done);
    // Only the lease holder completes, and only in the workspace named.
    let claimed = f.store.claim(&["send".into()], "node-2", at(20), at(80), 5).await.unwrap();
    let ids: Vec<i64> = claimed.iter().map(|j| j.id).collect();
    assert_eq!(f.store.complete_many(a, &ids, "node-1", at(21)).await.unwrap(), 0, "not node-1's");
    assert_eq!(f.store.complete_many(b, &ids, "node-2", at(21)).await.unwrap(), 0, "not workspace b's");
    assert_eq!(f.store.complete_many(a, &ids, "node-2", at(21)).await.unwrap(), 5);
    // The rest fire as they come due; the failed one is retried later.
    assert_eq!(worker.run_once(at(2000)).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(2000)).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(2000)).await.unwrap(), Outcome::Worked);
    assert!(matches!(worker.run_once(at(2000)).await.unwrap(), Outcome::Idle { .. }));
    assert_eq!(f.store.jobs(a, JobState::Done, 2000).await.unwrap().len(), 1199);
}

async fn a_failing_job_is_retried_with_backoff_then_buried_with_the_reason(f: Fixture) {
    let ws = f.workspaces[0];
    let recorder = Recorder::default();
    recorder.failing.lock().unwrap().extend([("flaky".to_string(), false), ("broken".to_string(), true)]);
    f.store.schedule(ws, &job("send", "flaky", start(), 3), start()).await.unwrap();
    f.store.schedule(ws, &job("send", "broken", start(), 3), start()).await.unwrap();
    let mut worker = worker(&f.store, "node-1", &recorder);
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Worked);
    // A permanent failure is buried at once; a passing one waits 10 s, then 20 s.
    let (state, reason) = state_of(&f.store, ws, "broken").await;
    assert_eq!((state, reason.as_deref()), (JobState::Dead, Some("broken cannot be sent")));
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Idle { next_due: Some(at(10)) });
    assert_eq!(worker.run_once(at(10)).await.unwrap(), Outcome::Worked);
    assert_eq!(worker.run_once(at(10)).await.unwrap(), Outcome::Idle { next_due: Some(at(30)) });
    assert_eq!(worker.run_once(at(30)).await.unwrap(), Outcome::Worked);
    let (state, reason) = state_of(&f.store, ws, "flaky").await;
    assert_eq!(state, JobState::Dead);
    assert_eq!(reason.as_deref(), Some("the provider is away (gave up after 3 attempts)"));
    let flaky: Vec<u32> = recorder.ran().into_iter().filter(|(k, _)| k == "flaky").map(|(_, n)| n).collect();
    assert_eq!(flaky, [1, 2, 3]);
}

async fn a_job_whose_worker_died_is_claimed_again_after_its_lease_and_buried_after_too_many(f: Fixture) {
    let ws = f.workspaces[0];
    f.store.schedule(ws, &job("send", "orphan", start(), 2), start()).await.unwrap();
    f.store.schedule(ws, &job("send", "cursed", start(), 1), start()).await.unwrap();
    // A node claims both and dies before finishing.
    let claimed = f.store.claim(&["send".into()], "node-dead", start(), at(60), 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let recorder = Recorder::default();
    let mut worker = worker(&f.store, "node-2", &recorder);
    assert_eq!(worker.run_once(at(1)).await.unwrap(), Outcome::Idle { next_due: Some(at(60)) }, "leased elsewhere");
    assert!(!f.store.complete(ws, claimed[0].id, "node-2", at(1)).await.unwrap(), "only the lease holder completes");
    assert_eq!(worker.run_once(at(60)).await.unwrap(), Outcome::Worked);
    assert_eq!(recorder.ran(), vec![("orphan".into(), 2)], "the orphan runs on its second claim");
    let (state, reason) = state_of(&f.store, ws, "cursed").await;
    assert_eq!(state, JobState::Dead, "a job that may be claimed once is not run a second time");
    assert!(reason.unwrap().contains("claimed 1 times without finishing"));
    // Another workspace cannot complete it, and the dead node's late completion changes nothing.
    assert!(!f.store.complete(f.workspaces[1], claimed[1].id, "node-dead", at(61)).await.unwrap());
    assert!(!f.store.complete(ws, claimed[0].id, "node-dead", at(61)).await.unwrap());
    assert_eq!(state_of(&f.store, ws, "orphan").await.0, JobState::Done);
}

async fn jobs_survive_a_restart_and_listings_stay_in_their_workspace(f: Fixture) {
    let [a, b] = f.workspaces;
    f.store.schedule(a, &job("send", "later", at(3600), 3), start()).await.unwrap();
    f.store.schedule(b, &job("send", "other", at(3600), 3), start()).await.unwrap();
    let store = f.reopen().await;
    let pending = store.jobs(a, JobState::Pending, 10).await.unwrap();
    assert_eq!(pending.iter().map(|r| r.job.key.as_str()).collect::<Vec<_>>(), ["later"]);
    assert_eq!(pending[0].job.payload, r#"{"key":"later"}"#);
    let recorder = Recorder::default();
    let mut worker = worker(&store, "node-1", &recorder);
    assert_eq!(worker.run_once(at(3599)).await.unwrap(), Outcome::Idle { next_due: Some(at(3600)) });
    assert_eq!(worker.run_once(at(3600)).await.unwrap(), Outcome::Worked);
    let mut ran = recorder.ran();
    ran.sort();
    assert_eq!(ran, vec![("later".into(), 1), ("other".into(), 1)], "one worker serves every workspace");
}

struct Panicking;

#[async_trait]
impl Handler for Panicking {
    async fn handle(&self, job: &Job) -> Result<(), Failure> {
        panic!("handler bug on {}", job.key);
    }
}

async fn a_handler_that_panics_fails_its_job_not_the_worker(f: Fixture) {
    let ws = f.workspaces[0];
    f.store.schedule(ws, &job("explode", "boom", start(), 1), start()).await.unwrap();
    let mut worker = JobWorker::new("jobs", f.store.clone(), "node-1", SignedDuration::from_secs(60), 10)
        .handle("explode", Panicking);
    assert_eq!(worker.run_once(start()).await.unwrap(), Outcome::Worked);
    let (state, reason) = state_of(&f.store, ws, "boom").await;
    assert_eq!(state, JobState::Dead);
    assert!(reason.unwrap().contains("the handler panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgresql_database_never_run_a_job_twice() {
    let Some(f) = fresh_postgres().await else { return };
    let ws = f.workspaces[0];
    for n in 0..200 {
        f.store.schedule(ws, &job("send", &format!("j{n}"), start(), 3), start()).await.unwrap();
    }
    let other = f.reopen().await;
    let clock = Arc::new(ManualClock::new(at(1)));
    let (one, two) = (Recorder::default(), Recorder::default());
    let mut nodes = vec![worker(&f.store, "node-1", &one), worker(&other, "node-2", &two)];
    let runs = nodes.drain(..).map(|mut node| {
        let clock = clock.clone();
        tokio::spawn(async move { while node.run_once(clock.now()).await.unwrap() == Outcome::Worked {} })
    });
    for run in runs.collect::<Vec<_>>() {
        run.await.unwrap();
    }
    let mut all: Vec<String> = one.ran().into_iter().chain(two.ran()).map(|(k, _)| k).collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!((total, all.len()), (200, 200), "every job ran exactly once");
}
