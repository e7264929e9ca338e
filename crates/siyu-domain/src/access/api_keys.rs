//! API keys: `write` keys for event ingestion, `secret` keys for the admin API; stored as SHA-256.

use crate::access::Role;
use crate::error::DomainError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use siyu_core::{ApiKeyId, StoreError, WorkspaceId};

/// What a key may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Event ingestion only; safe to embed in a client.
    Write,
    /// Admin API with the key's role.
    Secret,
}

impl KeyKind {
    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Secret => "secret",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "write" => Some(Self::Write),
            "secret" => Some(Self::Secret),
            _ => None,
        }
    }

    fn token_prefix(self) -> &'static str {
        match self {
            Self::Write => "sy_wk_",
            Self::Secret => "sy_sk_",
        }
    }
}

/// A key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Id.
    pub id: ApiKeyId,
    /// Workspace the key belongs to.
    pub workspace_id: WorkspaceId,
    /// Kind.
    pub kind: KeyKind,
    /// Role the key acts with on the admin API (secret keys).
    pub role: Role,
    /// Label given at creation.
    pub name: String,
    /// First characters of the token, to recognise it.
    pub prefix: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Last time the key authenticated a request (minute precision).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<jiff::Timestamp>,
    /// Revocation time; a revoked key authenticates nothing.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<jiff::Timestamp>,
}

/// A freshly generated token: shown once, then only its hash is kept.
pub struct NewToken {
    /// The full token to give to the caller.
    pub token: String,
    /// Visible prefix stored for recognition.
    pub prefix: String,
    /// SHA-256 hex of the token.
    pub hash: String,
}

/// Generates a new random token for `kind`.
pub fn generate_token(kind: KeyKind) -> Result<NewToken, DomainError> {
    let bytes = siyu_core::crypto::random_bytes::<24>()?;
    let token = format!("{}{}", kind.token_prefix(), hex::encode(bytes));
    let prefix = token[..12].to_string();
    let hash = hash_token(&token);
    Ok(NewToken { token, prefix, hash })
}

/// Returns the SHA-256 hex digest under which a token (or session id) is stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Validates a key label.
pub fn parse_key_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::invalid("name", "must be 1-100 characters"));
    }
    Ok(name.to_string())
}

/// Persists API keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    #[allow(clippy::too_many_arguments)]
    async fn insert(
        &self,
        ws: WorkspaceId,
        kind: KeyKind,
        role: Role,
        name: &str,
        prefix: &str,
        hash: &str,
        now: jiff::Timestamp,
    ) -> Result<ApiKey, StoreError>;
    /// Finds an unrevoked key by token hash.
    async fn find_active(&self, hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Lists a workspace's keys, newest first.
    async fn list(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key; `NotFound` if it is not in the workspace.
    async fn revoke(&self, ws: WorkspaceId, id: ApiKeyId, now: jiff::Timestamp) -> Result<(), StoreError>;
    /// Records use, at most once a minute per key.
    async fn touch(&self, id: ApiKeyId, now: jiff::Timestamp) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_prefixed() {
        let a = generate_token(KeyKind::Secret).unwrap();
        let b = generate_token(KeyKind::Secret).unwrap();
        assert!(a.token.starts_with("sy_sk_"));
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash_token(&a.token));
        assert_eq!(a.token.len(), 6 + 48);
    }
}
