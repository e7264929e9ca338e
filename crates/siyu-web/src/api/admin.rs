//! `/api/v1/workspace`, `/api/v1/users`, `/api/v1/keys` and `/api/v1/audit` (owners and auditors).

use crate::AppState;
use crate::extract::{ApiAuth, ApiJson};
use crate::problem::Problem;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use siyu_core::{ApiKeyId, InvitationId, PageRequest, UserId};
use siyu_domain::DomainError;
use siyu_domain::access::Role;
use siyu_domain::access::api_keys::{ApiKey, KeyKind};
use siyu_domain::access::audit::AuditEntry;
use siyu_domain::access::users::{Invitation, Membership};
use siyu_domain::access::workspaces::{NewWorkspace, Workspace};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_workspace, update_workspace))
        .routes(routes!(list_users, invite_user))
        .routes(routes!(change_user, remove_user))
        .routes(routes!(list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_audit))
}

/// GET /api/v1/workspace: the key's workspace.
#[utoipa::path(get, path = "/api/v1/workspace", tag = "admin", responses((status = 200, body = Workspace)))]
async fn get_workspace(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<Workspace>, Problem> {
    Ok(Json(app.services.access.workspace(&principal).await?))
}

/// Workspace settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WorkspaceSettings {
    /// Display name.
    name: Option<String>,
    /// IANA time zone.
    time_zone: Option<String>,
    /// ISO 4217 currency.
    currency: Option<String>,
}

/// PATCH /api/v1/workspace: changes name, time zone or currency (owners).
#[utoipa::path(patch, path = "/api/v1/workspace", tag = "admin", request_body = WorkspaceSettings,
    responses((status = 200, body = Workspace), (status = 422, body = Problem)))]
async fn update_workspace(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(body): ApiJson<WorkspaceSettings>,
) -> Result<Json<Workspace>, Problem> {
    let current = app.services.access.workspace(&principal).await?;
    let new = NewWorkspace::parse(
        &current.slug,
        Some(body.name.as_deref().unwrap_or(&current.name)),
        Some(body.time_zone.as_deref().unwrap_or(&current.time_zone)),
        Some(body.currency.as_deref().unwrap_or(&current.currency)),
    )?;
    Ok(Json(app.services.access.update_workspace(&principal, &new).await?))
}

fn parse_role(field: &str, role: &str) -> Result<Role, Problem> {
    Role::parse(role).ok_or_else(|| {
        DomainError::invalid(
            field,
            format!("unknown role \"{role}\"; expected one of {}", Role::ALL.map(Role::as_str).join(", ")),
        )
        .into()
    })
}

/// Someone to invite.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewInvitation {
    /// Login e-mail of the person invited.
    email: String,
    /// `owner`, `operator`, `analyst`, `cs_agent` or `auditor`.
    role: String,
    /// Not accepted: the invitee sets their own password (or keeps their existing one).
    #[serde(default)]
    #[schema(ignore)]
    password: Option<serde::de::IgnoredAny>,
    /// Not accepted: the invitee chooses their own display name.
    #[serde(default)]
    #[schema(ignore)]
    name: Option<serde::de::IgnoredAny>,
}

/// A created invitation with its one-time accept link, shown only this once.
#[derive(Serialize, ToSchema)]
struct CreatedInvitation {
    /// The invitation.
    invitation: Invitation,
    /// Give this link to the invitee only: they accept it signed in as the invited e-mail, with their
    /// own password, or by creating the account with a password of their choosing.
    accept_url: String,
}

/// GET /api/v1/users: the workspace's members and roles (owners).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin", responses((status = 200, body = Vec<Membership>)))]
async fn list_users(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
) -> Result<Json<Vec<Membership>>, Problem> {
    Ok(Json(app.services.access.members(&principal).await?))
}

