//! The customer list (search, tag and trait filters, cursor pages) and the customer 360 page with
//! identities, traits, tags, consent, notes and merge history.

use super::i18n::Text;
use super::page::{Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use siyu_core::{CustomerId, PageRequest};
use siyu_domain::DomainError;
use siyu_domain::access::Permission;
use siyu_domain::channels::store::MessageFilter;
use siyu_domain::customers::IdentityKind;
use siyu_domain::customers::consent::ConsentRecord;
use siyu_domain::customers::{CustomerQuery, CustomerView};

/// Customers per list page.
const PAGE_SIZE: u32 = 25;

/// A value that may have been masked for the viewer's role.
pub(crate) struct Cell {
    pub(crate) value: String,
    pub(crate) masked: bool,
}

impl Cell {
    fn empty() -> Self {
        Self { value: String::new(), masked: false }
    }
}

/// A customer as a list shows them (here, and as segment members and on the recall list).
pub(crate) struct CustomerRow {
    pub(crate) id: i64,
    pub(crate) name: Cell,
    pub(crate) phone: Cell,
    pub(crate) email: Cell,
    pub(crate) city: String,
    pub(crate) tags: Vec<String>,
    pub(crate) created: String,
}

struct TagOption {
    name: String,
    group: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "customers.html")]
struct CustomersPage {
    t: &'static Text,
    chrome: Chrome,
    q: String,
    trait_filter: String,
    tag_options: Vec<TagOption>,
    filtered: bool,
    rows: Vec<CustomerRow>,
    total: String,
    next_url: Option<String>,
    paged: bool,
    errors: Vec<FieldMessage>,
}

/// Shows a trait value: strings as they are, anything else as compact JSON.
fn show_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn identity_cell(customer: &CustomerView, kind: IdentityKind) -> Cell {
    customer
        .identities
        .iter()
        .find(|i| i.kind == kind)
        .map(|i| Cell { value: i.value.clone(), masked: i.masked })
        .unwrap_or_else(Cell::empty)
}

/// Returns a customer's list row, as masked as the view.
pub(crate) fn row(console: &Console, customer: &CustomerView) -> CustomerRow {
    let name = customer.traits.get("name").map(|t| Cell { value: show_value(&t.value), masked: t.masked });
    CustomerRow {
        id: customer.id.0,
        name: name.unwrap_or_else(Cell::empty),
        phone: identity_cell(customer, IdentityKind::Phone),
        email: identity_cell(customer, IdentityKind::Email),
        city: customer.traits.get("city").map(|t| show_value(&t.value)).unwrap_or_default(),
        tags: customer.tags.iter().map(|t| t.name.clone()).collect(),
        created: console.time(customer.created_at),
    }
}

