//! Tag groups in five families, and tags; assignments live with profiles.

use crate::error::DomainError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use siyu_core::{StoreError, TagGroupId, TagId, WorkspaceId};

/// The five families of the tag system (标签体系).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagFamily {
    /// 人口属性: age band, gender, city.
    Demographic,
    /// 消费偏好: price band, favourite products.
    ConsumptionPreference,
    /// 内容兴趣: topics read or watched.
    ContentInterest,
    /// 行为特征: active, dormant, night owl.
    Behaviour,
    /// 社交属性: community leader, referrer.
    Social,
}

impl TagFamily {
    /// Every family.
    pub const ALL: [TagFamily; 5] =
        [Self::Demographic, Self::ConsumptionPreference, Self::ContentInterest, Self::Behaviour, Self::Social];

    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demographic => "demographic",
            Self::ConsumptionPreference => "consumption_preference",
            Self::ContentInterest => "content_interest",
            Self::Behaviour => "behaviour",
            Self::Social => "social",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// Where a tag assignment came from.
pub const TAG_SOURCES: [&str; 4] = ["rule", "import", "manual", "model"];

/// Checks a tag assignment source.
pub fn check_tag_source(source: &str) -> Result<(), DomainError> {
    if TAG_SOURCES.contains(&source) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "source",
            format!("unknown tag source \"{source}\"; expected one of {}", TAG_SOURCES.join(", ")),
        ))
    }
}

/// A tag group.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TagGroup {
    /// Id.
    pub id: TagGroupId,
    /// Name, unique in the workspace.
    pub name: String,
    /// Family.
    pub family: TagFamily,
}

/// A tag.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tag {
    /// Id.
    pub id: TagId,
    /// Name, unique in the workspace.
    pub name: String,
    /// Group id.
    pub group_id: TagGroupId,
    /// Group name.
    pub group: String,
    /// Family of the group.
    pub family: TagFamily,
    /// Customers carrying the tag.
    pub customer_count: i64,
}

/// Checks a tag or group name.
pub fn check_name(field: &str, name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        Err(DomainError::invalid(field, format!("\"{name}\" must be 1-64 characters")))
    } else {
        Ok(name.to_string())
    }
}

/// Persists tag groups and tags.
#[async_trait]
pub trait TagStore: Send + Sync {
    /// Creates a group; `Conflict` if the name is taken.
    async fn insert_group(
        &self,
        ws: WorkspaceId,
        name: &str,
        family: TagFamily,
        now: jiff::Timestamp,
    ) -> Result<TagGroup, StoreError>;
    /// Lists groups.
    async fn groups(&self, ws: WorkspaceId) -> Result<Vec<TagGroup>, StoreError>;
    /// Finds a group by name.
    async fn find_group(&self, ws: WorkspaceId, name: &str) -> Result<Option<TagGroup>, StoreError>;
    /// Creates a tag in a group; `Conflict` if the name is taken.
    async fn insert_tag(
        &self,
        ws: WorkspaceId,
        group: TagGroupId,
        name: &str,
        now: jiff::Timestamp,
    ) -> Result<Tag, StoreError>;
    /// Lists tags with their customer counts.
    async fn tags(&self, ws: WorkspaceId) -> Result<Vec<Tag>, StoreError>;
    /// Resolves tag names to ids; unknown names come back in the second list.
    async fn resolve_names(&self, ws: WorkspaceId, names: &[String]) -> Result<(Vec<TagId>, Vec<String>), StoreError>;
    /// Deletes a tag and its assignments.
    async fn delete_tag(&self, ws: WorkspaceId, id: TagId) -> Result<(), StoreError>;
}
