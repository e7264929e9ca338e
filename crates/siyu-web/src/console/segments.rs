//! The segment pages: the list with size and trend (`/segments`), and the builder
//! (`/segments/new`, `/segments/{key}`) — condition rows and the segment language kept in sync, with a
//! live size from `/segments/preview`. The builder is `assets/segments.js`.

use super::customers::{self, CustomerRow};
use super::i18n::Text;
use super::page::{Chrome, FieldMessage, MEMBERS_PAGE, csv_download, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};
use siyu_core::PageRequest;
use siyu_domain::DomainError;
use siyu_domain::segments::{DefinitionInput, SegmentInput};

struct SegmentRow {
    key: String,
    name: String,
    text: String,
    size: u64,
    chart: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct SegmentsPage {
    t: &'static Text,
    chrome: Chrome,
    can_manage: bool,
    segments: Vec<SegmentRow>,
}

/// GET /segments: every segment with its size now and its daily sizes as a sparkline.
pub(crate) async fn list_segments(State(app): State<AppState>, console: Console) -> Response {
    let views = match app.services.segments.segments(&console.principal).await {
        Ok(views) => views,
        Err(error) => return console.fail(error),
    };
    let mut segments = Vec::new();
    for v in views {
        let history = &v.history;
        // One day is a dot, not a trend: the column says when there will be one instead.
        let chart = if history.len() < 2 {
            String::new()
        } else {
            json!({"type": "spark", "x": history.iter().map(|(d, _)| d).collect::<Vec<_>>(),
                "values": history.iter().map(|(_, n)| n).collect::<Vec<_>>()})
            .to_string()
        };
        segments.push(SegmentRow { key: v.key, name: v.name, text: v.text, size: v.size, chart });
    }
    let page = SegmentsPage {
        t: console.t(),
        chrome: Chrome::new(&console, "segments"),
        can_manage: console.may(siyu_domain::access::Permission::SegmentsManage),
        segments,
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "segment.html")]
struct SegmentPage {
    t: &'static Text,
    chrome: Chrome,
    /// Editing an existing segment (its key is fixed).
    existing: bool,
    can_manage: bool,
    key: String,
    name: String,
    text: String,
    size: Option<u64>,
    warnings: Vec<String>,
    errors: Vec<FieldMessage>,
    history_chart: String,
    /// One page of the members, as customers.
    members: Vec<CustomerRow>,
    /// "N members", when the role may see them.
    members_count: Option<String>,
    members_next: Option<String>,
    members_paged: bool,
    /// The builder's row kinds, placeholders and choices in the page's language (JSON for segments.js).
    builder: String,
}

/// Returns what the builder shows in words: each row kind's label, each field's placeholder, and the
/// choices of the kinds that take one of a fixed set of values (stages, tiers, classes, consent,
/// identity types), as wire value and label.
fn builder_config(console: &Console) -> String {
    use siyu_analytics::models::{RfmClass, Stage, Tier};
    use siyu_domain::models::Named;
    let t = console.t();
    let zh = console.lang.code() == "zh";
    fn choices<N: Named>(all: &[N], zh: bool) -> Vec<Value> {
        all.iter().map(|n| json!([n.key(), if zh { n.name_zh() } else { n.name_en() }])).collect()
    }
    let (stages, tiers, classes) = (choices(&Stage::ALL, zh), choices(&Tier::ALL, zh), choices(&RfmClass::ALL, zh));
    let purposes: Vec<Value> =
        siyu_domain::customers::consent::Purpose::ALL.iter().map(|p| json!([p.as_str(), t.purpose(*p)])).collect();
    let channels: Vec<Value> =
        siyu_domain::customers::consent::Channel::ALL.iter().map(|c| json!([c.as_str(), t.channel(*c)])).collect();
    let identities: Vec<Value> =
        siyu_domain::customers::IdentityKind::ALL.iter().map(|k| json!([k.as_str(), t.identity_kind(*k)])).collect();
    json!({
        "kinds": [
            ["tag", t.seg_kind_tag], ["trait", t.seg_kind_trait], ["did", t.seg_kind_did],
            ["not_did", t.seg_kind_not_did], ["lifecycle", t.seg_kind_lifecycle], ["tier", t.seg_kind_tier],
            ["rfm", t.seg_kind_rfm], ["health", t.seg_kind_health], ["consent", t.seg_kind_consent],
            ["identity", t.seg_kind_identity], ["segment", t.seg_kind_segment],
        ],
        "placeholders": {
            "tag": t.seg_ph_tag, "trait": t.seg_ph_trait, "value": t.seg_ph_value, "event": t.seg_ph_event,
            "count": t.seg_ph_count, "window": t.seg_ph_window, "segment": t.seg_ph_segment,
            "health": t.seg_ph_health,
        },
        "choices": {
            "lifecycle": stages, "tier": tiers, "rfm": classes, "purpose": purposes, "channel": channels,
            "identity": identities,
        },
        "remove": t.seg_remove,
    })
    .to_string()
}

impl SegmentPage {
    fn blank(console: &Console) -> Self {
        SegmentPage {
            t: console.t(),
            chrome: Chrome::new(console, "segments"),
            existing: false,
            can_manage: console.may(siyu_domain::access::Permission::SegmentsManage),
            key: String::new(),
            name: String::new(),
            text: String::new(),
            size: None,
            warnings: Vec::new(),
            errors: Vec::new(),
            history_chart: String::new(),
            members: Vec::new(),
            members_count: None,
            members_next: None,
            members_paged: false,
            builder: builder_config(console),
        }
    }
}

/// GET /segments/new: the builder, empty.
pub(crate) async fn new_segment(console: Console) -> Response {
    if let Err(error) = console.principal.require(siyu_domain::access::Permission::SegmentsManage) {
        return console.fail(error);
    }
    render(StatusCode::OK, &SegmentPage::blank(&console))
}

/// GET /segments/{key}: a segment's definition (in the builder), size, daily sizes and a page of its
/// members as customers (`?cursor=` pages on), with a CSV export of them all.
pub(crate) async fn show_segment(
    State(app): State<AppState>,
    console: Console,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = &console.principal;
    let view = match app.services.segments.segment(p, &key).await {
        Ok(view) => view,
        Err(error) => return console.fail(error),
    };
    let params = FormData::query(raw);
    let cursor = params.get("cursor");
    let page = PageRequest { limit: MEMBERS_PAGE, after: PageRequest::decode_cursor(cursor) };
    let (mut members, mut members_count, mut members_next) = (Vec::new(), None, None);
    match app.services.segments.segment_members(p, &key, page).await {
        Ok((total, page)) => match app.services.customers.customers_by_id(p, &page.items).await {
            Ok(customers) => {
                members = customers.iter().map(|c| customers::row(&console, c)).collect();
                members_count = Some(Text::fill(console.t().members_count, total));
                members_next = page.next_after.map(|after| {
                    format!("/segments/{key}?cursor={}#segment-members", PageRequest::encode_cursor(after))
                });
            }
            Err(DomainError::Forbidden(_)) => {}
            Err(error) => return console.fail(error),
        },
        // A role that may not read customers sees the segment without its members.
        Err(DomainError::Forbidden(_)) => {}
        Err(error) => return console.fail(error),
    }
    let history_chart = json!({"type": "line_simple", "series": console.t().segment_size,
        "x": view.history.iter().map(|(d, _)| d).collect::<Vec<_>>(),
        "values": view.history.iter().map(|(_, n)| n).collect::<Vec<_>>()})
    .to_string();
    let page = SegmentPage {
        existing: true,
        key: view.key,
        name: view.name,
        text: view.text,
        size: Some(view.size),
        warnings: view.warnings.iter().map(|w| console.t().reason(w)).collect(),
        history_chart,
        members,
        members_count,
        members_next,
        members_paged: !cursor.is_empty(),
        ..SegmentPage::blank(&console)
    };
    render(StatusCode::OK, &page)
}

/// GET /segments/{key}/members.csv: every member of a segment as CSV (the API export's columns),
/// masked per role and audited.
pub(crate) async fn export_segment_members(
    State(app): State<AppState>,
    console: Console,
    Path(key): Path<String>,
) -> Response {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |record: &[String]| {
        out.write_record(record).map_err(|e| DomainError::internal_from("writing the CSV export failed", e))
    };
    if let Err(error) = write(&siyu_domain::segments::MEMBER_COLUMNS.map(String::from)) {
        return console.fail(error);
    }
    let exported = app
        .services
        .segments
        .export_segment(&console.principal, &key, false, &mut |c| write(&siyu_domain::segments::member_row(&c)))
        .await;
    if let Err(error) = exported {
        return console.fail(error);
    }
    match out.into_inner() {
        Ok(body) => csv_download(&format!("{key}.csv"), body),
        Err(error) => console.fail(DomainError::internal_from("writing the CSV export failed", error)),
    }
}

/// POST /segments: saves a segment from the builder (new, or `existing=1` to replace).
pub(crate) async fn save_segment(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let existing = form.get("existing") == "1";
    let input = SegmentInput {
        key: form.get("key").trim().to_string(),
        name: Some(form.get("name").trim().to_string()).filter(|n| !n.is_empty()),
        definition: None,
        text: Some(form.get("text").to_string()),
    };
    match app.services.segments.save_segment(&console.principal, &input, existing).await {
        Ok(view) => Redirect::to(&format!("/segments/{}", view.key)).into_response(),
        Err(error) => match form_errors(console.t(), &error) {
            Some(errors) => {
                let page = SegmentPage {
                    existing,
                    key: input.key,
                    name: input.name.unwrap_or_default(),
                    text: input.text.unwrap_or_default(),
                    errors,
                    ..SegmentPage::blank(&console)
                };
                render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            None => console.fail(error),
        },
    }
}

/// GET /segments/preview?text=…: the builder's live answer as JSON — size, canonical text, the
/// JSON tree and warnings, or the error with its field and reason.
pub(crate) async fn preview_segment(
    State(app): State<AppState>,
    console: Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut input = DefinitionInput::default();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "text" => input.text = Some(value.into_owned()),
            "definition" => match serde_json::from_str(&value) {
                Ok(tree) => input.definition = Some(tree),
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": {"field": "definition", "reason": e.to_string()}})),
                    )
                        .into_response();
                }
            },
            _ => {}
        }
    }
    let t = console.t();
    match app.services.segments.preview_segment(&console.principal, &input).await {
        Ok(mut preview) => {
            preview.warnings = preview.warnings.iter().map(|w| t.reason(w)).collect();
            Json(json!(preview)).into_response()
        }
        Err(DomainError::Invalid(errors)) => {
            let first = errors.first().map(|e| json!({"field": e.field, "reason": t.reason(&e.reason)}));
            (StatusCode::BAD_REQUEST, Json(json!({"error": first}))).into_response()
        }
        Err(error) => console.fail(error),
    }
}
