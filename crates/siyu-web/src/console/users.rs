//! The users and roles page (owners only): members, adding a user, changing roles, and the
//! permission matrix.

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_core::UserId;
use siyu_domain::DomainError;
use siyu_domain::access::{Actor, Permission, Role};

struct MemberRow {
    user_id: i64,
    email: String,
    name: String,
    roles: Vec<Choice>,
    is_me: bool,
}

struct MatrixRow {
    name: &'static str,
    description: &'static str,
    allowed: Vec<bool>,
}

#[derive(Default)]
struct UserForm {
    email: String,
    name: String,
    role: String,
    errors: Vec<FieldMessage>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    t: &'static Text,
    chrome: Chrome,
    members: Vec<MemberRow>,
    role_names: Vec<&'static str>,
    matrix: Vec<MatrixRow>,
    roles: Vec<Choice>,
    form: UserForm,
}

fn role_choices(t: &Text, current: &str) -> Vec<Choice> {
    Role::ALL.iter().map(|r| Choice::new(r.as_str(), t.role(*r), current)).collect()
}

async fn users_page(app: &AppState, console: &Console, form: UserForm) -> Result<UsersPage, DomainError> {
    let members = app.services.members(&console.principal).await?;
    let t = console.t();
    let me = match &console.principal.actor {
        Actor::User { id, .. } => Some(*id),
        _ => None,
    };
    let members = members
        .into_iter()
        .map(|m| MemberRow {
            user_id: m.user_id.0,
            roles: role_choices(t, m.role.as_str()),
            is_me: Some(m.user_id) == me,
            email: m.email,
            name: m.name,
        })
        .collect();
    let matrix = Permission::ALL
        .iter()
        .map(|p| MatrixRow {
            name: p.name(),
            description: t.permission(*p),
            allowed: Role::ALL.iter().map(|r| r.allows(*p)).collect(),
        })
        .collect();
    let role = if form.role.is_empty() { "cs_agent" } else { form.role.as_str() };
    Ok(UsersPage {
        t,
        chrome: Chrome::new(console, "users"),
        members,
        role_names: Role::ALL.iter().map(|r| t.role(*r)).collect(),
        matrix,
        roles: role_choices(t, role),
        form,
    })
}

/// GET /users: members, the add-user form and the permission matrix.
pub(crate) async fn list_users(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    match users_page(&app, &console, UserForm::default()).await {
        Ok(mut page) => {
            page.chrome = page.chrome.with_flash(console.t(), FormData::query(raw).get("done"));
            render(StatusCode::OK, &page)
        }
        Err(error) => console.fail(error),
    }
}

fn parse_role(raw: &str) -> Result<Role, DomainError> {
    Role::parse(raw).ok_or_else(|| DomainError::invalid("role", format!("unknown role \"{raw}\"")))
}

/// POST /users: adds a user to the workspace with a role.
pub(crate) async fn invite_user(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let input = UserForm {
        email: form.get("email").trim().into(),
        name: form.get("name").trim().into(),
        role: form.get("role").into(),
        errors: Vec::new(),
    };
    let result = match parse_role(&input.role) {
        Ok(role) => {
            app.services.invite_user(&console.principal, &input.email, &input.name, form.get("password"), role).await
        }
        Err(error) => Err(error),
    };
    let Err(error) = result else {
        return Redirect::to("/users?done=user").into_response();
    };
    let Some(errors) = form_errors(console.t(), &error) else {
        return console.fail(error);
    };
    match users_page(&app, &console, UserForm { errors, ..input }).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => console.fail(error),
    }
}

/// POST /users/{id}/role: changes a member's role.
pub(crate) async fn set_role(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { console, form } = post;
    let Ok(id) = id.parse::<i64>() else {
        return console.fail(DomainError::NotFound(format!("user \"{id}\"")));
    };
    let result = match parse_role(form.get("role")) {
        Ok(role) => app.services.set_role(&console.principal, UserId(id), role).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Redirect::to("/users?done=role").into_response(),
        Err(error) => console.fail(error),
    }
}
