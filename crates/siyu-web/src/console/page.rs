//! The console's page frame (top bar, side navigation, flash message), HTML rendering with safe
//! headers, and the localized error pages (403, 404, CSRF, 500).

use super::i18n::{Lang, Text};
use super::session::{Console, status_of};
use askama::Template;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use siyu_domain::access::AccessError;
use siyu_domain::access::Permission;
use siyu_domain::models::ModelError;
use siyu_domain::{DomainError, FieldError};

/// What the layout needs besides the page's own content.
pub(crate) struct Chrome {
    pub(crate) lang: Lang,
    /// The active navigation item: `home`, `customers`, `tags`, `analytics`, `keys`, `users`,
    /// `system` or "".
    pub(crate) nav: &'static str,
    pub(crate) flash: Option<&'static str>,
    /// Absent on the login page and on errors before login.
    pub(crate) user: Option<UserBar>,
}

/// The logged-in user's part of the top bar.
pub(crate) struct UserBar {
    pub(crate) email: String,
    pub(crate) role: &'static str,
    pub(crate) csrf: String,
    pub(crate) workspaces: Vec<WorkspaceOption>,
    pub(crate) workspace_name: String,
    pub(crate) time_zone: String,
    pub(crate) can_keys: bool,
    pub(crate) can_users: bool,
    pub(crate) can_analytics: bool,
    pub(crate) can_tasks: bool,
    pub(crate) can_messages: bool,
    pub(crate) can_channels: bool,
    pub(crate) can_system: bool,
}

/// One entry of the workspace switcher.
pub(crate) struct WorkspaceOption {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) selected: bool,
}

impl Chrome {
    /// Builds the frame of a logged-in page.
    pub(crate) fn new(console: &Console, nav: &'static str) -> Self {
        let t = console.t();
        let workspaces = console
            .memberships
            .iter()
            .map(|m| WorkspaceOption {
                id: m.workspace_id.0,
                name: m.workspace_name.clone(),
                selected: m.workspace_id == console.principal.workspace_id(),
            })
            .collect();
        Self {
            lang: console.lang,
            nav,
            flash: None,
            user: Some(UserBar {
                email: console.user.email.clone(),
                role: t.role(console.principal.role()),
                csrf: console.session.csrf_token.clone(),
                workspaces,
                workspace_name: console.workspace.name.clone(),
                time_zone: console.workspace.time_zone.clone(),
                can_keys: console.may(Permission::KeysManage),
                can_users: console.may(Permission::UsersManage),
                can_analytics: console.may(Permission::AnalyticsRead),
                can_tasks: console.may(Permission::NotesWrite),
                can_messages: console.may(Permission::MessagesRead),
                can_channels: console.may(Permission::MessagesSend),
                can_system: console.may(Permission::WorkspaceManage),
            }),
        }
    }

    /// Builds the frame of a page shown before login.
    pub(crate) fn bare(lang: Lang) -> Self {
        Self { lang, nav: "", flash: None, user: None }
    }

    /// Returns the session's CSRF token for forms ("" before login).
    pub(crate) fn csrf(&self) -> &str {
        self.user.as_ref().map(|user| user.csrf.as_str()).unwrap_or_default()
    }

    /// Sets the flash message named by a `done` query code (unknown codes show nothing).
    pub(crate) fn with_flash(mut self, t: &'static Text, done: &str) -> Self {
        self.flash = match done {
            "note" => Some(t.note_added),
            "erased" => Some(t.customer_erased),
            "group" => Some(t.group_created),
            "tag" => Some(t.tag_created),
            "revoked" => Some(t.key_revoked),
            "user" => Some(t.user_added),
            "role" => Some(t.role_changed),
            "uninvited" => Some(t.invitation_revoked),
            "task_done" => Some(t.task_done),
            "rules" => Some(t.rules_saved),
            "channel_saved" => Some(t.channel_saved),
            "channel_deleted" => Some(t.channel_deleted),
            "journey_saved" => Some(t.journey_saved),
            "journey_published" => Some(t.journey_published),
            "journey_status" => Some(t.journey_status_changed),
            "template_saved" => Some(t.template_saved),
            "template_deleted" => Some(t.template_deleted),
            _ => None,
        };
        self
    }
}

/// One option of a `<select>`.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

impl Choice {
    /// Builds an option, selected when `value` equals `current`.
    pub(crate) fn new(value: impl Into<String>, label: impl Into<String>, current: &str) -> Self {
        let value = value.into();
        Self { selected: value == current, value, label: label.into() }
    }
}

