//! A journey's page (`/journeys/{id}`, and `/journeys/new` for a draft not yet saved): the graph
//! with each node's counts (drawn on the server, [`super::journey_graph`]), the split arms'
//! conversions and the scheduled runs, and the editor — a form per node, drawn by
//! `assets/journey.js` over the definition's JSON (which stays editable, and is what the form
//! posts). Each change is checked at `/journeys/check` as publishing would check it (the graph
//! redrawn, each problem shown at its node) and a send node's templates are rendered for a chosen
//! customer at `/messages/preview`. Saving keeps a draft; "save and publish" publishes only a
//! definition without problems, and saves nothing otherwise.

use super::i18n::Text;
use super::journey_graph;
use super::journeys::{status, trigger};
use super::page::{Chrome, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use siyu_domain::access::Permission;
use siyu_domain::channels::messaging::{Language, PreviewInput, Translation};
use siyu_domain::journeys::service::JourneyStats;
use siyu_domain::journeys::store::JourneyStatus;
use siyu_domain::journeys::{Definition, JourneyInput};
use siyu_domain::{DomainError, FieldError};
use std::collections::BTreeSet;

/// A problem the check found, at its node.
struct ProblemRow {
    field: String,
    node: String,
    label: String,
    reason: String,
}

struct ArmRow {
    name: String,
    entries: i64,
    converted: i64,
    rate: String,
}

struct FiringRow {
    occurrence: String,
    entered: u64,
}

#[derive(Template)]
#[template(path = "journey.html")]
struct JourneyPage {
    t: &'static Text,
    chrome: Chrome,
    /// None: a new journey.
    id: Option<i64>,
    name: String,
    status: &'static str,
    status_key: &'static str,
    version: i64,
    graph: String,
    definition: String,
    problems: Vec<ProblemRow>,
    /// Whether the definition was checked (then no problems means it would publish).
    checked: bool,
    arms: Vec<ArmRow>,
    firings: Vec<FiringRow>,
    can_manage: bool,
    config: String,
}

/// The draft a new journey starts from: entered by API, a day's wait, then a follow-up task whose
/// reason is in the console's language.
fn starter(t: &Text) -> Definition {
    serde_json::from_value(json!({"trigger": {"type": "api"}, "start": "wait_1", "nodes": {
        "wait_1": {"type": "wait", "duration": "1d", "next": "task_1"},
        "task_1": {"type": "task", "reason": t.journey_starter_task}}}))
    .expect("the starter is a definition")
}

/// The node a problem's field is at (`definition.nodes.welcome.body` → `welcome`).
fn node_of(field: &str) -> String {
    let field = field.strip_prefix("definition.").unwrap_or(field);
    field.strip_prefix("nodes.").and_then(|rest| rest.split('.').next()).unwrap_or_default().to_string()
}

/// A problem's field in words: the node and the field's label.
fn field_words(t: &Text, field: &str) -> String {
    let field = field.strip_prefix("definition.").unwrap_or(field);
    let part = |name: &str| match name {
        "duration" => t.field_duration,
        "time" => t.field_time,
        "days" => t.field_days,
        "event" => t.field_event,
        "where" => t.field_where,
        "timeout" => t.field_timeout,
        "condition" => t.field_condition,
        "arms" => t.node_split,
        "name" => t.field_arm_name,
        "percent" => t.field_arm_percent,
        "channel" => t.field_channel,
        "class" => t.field_class,
        "subject" => t.field_subject,
        "body" => t.field_body,
        "html" => t.field_html,
        "template" => t.field_template,
        "saved_template" => t.field_saved_template,
        "params" => t.field_params,
        "data" => t.field_data,
        "tag" => t.field_tag,
        "key" => t.field_trait_key,
        "value" => t.field_trait_value,
        "reason" => t.field_reason,
        "coupon_template" => t.field_coupon_template,
        "lottery" => t.field_lottery,
        "chances" => t.field_chances,
        "next" => t.outlet_next,
        "yes" => t.outlet_yes,
        "no" => t.outlet_no,
        "timeout_next" => t.outlet_timeout,
        "segment" => t.field_segment,
        "cron" => t.field_cron,
        "at" => t.field_at,
        "trait" => t.field_date_trait,
        _ => "",
    };
    let mut parts = field.split('.');
    match parts.next().unwrap_or_default() {
        "nodes" => match parts.next() {
            Some(id) => {
                let rest: Vec<&str> = parts.collect();
                let mut words: Vec<&str> = rest.iter().map(|p| part(p)).filter(|w| !w.is_empty()).collect();
                // The English text's fields (`en.body`) by their own labels.
                if rest.first() == Some(&"en") {
                    words.push(match rest.get(1) {
                        Some(&"subject") => t.field_en_subject,
                        Some(&"html") => t.field_en_html,
                        _ => t.field_en_body,
                    });
                }
                match words.last() {
                    Some(last) => format!("{} {id} · {last}", t.journey_node),
                    None => format!("{} {id}", t.journey_node),
                }
            }
            None => t.journey_nodes.into(),
        },
        "trigger" => t.journey_trigger.into(),
        "goal" => t.journey_goal.into(),
        "reentry" => t.journey_reentry.into(),
        "start" => t.journey_start.into(),
        "name" => t.name.into(),
        // A preview's fields (`body`, `en.body`): the message's own.
        "en" => match field {
            "en.subject" => t.field_en_subject.into(),
            "en.html" => t.field_en_html.into(),
            _ => t.field_en_body.into(),
        },
        other => match part(other) {
            "" => t.journey_json.into(),
            words => words.into(),
        },
    }
}

fn problem_rows(t: &Text, errors: &[FieldError]) -> Vec<ProblemRow> {
    errors
        .iter()
        .map(|e| ProblemRow {
            field: e.field.clone(),
            node: node_of(&e.field),
            label: field_words(t, &e.field),
            reason: t.reason(&e.reason),
        })
        .collect()
}

/// Reads a definition's JSON as typed, or the problem with it.
fn parse(text: &str) -> Result<Definition, FieldError> {
    serde_json::from_str(text).map_err(|e| FieldError::new("definition", format!("is not a journey definition: {e}")))
}

/// Everything the editor script needs, in the page's language: labels, the workspace's channels,
/// tags and segments.
async fn config(app: &AppState, console: &Console, id: Option<i64>, can_manage: bool) -> Value {
    let t = console.t();
    let (mut channels, mut tags, mut segments, mut templates) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut coupon_templates, mut lotteries) = (Vec::new(), Vec::new());
    if can_manage {
        let principal = &console.principal;
        if let Ok(found) = app.services.messaging.channels(principal).await {
            channels = found.into_iter().map(|c| json!({"name": c.name, "kind": c.kind})).collect();
        }
        if let Ok(found) = app.services.messaging.templates(principal).await {
            templates =
                found.into_iter().map(|t| json!({"name": t.name, "title": t.title, "class": t.class})).collect();
        }
        if let Ok(found) = app.services.customers.tags(principal).await {
            tags = found.into_iter().map(|tag| tag.name).collect();
        }
        if let Ok(found) = app.services.segments.segments(principal).await {
            segments = found.into_iter().map(|s| json!({"key": s.key, "name": s.name})).collect();
        }
        if let Ok(found) = app.services.campaigns.coupon_templates(principal).await {
            coupon_templates = found.into_iter().map(|c| json!({"id": c.id, "name": c.name})).collect();
        }
        if let Ok(found) = app.services.campaigns.lotteries(principal).await {
            lotteries = found.into_iter().map(|l| json!({"id": l.id, "name": l.name})).collect();
        }
    }
    // The labels by their key in [`Text`], so the script names them as the templates do.
    macro_rules! labels {
        ($($key:ident),* $(,)?) => {{
            let mut labels = serde_json::Map::new();
            $(labels.insert(stringify!($key).into(), Value::from(t.$key));)*
            labels
        }};
    }
    let labels = labels!(
        node_wait,
        node_wait_until,
        node_wait_for_event,
        node_branch,
        node_split,
        node_send,
        node_webhook,
        node_add_tag,
        node_remove_tag,
        node_set_trait,
        node_task,
        node_issue_coupon,
        node_grant_lottery_chance,
        node_exit,
        outlet_next,
        outlet_yes,
        outlet_no,
        outlet_happened,
        outlet_timeout,
        field_duration,
        field_time,
        field_days,
        field_weekdays,
        field_event,
        field_where,
        field_timeout,
        field_condition,
        field_condition_note,
        field_arm_name,
        field_arm_percent,
        field_arm_add,
        field_arm_control,
        field_channel,
        field_class,
        field_subject,
        field_body,
        field_html,
        field_template,
        field_params,
        field_data,
        field_saved_template,
        field_en_subject,
        field_en_body,
        saved_none,
        saved_note,
        field_hook_event,
        field_tag,
        field_trait_key,
        field_trait_value,
        field_reason,
        field_coupon_template,
        field_lottery,
        field_chances,
        field_segment,
        field_at,
        field_cron,
        field_date_trait,
        class_marketing,
        class_transactional,
        trigger_event,
        trigger_segment_entered,
        trigger_segment_exited,
        trigger_broadcast,
        trigger_anniversary,
        trigger_api,
        journey_trigger,
        journey_goal,
        journey_reentry,
        reentry_never,
        reentry_after_days,
        reentry_always,
        journey_reentry_days,
        journey_start,
        journey_nodes,
        journey_add_node,
        journey_delete_node,
        journey_node_id,
        journey_end,
        journey_preview,
        journey_preview_masked,
        journey_sms_length,
        journey_no_problems,
        journey_problems,
        journey_no_customer
    );
    json!({
        "id": id, "readonly": !can_manage, "labels": labels,
        "channels": channels, "tags": tags, "segments": segments, "templates": templates,
        "coupon_templates": coupon_templates, "lotteries": lotteries,
    })
}

