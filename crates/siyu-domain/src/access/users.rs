//! Console users: argon2id passwords, memberships with roles, login sessions and lock-out.

use crate::access::Role;
use crate::error::DomainError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use async_trait::async_trait;
use serde::Serialize;
use siyu_core::{InvitationId, StoreError, UserId, WorkspaceId};

/// Failed logins in a row that lock an account.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);
/// How long a login session lasts.
pub const SESSION_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(12);
/// How long an invitation link stays valid.
pub const INVITATION_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);
/// How long a browser stays known to an account after its last login there.
pub const KNOWN_DEVICE_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);

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

/// An invitation to join a workspace with a role. Only the invited person can accept it, through a
/// one-time link: signed in as the invited e-mail, with that account's own password, or by creating
/// the account with a password of their own when none exists. Inviting never touches an account.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The workspace it grants.
    pub workspace_id: WorkspaceId,
    /// The workspace's display name.
    pub workspace_name: String,
    /// The invited login e-mail, lower-cased.
    pub email: String,
    /// The role granted on acceptance.
    pub role: Role,
    /// Who invited (user e-mail or key prefix).
    pub invited_by: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// The link stops working at this time.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
}

/// Who accepts an invitation.
pub enum Acceptor<'a> {
    /// An existing account, already authenticated by the caller (session or its own password).
    Existing(UserId),
    /// A new account for the invited e-mail, with the invitee's own display name and password.
    New {
        /// Display name.
        name: &'a str,
        /// argon2id PHC string of the invitee's chosen password.
        password_hash: &'a str,
    },
}

/// Failed logins a client address may make before each further attempt must wait.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 5;
/// The longest an address waits between attempts.
pub const MAX_ADDRESS_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);
/// Addresses remembered at most; beyond it, the quietest are forgotten first.
const MAX_ADDRESSES: usize = 100_000;

/// Failed logins per client address (an IPv4 address or an IPv6 /64, which one host controls), so
/// that guessing across many accounts slows down and the attacker's address is held back rather than
/// only the victims' accounts. After [`FREE_FAILURES_PER_ADDRESS`] failures, each further attempt
/// waits twice as long as the last (1 s, 2 s, 4 s, … up to [`MAX_ADDRESS_DELAY`]); a success or an
/// hour without failures clears the address. Kept in memory per process, bounded in size.
#[derive(Default)]
pub struct LoginThrottle {
    addresses: std::sync::Mutex<std::collections::HashMap<[u8; 16], (u32, jiff::Timestamp)>>,
}

impl LoginThrottle {
    fn key(addr: std::net::IpAddr) -> [u8; 16] {
        match addr {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                octets
            }
        }
    }

    /// Returns the time before which `addr` may not try again, if it must wait.
    pub fn wait_until(&self, addr: std::net::IpAddr, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let addresses = self.addresses.lock().expect("throttle lock is never poisoned");
        let (failures, last) = *addresses.get(&Self::key(addr))?;
        let until = last + Self::delay(failures);
        (until > now).then_some(until)
    }

    fn delay(failures: u32) -> jiff::SignedDuration {
        if failures < FREE_FAILURES_PER_ADDRESS {
            return jiff::SignedDuration::ZERO;
        }
        let secs = 1i64 << (failures - FREE_FAILURES_PER_ADDRESS).min(20);
        jiff::SignedDuration::from_secs(secs).min(MAX_ADDRESS_DELAY)
    }

    /// Records a failed login from `addr`.
    pub fn failed(&self, addr: std::net::IpAddr, now: jiff::Timestamp) {
        let mut addresses = self.addresses.lock().expect("throttle lock is never poisoned");
        if addresses.len() >= MAX_ADDRESSES {
            let hour_ago = now - jiff::SignedDuration::from_hours(1);
            addresses.retain(|_, (_, last)| *last > hour_ago);
            if addresses.len() >= MAX_ADDRESSES {
                // Still full of recent failures: forget those with the fewest, which wait the least.
                addresses.retain(|_, (failures, _)| *failures > FREE_FAILURES_PER_ADDRESS);
            }
        }
        let entry = addresses.entry(Self::key(addr)).or_insert((0, now));
        if now.duration_since(entry.1) > jiff::SignedDuration::from_hours(1) {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
    }

    /// Forgets `addr`'s failures after a successful login.
    pub fn succeeded(&self, addr: std::net::IpAddr) {
        self.addresses.lock().expect("throttle lock is never poisoned").remove(&Self::key(addr));
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::internal_from("password hashing failed", e))
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
    siyu_core::email::normalize_email(email).map_err(|reason| DomainError::invalid("email", reason))
}