/// A field error as a form shows it: the field's name (to match an input), label and reason.
#[derive(Clone)]
pub(crate) struct FieldMessage {
    pub(crate) field: String,
    pub(crate) label: String,
    pub(crate) reason: String,
}

/// Turns a failed form submission into messages; `None` when the error is not about the input.
pub(crate) fn form_errors(t: &Text, error: &DomainError) -> Option<Vec<FieldMessage>> {
    let message = |e: &FieldError| FieldMessage {
        field: e.field.clone(),
        label: t.field(&e.field).into(),
        reason: t.reason(&e.reason),
    };
    match error {
        DomainError::Invalid(errors) => Some(errors.iter().map(message).collect()),
        DomainError::Conflict(_) => {
            Some(vec![FieldMessage { field: "name".into(), label: t.name.into(), reason: t.error_conflict.into() }])
        }
        _ => None,
    }
}

/// Renders a template as an HTML response with headers that keep console pages private.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            let headers = response.headers_mut();
            // Pages hold personal data and one-time key tokens: never cache them, never frame them,
            // and never leak their URLs (search terms may be phone numbers) to other sites.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
                ),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: &'static Text,
    chrome: Chrome,
    title: &'static str,
    message: String,
    details: Vec<FieldMessage>,
}

fn error_response(
    status: StatusCode,
    lang: Lang,
    chrome: Option<Chrome>,
    title: &'static str,
    message: String,
) -> Response {
    let t = lang.text();
    let chrome = chrome.unwrap_or_else(|| Chrome::bare(lang));
    render(status, &ErrorPage { t, chrome, title, message, details: Vec::new() })
}

/// Renders a domain error as a localized page (a lost session goes back to the login page).
pub(crate) fn error_page(lang: Lang, chrome: Option<Chrome>, error: DomainError) -> Response {
    let t = lang.text();
    let status = status_of(&error);
    match error {
        DomainError::Unauthenticated(_) => Redirect::to("/login").into_response(),
        DomainError::Forbidden(permission) => error_response(
            status,
            lang,
            chrome,
            t.error_forbidden_title,
            Text::fill(t.error_forbidden_body, permission),
        ),
        DomainError::NotFound(_) => {
            error_response(status, lang, chrome, t.error_not_found_title, t.error_not_found_body.into())
        }
        DomainError::Models(ModelError::NoOrderData) => {
            error_response(status, lang, chrome, t.no_order_data_title, t.no_order_data_body.into())
        }
        DomainError::Invalid(_) | DomainError::Conflict(_) => {
            let details = form_errors(t, &error).unwrap_or_default();
            let chrome = chrome.unwrap_or_else(|| Chrome::bare(lang));
            let page =
                ErrorPage { t, chrome, title: t.error_bad_request_title, message: t.form_errors.into(), details };
            render(status, &page)
        }
        DomainError::Access(AccessError::Locked(_))
        | DomainError::Access(AccessError::Throttled(_))
        | DomainError::Campaigns(_)
        | DomainError::Internal(_) => {
            // The problem mapping logs the cause under a request id; the page shows only the id.
            let problem = crate::problem::Problem::from(error);
            let message = format!("{} ({})", t.error_internal_body, problem.detail);
            error_response(status, lang, chrome, t.error_internal_title, message)
        }
    }
}

/// The 403 page for a form whose CSRF token is missing or wrong.
pub(crate) fn csrf_failed(lang: Lang, chrome: Option<Chrome>) -> Response {
    let t = lang.text();
    error_response(StatusCode::FORBIDDEN, lang, chrome, t.error_forbidden_title, t.error_csrf.into())
}

/// The 400 page for a body that is not a urlencoded form.
pub(crate) fn bad_request(lang: Lang, chrome: Option<Chrome>) -> Response {
    let t = lang.text();
    error_response(StatusCode::BAD_REQUEST, lang, chrome, t.error_bad_request_title, t.error_bad_request_body.into())
}

/// Customers per page of segment members and of the recall list.
pub(crate) const MEMBERS_PAGE: u32 = 25;

/// Returns a CSV file as a download: with a UTF-8 byte order mark, so that Excel reads Chinese
/// right, and never cached.
pub(crate) fn csv_download(file_name: &str, mut body: Vec<u8>) -> Response {
    body.splice(0..0, "\u{feff}".bytes());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}