/// GET /customers: searches by identity value (`q`), tags (`tag`, repeated) and one trait (`trait`).
pub(crate) async fn list_customers(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let params = FormData::query(raw);
    let q = params.get("q").trim().to_string();
    let trait_filter = params.get("trait").trim().to_string();
    let selected = params.all("tag");
    let cursor = params.get("cursor");
    let query = CustomerQuery {
        identity: None,
        traits: if trait_filter.is_empty() { Vec::new() } else { vec![trait_filter.clone()] },
        tags: selected.clone(),
        q: (!q.is_empty()).then(|| q.clone()),
        page: PageRequest { limit: PAGE_SIZE, after: PageRequest::decode_cursor(cursor) },
    };
    let services = &app.services;
    let filtered = !q.is_empty() || !trait_filter.is_empty() || !selected.is_empty();
    let (found, matching, total, tags) = tokio::join!(
        services.customers.search_customers(&console.principal, &query),
        async {
            // The number found by the filter; a filter in error is reported by the search itself.
            if filtered { services.customers.count_customers(&console.principal, &query).await.ok() } else { None }
        },
        services.customers.customer_count(&console.principal),
        services.customers.tags(&console.principal),
    );
    let (total, tags) = match (total, tags) {
        (Ok(total), Ok(tags)) => (total, tags),
        (Err(error), _) | (_, Err(error)) => return console.fail(error),
    };
    let t = console.t();
    let (rows, next_after, errors, status) = match found {
        Ok(page) => {
            (page.items.iter().map(|c| row(&console, c)).collect(), page.next_after, Vec::new(), StatusCode::OK)
        }
        Err(error) => match form_errors(t, &error) {
            Some(errors) => (Vec::new(), None, errors, StatusCode::UNPROCESSABLE_ENTITY),
            None => return console.fail(error),
        },
    };
    let next_url = next_after.map(|after| {
        let mut pairs: Vec<(&str, &str)> = vec![("q", &q), ("trait", &trait_filter)];
        pairs.extend(selected.iter().map(|tag| ("tag", tag.as_str())));
        let cursor = PageRequest::encode_cursor(after);
        pairs.push(("cursor", &cursor));
        pairs.retain(|(_, value)| !value.is_empty());
        format!("/customers?{}", serde_urlencoded::to_string(&pairs).expect("string pairs always encode"))
    });
    let tag_options = tags
        .into_iter()
        .map(|tag| TagOption { selected: selected.contains(&tag.name), name: tag.name, group: tag.group })
        .collect();
    let page = CustomersPage {
        t,
        chrome: Chrome::new(&console, "customers").with_flash(t, params.get("done")),
        filtered,
        q,
        trait_filter,
        tag_options,
        rows,
        total: match matching {
            Some(found) => Text::fill2(t.customers_found, found, total),
            None => Text::fill(t.customers_total, total),
        },
        next_url,
        paged: !cursor.is_empty(),
        errors,
    };
    render(status, &page)
}

struct IdentityRow {
    kind: &'static str,
    kind_code: &'static str,
    value: String,
    masked: bool,
    source: String,
    created: String,
}

struct TraitRow {
    key: String,
    /// The key's label when it is a well-known trait.
    label: Option<&'static str>,
    value: String,
    masked: bool,
    source: String,
    updated: String,
}

struct TagRow {
    name: String,
    group: String,
    source: String,
    assigned: String,
}

struct ConsentRow {
    purpose: &'static str,
    channel: &'static str,
    granted: bool,
    source: String,
    policy_version: String,
    time: String,
}

struct NoteRow {
    author: String,
    body: String,
    time: String,
}

struct MergeRow {
    survivor: i64,
    merged: i64,
    reason: String,
    time: String,
}

/// A customer's models as the 360 page shows them.
struct ModelsPanel {
    stage: String,
    tier: String,
    rfm: String,
    class: String,
    health: u8,
    last_active: String,
    recall_since: Option<String>,
    ltv: Option<String>,
    p_alive: Option<String>,
    churn_risk: Option<String>,
}

#[derive(Template)]
#[template(path = "customer.html")]
struct CustomerPage {
    t: &'static Text,
    chrome: Chrome,
    models: Option<ModelsPanel>,
    id: i64,
    name: Option<String>,
    created: String,
    updated: String,
    identities: Vec<IdentityRow>,
    traits: Vec<TraitRow>,
    tags: Vec<TagRow>,
    consent_current: Vec<ConsentRow>,
    consent_history: Vec<ConsentRow>,
    notes: Vec<NoteRow>,
    merges: Vec<MergeRow>,
    /// The customer's journey entries, newest first.
    entries: Vec<super::journeys::EntryRow>,
    /// The latest messages to the customer (when the role may read the message log).
    messages: Vec<super::journeys::MessageRow>,
    can_messages: bool,
    can_note: bool,
    note_body: String,
    note_errors: Vec<FieldMessage>,
    /// Whether the role may export the customer's personal data (`pii:read`).
    can_export: bool,
    /// Whether the role may erase the customer (`customers:delete`).
    can_erase: bool,
    erase_errors: Vec<FieldMessage>,
}

fn consent_row(console: &Console, record: &ConsentRecord) -> ConsentRow {
    let t = console.t();
    ConsentRow {
        purpose: t.purpose(record.purpose),
        channel: t.channel(record.channel),
        granted: record.granted,
        source: t.source(&record.source).to_string(),
        policy_version: record.policy_version.clone(),
        time: console.time(record.recorded_at),
    }
}