/// The journey's counts ("" stats for a new one).
async fn stats_of(app: &AppState, console: &Console, id: Option<i64>) -> Result<JourneyStats, DomainError> {
    match id {
        Some(id) => app.services.journeys.stats(&console.principal, id).await,
        None => Ok(JourneyStats::default()),
    }
}

/// What the page shows of a definition as typed.
struct Edited {
    name: String,
    text: String,
    problems: Vec<FieldError>,
    checked: bool,
}

async fn page(app: &AppState, console: &Console, id: Option<i64>, edited: Edited, flash: &str) -> Response {
    let t = console.t();
    let (view, stats) = match id {
        Some(id) => {
            match (app.services.journeys.journey(&console.principal, id).await, stats_of(app, console, Some(id)).await)
            {
                (Ok(view), Ok(stats)) => (Some(view), stats),
                (Err(error), _) | (_, Err(error)) => return console.fail(error),
            }
        }
        None => (None, JourneyStats::default()),
    };
    let can_manage = console.may(Permission::JourneysManage);
    let (status, status_key) = status(t, view.as_ref().map_or(JourneyStatus::Draft, |v| v.status));
    let problems = problem_rows(t, &edited.problems);
    let problem_nodes: BTreeSet<String> = problems.iter().map(|p| p.node.clone()).filter(|n| !n.is_empty()).collect();
    let graph = match parse(&edited.text) {
        Ok(definition) => {
            journey_graph::draw(t, &definition, &trigger(t, &definition.trigger), &stats.nodes, &problem_nodes)
        }
        Err(_) => String::new(),
    };
    let arms = stats
        .arms
        .iter()
        .map(|(name, counts)| {
            let (entries, converted) =
                (counts.get("entries").copied().unwrap_or(0), counts.get("converted").copied().unwrap_or(0));
            let rate =
                if entries > 0 { format!("{:.1}%", converted as f64 * 100.0 / entries as f64) } else { "—".into() };
            ArmRow { name: name.clone(), entries, converted, rate }
        })
        .collect();
    let firings = stats
        .firings
        .iter()
        .map(|f| FiringRow { occurrence: console.time(f.occurrence), entered: f.entered })
        .collect();
    let config = config(app, console, id, can_manage).await.to_string();
    let mut page = JourneyPage {
        t,
        chrome: Chrome::new(console, "journeys"),
        id,
        name: edited.name,
        status,
        status_key,
        version: view.as_ref().map_or(0, |v| v.version),
        graph,
        definition: edited.text,
        problems,
        checked: edited.checked,
        arms,
        firings,
        can_manage,
        config,
    };
    page.chrome = page.chrome.with_flash(t, flash);
    render(StatusCode::OK, &page)
}

