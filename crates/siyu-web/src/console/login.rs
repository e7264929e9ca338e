//! Logging in and out, the language switch and the workspace switch.

use super::i18n::{Lang, Text};
use super::page::{self, Chrome, render};
use super::session::{
    Console, DEVICE_COOKIE, LANG_COOKIE, LOGIN_CSRF_COOKIE, Post, SESSION_COOKIE, cookie, lang_of, login_client,
    random_token, read_form, redirect_with_cookies, same_secret, set_cookie,
};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use siyu_core::WorkspaceId;
use siyu_domain::DomainError;
use siyu_domain::access::AccessError;
use siyu_domain::access::users::{KNOWN_DEVICE_LIFETIME, SESSION_LIFETIME};

/// How long the language and login-form cookies live.
const YEAR_SECS: i64 = 365 * 24 * 3600;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: &'static Text,
    chrome: Chrome,
    csrf: String,
    email: String,
    error: Option<String>,
}

/// Renders the login form and (re)sets its double-submit CSRF cookie.
fn login_form(
    app: &AppState,
    lang: Lang,
    status: StatusCode,
    csrf: String,
    email: String,
    error: Option<String>,
) -> Response {
    let page = LoginPage { t: lang.text(), chrome: Chrome::bare(lang), csrf: csrf.clone(), email, error };
    let mut response = render(status, &page);
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, &csrf, "/login", YEAR_SECS, app.secure_cookies);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// GET /login: the login form.
pub(crate) async fn show_login(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    // Keep an existing token so that two open login tabs do not invalidate each other.
    let existing =
        cookie(&headers, LOGIN_CSRF_COOKIE).filter(|c| c.len() == 32 && c.bytes().all(|b| b.is_ascii_hexdigit()));
    let csrf = match existing {
        Some(token) => token.to_string(),
        None => match random_token() {
            Ok(token) => token,
            Err(error) => return page::error_page(lang, None, error),
        },
    };
    login_form(&app, lang, StatusCode::OK, csrf, String::new(), None)
}

/// POST /login: checks the form's CSRF token against its cookie, logs in, sets the session cookie.
pub(crate) async fn login(State(app): State<AppState>, request: Request) -> Response {
    let lang = lang_of(request.headers());
    let t = lang.text();
    let expected = cookie(request.headers(), LOGIN_CSRF_COOKIE).unwrap_or_default().to_string();
    let headers = request.headers().clone();
    let extensions = request.extensions().clone();
    let Ok(form) = read_form(request, &app).await else {
        return page::bad_request(lang, None);
    };
    if !same_secret(form.get("_csrf"), &expected) {
        return page::csrf_failed(lang, None);
    }
    let email = form.get("email").trim().to_string();
    let client = login_client(&headers, &extensions);
    match app.services.access.login(&email, form.get("password"), &client).await {
        Ok(outcome) => {
            let mut cookies = session_cookies(&app, &outcome);
            cookies.push(set_cookie(LOGIN_CSRF_COOKIE, "", "/login", 0, app.secure_cookies));
            // The home page decides where the role lands: the dashboard or the customer list.
            redirect_with_cookies("/", cookies)
        }
        Err(error @ (DomainError::Access(AccessError::Throttled(_)) | DomainError::Access(AccessError::Locked(_)))) => {
            let message = wait_message(t, &error);
            login_form(&app, lang, StatusCode::TOO_MANY_REQUESTS, expected, email, message)
        }
        Err(DomainError::Unauthenticated(reason)) => {
            let message = if reason.contains("workspace") { t.login_no_workspace } else { t.login_wrong };
            login_form(&app, lang, StatusCode::UNAUTHORIZED, expected, email, Some(message.into()))
        }
        Err(error) => page::error_page(lang, None, error),
    }
}

/// Returns what a login refused for now says: the account's lock-out or the address's wait, with its
/// end in the default zone, named (before login there is no workspace and so no workspace zone).
pub(crate) fn wait_message(t: &Text, error: &DomainError) -> Option<String> {
    let zone = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    match error {
        DomainError::Access(AccessError::Locked(until)) => {
            Some(Text::fill(t.login_locked, until.to_zoned(zone).strftime("%Y-%m-%d %H:%M %Z")))
        }
        // An address waits seconds at first: show them.
        DomainError::Access(AccessError::Throttled(until)) => {
            Some(Text::fill(t.login_throttled, until.to_zoned(zone).strftime("%Y-%m-%d %H:%M:%S %Z")))
        }
        _ => None,
    }
}

/// Returns the cookies a successful login sets: the session, and the known-device token when given.
pub(crate) fn session_cookies(app: &AppState, outcome: &siyu_domain::access::LoginOutcome) -> Vec<HeaderValue> {
    let mut cookies =
        vec![set_cookie(SESSION_COOKIE, &outcome.token, "/", SESSION_LIFETIME.as_secs(), app.secure_cookies)];
    if let Some(device) = &outcome.device_token {
        let max_age = KNOWN_DEVICE_LIFETIME.as_secs();
        cookies.push(set_cookie(DEVICE_COOKIE, device, "/", max_age, app.secure_cookies));
    }
    cookies
}

/// POST /logout: ends the session and clears its cookie.
pub(crate) async fn logout(State(app): State<AppState>, post: Post) -> Response {
    if let Err(error) = app.services.access.logout(&post.console.token).await {
        return post.console.fail(error);
    }
    redirect_with_cookies("/login", vec![set_cookie(SESSION_COOKIE, "", "/", 0, app.secure_cookies)])
}

/// GET /lang/{code}: remembers the language and goes back to the page the link was clicked on.
pub(crate) async fn set_lang(State(app): State<AppState>, Path(code): Path<String>, headers: HeaderMap) -> Response {
    let back = back_path(headers.get(header::REFERER).and_then(|v| v.to_str().ok()));
    match Lang::parse(&code) {
        Some(lang) => {
            redirect_with_cookies(&back, vec![set_cookie(LANG_COOKIE, lang.code(), "/", YEAR_SECS, app.secure_cookies)])
        }
        None => Redirect::to(&back).into_response(),
    }
}

/// Keeps only the path and query of a Referer, so the redirect can never leave the site.
fn back_path(referer: Option<&str>) -> String {
    let parsed = referer.and_then(|r| url::Url::parse(r).ok());
    match parsed {
        // "//host" would be a protocol-relative URL: another site.
        Some(url) if !url.path().starts_with("/lang/") && !url.path().starts_with("//") => match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        },
        _ => "/".into(),
    }
}

/// POST /workspace/switch: moves the session to another of the user's workspaces.
pub(crate) async fn switch_workspace(State(app): State<AppState>, post: Post) -> Response {
    let Ok(id) = post.form.get("workspace").parse::<i64>() else {
        return post.console.fail(DomainError::NotFound("workspace".into()));
    };
    let console: &Console = &post.console;
    match app.services.access.switch_workspace(&console.token, WorkspaceId(id)).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(error) => console.fail(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_path_stays_on_site() {
        assert_eq!(back_path(Some("https://evil.example/customers?q=1")), "/customers?q=1");
        assert_eq!(back_path(Some("http://127.0.0.1:8080/tags")), "/tags");
        assert_eq!(back_path(Some("http://127.0.0.1:8080/lang/en")), "/");
        assert_eq!(back_path(Some("not a url")), "/");
        assert_eq!(back_path(Some("http://127.0.0.1:8080//evil.example/x")), "/");
        assert_eq!(back_path(None), "/");
    }
}