/// The most messages the 360 page lists.
const CUSTOMER_MESSAGES: usize = 20;

/// Loads everything the 360 page shows; the reads run concurrently.
async fn customer_page(app: &AppState, console: &Console, id: CustomerId) -> Result<CustomerPage, DomainError> {
    let (principal, services) = (&console.principal, &app.services);
    let can_messages = console.may(Permission::MessagesRead);
    let messages = async {
        if !can_messages {
            return Ok(Vec::new());
        }
        let filter = MessageFilter { customers: Some(vec![id]), ..MessageFilter::default() };
        services.messaging.messages(principal, filter, CUSTOMER_MESSAGES).await
    };
    let (customer, notes, merges, consent, entries, messages) = tokio::try_join!(
        services.customers.customer(principal, id),
        services.customers.notes(principal, id),
        services.customers.merges(principal, id),
        services.customers.consent(principal, id),
        services.journeys.customer_entries(principal, id),
        messages,
    )?;
    let t = console.t();
    let zh = console.lang.code() == "zh";
    let name = |g: &siyu_domain::models::GroupCount| if zh { g.name_zh.clone() } else { g.name_en.clone() };
    let models = services.models.customer_model(principal, customer.id).await?.map(|m| ModelsPanel {
        stage: name(&m.stage),
        tier: m.tier.as_ref().map(name).unwrap_or_else(|| t.none.into()),
        rfm: m.rfm.map(|[r, f, m]| format!("R{r} F{f} M{m}")).unwrap_or_else(|| t.none.into()),
        class: m.rfm_class.as_ref().map(name).unwrap_or_else(|| t.none.into()),
        health: m.health,
        last_active: m.last_active.parse::<jiff::Timestamp>().map(|at| console.time(at)).unwrap_or_default(),
        recall_since: m.recall_since.and_then(|s| s.parse::<jiff::Timestamp>().ok()).map(|at| console.time(at)),
        ltv: m.ltv.map(|l| super::analytics::Money::of(&console.workspace.currency).format(l.expected_value)),
        p_alive: m.ltv.map(|l| format!("{:.0}%", l.p_alive * 100.0)),
        churn_risk: m.churn_risk.map(|r| format!("{:.0}%", r * 100.0)),
    });
    Ok(CustomerPage {
        t,
        models,
        chrome: Chrome::new(console, "customers"),
        id: customer.id.0,
        name: customer.traits.get("name").map(|name| show_value(&name.value)),
        created: console.time(customer.created_at),
        updated: console.time(customer.updated_at),
        identities: customer
            .identities
            .iter()
            .map(|i| IdentityRow {
                kind: t.identity_kind(i.kind),
                kind_code: i.kind.as_str(),
                value: i.value.clone(),
                masked: i.masked,
                source: t.source(&i.source).to_string(),
                created: console.time(i.created_at),
            })
            .collect(),
        traits: customer
            .traits
            .iter()
            .map(|(key, v)| TraitRow {
                key: key.clone(),
                label: t.trait_label(key),
                value: if v.masked { show_value(&v.value) } else { t.trait_value(key, &v.value) },
                masked: v.masked,
                source: t.source(&v.source).to_string(),
                updated: console.time(v.updated_at),
            })
            .collect(),
        tags: customer
            .tags
            .iter()
            .map(|tag| TagRow {
                name: tag.name.clone(),
                group: tag.group.clone(),
                source: t.tag_source(&tag.source).to_string(),
                assigned: console.time(tag.assigned_at),
            })
            .collect(),
        consent_current: consent.current.iter().map(|r| consent_row(console, r)).collect(),
        // Newest first reads best in a history table; the service returns oldest first.
        consent_history: consent.history.iter().rev().map(|r| consent_row(console, r)).collect(),
        notes: notes
            .into_iter()
            .map(|n| NoteRow { author: author(t, &n.author), body: n.body, time: console.time(n.created_at) })
            .collect(),
        merges: merges
            .into_iter()
            .map(|m| MergeRow {
                survivor: m.survivor_id.0,
                merged: m.merged_id.0,
                reason: m.reason,
                time: console.time(m.merged_at),
            })
            .collect(),
        entries: super::journeys::entry_rows(console, entries),
        messages: super::journeys::message_rows(console, messages),
        can_messages,
        can_note: console.may(Permission::NotesWrite),
        can_export: console.may(Permission::PiiRead),
        can_erase: console.may(Permission::CustomersDelete),
        erase_errors: Vec::new(),
        note_body: String::new(),
        note_errors: Vec::new(),
    })
}