fn journey_id(raw: &str) -> Result<i64, DomainError> {
    raw.parse::<i64>().map_err(|_| DomainError::NotFound(format!("journey \"{raw}\"")))
}

/// GET /journeys/new: a new draft to edit.
pub(crate) async fn new_journey(State(app): State<AppState>, console: Console) -> Response {
    if !console.may(Permission::JourneysManage) {
        return console.fail(DomainError::Forbidden(Permission::JourneysManage.name()));
    }
    let text = serde_json::to_string_pretty(&starter(console.t())).expect("a definition serializes");
    let edited = Edited { name: String::new(), text, problems: Vec::new(), checked: false };
    page(&app, &console, None, edited, "").await
}

/// GET /journeys/{id}: the journey, its graph and counts, and the editor (checked as it stands).
pub(crate) async fn show_journey(
    State(app): State<AppState>,
    Path(id): Path<String>,
    console: Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let id = match journey_id(&id) {
        Ok(id) => id,
        Err(error) => return console.fail(error),
    };
    let view = match app.services.journeys.journey(&console.principal, id).await {
        Ok(view) => view,
        Err(error) => return console.fail(error),
    };
    let (problems, checked) = match console.may(Permission::JourneysManage) {
        true => match app.services.journeys.validate(&console.principal, &view.draft).await {
            Ok(problems) => (problems, true),
            Err(error) => return console.fail(error),
        },
        false => (Vec::new(), false),
    };
    let text = serde_json::to_string_pretty(&view.draft).expect("a definition serializes");
    let edited = Edited { name: view.name, text, problems, checked };
    page(&app, &console, Some(id), edited, FormData::query(raw).get("done")).await
}

