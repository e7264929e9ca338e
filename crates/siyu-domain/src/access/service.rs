//! Workspaces, users, login sessions (with lock-out) and API keys.

use super::Access;
use crate::access::AccessError;
use crate::access::api_keys::{ApiKey, KeyKind, generate_token, hash_token, parse_key_name};
use crate::access::audit::AuditEntry;
use crate::access::users::{
    Acceptor, Invitation, KNOWN_DEVICE_LIFETIME, LOCKOUT, MAX_FAILED_LOGINS, Membership, SESSION_LIFETIME, Session,
    User, check_password_rules, hash_password, parse_login_email, verify_password,
};
use crate::access::workspaces::{NewWorkspace, Workspace};
use crate::access::{Actor, Permission, Principal, Role};
use crate::error::FieldError;
use crate::error::{DomainError, DomainResult};
use siyu_core::crypto::{SecretKey, wrap_key};
use siyu_core::{ApiKeyId, InvitationId, Page, PageRequest, UserId, WorkspaceId};

/// A successful login: the session token for the cookie and the session itself.
pub struct LoginOutcome {
    /// The opaque session token (only the browser keeps it).
    pub token: String,
    /// The new session.
    pub session: Session,
    /// The browser's known-device token to keep in a long-lived cookie, when a password was checked.
    pub device_token: Option<String>,
}

/// What a login knows of the browser: its address (for the throttle) and its known-device cookie.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoginClient<'a> {
    /// The peer address, when known.
    pub addr: Option<std::net::IpAddr>,
    /// The known-device cookie's value, if the browser sent one.
    pub device_token: Option<&'a str>,
}

/// A new invitation and its one-time token (only the invitee should receive the link).
pub struct InvitationOutcome {
    /// The invitation.
    pub invitation: Invitation,
    /// The token of the accept link `/invite/{token}`; it is never shown again.
    pub token: String,
}

/// How the invited person proves who they are when accepting.
pub enum Acceptance<'a> {
    /// Signed in to the console as the invited e-mail.
    SignedIn {
        /// The console session token.
        session_token: &'a str,
    },
    /// The existing account's own password.
    Password {
        /// The password.
        password: &'a str,
        /// The browser, for the throttle and lock-out.
        client: LoginClient<'a>,
    },
    /// A new account for the invited e-mail.
    NewAccount {
        /// Display name.
        name: &'a str,
        /// Password of the invitee's choosing.
        password: &'a str,
    },
}

fn gone() -> DomainError {
    DomainError::NotFound("invitation (it may have expired, been used or revoked)".into())
}

impl Access {
    /// Creates a workspace with a fresh data key wrapped by the master key.
    pub async fn create_workspace(&self, new: &NewWorkspace) -> DomainResult<Workspace> {
        let data_key = SecretKey::generate()?;
        let wrapped = wrap_key(self.master_key(), &data_key)?;
        Ok(self.stores.workspaces.insert(new, &wrapped, self.now()).await?)
    }

