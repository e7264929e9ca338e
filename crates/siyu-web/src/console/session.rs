//! Console request context: cookies, the language, the logged-in [`Console`] extractor and
//! [`Post`], a form body whose `_csrf` field has been checked against the session.

use super::i18n::{Lang, Text};
use super::page;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use siyu_domain::DomainError;
use siyu_domain::access::AccessError;
use siyu_domain::access::users::{Membership, Session, User};
use siyu_domain::access::workspaces::Workspace;
use siyu_domain::access::{Permission, Principal};
use siyu_domain::models::ModelError;

/// Holds the opaque session token.
pub(crate) const SESSION_COOKIE: &str = "siyu_session";
/// Holds the chosen language, `zh` or `en`.
pub(crate) const LANG_COOKIE: &str = "siyu_lang";
/// Holds the double-submit CSRF token of the login form.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "siyu_login_csrf";
/// Holds the browser's known-device token: an account locked by others' failed logins still lets in
/// the browsers it has logged in from.
pub(crate) const DEVICE_COOKIE: &str = "siyu_device";

/// Returns what a login knows of the browser: its peer address and its known-device cookie.
pub(crate) fn login_client<'a>(
    headers: &'a HeaderMap,
    extensions: &axum::http::Extensions,
) -> siyu_domain::access::LoginClient<'a> {
    let addr = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    let device_token =
        cookie(headers, DEVICE_COOKIE).filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()));
    siyu_domain::access::LoginClient { addr, device_token }
}

/// Returns the value of cookie `name` from the request headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Builds a `Set-Cookie` value; `max_age_secs` 0 deletes the cookie.
pub(crate) fn set_cookie(name: &str, value: &str, path: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&cookie).expect("cookie names and values are plain ASCII")
}

/// Returns the language from the `siyu_lang` cookie, else from `Accept-Language`.
pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(Lang::parse).unwrap_or_else(|| {
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        Lang::from_accept_language(accept)
    })
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Returns a fresh random hex token of 16 bytes.
pub(crate) fn random_token() -> Result<String, DomainError> {
    Ok(hex::encode(siyu_core::crypto::random_bytes::<16>()?))
}

/// A logged-in user in their current workspace, with the language to answer in.
pub(crate) struct Console {
    /// The session token from the cookie (needed to switch workspace or log out).
    pub(crate) token: String,
    pub(crate) user: User,
    pub(crate) session: Session,
    pub(crate) principal: Principal,
    pub(crate) memberships: Vec<Membership>,
    pub(crate) workspace: Workspace,
    pub(crate) time_zone: TimeZone,
    pub(crate) lang: Lang,
}

impl Console {
    /// Returns the strings of the user's language.
    pub(crate) fn t(&self) -> &'static Text {
        self.lang.text()
    }

    /// Returns whether the user's role holds `permission`.
    pub(crate) fn may(&self, permission: Permission) -> bool {
        self.principal.role().allows(permission)
    }

    /// Formats a time in the workspace's time zone.
    pub(crate) fn time(&self, at: jiff::Timestamp) -> String {
        at.to_zoned(self.time_zone.clone()).strftime("%Y-%m-%d %H:%M").to_string()
    }

    /// Renders a failed service call as a localized error page.
    pub(crate) fn fail(&self, error: DomainError) -> Response {
        page::error_page(self.lang, Some(page::Chrome::new(self, "")), error)
    }
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(to_login());
        };
        let (user, session, principal, memberships) = match app.services.access.session(&token).await {
            Ok(found) => found,
            Err(DomainError::Unauthenticated(_)) => return Err(to_login()),
            Err(error) => return Err(page::error_page(lang, None, error)),
        };
        let workspace = app.services.access.workspace(&principal).await.map_err(|e| page::error_page(lang, None, e))?;
        // The time zone was validated when the workspace was saved; UTC only guards old rows.
        let time_zone = TimeZone::get(&workspace.time_zone).unwrap_or(TimeZone::UTC);
        Ok(Self { token, user, session, principal, memberships, workspace, time_zone, lang })
    }
}

/// An `application/x-www-form-urlencoded` body (or query string) as ordered key/value pairs.
#[derive(Default)]
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses a query string; a missing or malformed one counts as empty.
    pub(crate) fn query(raw: Option<String>) -> Self {
        Self::parse(raw.unwrap_or_default().as_bytes()).unwrap_or_default()
    }

    /// Parses a urlencoded body or query string.
    pub(crate) fn parse(encoded: &[u8]) -> Option<Self> {
        serde_urlencoded::from_bytes(encoded).ok().map(Self)
    }

    /// Returns the first value of `name`, or "" when absent.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).unwrap_or_default()
    }

    /// Returns the first value of `name`, trimmed, or `default` when it is absent or blank.
    pub(crate) fn get_or(&self, name: &str, default: &str) -> String {
        match self.get(name).trim() {
            "" => default.to_string(),
            given => given.to_string(),
        }
    }

    /// Returns every non-blank value of `name`, trimmed.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_string())
            .collect()
    }
}

/// Reads a urlencoded form body, or says why it cannot.
pub(crate) async fn read_form(request: Request, app: &AppState) -> Result<FormData, ()> {
    let urlencoded = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim() == "application/x-www-form-urlencoded"));
    if !urlencoded {
        return Err(());
    }
    let body = Bytes::from_request(request, app).await.map_err(|_| ())?;
    FormData::parse(&body).ok_or(())
}

/// A state-changing console request: a logged-in user and a form whose `_csrf` matched the session.
pub(crate) struct Post {
    pub(crate) console: Console,
    pub(crate) form: FormData,
}

impl FromRequest<AppState> for Post {
    type Rejection = Response;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let console = Console::from_request_parts(&mut parts, app).await?;
        let Ok(form) = read_form(Request::from_parts(parts, body), app).await else {
            return Err(page::bad_request(console.lang, Some(page::Chrome::new(&console, ""))));
        };
        if !same_secret(form.get("_csrf"), &console.session.csrf_token) {
            return Err(page::csrf_failed(console.lang, Some(page::Chrome::new(&console, ""))));
        }
        Ok(Self { console, form })
    }
}

/// Answers a GET that needs no page: a 303 to `location` with extra cookies.
pub(crate) fn redirect_with_cookies(location: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = Redirect::to(location).into_response();
    for value in cookies {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Returns the status of a domain error as the console shows it.
pub(crate) fn status_of(error: &DomainError) -> StatusCode {
    match error {
        DomainError::Invalid(_) | DomainError::Models(ModelError::NoOrderData) => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::NotFound(_) => StatusCode::NOT_FOUND,
        DomainError::Conflict(_) => StatusCode::CONFLICT,
        DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
        DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        DomainError::Access(AccessError::Locked(_)) | DomainError::Access(AccessError::Throttled(_)) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        DomainError::Campaigns(error) => {
            StatusCode::from_u16(crate::problem::Problem::campaign(error).status).unwrap_or(StatusCode::CONFLICT)
        }
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; siyu_lang=en; siyu_session=abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(lang_of(&headers), Lang::En);
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abcd", "abcd"));
        assert!(!same_secret("abce", "abcd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", ""));
    }
}