/// What a save or publish did.
enum Saved {
    Done(i64, &'static str),
    /// Refused with these problems; the journey's id when it exists (a new one saved, then refused
    /// publishing).
    Refused(Vec<FieldError>, Option<i64>),
}

/// Saves the form's draft (a new journey when `id` is none) and, when asked, publishes it —
/// only when the check finds nothing, so a refused publish saves nothing either.
async fn save(app: &AppState, console: &Console, id: Option<i64>, form: &FormData) -> Result<Saved, DomainError> {
    let journeys = &app.services.journeys;
    let principal = &console.principal;
    let definition = match parse(form.get("definition")) {
        Ok(definition) => definition,
        Err(problem) => return Ok(Saved::Refused(vec![problem], id)),
    };
    let publish = form.get("intent") == "publish";
    if publish {
        let problems = journeys.validate(principal, &definition).await?;
        if !problems.is_empty() {
            return Ok(Saved::Refused(problems, id));
        }
    }
    let input = JourneyInput { name: form.get("name").trim().to_string(), definition };
    let saved = match id {
        Some(id) => journeys.update(principal, id, &input).await,
        None => journeys.create(principal, &input).await,
    };
    let id = match saved {
        Ok(view) => view.id,
        Err(DomainError::Invalid(problems)) => return Ok(Saved::Refused(problems, id)),
        Err(error) => return Err(error),
    };
    if !publish {
        return Ok(Saved::Done(id, "journey_saved"));
    }
    // The draft is saved by now: a refused publish shows the journey it saved, not a new one.
    match journeys.publish(principal, id).await {
        Ok(_) => Ok(Saved::Done(id, "journey_published")),
        Err(DomainError::Invalid(problems)) => Ok(Saved::Refused(problems, Some(id))),
        Err(DomainError::Conflict(reason)) => Ok(Saved::Refused(vec![FieldError::new("definition", reason)], Some(id))),
        Err(error) => Err(error),
    }
}

async fn save_and_answer(app: AppState, id: Option<i64>, post: Post) -> Response {
    let Post { console, form } = post;
    // The role before the form: a role that may not save learns nothing about its values.
    if !console.may(Permission::JourneysManage) {
        return console.fail(DomainError::Forbidden(Permission::JourneysManage.name()));
    }
    match save(&app, &console, id, &form).await {
        Ok(Saved::Done(id, done)) => Redirect::to(&format!("/journeys/{id}?done={done}")).into_response(),
        Ok(Saved::Refused(problems, id)) => {
            let edited = Edited {
                name: form.get("name").to_string(),
                text: form.get("definition").to_string(),
                problems,
                checked: true,
            };
            let mut response = page(&app, &console, id, edited, "").await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            }
            response
        }
        Err(error) => console.fail(error),
    }
}