    /// Finds a workspace by slug or fails with `NotFound`.
    pub async fn workspace_by_slug(&self, slug: &str) -> DomainResult<Workspace> {
        self.stores
            .workspaces
            .find_by_slug(slug)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("workspace \"{slug}\"")))
    }

    /// Returns the principal's workspace.
    pub async fn workspace(&self, principal: &Principal) -> DomainResult<Workspace> {
        self.stores
            .workspaces
            .find(principal.workspace_id())
            .await?
            .ok_or_else(|| DomainError::NotFound("workspace".into()))
    }

    /// Updates the principal's workspace settings.
    pub async fn update_workspace(&self, principal: &Principal, new: &NewWorkspace) -> DomainResult<Workspace> {
        principal.require(Permission::WorkspaceManage)?;
        self.stores.workspaces.update(principal.workspace_id(), new).await?;
        self.audit(principal, "workspace.update", &format!("workspace:{}", principal.workspace_id())).await?;
        self.workspace(principal).await
    }

    /// Grants `role` in `ws` to the account with `email`, creating it with `password` when there is
    /// none. An existing account keeps its password and lock-out state untouched: only its owner, or
    /// the server's operator through [`Access::reset_password`], changes them. For the CLI and demo
    /// data only; over HTTP people are invited ([`Access::invite_user`]).
    pub async fn add_user(
        &self,
        ws: WorkspaceId,
        email: &str,
        name: &str,
        password: &str,
        role: Role,
    ) -> DomainResult<UserId> {
        let email = parse_login_email(email)?;
        let id = match self.stores.users.find_by_email(&email).await? {
            Some(user) => user.id,
            None => {
                check_password_rules(password)?;
                let hash = hash_password(password)?;
                let name =
                    if name.trim().is_empty() { email.split('@').next().unwrap_or_default() } else { name.trim() };
                self.stores.users.insert(&email, name, &hash, self.now()).await?
            }
        };
        self.stores.users.set_membership(ws, id, role).await?;
        Ok(id)
    }

    /// Sets the password of the account with `email` and ends its sessions. For the server's operator
    /// (the CLI, run by whoever controls the machine and its database); never reachable over HTTP.
    pub async fn reset_password(&self, email: &str, password: &str) -> DomainResult<UserId> {
        let email = parse_login_email(email)?;
        check_password_rules(password)?;
        let user = self
            .stores
            .users
            .find_by_email(&email)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("user \"{email}\"")))?;
        self.stores.users.set_password(user.id, &hash_password(password)?).await?;
        self.stores.users.delete_sessions_of(user.id, None).await?;
        Ok(user.id)
    }

    /// Changes the signed-in user's own password after checking the current one; ends their other
    /// sessions (the one given as `keep`, the caller's, stays).
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
        keep: &str,
    ) -> DomainResult<()> {
        let &Actor::User { id, .. } = principal.actor() else {
            return Err(DomainError::Unauthenticated("only a signed-in user can change their password".into()));
        };
        let user = self.stores.users.find(id).await?.ok_or_else(|| DomainError::NotFound(format!("user {id}")))?;
        if !verify_password(current, &user.password_hash) {
            return Err(DomainError::invalid("current_password", "is not your current password"));
        }
        check_password_rules(new).map_err(|error| match error {
            DomainError::Invalid(errors) => {
                DomainError::Invalid(errors.into_iter().map(|e| FieldError::new("new_password", e.reason)).collect())
            }
            other => other,
        })?;
        self.stores.users.set_password(id, &hash_password(new)?).await?;
        self.stores.users.delete_sessions_of(id, Some(&hash_token(keep))).await?;
        self.audit(principal, "user.password", &format!("user:{id}")).await
    }

    /// Invites someone to the principal's workspace with a role (owners): returns the invitation and
    /// its one-time token, which only the invitee should receive. Never touches an existing account;
    /// the invitee accepts through [`Access::accept_invitation`].
    pub async fn invite_user(&self, principal: &Principal, email: &str, role: &str) -> DomainResult<InvitationOutcome> {
        principal.require(Permission::UsersManage)?;
        let mut errors = Vec::new();
        let email = parse_login_email(email)
            .map_err(|error| {
                if let DomainError::Invalid(fields) = error {
                    errors.extend(fields);
                }
            })
            .ok();
        let role = Role::parse(role)
            .ok_or_else(|| {
                errors.push(FieldError::new(
                    "role",
                    format!("unknown role \"{role}\"; expected one of {}", Role::ALL.map(Role::as_str).join(", ")),
                ))
            })
            .ok();
        let (Some(email), Some(role)) = (email, role) else {
            return Err(DomainError::Invalid(errors));
        };
        if self.stores.users.members(principal.workspace_id()).await?.iter().any(|m| m.email == email) {
            return Err(DomainError::Conflict(format!("\"{email}\" is already a member; change their role instead")));
        }
        let token = hex::encode(siyu_core::crypto::random_bytes::<32>()?);
        let invitation = self
            .stores
            .users
            .insert_invitation(
                principal.workspace_id(),
                &email,
                role,
                &hash_token(&token),
                &principal.actor().label(),
                self.now(),
            )
            .await?;
        self.audit(principal, "user.invite", &format!("invitation:{}:{}", invitation.id, role.as_str())).await?;
        Ok(InvitationOutcome { invitation, token })
    }

    /// Lists the principal's workspace's pending invitations (owners).
    pub async fn invitations(&self, principal: &Principal) -> DomainResult<Vec<Invitation>> {
        principal.require(Permission::UsersManage)?;
        Ok(self.stores.users.invitations(principal.workspace_id(), self.now()).await?)
    }

    /// Revokes a pending invitation of the principal's workspace (owners).
    pub async fn revoke_invitation(&self, principal: &Principal, id: InvitationId) -> DomainResult<()> {
        principal.require(Permission::UsersManage)?;
        self.stores.users.revoke_invitation(principal.workspace_id(), id, self.now()).await?;
        self.audit(principal, "user.uninvite", &format!("invitation:{id}")).await
    }

    /// Returns the pending invitation of a one-time token and whether its e-mail has an account.
    pub async fn invitation(&self, token: &str) -> DomainResult<(Invitation, bool)> {
        let invitation =
            self.stores.users.find_invitation(&hash_token(token), self.now()).await?.ok_or_else(|| {
                DomainError::NotFound("invitation (it may have expired, been used or revoked)".into())
            })?;
        let exists = self.stores.users.find_by_email(&invitation.email).await?.is_some();
        Ok((invitation, exists))
    }

    /// Accepts an invitation as the invited person and starts a session in its workspace:
    /// - signed in (`session_token`) as the invited e-mail: no password needed;
    /// - an existing account: `password` must be that account's own (with the usual lock-out);
    /// - no account yet: it is created with the invitee's `name` and `password`.
    ///
    /// A session of another account, or a wrong password, accepts nothing.
    pub async fn accept_invitation(&self, token: &str, acceptance: Acceptance<'_>) -> DomainResult<LoginOutcome> {
        let (invitation, exists) = self.invitation(token).await?;
        let now = self.now();
        let (user, device) = match acceptance {
            Acceptance::SignedIn { session_token } => {
                let (user, ..) = self.session(session_token).await?;
                if user.email != invitation.email {
                    return Err(DomainError::Conflict(format!(
                        "this invitation is for \"{}\"; sign in as that account to accept it",
                        invitation.email
                    )));
                }
                (Acceptor::Existing(user.id), None)
            }
            Acceptance::Password { password, client } if exists => {
                let (user, device) = self.authenticate(&invitation.email, password, &client).await?;
                (Acceptor::Existing(user.id), Some(device))
            }
            Acceptance::Password { .. } => {
                return Err(DomainError::invalid("password", "no account exists yet; choose a password to create it"));
            }
            Acceptance::NewAccount { name, password } => {
                if exists {
                    return Err(DomainError::Conflict(format!(
                        "an account for \"{}\" exists; log in to accept",
                        invitation.email
                    )));
                }
                check_password_rules(password)?;
                let name = name.trim();
                if name.chars().count() > 100 {
                    return Err(DomainError::invalid("name", "must be at most 100 characters"));
                }
                let hash = hash_password(password)?;
                let name = if name.is_empty() { invitation.email.split('@').next().unwrap_or_default() } else { name };
                let outcome = self
                    .stores
                    .users
                    .accept_invitation(&hash_token(token), Acceptor::New { name, password_hash: &hash }, now)
                    .await?;
                let (user, ws) = outcome.ok_or_else(gone)?;
                return self.start_session(user, ws, None).await;
            }
        };
        let (user, ws) = self.stores.users.accept_invitation(&hash_token(token), user, now).await?.ok_or_else(gone)?;
        self.start_session(user, ws, device).await
    }

    /// Changes a member's role.
    pub async fn set_role(&self, principal: &Principal, user: UserId, role: Role) -> DomainResult<()> {
        principal.require(Permission::UsersManage)?;
        let member = self.member(principal, user).await?;
        if member.role == Role::Owner && role != Role::Owner {
            self.keep_an_owner(principal).await?;
        }
        self.stores.users.set_membership(principal.workspace_id(), user, role).await?;
        self.audit(principal, "user.role", &format!("user:{user}:{}", role.as_str())).await
    }

    /// Removes a member from the workspace.
    pub async fn remove_member(&self, principal: &Principal, user: UserId) -> DomainResult<()> {
        principal.require(Permission::UsersManage)?;
        if matches!(principal.actor(), Actor::User { id, .. } if *id == user) {
            return Err(DomainError::invalid("user_id", "you cannot remove yourself"));
        }
        if self.member(principal, user).await?.role == Role::Owner {
            self.keep_an_owner(principal).await?;
        }
        self.stores.users.remove_membership(principal.workspace_id(), user).await?;
        self.audit(principal, "user.remove", &format!("user:{user}")).await
    }

    /// Refuses a change that would leave the workspace without an owner (nobody could manage it).
    async fn keep_an_owner(&self, principal: &Principal) -> DomainResult<()> {
        let owners =
            self.stores.users.members(principal.workspace_id()).await?.iter().filter(|m| m.role == Role::Owner).count();
        if owners <= 1 {
            return Err(DomainError::Conflict(
                "a workspace needs at least one owner; make someone else owner first".into(),
            ));
        }
        Ok(())
    }

    async fn member(&self, principal: &Principal, user: UserId) -> DomainResult<Membership> {
        self.stores
            .users
            .members(principal.workspace_id())
            .await?
            .into_iter()
            .find(|m| m.user_id == user)
            .ok_or_else(|| DomainError::NotFound(format!("user {user}")))
    }

    /// Lists the principal's workspace members.
    pub async fn members(&self, principal: &Principal) -> DomainResult<Vec<Membership>> {
        principal.require(Permission::UsersManage)?;
        Ok(self.stores.users.members(principal.workspace_id()).await?)
    }

    /// Logs a user in and starts a session in their first workspace. Refused while the client's
    /// address must wait after failures ([`LoginThrottle`](crate::access::users::LoginThrottle)), or while the account is locked — unless
    /// the browser is one the account has logged in from before, so that an attacker who locks a
    /// known account does not lock its owner out.
    pub async fn login(&self, email: &str, password: &str, client: &LoginClient<'_>) -> DomainResult<LoginOutcome> {
        let (user, device) = self.authenticate(email, password, client).await?;
        let memberships = self.stores.users.memberships_of(user.id).await?;
        let first = memberships
            .first()
            .ok_or_else(|| DomainError::Unauthenticated("this user belongs to no workspace".into()))?;
        self.start_session(user.id, first.workspace_id, Some(device)).await
    }

    /// Checks a password with the address throttle and the account lock-out; returns the user and the
    /// browser's known-device token (the given one, or a new one to set).
    async fn authenticate(
        &self,
        email: &str,
        password: &str,
        client: &LoginClient<'_>,
    ) -> DomainResult<(User, String)> {
        let wrong = || DomainError::Unauthenticated("wrong e-mail or password".into());
        let now = self.now();
        let held_until = client.addr.and_then(|addr| self.login_throttle.wait_until(addr, now));
        let failed = |this: &Self| {
            if let Some(addr) = client.addr {
                this.login_throttle.failed(addr, now);
            }
        };
        let email = email.trim().to_lowercase();
        let user = self.stores.users.find_by_email(&email).await?;
        if let Some(until) = held_until {
            // A held-back address checks no password; an account locked for longer says so instead.
            let locked = user.as_ref().and_then(|u| u.locked_until).filter(|locked| *locked > until);
            return Err(match locked {
                Some(locked) => DomainError::Access(AccessError::Locked(locked)),
                None => DomainError::Access(AccessError::Throttled(until)),
            });
        }
        let Some(user) = user else {
            // Spend the same time as a real check so response times do not reveal accounts.
            verify_password(
                password,
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2oQmYtQmZbiU7ETnZ0Sd+xW1gJXbW7v2mTeo0Rk8eIo",
            );
            failed(self);
            return Err(wrong());
        };
        let known = match client.device_token {
            Some(device) => {
                let since = now - KNOWN_DEVICE_LIFETIME;
                self.stores.users.is_known_device(&hash_token(device), user.id, since, now).await?
            }
            None => false,
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now && !known) {
            failed(self);
            return Err(DomainError::Access(AccessError::Locked(until)));
        }
        if !verify_password(password, &user.password_hash) {
            failed(self);
            if known {
                // A known browser mistyping is held back by its address, not by locking its owner out.
                return Err(wrong());
            }
            let lock = (user.failed_logins + 1 >= MAX_FAILED_LOGINS).then(|| now + LOCKOUT);
            self.stores.users.record_failed_login(user.id, lock).await?;
            return Err(match lock {
                Some(until) => DomainError::Access(AccessError::Locked(until)),
                None => wrong(),
            });
        }
        if let Some(addr) = client.addr {
            self.login_throttle.succeeded(addr);
        }
        self.stores.users.record_successful_login(user.id).await?;
        let device = match client.device_token {
            Some(device) if known => device.to_string(),
            _ => hex::encode(siyu_core::crypto::random_bytes::<32>()?),
        };
        self.stores.users.insert_known_device(&hash_token(&device), user.id, now).await?;
        Ok((user, device))
    }

    async fn start_session(&self, user: UserId, ws: WorkspaceId, device: Option<String>) -> DomainResult<LoginOutcome> {
        let now = self.now();
        let token = hex::encode(siyu_core::crypto::random_bytes::<32>()?);
        let csrf_token = hex::encode(siyu_core::crypto::random_bytes::<16>()?);
        let session = Session { user_id: user, workspace_id: ws, csrf_token, expires_at: now + SESSION_LIFETIME };
        self.stores.users.insert_session(&hash_token(&token), &session, now).await?;
        Ok(LoginOutcome { token, session, device_token: device })
    }

    /// Resolves a session token to the user, session and the principal in its current workspace.
    pub async fn session(&self, token: &str) -> DomainResult<(User, Session, Principal, Vec<Membership>)> {
        let expired = || DomainError::Unauthenticated("session expired; log in again".into());
        let session = self.stores.users.find_session(&hash_token(token), self.now()).await?.ok_or_else(expired)?;
        let user = self.stores.users.find(session.user_id).await?.ok_or_else(expired)?;
        let memberships = self.stores.users.memberships_of(user.id).await?;
        let membership = memberships.iter().find(|m| m.workspace_id == session.workspace_id).ok_or_else(expired)?;
        let principal = Principal::user(session.workspace_id, membership.role, user.id, user.email.clone());
        Ok((user, session, principal, memberships))
    }

    /// Switches a session to another workspace the user belongs to.
    pub async fn switch_workspace(&self, token: &str, ws: WorkspaceId) -> DomainResult<()> {
        let (user, ..) = self.session(token).await?;
        let memberships = self.stores.users.memberships_of(user.id).await?;
        if !memberships.iter().any(|m| m.workspace_id == ws) {
            return Err(DomainError::NotFound(format!("workspace {ws}")));
        }
        Ok(self.stores.users.switch_session(&hash_token(token), ws).await?)
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> DomainResult<()> {
        Ok(self.stores.users.delete_session(&hash_token(token)).await?)
    }

    /// Creates an API key; returns it with the token, which is never shown again.
    pub async fn create_key(
        &self,
        principal: &Principal,
        kind: KeyKind,
        role: Role,
        name: &str,
    ) -> DomainResult<(ApiKey, String)> {
        principal.require(Permission::KeysManage)?;
        let name = parse_key_name(name)?;
        if kind == KeyKind::Write && !role.allows(Permission::EventsWrite) {
            let writers: Vec<&str> =
                Role::ALL.iter().filter(|r| r.allows(Permission::EventsWrite)).map(|r| r.as_str()).collect();
            return Err(DomainError::invalid(
                "role",
                format!(
                    "a write key with role \"{}\" could never send events; use {}",
                    role.as_str(),
                    writers.join(" or ")
                ),
            ));
        }
        let token = generate_token(kind)?;
        let key = self
            .stores
            .api_keys
            .insert(principal.workspace_id(), kind, role, &name, &token.prefix, &token.hash, self.now())
            .await?;
        self.audit(principal, "key.create", &format!("key:{}", key.prefix)).await?;
        Ok((key, token.token))
    }

    /// Lists the workspace's keys.
    pub async fn keys(&self, principal: &Principal) -> DomainResult<Vec<ApiKey>> {
        principal.require(Permission::KeysManage)?;
        Ok(self.stores.api_keys.list(principal.workspace_id()).await?)
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, principal: &Principal, id: ApiKeyId) -> DomainResult<()> {
        principal.require(Permission::KeysManage)?;
        self.stores.api_keys.revoke(principal.workspace_id(), id, self.now()).await?;
        self.audit(principal, "key.revoke", &format!("key:{id}")).await
    }

    /// Authenticates a bearer token of the expected kind and returns its principal.
    pub async fn authenticate_key(&self, token: &str, kind: KeyKind) -> DomainResult<(ApiKey, Principal)> {
        let key = self
            .stores
            .api_keys
            .find_active(&hash_token(token.trim()))
            .await?
            .ok_or_else(|| DomainError::Unauthenticated("unknown or revoked API key".into()))?;
        if key.kind != kind {
            return Err(DomainError::Unauthenticated(format!(
                "a {} key cannot be used here; use a {} key",
                key.kind.as_str(),
                kind.as_str()
            )));
        }
        // Record use at most once a minute, so reads do not turn into writes that queue behind bulk work.
        let now = self.now();
        if key.last_used_at.is_none_or(|at| now.duration_since(at) > jiff::SignedDuration::from_mins(1)) {
            self.stores.api_keys.touch(key.id, now).await?;
        }
        let principal = Principal::key(key.workspace_id, key.role, key.id, key.prefix.clone());
        Ok((key, principal))
    }

    /// Lists the audit log.
    pub async fn audit_log(&self, principal: &Principal, page: &PageRequest) -> DomainResult<Page<AuditEntry>> {
        principal.require(Permission::AuditRead)?;
        Ok(self.stores.audit.list(principal.workspace_id(), page).await?)
    }
}