/// Persists users, memberships and sessions.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict` if the e-mail has an account.
    async fn insert(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<UserId, StoreError>;
    /// Replaces a user's password hash and clears lock-out. Only the account's owner (who proved the
    /// current password) or the server's operator (the CLI) may cause this.
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
    /// Deletes every session of a user (after a password change), except `keep` if given.
    async fn delete_sessions_of(&self, user: UserId, keep: Option<&str>) -> Result<(), StoreError>;

    /// Stores a pending invitation under the SHA-256 of its token.
    async fn insert_invitation(
        &self,
        ws: WorkspaceId,
        email: &str,
        role: Role,
        token_hash: &str,
        invited_by: &str,
        now: jiff::Timestamp,
    ) -> Result<Invitation, StoreError>;
    /// Finds a pending (not accepted, revoked or expired) invitation by its token hash.
    async fn find_invitation(&self, token_hash: &str, now: jiff::Timestamp) -> Result<Option<Invitation>, StoreError>;
    /// Lists a workspace's pending invitations, newest first.
    async fn invitations(&self, ws: WorkspaceId, now: jiff::Timestamp) -> Result<Vec<Invitation>, StoreError>;
    /// Revokes a pending invitation of the workspace; `NotFound` if there is none with that id.
    async fn revoke_invitation(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Accepts a pending invitation in one transaction: marks it used, creates the account for
    /// `Acceptor::New` (`Conflict` if the e-mail has one by then), and grants the role unless the user
    /// is already a member (an existing role is never changed). Returns the user and the workspace, or
    /// `None` when the invitation is no longer pending.
    async fn accept_invitation(
        &self,
        token_hash: &str,
        acceptor: Acceptor<'_>,
        now: jiff::Timestamp,
    ) -> Result<Option<(UserId, WorkspaceId)>, StoreError>;

    /// Remembers a browser that logged in to `user`.
    async fn insert_known_device(&self, token_hash: &str, user: UserId, now: jiff::Timestamp)
    -> Result<(), StoreError>;
    /// Returns whether the browser's token is known to `user` and was used since `since` (and touches it).
    async fn is_known_device(
        &self,
        token_hash: &str,
        user: UserId,
        since: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_longer_after_each_failure_beyond_the_free_ones() {
        let throttle = LoginThrottle::default();
        let addr: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        let other: std::net::IpAddr = "203.0.113.10".parse().unwrap();
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        for _ in 0..FREE_FAILURES_PER_ADDRESS {
            assert_eq!(throttle.wait_until(addr, t0), None);
            throttle.failed(addr, t0);
        }
        assert_eq!(throttle.wait_until(addr, t0), Some(t0 + jiff::SignedDuration::from_secs(1)));
        throttle.failed(addr, t0);
        assert_eq!(throttle.wait_until(addr, t0), Some(t0 + jiff::SignedDuration::from_secs(2)));
        for _ in 0..40 {
            throttle.failed(addr, t0);
        }
        assert_eq!(throttle.wait_until(addr, t0), Some(t0 + MAX_ADDRESS_DELAY));
        assert_eq!(throttle.wait_until(other, t0), None, "other addresses are not held back");
        throttle.succeeded(addr);
        assert_eq!(throttle.wait_until(addr, t0), None);
    }

    #[test]
    fn ipv6_addresses_of_one_host_share_a_count() {
        let throttle = LoginThrottle::default();
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        for i in 0..=FREE_FAILURES_PER_ADDRESS {
            throttle.failed(format!("2001:db8:1:2::{i:x}").parse().unwrap(), t0);
        }
        assert!(throttle.wait_until("2001:db8:1:2::ffff".parse().unwrap(), t0).is_some());
        assert_eq!(throttle.wait_until("2001:db8:1:3::1".parse().unwrap(), t0), None);
    }

    #[test]
    fn passwords_verify_only_when_equal() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a phc string"));
    }
}
