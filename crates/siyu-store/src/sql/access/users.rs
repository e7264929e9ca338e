// Staff users, memberships, sessions, invitations and known devices (included into `sqlite` and
// `postgres`).

use siyu_domain::access::Role;
use siyu_domain::access::users::{Acceptor, INVITATION_LIFETIME, Invitation, Membership, Session, User, UserStore};

fn user_row(row: &<Db as sqlx::Database>::Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(get(row, "id")?),
        email: get(row, "email")?,
        name: get(row, "name")?,
        password_hash: get(row, "password_hash")?,
        failed_logins: get(row, "failed_logins")?,
        locked_until: opt_ts(row, "locked_until")?,
    })
}

fn membership_row(row: &<Db as sqlx::Database>::Row) -> Result<Membership, StoreError> {
    let role: String = get(row, "role")?;
    Ok(Membership {
        user_id: UserId(get(row, "user_id")?),
        email: get(row, "email")?,
        name: get(row, "user_name")?,
        workspace_id: WorkspaceId(get(row, "workspace_id")?),
        workspace_slug: get(row, "slug")?,
        workspace_name: get(row, "workspace_name")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
    })
}

const MEMBERSHIP_QUERY: &str = "SELECT m.user_id, u.email, u.name AS user_name, m.workspace_id, w.slug, \
     w.name AS workspace_name, m.role FROM memberships m JOIN users u ON u.id = m.user_id \
     JOIN workspaces w ON w.id = m.workspace_id";

fn invitation_row(row: &<Db as sqlx::Database>::Row) -> Result<Invitation, StoreError> {
    let role: String = get(row, "role")?;
    Ok(Invitation {
        id: InvitationId(get(row, "id")?),
        workspace_id: WorkspaceId(get(row, "workspace_id")?),
        workspace_name: get(row, "workspace_name")?,
        email: get(row, "email")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        invited_by: get(row, "invited_by")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
    })
}

/// Pending invitations with their workspace's name; `$N` placeholders follow.
const PENDING_INVITATIONS: &str = "SELECT i.id, i.workspace_id, w.name AS workspace_name, i.email, i.role, \
     i.invited_by, i.created_at, i.expires_at FROM invitations i JOIN workspaces w ON w.id = i.workspace_id \
     WHERE i.accepted_at IS NULL AND i.revoked_at IS NULL";