/// POST /journeys/new: saves a new journey (and publishes it when asked).
pub(crate) async fn create_journey(State(app): State<AppState>, post: Post) -> Response {
    save_and_answer(app, None, post).await
}

/// POST /journeys/{id}: saves the draft (and publishes it when asked).
pub(crate) async fn save_journey(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    match journey_id(&id) {
        Ok(id) => save_and_answer(app, Some(id), post).await,
        Err(error) => post.console.fail(error),
    }
}

/// POST /journeys/{id}/status: pauses, resumes or archives the journey (`to`).
pub(crate) async fn change_status(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { console, form } = post;
    if !console.may(Permission::JourneysManage) {
        return console.fail(DomainError::Forbidden(Permission::JourneysManage.name()));
    }
    let id = match journey_id(&id) {
        Ok(id) => id,
        Err(error) => return console.fail(error),
    };
    let to = match form.get("to") {
        "paused" => JourneyStatus::Paused,
        "active" => JourneyStatus::Active,
        "archived" => JourneyStatus::Archived,
        other => {
            return console.fail(DomainError::Invalid(vec![FieldError::new(
                "to",
                format!("\"{other}\" is not one of paused, active, archived"),
            )]));
        }
    };
    match app.services.journeys.set_status(&console.principal, id, to).await {
        Ok(_) => Redirect::to(&format!("/journeys/{id}?done=journey_status")).into_response(),
        Err(error) => console.fail(error),
    }
}

/// A JSON answer refusing the request for `error` (the console's words).
fn json_error(console: &Console, error: DomainError) -> Response {
    let t = console.t();
    let status = super::session::status_of(&error);
    let problems: Vec<Value> = match &error {
        DomainError::Invalid(errors) => errors
            .iter()
            .map(|e| json!({"field": e.field, "label": field_words(t, &e.field), "reason": t.reason(&e.reason)}))
            .collect(),
        other => vec![json!({"field": "", "label": "", "reason": t.reason(&other.to_string())})],
    };
    (status, Json(json!({"problems": problems}))).into_response()
}

