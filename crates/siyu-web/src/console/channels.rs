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
    ChannelInput, ChannelView, FrequencyCapInput, MessagingSettings, QuietHoursInput, TestMessage, TestOutcome,
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
    channel: ChannelForm,
    channel_errors: Vec<FieldMessage>,
    channels: Vec<ChannelRow>,
    tested: Option<Tested>,
}

/// A secret's input on the channel form.
struct SecretField {
    name: &'static str,
    /// Whether the channel being edited holds it (a blank input keeps it).
    set: bool,
}

/// The form that adds a channel or changes one.
struct ChannelForm {
    editing: bool,
    name: String,
    kinds: Vec<Choice>,
    /// The settings as JSON.
    settings: String,
    secrets: Vec<SecretField>,
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
        "unmatched" => t.callback_unmatched,
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

/// What the page shows besides the stored settings and channels.
#[derive(Default)]
struct Shown<'a> {
    /// The rules form as sent, with what was wrong with it.
    rules: Option<(&'a FormData, Vec<FieldMessage>)>,
    /// The channel form as sent, with what was wrong with it.
    channel: Option<(&'a FormData, Vec<FieldMessage>)>,
    /// The channel whose settings the channel form holds (`?edit=`).
    edit: &'a str,
    tested: Option<Tested>,
    done: &'a str,
}

/// The secrets the form asks for: every kind's, each named once.
fn secret_names(app: &AppState) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for kind in app.services.messaging.kinds() {
        for secret in kind.secrets {
            if !names.contains(secret) {
                names.push(secret);
            }
        }
    }
    names
}

/// The channel form: empty, a stored channel's (secrets never shown), or as it was sent.
fn channel_form(app: &AppState, t: &Text, channels: &[ChannelView], shown: &Shown) -> ChannelForm {
    // The channel being changed: the one asked for, or the one a refused change names.
    let editing = match &shown.channel {
        Some((form, _)) if form.get("editing") == "1" => form.get("name").trim(),
        _ => shown.edit,
    };
    let stored = channels.iter().find(|c| c.name == editing);
    let (name, kind, settings) = match (&shown.channel, stored) {
        (Some((form, _)), _) => {
            (form.get("name").to_string(), form.get("kind").to_string(), form.get("settings").to_string())
        }
        (None, Some(c)) => {
            (c.name.clone(), c.kind.clone(), serde_json::to_string_pretty(&c.settings).unwrap_or_default())
        }
        (None, None) => (String::new(), "webhook".into(), String::new()),
    };
    let kinds = app
        .services
        .messaging
        .kinds()
        .iter()
        .map(|k| Choice { value: k.name.into(), label: kind_words(t, k.name).into(), selected: k.name == kind })
        .collect();
    let secrets = secret_names(app)
        .into_iter()
        .map(|name| SecretField { name, set: stored.is_some_and(|c| c.secrets.iter().any(|s| s == name)) })
        .collect();
    ChannelForm {
        editing: stored.is_some() || shown.channel.as_ref().is_some_and(|(f, _)| f.get("editing") == "1"),
        name,
        kinds,
        settings,
        secrets,
    }
}

/// Reads the settings and channels and renders the page with `status`.
async fn page(app: &AppState, console: &Console, status: StatusCode, shown: Shown<'_>) -> Response {
    let messaging = &app.services.messaging;
    let (settings, channels) =
        match (messaging.messaging_settings(&console.principal).await, messaging.channels(&console.principal).await) {
            (Ok(settings), Ok(channels)) => (settings, channels),
            (Err(error), _) | (_, Err(error)) => return console.fail(error),
        };
    let t = console.t();
    let mut rules = rules_of(t, &settings, &channels);
    let mut errors = Vec::new();
    let channel = channel_form(app, t, &channels, &shown);
    let channel_errors = shown.channel.as_ref().map(|(_, errors)| errors.clone()).unwrap_or_default();
    if let Some((form, messages)) = shown.rules {
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
        chrome: Chrome::new(console, "channels").with_flash(t, shown.done),
        can_manage: console.may(Permission::WorkspaceManage),
        rules,
        errors,
        channel,
        channel_errors,
        channels: rows(console, &channels),
        tested: shown.tested,
    };
    render(status, &page)
}

/// GET /channels: the messaging rules and the configured channels.
pub(crate) async fn show_channels(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let query = FormData::query(raw);
    page(&app, &console, StatusCode::OK, Shown { done: query.get("done"), edit: query.get("edit"), ..Shown::default() })
        .await
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
                let shown = Shown { rules: Some((&form, errors)), ..Shown::default() };
                page(&app, &console, StatusCode::UNPROCESSABLE_ENTITY, shown).await
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
            page(&app, &console, StatusCode::OK, Shown { tested: Some(tested), ..Shown::default() }).await
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
                let shown = Shown { tested: Some(tested), ..Shown::default() };
                page(&app, &console, StatusCode::UNPROCESSABLE_ENTITY, shown).await
            }
            None => console.fail(error),
        },
    }
}

