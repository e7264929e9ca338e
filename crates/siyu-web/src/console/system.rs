//! The background work page (owners only): each worker of this process — what it is doing, how
//! often it ran, its failures in a row and last error, and when it next runs.

use super::i18n::Text;
use super::page::{Chrome, render};
use super::session::Console;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use siyu_domain::access::Permission;

struct WorkerRow {
    name: String,
    /// The machine name (`models.refresh`), for tools and tests.
    key: String,
    state: &'static str,
    state_key: String,
    runs: u64,
    failures: u32,
    last_error: String,
    last_run: String,
    next_due: String,
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    t: &'static Text,
    chrome: Chrome,
    workers: Vec<WorkerRow>,
}

/// Returns a worker's name in words.
fn worker_name(t: &Text, name: &str) -> String {
    match name {
        "models.refresh" => t.worker_models.into(),
        "segments.refresh" => t.worker_segments.into(),
        "jobs" => t.worker_jobs.into(),
        "store.checkpoint" => t.worker_checkpoint.into(),
        "index.upkeep" => t.worker_index_upkeep.into(),
        "segments.upkeep" => t.worker_segment_upkeep.into(),
        "segments.record" => t.worker_segment_record.into(),
        "channels.send" => t.worker_send.into(),
        "journeys.enter" => t.worker_journey_enter.into(),
        "journeys.step" => t.worker_journey_step.into(),
        "journeys.schedule" => t.worker_journey_schedule.into(),
        "journeys.position" => t.worker_journey_position.into(),
        "campaigns.upkeep" => t.worker_campaigns.into(),
        "campaigns.issue" => t.worker_coupon_issue.into(),
        other => format!("\"{other}\""),
    }
}

fn state_name(t: &Text, state: &str) -> &'static str {
    match state {
        "working" => t.worker_working,
        "idle" => t.worker_idle,
        "backing_off" => t.worker_backing_off,
        "stopped" => t.worker_stopped,
        _ => t.worker_starting,
    }
}

/// GET /system: the background workers' statuses (`workspace:manage`).
pub(crate) async fn show_system(State(app): State<AppState>, console: Console) -> Response {
    if let Err(error) = console.principal.require(Permission::WorkspaceManage) {
        return console.fail(error);
    }
    let t = console.t();
    let time = |text: &Option<String>| {
        text.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|at| console.time(at)).unwrap_or_default()
    };
    let workers = app
        .workers
        .all()
        .into_iter()
        .map(|w| WorkerRow {
            name: worker_name(t, &w.name),
            state: state_name(t, &w.state),
            state_key: w.state.clone(),
            runs: w.runs,
            failures: w.failures,
            last_error: w.last_error.as_deref().map(|e| t.reason(e)).unwrap_or_default(),
            last_run: time(&w.last_run),
            next_due: time(&w.next_due),
            key: w.name,
        })
        .collect();
    render(StatusCode::OK, &SystemPage { t, chrome: Chrome::new(&console, "system"), workers })
}
