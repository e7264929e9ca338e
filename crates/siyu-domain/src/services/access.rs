//! Workspaces, users, login sessions (with lock-out) and API keys.

use super::Services;
use crate::access::{Actor, Permission, Principal, Role};
use crate::api_keys::{ApiKey, KeyKind, generate_token, hash_token, parse_key_name};
use crate::audit::AuditEntry;
use crate::error::{DomainError, DomainResult};
use crate::users::{
    LOCKOUT, MAX_FAILED_LOGINS, Membership, SESSION_LIFETIME, Session, User, check_password_rules, hash_password,
    parse_login_email, verify_password,
};
use crate::workspaces::{NewWorkspace, Workspace};
use siyu_core::crypto::{SecretKey, wrap_key};
use siyu_core::{ApiKeyId, Page, PageRequest, UserId, WorkspaceId};

/// A successful login: the session token for the cookie and the session itself.
pub struct LoginOutcome {
    /// The opaque session token (only the browser keeps it).
    pub token: String,
    /// The new session.
    pub session: Session,
}

impl Services {
    /// Creates a workspace with a fresh data key wrapped by the master key.
    pub async fn create_workspace(&self, new: &NewWorkspace) -> DomainResult<Workspace> {
        let data_key = SecretKey::generate()?;
        let wrapped = wrap_key(&self.master_key, &data_key)?;
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
            .find(principal.workspace_id)
            .await?
            .ok_or_else(|| DomainError::NotFound("workspace".into()))
    }

    /// Updates the principal's workspace settings.
    pub async fn update_workspace(&self, principal: &Principal, new: &NewWorkspace) -> DomainResult<Workspace> {
        principal.require(Permission::WorkspaceManage)?;
        self.stores.workspaces.update(principal.workspace_id, new).await?;
        self.audit(principal, "workspace.update", &format!("workspace:{}", principal.workspace_id)).await?;
        self.workspace(principal).await
    }

    /// Creates a user (or resets the password of an existing one) and grants `role` in `ws`.
    pub async fn add_user(
        &self,
        ws: WorkspaceId,
        email: &str,
        name: &str,
        password: &str,
        role: Role,
    ) -> DomainResult<UserId> {
        let email = parse_login_email(email)?;
        check_password_rules(password)?;
        let hash = hash_password(password)?;
        let name = if name.trim().is_empty() { email.split('@').next().unwrap_or_default() } else { name.trim() };
        let id = match self.stores.users.find_by_email(&email).await? {
            Some(user) => {
                self.stores.users.set_password(user.id, &hash).await?;
                user.id
            }
            None => self.stores.users.insert(&email, name, &hash, self.now()).await?,
        };
        self.stores.users.set_membership(ws, id, role).await?;
        Ok(id)
    }

    /// Adds a user to the principal's workspace (owners only).
    pub async fn invite_user(
        &self,
        principal: &Principal,
        email: &str,
        name: &str,
        password: &str,
        role: Role,
    ) -> DomainResult<UserId> {
        principal.require(Permission::UsersManage)?;
        let id = self.add_user(principal.workspace_id, email, name, password, role).await?;
        self.audit(principal, "user.grant", &format!("user:{id}:{}", role.as_str())).await?;
        Ok(id)
    }

    /// Changes a member's role.
    pub async fn set_role(&self, principal: &Principal, user: UserId, role: Role) -> DomainResult<()> {
        principal.require(Permission::UsersManage)?;
        self.member(principal, user).await?;
        self.stores.users.set_membership(principal.workspace_id, user, role).await?;
        self.audit(principal, "user.role", &format!("user:{user}:{}", role.as_str())).await
    }

    /// Removes a member from the workspace.
    pub async fn remove_member(&self, principal: &Principal, user: UserId) -> DomainResult<()> {
        principal.require(Permission::UsersManage)?;
        if matches!(principal.actor, Actor::User { id, .. } if id == user) {
            return Err(DomainError::invalid("user_id", "you cannot remove yourself"));
        }
        self.member(principal, user).await?;
        self.stores.users.remove_membership(principal.workspace_id, user).await?;
        self.audit(principal, "user.remove", &format!("user:{user}")).await
    }

    async fn member(&self, principal: &Principal, user: UserId) -> DomainResult<Membership> {
        self.stores
            .users
            .members(principal.workspace_id)
            .await?
            .into_iter()
            .find(|m| m.user_id == user)
            .ok_or_else(|| DomainError::NotFound(format!("user {user}")))
    }