/// A channel form's field in words: settings and secrets by their name, quoted as the
/// provider's terms they are.
fn channel_field(t: &Text, field: &str) -> String {
    if let Some(name) = field.strip_prefix("settings.") {
        format!("{} “{name}”", t.channel_settings)
    } else if let Some(name) = field.strip_prefix("secrets.") {
        format!("{} “{name}”", t.col_secrets)
    } else {
        match field {
            "settings" => t.channel_settings.into(),
            "kind" => t.col_kind.into(),
            other => t.field(other).into(),
        }
    }
}

/// POST /channels/save: adds a channel or changes one (`name`, `kind`, `settings` as a JSON
/// object, `secret.<name>` for each secret given — a blank one keeps the stored secret); a bad
/// value is shown beside the form (422) and nothing is saved.
pub(crate) async fn save_channel(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    // The role before the form: a role that may not save learns nothing about its values.
    if !console.may(Permission::WorkspaceManage) {
        return console.fail(DomainError::Forbidden(Permission::WorkspaceManage.name()));
    }
    let t = console.t();
    let settings = match form.get("settings").trim() {
        "" => Ok(serde_json::Map::new()),
        text => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
            .map_err(|e| DomainError::invalid("settings", format!("is not a JSON object: {e}"))),
    };
    let secrets = secret_names(&app)
        .into_iter()
        .filter_map(|name| {
            let value = form.get(&format!("secret.{name}")).trim();
            (!value.is_empty()).then(|| (name.to_string(), value.to_string()))
        })
        .collect();
    let name = form.get("name").trim().to_string();
    // Adding (not changing) a channel never replaces one of the same name.
    let taken = match form.get("editing") == "1" {
        true => false,
        false => match app.services.messaging.channels(&console.principal).await {
            Ok(channels) => channels.iter().any(|c| c.name == name),
            Err(error) => return console.fail(error),
        },
    };
    let settings = match taken {
        true => {
            Err(DomainError::invalid("name", format!("a channel named \"{name}\" exists: change it from the list")))
        }
        false => settings,
    };
    let result = match settings {
        Ok(settings) => {
            let input = ChannelInput { kind: form.get("kind").trim().into(), settings, secrets };
            app.services.messaging.save_channel(&console.principal, &name, input).await.map(|_| ())
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Redirect::to("/channels?done=channel_saved").into_response(),
        Err(error) => match form_errors(t, &error) {
            Some(mut errors) => {
                for e in &mut errors {
                    e.label = channel_field(t, &e.field);
                }
                let shown = Shown { channel: Some((&form, errors)), ..Shown::default() };
                page(&app, &console, StatusCode::UNPROCESSABLE_ENTITY, shown).await
            }
            None => console.fail(error),
        },
    }
}

/// POST /channels/{name}/delete: removes a channel.
pub(crate) async fn delete_channel(State(app): State<AppState>, Path(name): Path<String>, post: Post) -> Response {
    let console = post.console;
    match app.services.messaging.delete_channel(&console.principal, &name).await {
        Ok(()) => Redirect::to("/channels?done=channel_deleted").into_response(),
        Err(error) => console.fail(error),
    }
}
