//! The channels page (`/channels`): the workspace's messaging rules (quiet hours, the frequency cap
//! and the staff channel) as a form, each configured channel with its kind, the secrets it holds
//! (named, never shown) and the provider's callbacks by outcome, and a test send per channel whose
//! answer (the provider's own words) is shown on the page.

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_domain::DomainError;
use siyu_domain::FieldError;
use siyu_domain::access::Permission;
use siyu_domain::channels::messaging::{
    ChannelView, FrequencyCapInput, MessagingSettings, QuietHoursInput, TestMessage, TestOutcome,
};

/// Kinds of channel that notify staff rather than customers.
const STAFF_KINDS: [&str; 3] = ["dingtalk", "feishu", "wecom_app"];

struct ChannelRow {
    name: String,
    kind: &'static str,
    for_staff: bool,
    secrets: String,
    callbacks: String,
    updated: String,
}

/// A test send's answer, as the page shows it.
struct Tested {
    channel: String,
    outcome: &'static str,
    outcome_key: String,
    /// The provider's words, shown as data.
    reason: String,
}

/// The rules form's values, as typed.
struct Rules {
    quiet: bool,
    quiet_start: String,
    quiet_end: String,
    cap_max: String,
    cap_days: String,
    staff: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage {
    t: &'static Text,
    chrome: Chrome,
    can_manage: bool,
    rules: Rules,
    errors: Vec<FieldMessage>,
    channels: Vec<ChannelRow>,
    tested: Option<Tested>,
}

fn kind_words(t: &Text, kind: &str) -> &'static str {
    match kind {
        "webhook" => t.kind_webhook,
        "email" => t.kind_email,
        "sms" => t.kind_sms,
        "wecom" => t.kind_wecom,
        "wecom_app" => t.kind_wecom_app,
        "wechat_mp" => t.kind_wechat_mp,
        "wechat_mini" => t.kind_wechat_mini,
        "dingtalk" => t.kind_dingtalk,
        "feishu" => t.kind_feishu,
        _ => t.kind_other,
    }
}

fn callback_words<'a>(t: &Text, outcome: &'a str) -> &'a str {
    match outcome {
        "accepted" => t.callback_accepted,
        "repeated" => t.callback_repeated,
        "verified" => t.callback_verified,
        "forged" => t.callback_forged,
        "stale" => t.callback_stale,
        "unreadable" => t.callback_unreadable,
        other => other,
    }
}

fn outcome_words(t: &Text, outcome: &str) -> &'static str {
    match outcome {
        "accepted" => t.test_accepted,
        "rejected" => t.test_rejected,
        "retry" => t.test_retry,
        "dry_run" => t.test_dry_run,
        _ => t.kind_other,
    }
}

fn rules_of(t: &Text, settings: &MessagingSettings, channels: &[ChannelView]) -> Rules {
    let mut staff =
        vec![Choice { value: String::new(), label: t.staff_none.into(), selected: settings.staff_channel.is_none() }];
    staff.extend(channels.iter().filter(|c| STAFF_KINDS.contains(&c.kind.as_str())).map(|c| Choice {
        selected: settings.staff_channel.as_deref() == Some(c.name.as_str()),
        label: format!("{} · {}", c.name, kind_words(t, &c.kind)),
        value: c.name.clone(),
    }));
    let (start, end) = settings.quiet_hours.as_ref().map_or(("21:00", "09:00"), |q| (q.start.as_str(), q.end.as_str()));
    Rules {
        quiet: settings.quiet_hours.is_some(),
        quiet_start: start.into(),
        quiet_end: end.into(),
        cap_max: settings.frequency_cap.max.to_string(),
        cap_days: settings.frequency_cap.days.to_string(),
        staff,
    }
}

fn rows(console: &Console, channels: &[ChannelView]) -> Vec<ChannelRow> {
    let t = console.t();
    channels
        .iter()
        .map(|c| ChannelRow {
            name: c.name.clone(),
            kind: kind_words(t, &c.kind),
            for_staff: STAFF_KINDS.contains(&c.kind.as_str()),
            secrets: c.secrets.join(", "),
            callbacks: c
                .callbacks
                .iter()
                .map(|(outcome, n)| format!("{} {n}", callback_words(t, outcome)))
                .collect::<Vec<_>>()
                .join(" · "),
            updated: console.time(c.updated_at),
        })
        .collect()
}