/// Shows who wrote a note: a member by e-mail, a key by its prefix, the command line or siyu itself.
fn author(t: &Text, label: &str) -> String {
    match label.split_once(':') {
        Some(("user", email)) => email.to_string(),
        Some(("key", prefix)) => Text::fill(t.author_key, prefix),
        _ if label == "cli" => t.author_cli.to_string(),
        _ if label == "system" => t.author_system.to_string(),
        _ => label.to_string(),
    }
}

/// GET /customers/{id}/export.json: everything held about the customer, as the API's export
/// (`pii:read`, audited), downloaded as a JSON file.
pub(crate) async fn export_customer(State(app): State<AppState>, console: Console, Path(id): Path<String>) -> Response {
    if !console.may(Permission::PiiRead) {
        return console.fail(DomainError::Forbidden(Permission::PiiRead.name()));
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(error) => return console.fail(error),
    };
    match app.services.export_customer(&console.principal, id).await {
        Ok(export) => (
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"customer-{id}.json\"")),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            serde_json::to_vec_pretty(&export).unwrap_or_default(),
        )
            .into_response(),
        Err(error) => console.fail(error),
    }
}

/// POST /customers/{id}/erase: erases the customer once the form's confirmation box is ticked
/// (`customers:delete`, audited), then shows the customer list; without it, the page again with
/// the error.
pub(crate) async fn erase_customer(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { console, form } = post;
    if !console.may(Permission::CustomersDelete) {
        return console.fail(DomainError::Forbidden(Permission::CustomersDelete.name()));
    }
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(error) => return console.fail(error),
    };
    if form.get("confirm") != "yes" {
        let t = console.t();
        return match customer_page(&app, &console, id).await {
            Ok(page) => {
                let erase_errors = vec![FieldMessage {
                    field: "confirm".into(),
                    label: t.erase_customer.into(),
                    reason: t.erase_confirm_missing.into(),
                }];
                render(StatusCode::UNPROCESSABLE_ENTITY, &CustomerPage { erase_errors, ..page })
            }
            Err(error) => console.fail(error),
        };
    }
    match app.services.erase_customer(&console.principal, id).await {
        Ok(()) => Redirect::to("/customers?done=erased").into_response(),
        Err(error) => console.fail(error),
    }
}

fn parse_id(raw: &str) -> Result<CustomerId, DomainError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(CustomerId)
        .ok_or_else(|| DomainError::NotFound(format!("customer \"{raw}\"")))
}

/// GET /customers/{id}: the customer 360 page.
pub(crate) async fn show_customer(
    State(app): State<AppState>,
    Path(id): Path<String>,
    console: Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let page = match parse_id(&id) {
        Ok(id) => customer_page(&app, &console, id).await,
        Err(error) => Err(error),
    };
    match page {
        Ok(mut page) => {
            page.chrome = page.chrome.with_flash(console.t(), FormData::query(raw).get("done"));
            render(StatusCode::OK, &page)
        }
        Err(error) => console.fail(error),
    }
}

/// POST /customers/{id}/notes: adds a staff note; an invalid note shows the page again with the error.
pub(crate) async fn add_note(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { console, form } = post;
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(error) => return console.fail(error),
    };
    let body = form.get("body");
    let error = match app.services.customers.add_note(&console.principal, id, body).await {
        Ok(_) => return Redirect::to(&format!("/customers/{id}?done=note#notes")).into_response(),
        Err(error) => error,
    };
    let Some(note_errors) = form_errors(console.t(), &error) else {
        return console.fail(error);
    };
    match customer_page(&app, &console, id).await {
        Ok(page) => {
            let page = CustomerPage { note_body: body.to_string(), note_errors, ..page };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(error) => console.fail(error),
    }
}
