//! The API keys page (owners only): list, create (the token is shown once) and revoke.

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_core::ApiKeyId;
use siyu_domain::access::Role;
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::{DomainError, FieldError};

struct KeyRow {
    id: i64,
    kind: &'static str,
    role: &'static str,
    name: String,
    prefix: String,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

/// A key created by this very request: the only time its token is shown.
struct NewKey {
    name: String,
    token: String,
}

#[derive(Default)]
struct KeyForm {
    kind: String,
    role: String,
    name: String,
    errors: Vec<FieldMessage>,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    t: &'static Text,
    chrome: Chrome,
    keys: Vec<KeyRow>,
    kinds: Vec<Choice>,
    roles: Vec<Choice>,
    form: KeyForm,
    new_key: Option<NewKey>,
}

fn kind_label(t: &Text, kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Secret => t.kind_secret,
        KeyKind::Write => t.kind_write,
    }
}

async fn keys_page(
    app: &AppState,
    console: &Console,
    form: KeyForm,
    new_key: Option<NewKey>,
) -> Result<KeysPage, DomainError> {
    let keys = app.services.access.keys(&console.principal).await?;
    let t = console.t();
    let keys = keys
        .into_iter()
        .map(|key| KeyRow {
            id: key.id.0,
            kind: kind_label(t, key.kind),
            role: t.role(key.role),
            name: key.name,
            prefix: key.prefix,
            created: console.time(key.created_at),
            last_used: key.last_used_at.map(|at| console.time(at)).unwrap_or_else(|| t.never.into()),
            revoked: key.revoked_at.map(|at| console.time(at)),
        })
        .collect();
    let kind = if form.kind.is_empty() { "secret" } else { form.kind.as_str() };
    // Operator can both send events (write keys) and run operations (secret keys).
    let role = if form.role.is_empty() { "operator" } else { form.role.as_str() };
    Ok(KeysPage {
        t,
        chrome: Chrome::new(console, "keys"),
        keys,
        kinds: [KeyKind::Secret, KeyKind::Write].map(|k| Choice::new(k.as_str(), kind_label(t, k), kind)).into(),
        roles: Role::ALL.iter().map(|r| Choice::new(r.as_str(), t.role(*r), role)).collect(),
        form,
        new_key,
    })
}

/// GET /keys: the workspace's API keys.
pub(crate) async fn list_keys(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    match keys_page(&app, &console, KeyForm::default(), None).await {
        Ok(mut page) => {
            page.chrome = page.chrome.with_flash(console.t(), FormData::query(raw).get("done"));
            render(StatusCode::OK, &page)
        }
        Err(error) => console.fail(error),
    }
}

/// POST /keys: creates a key and shows its token once.
pub(crate) async fn create_key(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let input = KeyForm {
        kind: form.get("kind").into(),
        role: form.get("role").into(),
        name: form.get("name").into(),
        errors: Vec::new(),
    };
    let created = match (KeyKind::parse(&input.kind), Role::parse(&input.role)) {
        (Some(kind), Some(role)) => app.services.access.create_key(&console.principal, kind, role, &input.name).await,
        (kind, role) => {
            let mut errors = Vec::new();
            if kind.is_none() {
                errors.push(FieldError::new("kind", format!("unknown key kind \"{}\"", input.kind)));
            }
            if role.is_none() {
                errors.push(FieldError::new("role", format!("unknown role \"{}\"", input.role)));
            }
            Err(DomainError::Invalid(errors))
        }
    };
    let result = match created {
        Ok((key, token)) => keys_page(&app, &console, KeyForm::default(), Some(NewKey { name: key.name, token })).await,
        Err(error) => match form_errors(console.t(), &error) {
            Some(errors) => keys_page(&app, &console, KeyForm { errors, ..input }, None).await,
            None => Err(error),
        },
    };
    match result {
        Ok(page) if page.form.errors.is_empty() => render(StatusCode::OK, &page),
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => console.fail(error),
    }
}

/// POST /keys/{id}/revoke: revokes a key at once.
pub(crate) async fn revoke_key(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let console = post.console;
    let Ok(id) = id.parse::<i64>() else {
        return console.fail(DomainError::NotFound(format!("key \"{id}\"")));
    };
    match app.services.access.revoke_key(&console.principal, ApiKeyId(id)).await {
        Ok(()) => Redirect::to("/keys?done=revoked").into_response(),
        Err(error) => console.fail(error),
    }
}