/// Reads the settings and channels and renders the page with `status`.
async fn page(
    app: &AppState,
    console: &Console,
    status: StatusCode,
    form: Option<(&FormData, Vec<FieldMessage>)>,
    tested: Option<Tested>,
    done: &str,
) -> Response {
    let messaging = &app.services.messaging;
    let (settings, channels) =
        match (messaging.messaging_settings(&console.principal).await, messaging.channels(&console.principal).await) {
            (Ok(settings), Ok(channels)) => (settings, channels),
            (Err(error), _) | (_, Err(error)) => return console.fail(error),
        };
    let t = console.t();
    let mut rules = rules_of(t, &settings, &channels);
    let mut errors = Vec::new();
    if let Some((form, messages)) = form {
        // The form as it was sent, beside what was wrong with it.
        rules.quiet = !form.get("quiet").is_empty();
        rules.quiet_start = form.get("quiet_start").into();
        rules.quiet_end = form.get("quiet_end").into();
        rules.cap_max = form.get("cap_max").into();
        rules.cap_days = form.get("cap_days").into();
        for choice in &mut rules.staff {
            choice.selected = choice.value == form.get("staff_channel");
        }
        errors = messages;
    }
    let page = ChannelsPage {
        t,
        chrome: Chrome::new(console, "channels").with_flash(t, done),
        can_manage: console.may(Permission::WorkspaceManage),
        rules,
        errors,
        channels: rows(console, &channels),
        tested,
    };
    render(status, &page)
}

/// GET /channels: the messaging rules and the configured channels.
pub(crate) async fn show_channels(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let done = FormData::query(raw).get("done").to_string();
    page(&app, &console, StatusCode::OK, None, None, &done).await
}

/// A whole number of the form, or the field's error.
fn whole(form: &FormData, name: &str, field: &str, errors: &mut Vec<FieldError>) -> u32 {
    form.get(name).trim().parse().unwrap_or_else(|_| {
        errors.push(FieldError::new(field, format!("\"{}\" is not a whole number", form.get(name))));
        0
    })
}

/// POST /channels/settings: saves the messaging rules; a bad value is shown beside the form (422)
/// and nothing is saved.
pub(crate) async fn save_rules(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    // The role before the form: a role that may not save learns nothing about its values.
    if !console.may(Permission::WorkspaceManage) {
        return console.fail(DomainError::Forbidden(Permission::WorkspaceManage.name()));
    }
    let t = console.t();
    let mut unreadable = Vec::new();
    let frequency_cap = FrequencyCapInput {
        max: whole(&form, "cap_max", "frequency_cap.max", &mut unreadable),
        days: whole(&form, "cap_days", "frequency_cap.days", &mut unreadable),
    };
    let settings = MessagingSettings {
        quiet_hours: (!form.get("quiet").is_empty()).then(|| QuietHoursInput {
            start: form.get("quiet_start").trim().into(),
            end: form.get("quiet_end").trim().into(),
        }),
        frequency_cap,
        staff_channel: Some(form.get("staff_channel").trim().to_string()).filter(|s| !s.is_empty()),
    };
    let result = match unreadable.is_empty() {
        true => app.services.messaging.set_messaging_settings(&console.principal, &settings).await.map(|_| ()),
        false => Err(DomainError::Invalid(unreadable)),
    };
    match result {
        Ok(()) => Redirect::to("/channels?done=rules").into_response(),
        Err(error) => match form_errors(t, &error) {
            Some(errors) => {
                page(&app, &console, StatusCode::UNPROCESSABLE_ENTITY, Some((&form, errors)), None, "").await
            }
            None => console.fail(error),
        },
    }
}

/// POST /channels/{name}/test: sends a test message through the channel now and shows what the
/// provider answered.
pub(crate) async fn test_channel(State(app): State<AppState>, Path(name): Path<String>, post: Post) -> Response {
    let Post { console, form } = post;
    let t = console.t();
    let body = Some(form.get("body").trim()).filter(|b| !b.is_empty()).unwrap_or(t.test_body_default);
    let message =
        TestMessage { to: form.get("to").trim().into(), body: body.into(), template: None, params: Default::default() };
    match app.services.messaging.test_channel(&console.principal, &name, message).await {
        Ok(TestOutcome { outcome, reason, .. }) => {
            let tested = Tested {
                channel: name,
                outcome: outcome_words(t, &outcome),
                outcome_key: outcome,
                reason: reason.map(|r| t.reason(&r)).unwrap_or_default(),
            };
            page(&app, &console, StatusCode::OK, None, Some(tested), "").await
        }
        Err(error) => match form_errors(t, &error) {
            Some(errors) => {
                let label = |field: &str| match field {
                    "to" => t.test_to.to_string(),
                    "body" => t.test_body.to_string(),
                    other => t.field(other).to_string(),
                };
                let reason =
                    errors.iter().map(|e| format!("{}: {}", label(&e.field), e.reason)).collect::<Vec<_>>().join("; ");
                let tested = Tested { channel: name, outcome: t.test_refused, outcome_key: "refused".into(), reason };
                page(&app, &console, StatusCode::UNPROCESSABLE_ENTITY, None, Some(tested), "").await
            }
            None => console.fail(error),
        },
    }
}