/// POST /api/v1/users: invites someone to the workspace with a role (owners). Nothing about an existing
/// account changes: the invitee accepts through the returned one-time link.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewInvitation,
    responses((status = 201, body = CreatedInvitation), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn invite_user(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(body): ApiJson<NewInvitation>,
) -> Result<(StatusCode, Json<CreatedInvitation>), Problem> {
    if body.password.is_some() {
        return Err(DomainError::invalid(
            "password",
            "an invitee sets their own password; send them the accept_url of the invitation",
        )
        .into());
    }
    if body.name.is_some() {
        return Err(DomainError::invalid("name", "an invitee chooses their own name when accepting").into());
    }
    let outcome = app.services.access.invite_user(&principal, &body.email, &body.role).await?;
    let accept_url = format!("{}/invite/{}", app.public_url.trim_end_matches('/'), outcome.token);
    Ok((StatusCode::CREATED, Json(CreatedInvitation { invitation: outcome.invitation, accept_url })))
}

/// GET /api/v1/invitations: the workspace's pending invitations (owners).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "admin", responses((status = 200, body = Vec<Invitation>)))]
async fn list_invitations(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
) -> Result<Json<Vec<Invitation>>, Problem> {
    Ok(Json(app.services.access.invitations(&principal).await?))
}

/// DELETE /api/v1/invitations/{id}: revokes a pending invitation; its link stops working (owners).
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_invitation(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = id
        .parse()
        .map(InvitationId)
        .map_err(|_| Problem::malformed("id", format!("\"{id}\" is not an invitation id")))?;
    app.services.access.revoke_invitation(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    /// New role.
    role: String,
}

fn user_id(raw: &str) -> Result<UserId, Problem> {
    raw.parse().map(UserId).map_err(|_| Problem::malformed("id", format!("\"{raw}\" is not a user id")))
}

/// PATCH /api/v1/users/{id}: changes a member's role (owners).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", params(("id" = i64, Path)), request_body = RoleChange,
    responses((status = 204), (status = 404, body = Problem)))]
async fn change_user(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<StatusCode, Problem> {
    let role = parse_role("role", &body.role)?;
    app.services.access.set_role(&principal, user_id(&id)?, role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/v1/users/{id}: removes a member from the workspace (owners).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_user(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.services.access.remove_member(&principal, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A key to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// `write` (event ingestion) or `secret` (admin API).
    kind: String,
    /// Label.
    name: String,
    /// Role a secret key acts with (default `operator`).
    #[serde(default)]
    role: Option<String>,
}

/// A created key with its token, shown only this once.
#[derive(Serialize, ToSchema)]
struct CreatedKey {
    /// The key.
    key: ApiKey,
    /// The token; store it now, it is never shown again.
    token: String,
}

/// GET /api/v1/keys: lists keys (never their tokens; owners).
#[utoipa::path(get, path = "/api/v1/keys", tag = "admin", responses((status = 200, body = Vec<ApiKey>)))]
async fn list_keys(State(app): State<AppState>, ApiAuth(principal): ApiAuth) -> Result<Json<Vec<ApiKey>>, Problem> {
    Ok(Json(app.services.access.keys(&principal).await?))
}

/// POST /api/v1/keys: creates a key (owners).
#[utoipa::path(post, path = "/api/v1/keys", tag = "admin", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 422, body = Problem)))]
async fn create_key(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), Problem> {
    let kind = KeyKind::parse(&body.kind).ok_or_else(|| {
        Problem::from(DomainError::invalid(
            "kind",
            format!("unknown key kind \"{}\"; expected write or secret", body.kind),
        ))
    })?;
    let role = match body.role.as_deref() {
        Some(role) => parse_role("role", role)?,
        None => Role::Operator,
    };
    let (key, token) = app.services.access.create_key(&principal, kind, role, &body.name).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, token })))
}

/// DELETE /api/v1/keys/{id}: revokes a key (owners).
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_key(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = id.parse().map(ApiKeyId).map_err(|_| Problem::malformed("id", format!("\"{id}\" is not a key id")))?;
    app.services.access.revoke_key(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of audit entries.
#[derive(Serialize, ToSchema)]
struct AuditPage {
    /// Entries, newest first.
    items: Vec<AuditEntry>,
    /// Cursor of the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// GET /api/v1/audit: the audit log, newest first (owners and auditors).
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)), responses((status = 200, body = AuditPage)))]
async fn list_audit(
    State(app): State<AppState>,
    ApiAuth(principal): ApiAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, Problem> {
    let mut page = PageRequest::first(PageRequest::DEFAULT_LIMIT);
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !crate::extract::page_param(&mut page, &key, &value)? {
            return Err(Problem::malformed(key.as_ref(), format!("unknown query parameter \"{key}\"")));
        }
    }
    let entries = app.services.access.audit_log(&principal, &page).await?;
    Ok(Json(AuditPage { items: entries.items, next_cursor: entries.next_after.map(PageRequest::encode_cursor) }))
}
