//! The users and roles page (owners only): members, inviting someone (a one-time link they accept
//! themselves), pending invitations, changing roles, and the permission matrix.

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_core::{InvitationId, UserId};
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

struct InvitationRow {
    id: i64,
    email: String,
    role: &'static str,
    invited_by: String,
    expires: String,
}

#[derive(Default)]
struct UserForm {
    email: String,
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
    invitations: Vec<InvitationRow>,
    /// The accept link of the invitation just created, shown only this once.
    new_link: Option<String>,
}

fn role_choices(t: &Text, current: &str) -> Vec<Choice> {
    Role::ALL.iter().map(|r| Choice::new(r.as_str(), t.role(*r), current)).collect()
}

async fn users_page(
    app: &AppState,
    console: &Console,
    form: UserForm,
    new_link: Option<String>,
) -> Result<UsersPage, DomainError> {
    let members = app.services.access.members(&console.principal).await?;
    let invitations = app
        .services
        .access
        .invitations(&console.principal)
        .await?
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id.0,
            role: console.t().role(i.role),
            invited_by: i.invited_by.trim_start_matches("user:").to_string(),
            expires: console.time(i.expires_at),
            email: i.email,
        })
        .collect();
    let t = console.t();
    let me = match &console.principal.actor() {
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
        invitations,
        new_link,
    })
}

/// GET /users: members, the add-user form and the permission matrix.
pub(crate) async fn list_users(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    match users_page(&app, &console, UserForm::default(), None).await {
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

/// POST /users: invites someone to the workspace with a role and shows the one-time accept link.
pub(crate) async fn invite_user(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let input = UserForm { email: form.get("email").trim().into(), role: form.get("role").into(), errors: Vec::new() };
    match app.services.access.invite_user(&console.principal, &input.email, &input.role).await {
        Ok(outcome) => {
            let link = format!("{}/invite/{}", app.public_url.trim_end_matches('/'), outcome.token);
            match users_page(&app, &console, UserForm::default(), Some(link)).await {
                Ok(mut page) => {
                    page.chrome = page.chrome.with_flash(console.t(), "user");
                    render(StatusCode::CREATED, &page)
                }
                Err(error) => console.fail(error),
            }
        }
        Err(error) => {
            let Some(errors) = form_errors(console.t(), &error) else {
                return console.fail(error);
            };
            match users_page(&app, &console, UserForm { errors, ..input }, None).await {
                Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
                Err(error) => console.fail(error),
            }
        }
    }
}

/// POST /users/invitations/{id}/revoke: revokes a pending invitation; its link stops working.
pub(crate) async fn revoke_invitation(State(app): State<AppState>, Path(id): Path<String>, post: Post) -> Response {
    let Post { console, .. } = post;
    let Ok(id) = id.parse::<i64>() else {
        return console.fail(DomainError::NotFound(format!("invitation \"{id}\"")));
    };
    match app.services.access.revoke_invitation(&console.principal, InvitationId(id)).await {
        Ok(()) => Redirect::to("/users?done=uninvited").into_response(),
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
        Ok(role) => app.services.access.set_role(&console.principal, UserId(id), role).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => Redirect::to("/users?done=role").into_response(),
        Err(error) => console.fail(error),
    }
}