#[async_trait]
impl UserStore for SqlStore {
    async fn insert(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        now: jiff::Timestamp,
    ) -> Result<UserId, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(UserId(id))
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<(), StoreError> {
        let query =
            sqlx::query("UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(id.0)
                .bind(password_hash);
        self.write_one(query).await?;
        Ok(())
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_row).transpose()
    }

    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(user_row).transpose()
    }

    async fn record_failed_login(&self, id: UserId, lock_until: Option<jiff::Timestamp>) -> Result<(), StoreError> {
        let sql = if lock_until.is_some() {
            "UPDATE users SET failed_logins = 0, locked_until = $2 WHERE id = $1"
        } else {
            "UPDATE users SET failed_logins = failed_logins + 1, locked_until = $2 WHERE id = $1"
        };
        let query = sqlx::query(sql).bind(id.0).bind(lock_until.map(millis));
        self.write_one(query).await?;
        Ok(())
    }

    async fn record_successful_login(&self, id: UserId) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1").bind(id.0);
        self.write_one(query).await?;
        Ok(())
    }

    async fn set_membership(&self, ws: WorkspaceId, user: UserId, role: Role) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = excluded.role",
        )
        .bind(user.0)
        .bind(ws.0)
        .bind(role.as_str());
        self.write_one(query).await?;
        Ok(())
    }

    async fn remove_membership(&self, ws: WorkspaceId, user: UserId) -> Result<(), StoreError> {
        // Both or neither: a member removed keeps no session in the workspace.
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM memberships WHERE user_id = $1 AND workspace_id = $2",
            "DELETE FROM sessions WHERE user_id = $1 AND workspace_id = $2",
        ] {
            sqlx::query(sql).bind(user.0).bind(ws.0).execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{MEMBERSHIP_QUERY} WHERE m.user_id = $1 ORDER BY w.id"));
        let rows = sqlx::query(sql).bind(user.0).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(membership_row).collect()
    }

    async fn members(&self, ws: WorkspaceId) -> Result<Vec<Membership>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{MEMBERSHIP_QUERY} WHERE m.workspace_id = $1 ORDER BY u.email"));
        let rows = sqlx::query(sql).bind(ws.0).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(membership_row).collect()
    }

    async fn insert_session(
        &self,
        token_hash: &str,
        session: &Session,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let query = sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(millis(now));
        self.write_one(query).await?;
        let query = sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, workspace_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(session.user_id.0)
        .bind(session.workspace_id.0)
        .bind(&session.csrf_token)
        .bind(millis(now))
        .bind(millis(session.expires_at));
        self.write_one(query).await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &str, now: jiff::Timestamp) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, workspace_id, csrf_token, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|row| {
            Ok(Session {
                user_id: UserId(get(&row, "user_id")?),
                workspace_id: WorkspaceId(get(&row, "workspace_id")?),
                csrf_token: get(&row, "csrf_token")?,
                expires_at: ts(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    async fn switch_session(&self, token_hash: &str, ws: WorkspaceId) -> Result<(), StoreError> {
        let query =
            sqlx::query("UPDATE sessions SET workspace_id = $2 WHERE token_hash = $1").bind(token_hash).bind(ws.0);
        self.write_one(query).await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let query = sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash);
        self.write_one(query).await?;
        Ok(())
    }

    async fn delete_sessions_of(&self, user: UserId, keep: Option<&str>) -> Result<(), StoreError> {
        let query = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user.0)
            .bind(keep.unwrap_or(""));
        self.write_one(query).await?;
        Ok(())
    }

    async fn insert_invitation(
        &self,
        ws: WorkspaceId,
        email: &str,
        role: Role,
        token_hash: &str,
        invited_by: &str,
        now: jiff::Timestamp,
    ) -> Result<Invitation, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invitations (workspace_id, email, role, token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(ws.0)
        .bind(email)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(invited_by)
        .bind(millis(now))
        .bind(millis(now + INVITATION_LIFETIME))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        let sql = sqlx::AssertSqlSafe(format!("{PENDING_INVITATIONS} AND i.workspace_id = $1 AND i.id = $2"));
        let row = sqlx::query(sql).bind(ws.0).bind(id).fetch_one(&self.pool).await.map_err(db_err)?;
        invitation_row(&row)
    }

    async fn find_invitation(&self, token_hash: &str, now: jiff::Timestamp) -> Result<Option<Invitation>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{PENDING_INVITATIONS} AND i.token_hash = $1 AND i.expires_at > $2"));
        let row =
            sqlx::query(sql).bind(token_hash).bind(millis(now)).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(invitation_row).transpose()
    }

    async fn invitations(&self, ws: WorkspaceId, now: jiff::Timestamp) -> Result<Vec<Invitation>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{PENDING_INVITATIONS} AND i.workspace_id = $1 AND i.expires_at > $2 ORDER BY i.id DESC"
        ));
        let rows = sqlx::query(sql).bind(ws.0).bind(millis(now)).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(invitation_row).collect()
    }

    async fn revoke_invitation(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE invitations SET revoked_at = $3 \
             WHERE workspace_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(ws.0)
        .bind(id.0)
        .bind(millis(now));
        let done = self.write_one(query).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("pending invitation {id}")));
        }
        Ok(())
    }

    async fn accept_invitation(
        &self,
        token_hash: &str,
        acceptor: Acceptor<'_>,
        now: jiff::Timestamp,
    ) -> Result<Option<(UserId, WorkspaceId)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let pending = sqlx::AssertSqlSafe(format!(
            "SELECT id, workspace_id, email, role FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $2{LOCK_ROW}"
        ));
        let Some(row) =
            sqlx::query(pending).bind(token_hash).bind(millis(now)).fetch_optional(&mut *tx).await.map_err(db_err)?
        else {
            return Ok(None);
        };
        let invitation: i64 = get(&row, "id")?;
        let ws: i64 = get(&row, "workspace_id")?;
        let email: String = get(&row, "email")?;
        let role: String = get(&row, "role")?;
        let user = match acceptor {
            Acceptor::Existing(user) => user.0,
            Acceptor::New { name, password_hash } => sqlx::query_scalar(
                "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(&email)
            .bind(name)
            .bind(password_hash)
            .bind(millis(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match db_err(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("an account for \"{email}\" exists")),
                other => other,
            })?,
        };
        sqlx::query(
            "INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, workspace_id) DO NOTHING",
        )
        .bind(user)
        .bind(ws)
        .bind(&role)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1")
            .bind(invitation)
            .bind(millis(now))
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(Some((UserId(user), WorkspaceId(ws))))
    }

    async fn insert_known_device(
        &self,
        token_hash: &str,
        user: UserId,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO known_devices (token_hash, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (token_hash, user_id) DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(millis(now));
        self.write_one(query).await?;
        Ok(())
    }

    async fn is_known_device(
        &self,
        token_hash: &str,
        user: UserId,
        since: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE known_devices SET last_used_at = $4 WHERE token_hash = $1 AND user_id = $2 AND last_used_at > $3",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(millis(since))
        .bind(millis(now));
        let done = self.write_one(query).await?;
        Ok(done.rows_affected() > 0)
    }
}
