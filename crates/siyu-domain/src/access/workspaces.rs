//! Workspaces: one brand each, with its time zone, currency and wrapped data key.

use crate::error::{DomainError, FieldError};
use async_trait::async_trait;
use serde::Serialize;
use siyu_core::{StoreError, WorkspaceId};

/// A brand's workspace.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Workspace {
    /// Numeric id.
    pub id: WorkspaceId,
    /// URL-safe unique name, e.g. `demo`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// IANA time zone all dates are bucketed in.
    pub time_zone: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// A validated request to create a workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct NewWorkspace {
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Currency code.
    pub currency: String,
}

impl NewWorkspace {
    /// Validates raw input; defaults are Asia/Shanghai and CNY, the name defaults to the slug.
    pub fn parse(
        slug: &str,
        name: Option<&str>,
        time_zone: Option<&str>,
        currency: Option<&str>,
    ) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let slug = slug.trim().to_string();
        let slug_ok = (2..=40).contains(&slug.len())
            && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-');
        if !slug_ok {
            errors.push(FieldError::new(
                "slug",
                format!("\"{slug}\" must be 2-40 characters of a-z, 0-9 and '-', not starting with '-'"),
            ));
        }
        let time_zone = time_zone.unwrap_or("Asia/Shanghai").trim().to_string();
        if jiff::tz::TimeZone::get(&time_zone).is_err() {
            errors.push(FieldError::new("time_zone", format!("unknown time zone \"{time_zone}\"")));
        }
        let currency = currency.unwrap_or("CNY").trim().to_string();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push(FieldError::new("currency", format!("\"{currency}\" is not a three-letter ISO 4217 code")));
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&slug).to_string();
        if name.chars().count() > 100 {
            errors.push(FieldError::new("name", "must be at most 100 characters"));
        }
        if errors.is_empty() { Ok(Self { slug, name, time_zone, currency }) } else { Err(DomainError::Invalid(errors)) }
    }
}

/// Persists workspaces.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Inserts a workspace with its wrapped data key; `Conflict` if the slug is taken.
    async fn insert(
        &self,
        new: &NewWorkspace,
        wrapped_key: &[u8],
        now: jiff::Timestamp,
    ) -> Result<Workspace, StoreError>;
    /// Finds a workspace by id.
    async fn find(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError>;
    /// Finds a workspace by slug.
    async fn find_by_slug(&self, slug: &str) -> Result<Option<Workspace>, StoreError>;
    /// Returns the wrapped data key of a workspace.
    async fn wrapped_key(&self, id: WorkspaceId) -> Result<Vec<u8>, StoreError>;
    /// Updates name, time zone and currency.
    async fn update(&self, id: WorkspaceId, new: &NewWorkspace) -> Result<(), StoreError>;
    /// Returns the workspace's model settings (JSON), if it saved any.
    async fn model_settings(&self, id: WorkspaceId) -> Result<Option<String>, StoreError>;
    /// Saves the workspace's model settings (JSON).
    async fn set_model_settings(&self, id: WorkspaceId, json: &str, now: jiff::Timestamp) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_shanghai_and_cny() {
        let ws = NewWorkspace::parse("demo", None, None, None).unwrap();
        assert_eq!((ws.time_zone.as_str(), ws.currency.as_str(), ws.name.as_str()), ("Asia/Shanghai", "CNY", "demo"));
    }

    #[test]
    fn bad_fields_are_all_named() {
        let Err(DomainError::Invalid(errors)) = NewWorkspace::parse("Bad Slug", None, Some("Mars/Base"), Some("yuan"))
        else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["slug", "time_zone", "currency"]);
    }
}
