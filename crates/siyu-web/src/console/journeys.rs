//! The journeys pages: the list with each journey's status and counts (`/journeys`), the agents'
//! follow-up tasks that journeys create (`/tasks`), each with its customer and reason, marked done
//! from the page, and the message log (`/messages`) filtered by channel and status, each blocked or
//! failed message with its reason.

use super::i18n::Text;
use super::page::{Choice, Chrome, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_domain::DomainError;
use siyu_domain::channels::guardrails::MessageClass;
use siyu_domain::channels::messaging::MessageView;
use siyu_domain::channels::store::{MessageFilter, MessageStatus};
use siyu_domain::journeys::Trigger;
use siyu_domain::journeys::service::EntryView;
use siyu_domain::journeys::store::EntryState;
use siyu_domain::journeys::store::JourneyStatus;

struct JourneyRow {
    id: i64,
    name: String,
    status: &'static str,
    status_key: &'static str,
    trigger: String,
    version: i64,
    active: i64,
    done: i64,
    converted: i64,
    last_firing: String,
}

#[derive(Template)]
#[template(path = "journeys.html")]
struct JourneysPage {
    t: &'static Text,
    chrome: Chrome,
    can_manage: bool,
    journeys: Vec<JourneyRow>,
}

pub(crate) fn status(t: &Text, status: JourneyStatus) -> (&'static str, &'static str) {
    match status {
        JourneyStatus::Draft => (t.journey_draft, "draft"),
        JourneyStatus::Active => (t.journey_active, "active"),
        JourneyStatus::Paused => (t.journey_paused, "paused"),
        JourneyStatus::Archived => (t.journey_archived, "archived"),
    }
}

pub(crate) fn trigger(t: &Text, trigger: &Trigger) -> String {
    match trigger {
        Trigger::Event { event, .. } => format!("{} {event}", t.trigger_event),
        Trigger::SegmentEntered { segment } => format!("{} {segment}", t.trigger_segment_entered),
        Trigger::SegmentExited { segment } => format!("{} {segment}", t.trigger_segment_exited),
        Trigger::Broadcast { segment, cron: Some(cron), .. } => format!("{} {segment} · {cron}", t.trigger_broadcast),
        Trigger::Broadcast { segment, .. } => format!("{} {segment}", t.trigger_broadcast),
        Trigger::Anniversary { key, time } => {
            format!("{} {} · {time}", t.trigger_anniversary, t.trait_label(key).unwrap_or(key))
        }
        Trigger::Api => t.trigger_api.to_string(),
    }
}

/// GET /journeys: every journey with its status and counts.
pub(crate) async fn list_journeys(State(app): State<AppState>, console: Console) -> Response {
    let journeys = &app.services.journeys;
    let views = match journeys.journeys(&console.principal).await {
        Ok(views) => views,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let mut rows = Vec::new();
    for view in views {
        let stats = match journeys.stats(&console.principal, view.id).await {
            Ok(stats) => stats,
            Err(error) => return console.fail(error),
        };
        let (status, status_key) = status(t, view.status);
        let count = |state: &str| stats.entries.get(state).copied().unwrap_or(0);
        rows.push(JourneyRow {
            id: view.id,
            name: view.name,
            status,
            status_key,
            trigger: trigger(t, &view.draft.trigger),
            version: view.version,
            active: count("active"),
            done: count("done") + count("exited"),
            converted: stats.converted,
            last_firing: stats
                .firings
                .first()
                .map(|f| format!("{} · {}", console.time(f.occurrence), f.entered))
                .unwrap_or_default(),
        });
    }
    let can_manage = console.may(siyu_domain::access::Permission::JourneysManage);
    render(StatusCode::OK, &JourneysPage { t, chrome: Chrome::new(&console, "journeys"), can_manage, journeys: rows })
}

struct TaskRow {
    id: i64,
    customer_id: i64,
    journey_id: i64,
    reason: String,
    created: String,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    t: &'static Text,
    chrome: Chrome,
    tasks: Vec<TaskRow>,
}

/// GET /tasks: the open follow-up tasks, newest first.
pub(crate) async fn list_tasks(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let tasks = match app.services.journeys.tasks(&console.principal, true).await {
        Ok(tasks) => tasks,
        Err(error) => return console.fail(error),
    };
    let tasks = tasks
        .into_iter()
        .map(|task| TaskRow {
            id: task.id,
            customer_id: task.customer_id.0,
            journey_id: task.journey_id,
            reason: task.reason,
            created: console.time(task.created_at),
        })
        .collect();
    let t = console.t();
    let mut page = TasksPage { t, chrome: Chrome::new(&console, "tasks"), tasks };
    page.chrome = page.chrome.with_flash(t, FormData::query(raw).get("done"));
    render(StatusCode::OK, &page)
}

/// POST /tasks/{id}/done: marks a task done.
pub(crate) async fn complete_task(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let console = post.console;
    let Ok(id) = id.parse::<i64>() else {
        return console.fail(DomainError::NotFound(format!("task \"{id}\"")));
    };
    match app.services.journeys.complete_task(&console.principal, id).await {
        Ok(()) => Redirect::to("/tasks?done=task_done").into_response(),
        Err(error) => console.fail(error),
    }
}

pub(crate) struct MessageRow {
    pub(crate) created: String,
    pub(crate) channel: String,
    pub(crate) customer_id: Option<i64>,
    pub(crate) class: &'static str,
    pub(crate) status: &'static str,
    pub(crate) status_key: &'static str,
    pub(crate) reason: String,
    pub(crate) journey: Option<i64>,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    t: &'static Text,
    chrome: Chrome,
    channels: Vec<Choice>,
    statuses: Vec<Choice>,
    messages: Vec<MessageRow>,
}

const STATUSES: [MessageStatus; 8] = MessageStatus::ALL;

fn status_words(t: &Text, status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Queued => t.status_queued,
        MessageStatus::Sending => t.status_sending,
        MessageStatus::Sent => t.status_sent,
        MessageStatus::Failed => t.status_failed,
        MessageStatus::Blocked => t.status_blocked,
        MessageStatus::DryRun => t.status_dry_run,
        MessageStatus::Delivered => t.status_delivered,
        MessageStatus::Undelivered => t.status_undelivered,
    }
}

/// The most messages the page lists.
const MESSAGES_PAGE: usize = 200;

/// GET /messages: the message log, newest first, filtered by channel and status.
pub(crate) async fn list_messages(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let query = FormData::query(raw);
    let t = console.t();
    let channel = Some(query.get("channel").to_string()).filter(|c| !c.is_empty());
    let status = MessageStatus::parse(query.get("status"));
    let filter = MessageFilter { channel: channel.clone(), status, ..MessageFilter::default() };
    let messaging = &app.services.messaging;
    let (views, configured) = match (
        messaging.messages(&console.principal, filter, MESSAGES_PAGE).await,
        messaging.channels(&console.principal).await,
    ) {
        (Ok(views), Ok(channels)) => (views, channels),
        (Err(error), _) | (_, Err(error)) => return console.fail(error),
    };
    let mut channels =
        vec![Choice { value: String::new(), label: t.messages_all_channels.into(), selected: channel.is_none() }];
    channels.extend(configured.into_iter().map(|c| Choice {
        selected: channel.as_deref() == Some(c.name.as_str()),
        label: c.name.clone(),
        value: c.name,
    }));
    let mut statuses =
        vec![Choice { value: String::new(), label: t.messages_all_statuses.into(), selected: status.is_none() }];
    statuses.extend(STATUSES.iter().map(|s| Choice {
        value: s.as_str().into(),
        label: status_words(t, *s).into(),
        selected: status == Some(*s),
    }));
    let messages = message_rows(&console, views);
    render(StatusCode::OK, &MessagesPage { t, chrome: Chrome::new(&console, "messages"), channels, statuses, messages })
}

/// Messages as the log's rows show them, in the console's language.
pub(crate) fn message_rows(console: &Console, views: Vec<MessageView>) -> Vec<MessageRow> {
    let t = console.t();
    views
        .into_iter()
        .map(|m| MessageRow {
            created: console.time(m.created_at),
            channel: m.channel,
            customer_id: m.customer_id.map(|c| c.0),
            class: match m.class {
                MessageClass::Marketing => t.class_marketing,
                MessageClass::Transactional => t.class_transactional,
            },
            status: status_words(t, m.status),
            status_key: m.status.as_str(),
            reason: m.reason.as_deref().map(|r| t.reason(r)).unwrap_or_default(),
            journey: m.source.get("journey").and_then(serde_json::Value::as_i64),
        })
        .collect()
}

/// A customer's place on a journey, as the 360 page shows it.
pub(crate) struct EntryRow {
    pub(crate) journey_id: i64,
    pub(crate) version: i64,
    pub(crate) node: String,
    pub(crate) state: &'static str,
    pub(crate) converted: bool,
    pub(crate) entered: String,
}

/// A customer's journey entries as the 360 page's rows.
pub(crate) fn entry_rows(console: &Console, entries: Vec<EntryView>) -> Vec<EntryRow> {
    let t = console.t();
    entries
        .into_iter()
        .map(|e| EntryRow {
            journey_id: e.journey_id,
            version: e.version,
            node: e.node,
            state: match e.state {
                EntryState::Active if e.waiting => t.entry_waiting,
                EntryState::Active => t.entry_active,
                EntryState::Done => t.entry_done,
                EntryState::Exited => t.entry_exited,
            },
            converted: e.converted,
            entered: console.time(e.entered_at),
        })
        .collect()
}