/// POST /journeys/check: the editor's live check — the definition (`definition`, as JSON) checked
/// as publishing would, and the graph redrawn with the journey's counts (`id`, when it has one).
pub(crate) async fn check_journey(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    if !console.may(Permission::JourneysManage) {
        return json_error(&console, DomainError::Forbidden(Permission::JourneysManage.name()));
    }
    let t = console.t();
    let definition = match parse(form.get("definition")) {
        Ok(definition) => definition,
        Err(problem) => return json_error(&console, DomainError::Invalid(vec![problem])),
    };
    let problems = match app.services.journeys.validate(&console.principal, &definition).await {
        Ok(problems) => problem_rows(t, &problems),
        Err(error) => return json_error(&console, error),
    };
    let id = form.get("id").parse::<i64>().ok();
    let stats = match stats_of(&app, &console, id).await {
        Ok(stats) => stats,
        Err(error) => return json_error(&console, error),
    };
    let nodes: BTreeSet<String> = problems.iter().map(|p| p.node.clone()).filter(|n| !n.is_empty()).collect();
    let graph = journey_graph::draw(t, &definition, &trigger(t, &definition.trigger), &stats.nodes, &nodes);
    let problems: Vec<Value> = problems
        .into_iter()
        .map(|p| json!({"field": p.field, "node": p.node, "label": p.label, "reason": p.reason}))
        .collect();
    Json(json!({"graph": graph, "problems": problems})).into_response()
}

/// POST /messages/preview: a send node's templates rendered for a customer (`customer`), masked
/// unless the role may read personal data.
pub(crate) async fn preview_message(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    if !console.may(Permission::MessagesSend) {
        return json_error(&console, DomainError::Forbidden(Permission::MessagesSend.name()));
    }
    let Ok(customer) = form.get("customer").trim().parse::<i64>() else {
        let reason = format!("\"{}\" is not a customer number", form.get("customer").trim());
        return json_error(&console, DomainError::Invalid(vec![FieldError::new("customer", reason)]));
    };
    let params = match form.get("params").trim() {
        "" => Default::default(),
        text => match serde_json::from_str(text) {
            Ok(params) => params,
            Err(e) => {
                let reason = format!("is not a JSON object of texts: {e}");
                return json_error(&console, DomainError::Invalid(vec![FieldError::new("params", reason)]));
            }
        },
    };
    let optional = |name: &str| Some(form.get(name).to_string()).filter(|s| !s.trim().is_empty());
    let en = optional("en_body").map(|body| Translation {
        subject: optional("en_subject"),
        body,
        html: optional("en_html"),
        params: Default::default(),
    });
    let input = PreviewInput {
        customer_id: siyu_core::CustomerId(customer),
        saved_template: optional("saved_template"),
        subject: optional("subject"),
        body: form.get("body").to_string(),
        html: optional("html"),
        params,
        en,
        language: match form.get("language") {
            "en" => Some(Language::En),
            "zh" => Some(Language::Zh),
            _ => None,
        },
    };
    match app.services.messaging.preview(&console.principal, &input).await {
        Ok(preview) => Json(json!(preview)).into_response(),
        Err(error) => json_error(&console, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    #[test]
    fn problems_are_placed_at_their_node_and_named_in_words() {
        assert_eq!(node_of("definition.nodes.welcome.body"), "welcome");
        assert_eq!(node_of("definition.trigger.segment"), "");
        let zh = Lang::Zh.text();
        assert_eq!(field_words(zh, "definition.nodes.welcome.body"), "节点 welcome · 正文模板");
        assert_eq!(field_words(zh, "definition.nodes.ab.arms.0.name"), "节点 ab · 分组名");
        assert_eq!(field_words(zh, "definition.trigger.segment"), "触发条件");
        let en = Lang::En.text();
        assert_eq!(field_words(en, "definition.nodes.lost"), "Node lost");
    }

    #[test]
    fn the_starter_is_a_definition_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            assert_eq!(starter(lang.text()).nodes.len(), 2);
        }
        let problem = parse("{\"start\": 1}").unwrap_err();
        assert_eq!(problem.field, "definition");
    }
}
