//! Console users: argon2id passwords, memberships with roles, login sessions and lock-out.

use crate::access::Role;
use crate::error::DomainError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use async_trait::async_trait;
use serde::Serialize;
use siyu_core::{StoreError, UserId, WorkspaceId};

/// Failed logins in a row that lock an account.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);
/// How long a login session lasts.
pub const SESSION_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(12);

/// A console user as stored (with the password hash, never serialised).
#[derive(Clone, Debug)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Login e-mail, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked until this time, if locked.
    pub locked_until: Option<jiff::Timestamp>,
}

/// A user's role in one workspace.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Membership {
    /// User id.
    pub user_id: UserId,
    /// User e-mail.
    pub email: String,
    /// User display name.
    pub name: String,
    /// Workspace id.
    pub workspace_id: WorkspaceId,
    /// Workspace slug.
    pub workspace_slug: String,
    /// Workspace display name.
    pub workspace_name: String,
    /// Role there.
    pub role: Role,
}

/// A login session as stored (the token itself is only ever held by the browser).
#[derive(Clone, Debug)]
pub struct Session {
    /// The user.
    pub user_id: UserId,
    /// The workspace currently selected.
    pub workspace_id: WorkspaceId,
    /// Per-session CSRF token, embedded in every form.
    pub csrf_token: String,
    /// Expiry time.
    pub expires_at: jiff::Timestamp,
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::Internal(format!("password hashing failed: {e}")))
}

/// Returns whether `password` matches the stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Checks a new password's strength.
pub fn check_password_rules(password: &str) -> Result<(), DomainError> {
    if password.chars().count() < 8 {
        return Err(DomainError::invalid("password", "must be at least 8 characters"));
    }
    if password.len() > 1024 {
        return Err(DomainError::invalid("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

/// Normalises and checks a login e-mail.
pub fn parse_login_email(email: &str) -> Result<String, DomainError> {
    crate::profiles::normalize_email(email).map_err(|reason| DomainError::invalid("email", reason))
}

/// Persists users, memberships and sessions.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user, or returns the existing one with that e-mail when `update_password` is false.
    async fn insert(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<UserId, StoreError>;
    /// Replaces a user's password hash and clears lock-out.
    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<(), StoreError>;
    /// Finds a user by login e-mail.
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Finds a user by id.
    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Records a failed login; locks the account until `lock_until` if given.
    async fn record_failed_login(&self, id: UserId, lock_until: Option<jiff::Timestamp>) -> Result<(), StoreError>;
    /// Clears the failed-login counter.
    async fn record_successful_login(&self, id: UserId) -> Result<(), StoreError>;
    /// Grants (or changes) a role in a workspace.
    async fn set_membership(&self, ws: WorkspaceId, user: UserId, role: Role) -> Result<(), StoreError>;
    /// Removes a user from a workspace.
    async fn remove_membership(&self, ws: WorkspaceId, user: UserId) -> Result<(), StoreError>;
    /// Lists a user's workspaces.
    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError>;
    /// Lists the members of a workspace.
    async fn members(&self, ws: WorkspaceId) -> Result<Vec<Membership>, StoreError>;
    /// Stores a new session under the SHA-256 of its token.
    async fn insert_session(&self, token_hash: &str, session: &Session, now: jiff::Timestamp)
    -> Result<(), StoreError>;
    /// Finds an unexpired session.
    async fn find_session(&self, token_hash: &str, now: jiff::Timestamp) -> Result<Option<Session>, StoreError>;
    /// Switches a session's workspace.
    async fn switch_session(&self, token_hash: &str, ws: WorkspaceId) -> Result<(), StoreError>;
    /// Deletes a session (logout).
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_equal() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a phc string"));
    }
}