    /// Lists the principal's workspace members.
    pub async fn members(&self, principal: &Principal) -> DomainResult<Vec<Membership>> {
        principal.require(Permission::UsersManage)?;
        Ok(self.stores.users.members(principal.workspace_id).await?)
    }

    /// Logs a user in: checks lock-out and password, starts a session in their first workspace.
    pub async fn login(&self, email: &str, password: &str) -> DomainResult<LoginOutcome> {
        let wrong = || DomainError::Unauthenticated("wrong e-mail or password".into());
        let email = email.trim().to_lowercase();
        let Some(user) = self.stores.users.find_by_email(&email).await? else {
            // Spend the same time as a real check so response times do not reveal accounts.
            verify_password(
                password,
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2oQmYtQmZbiU7ETnZ0Sd+xW1gJXbW7v2mTeo0Rk8eIo",
            );
            return Err(wrong());
        };
        let now = self.now();
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Err(DomainError::Locked(until));
        }
        if !verify_password(password, &user.password_hash) {
            let lock = (user.failed_logins + 1 >= MAX_FAILED_LOGINS).then(|| now + LOCKOUT);
            self.stores.users.record_failed_login(user.id, lock).await?;
            return Err(match lock {
                Some(until) => DomainError::Locked(until),
                None => wrong(),
            });
        }
        self.stores.users.record_successful_login(user.id).await?;
        let memberships = self.stores.users.memberships_of(user.id).await?;
        let first = memberships
            .first()
            .ok_or_else(|| DomainError::Unauthenticated("this user belongs to no workspace".into()))?;
        let token = hex::encode(siyu_core::crypto::random_bytes::<32>()?);
        let csrf_token = hex::encode(siyu_core::crypto::random_bytes::<16>()?);
        let session = Session {
            user_id: user.id,
            workspace_id: first.workspace_id,
            csrf_token,
            expires_at: now + SESSION_LIFETIME,
        };
        self.stores.users.insert_session(&hash_token(&token), &session, now).await?;
        Ok(LoginOutcome { token, session })
    }

    /// Resolves a session token to the user, session and the principal in its current workspace.
    pub async fn session(&self, token: &str) -> DomainResult<(User, Session, Principal, Vec<Membership>)> {
        let expired = || DomainError::Unauthenticated("session expired; log in again".into());
        let session = self.stores.users.find_session(&hash_token(token), self.now()).await?.ok_or_else(expired)?;
        let user = self.stores.users.find(session.user_id).await?.ok_or_else(expired)?;
        let memberships = self.stores.users.memberships_of(user.id).await?;
        let membership = memberships.iter().find(|m| m.workspace_id == session.workspace_id).ok_or_else(expired)?;
        let principal = Principal {
            workspace_id: session.workspace_id,
            role: membership.role,
            actor: Actor::User { id: user.id, email: user.email.clone() },
        };
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
        let token = generate_token(kind)?;
        let key = self
            .stores
            .api_keys
            .insert(principal.workspace_id, kind, role, &name, &token.prefix, &token.hash, self.now())
            .await?;
        self.audit(principal, "key.create", &format!("key:{}", key.prefix)).await?;
        Ok((key, token.token))
    }

    /// Lists the workspace's keys.
    pub async fn keys(&self, principal: &Principal) -> DomainResult<Vec<ApiKey>> {
        principal.require(Permission::KeysManage)?;
        Ok(self.stores.api_keys.list(principal.workspace_id).await?)
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, principal: &Principal, id: ApiKeyId) -> DomainResult<()> {
        principal.require(Permission::KeysManage)?;
        self.stores.api_keys.revoke(principal.workspace_id, id, self.now()).await?;
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
        let principal = Principal {
            workspace_id: key.workspace_id,
            role: key.role,
            actor: Actor::Key { id: key.id, prefix: key.prefix.clone() },
        };
        Ok((key, principal))
    }

    /// Lists the audit log.
    pub async fn audit_log(&self, principal: &Principal, page: &PageRequest) -> DomainResult<Page<AuditEntry>> {
        principal.require(Permission::AuditRead)?;
        Ok(self.stores.audit.list(principal.workspace_id, page).await?)
    }
}
