//! The public invitation page `/invite/{token}`: the invited person accepts signed in as the invited
//! e-mail, with that account's own password, or by creating the account with a password of their
//! own. Nothing here can set the password of an existing account.

use super::i18n::{Lang, Text};
use super::login::{session_cookies, wait_message};
use super::page::{self, Chrome, render};
use super::session::{
    SESSION_COOKIE, cookie, lang_of, login_client, random_token, read_form, redirect_with_cookies, same_secret,
    set_cookie,
};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use siyu_domain::DomainError;
use siyu_domain::access::Acceptance;
use siyu_domain::access::AccessError;
use siyu_domain::access::users::Invitation;

/// Holds the double-submit CSRF token of the invitation forms.
const INVITE_CSRF_COOKIE: &str = "siyu_invite_csrf";

/// How the page asks the visitor to prove who they are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Signed in as the invited e-mail: one button.
    SignedIn,
    /// The e-mail has an account: its own password.
    Password,
    /// No account yet: a name and a new password, twice.
    NewAccount,
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    t: &'static Text,
    chrome: Chrome,
    csrf: String,
    intro: String,
    email: String,
    role: &'static str,
    signed_in: bool,
    password: bool,
    other_account: bool,
    error: Option<String>,
}

fn valid_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Renders the invalid-link page (expired, used, revoked or never issued).
fn invalid(lang: Lang) -> Response {
    let t = lang.text();
    let error = DomainError::NotFound(t.invite_invalid.into());
    let mut response = page::error_page(lang, None, error);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Finds the pending invitation of a link and how this visitor may accept it (with whether they are
/// signed in as another account), or the page to answer instead.
async fn pending(
    app: &AppState,
    headers: &HeaderMap,
    token: &str,
    lang: Lang,
) -> Result<(Invitation, Mode, bool), Response> {
    if !valid_token(token) {
        return Err(invalid(lang));
    }
    let (invitation, exists) = match app.services.access.invitation(token).await {
        Ok(found) => found,
        Err(DomainError::NotFound(_)) => return Err(invalid(lang)),
        Err(error) => return Err(page::error_page(lang, None, error)),
    };
    let (mode, other_account) = mode_of(app, headers, &invitation, exists).await;
    Ok((invitation, mode, other_account))
}

/// Works out who the visitor is relative to the invitation.
async fn mode_of(app: &AppState, headers: &HeaderMap, invitation: &Invitation, exists: bool) -> (Mode, bool) {
    let mut other_account = false;
    if let Some(token) = cookie(headers, SESSION_COOKIE)
        && let Ok((user, ..)) = app.services.access.session(token).await
    {
        if user.email == invitation.email {
            return (Mode::SignedIn, false);
        }
        other_account = true;
    }
    (if exists { Mode::Password } else { Mode::NewAccount }, other_account)
}

#[allow(clippy::too_many_arguments)]
fn invite_page(
    app: &AppState,
    lang: Lang,
    status: StatusCode,
    csrf: String,
    invitation: &Invitation,
    mode: Mode,
    other_account: bool,
    error: Option<String>,
) -> Response {
    let t = lang.text();
    let page = InvitePage {
        t,
        chrome: Chrome::bare(lang),
        csrf: csrf.clone(),
        intro: Text::fill(t.invite_intro, &invitation.workspace_name),
        email: invitation.email.clone(),
        role: t.role(invitation.role),
        signed_in: mode == Mode::SignedIn,
        password: mode == Mode::Password,
        other_account,
        error,
    };
    let mut response = render(status, &page);
    let cookie = set_cookie(INVITE_CSRF_COOKIE, &csrf, "/invite", 3600, app.secure_cookies);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    // The token is in the path: keep it out of other sites' logs.
    response.headers_mut().insert(header::REFERRER_POLICY, axum::http::HeaderValue::from_static("no-referrer"));
    response
}

/// GET /invite/{token}: shows the invitation and the one way this visitor can accept it.
pub(crate) async fn show_invitation(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers);
    let (invitation, mode, other_account) = match pending(&app, &headers, &token, lang).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let csrf = match random_token() {
        Ok(csrf) => csrf,
        Err(error) => return page::error_page(lang, None, error),
    };
    invite_page(&app, lang, StatusCode::OK, csrf, &invitation, mode, other_account, None)
}

/// POST /invite/{token}: accepts the invitation and signs the invitee in to its workspace.
pub(crate) async fn accept_invitation(
    State(app): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let extensions = request.extensions().clone();
    let lang = lang_of(&headers);
    let t = lang.text();
    let expected = cookie(&headers, INVITE_CSRF_COOKIE).unwrap_or_default().to_string();
    let Ok(form) = read_form(request, &app).await else {
        return page::bad_request(lang, None);
    };
    if !same_secret(form.get("_csrf"), &expected) {
        return page::csrf_failed(lang, None);
    }
    let (invitation, mode, other_account) = match pending(&app, &headers, &token, lang).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let session_token = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let password = form.get("password");
    if mode == Mode::NewAccount && password != form.get("password_again") {
        let error = Some(t.invite_mismatch.to_string());
        return invite_page(
            &app,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            expected,
            &invitation,
            mode,
            other_account,
            error,
        );
    }
    let acceptance = match mode {
        Mode::SignedIn => Acceptance::SignedIn { session_token },
        Mode::Password => Acceptance::Password { password, client: login_client(&headers, &extensions) },
        Mode::NewAccount => Acceptance::NewAccount { name: form.get("name"), password },
    };
    match app.services.access.accept_invitation(&token, acceptance).await {
        Ok(outcome) => {
            let mut cookies = session_cookies(&app, &outcome);
            cookies.push(set_cookie(INVITE_CSRF_COOKIE, "", "/invite", 0, app.secure_cookies));
            redirect_with_cookies("/", cookies)
        }
        Err(DomainError::NotFound(_)) => invalid(lang),
        Err(error) => {
            let (status, message) = match &error {
                DomainError::Access(AccessError::Locked(_)) | DomainError::Access(AccessError::Throttled(_)) => {
                    (StatusCode::TOO_MANY_REQUESTS, wait_message(t, &error).unwrap_or_default())
                }
                DomainError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, t.login_wrong.to_string()),
                DomainError::Invalid(_) | DomainError::Conflict(_) => {
                    let reasons = page::form_errors(t, &error).unwrap_or_default();
                    let text = reasons.iter().map(|e| format!("{}: {}", e.label, e.reason)).collect::<Vec<_>>();
                    (StatusCode::UNPROCESSABLE_ENTITY, text.join("; "))
                }
                _ => return page::error_page(lang, None, error),
            };
            invite_page(&app, lang, status, expected, &invitation, mode, other_account, Some(message))
        }
    }
}
