//! Roles, permissions and the principal (user or API key) acting in one workspace.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use siyu_core::{ApiKeyId, UserId, WorkspaceId};

/// What a member of a workspace may do, as a bundle of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the workspace: everything, including users, keys and personal data.
    Owner,
    /// Runs operations: customers, tags, imports, personal data.
    Operator,
    /// Reads customers and analytics; personal data masked.
    Analyst,
    /// Serves customers: reads masked profiles, writes notes and consent.
    CsAgent,
    /// Reviews compliance: reads profiles masked and the audit log.
    Auditor,
}

/// A single capability checked on every route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read customer profiles (masked unless `PiiRead`).
    CustomersRead,
    /// Create and change customers, identities, traits and tag assignments.
    CustomersWrite,
    /// Delete customers (erasure).
    CustomersDelete,
    /// See personal data unmasked (every such read is audited).
    PiiRead,
    /// Write staff notes.
    NotesWrite,
    /// Record consent changes.
    ConsentWrite,
    /// Manage tag groups and tags.
    TagsManage,
    /// Import customers in bulk.
    CustomersImport,
    /// Manage API keys.
    KeysManage,
    /// Manage users and their roles.
    UsersManage,
    /// Change workspace settings and create workspaces.
    WorkspaceManage,
    /// Read the audit log.
    AuditRead,
    /// Send or import behavioural events.
    EventsWrite,
    /// Run analytics queries (funnels, retention, RFM, …) and read their charts.
    AnalyticsRead,
    /// Create and change segments and the models' thresholds.
    SegmentsManage,
    /// Send messages to customers and see the configured channels.
    MessagesSend,
    /// Read the message log.
    MessagesRead,
    /// Create, change, publish, pause and archive journeys, and enter customers on them.
    JourneysManage,
    /// Create and run campaigns and their activities (flash sales), settle their orders, and issue
    /// customer tokens.
    CampaignsManage,
}

impl Permission {
    /// Every permission, in the order of the documented matrix.
    pub const ALL: [Permission; 19] = [
        Self::CustomersRead,
        Self::CustomersWrite,
        Self::CustomersDelete,
        Self::PiiRead,
        Self::NotesWrite,
        Self::ConsentWrite,
        Self::TagsManage,
        Self::CustomersImport,
        Self::KeysManage,
        Self::UsersManage,
        Self::WorkspaceManage,
        Self::AuditRead,
        Self::EventsWrite,
        Self::AnalyticsRead,
        Self::SegmentsManage,
        Self::MessagesSend,
        Self::MessagesRead,
        Self::JourneysManage,
        Self::CampaignsManage,
    ];

    /// Returns the permission's name as written in docs and errors, e.g. `pii:read`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CustomersRead => "customers:read",
            Self::CustomersWrite => "customers:write",
            Self::CustomersDelete => "customers:delete",
            Self::PiiRead => "pii:read",
            Self::NotesWrite => "notes:write",
            Self::ConsentWrite => "consent:write",
            Self::TagsManage => "tags:manage",
            Self::CustomersImport => "customers:import",
            Self::KeysManage => "keys:manage",
            Self::UsersManage => "users:manage",
            Self::WorkspaceManage => "workspace:manage",
            Self::AuditRead => "audit:read",
            Self::EventsWrite => "events:write",
            Self::AnalyticsRead => "analytics:read",
            Self::SegmentsManage => "segments:manage",
            Self::MessagesSend => "messages:send",
            Self::MessagesRead => "messages:read",
            Self::JourneysManage => "journeys:manage",
            Self::CampaignsManage => "campaigns:manage",
        }
    }
}

impl Role {
    /// Every role, in the order of the documented matrix.
    pub const ALL: [Role; 5] = [Self::Owner, Self::Operator, Self::Analyst, Self::CsAgent, Self::Auditor];

    /// Returns whether this role holds `permission` (the matrix in docs/PERMISSIONS.md).
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Owner => true,
            Self::Operator => matches!(
                permission,
                CustomersRead
                    | CustomersWrite
                    | PiiRead
                    | NotesWrite
                    | ConsentWrite
                    | TagsManage
                    | CustomersImport
                    | EventsWrite
                    | AnalyticsRead
                    | SegmentsManage
                    | MessagesSend
                    | MessagesRead
                    | JourneysManage
                    | CampaignsManage
            ),
            Self::Analyst => matches!(permission, CustomersRead | AnalyticsRead),
            Self::CsAgent => matches!(permission, CustomersRead | NotesWrite | ConsentWrite | MessagesRead),
            Self::Auditor => matches!(permission, CustomersRead | AuditRead),
        }
    }

    /// Returns the role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Operator => "operator",
            Self::Analyst => "analyst",
            Self::CsAgent => "cs_agent",
            Self::Auditor => "auditor",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// Who is acting: a console user or an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A logged-in console user.
    User { id: UserId, email: String },
    /// An API key.
    Key { id: ApiKeyId, prefix: String },
    /// The command line, run by whoever can read the data directory.
    Cli,
    /// An end customer using a public link (e.g. unsubscribe).
    Public,
    /// siyu itself, on a schedule (model refreshes, segment upkeep).
    System,
}

impl Actor {
    /// Returns how the actor is written in the audit log.
    pub fn label(&self) -> String {
        match self {
            Self::User { email, .. } => format!("user:{email}"),
            Self::Key { prefix, .. } => format!("key:{prefix}"),
            Self::Cli => "cli".into(),
            Self::Public => "public".into(),
            Self::System => "system".into(),
        }
    }
}

/// An authenticated actor with a role in one workspace; every service call takes one. Its fields are
/// private: a principal is made only by the constructors below, each saying who acts and why, and
/// nothing changes its role or workspace afterwards.
#[derive(Clone, Debug)]
pub struct Principal {
    workspace_id: WorkspaceId,
    role: Role,
    actor: Actor,
}

impl Principal {
    /// A console user signed in to `workspace_id`, with their membership's role there.
    pub fn user(workspace_id: WorkspaceId, role: Role, id: UserId, email: impl Into<String>) -> Self {
        Self { workspace_id, role, actor: Actor::User { id, email: email.into() } }
    }

    /// An API key of `workspace_id`, with the role it was created with.
    pub fn key(workspace_id: WorkspaceId, role: Role, id: ApiKeyId, prefix: impl Into<String>) -> Self {
        Self { workspace_id, role, actor: Actor::Key { id, prefix: prefix.into() } }
    }

    /// A principal for siyu's own scheduled work in `workspace_id` (reads analytics only).
    pub fn system(workspace_id: WorkspaceId) -> Self {
        Self { workspace_id, role: Role::Analyst, actor: Actor::System }
    }

    /// A principal for siyu's own automation in `workspace_id` (a journey's steps: tagging, setting
    /// traits), with an operator's rights and written as `system` in the audit log.
    pub fn automation(workspace_id: WorkspaceId) -> Self {
        Self { workspace_id, role: Role::Operator, actor: Actor::System }
    }

    /// A principal for command-line administration of `workspace_id` (full rights: whoever runs the
    /// CLI can read the data directory and the master key anyway).
    pub fn cli(workspace_id: WorkspaceId) -> Self {
        Self { workspace_id, role: Role::Owner, actor: Actor::Cli }
    }

    /// The workspace all reads and writes are scoped to.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// The actor's role there.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Who is acting.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Fails with `Forbidden` unless the role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), DomainError> {
        if self.role.allows(permission) { Ok(()) } else { Err(DomainError::Forbidden(permission.name())) }
    }

    /// Returns whether the principal may see personal data unmasked.
    pub fn can_read_pii(&self) -> bool {
        self.role.allows(Permission::PiiRead)
    }
}

/// Renders the role × permission matrix as a Markdown table (kept in docs/PERMISSIONS.md).
pub fn permission_matrix_markdown() -> String {
    let mut table = String::from("| permission |");
    for role in Role::ALL {
        table.push_str(&format!(" {} |", role.as_str()));
    }
    table.push_str("\n| --- |");
    table.push_str(&" :---: |".repeat(Role::ALL.len()));
    table.push('\n');
    for permission in Permission::ALL {
        table.push_str(&format!("| `{}` |", permission.name()));
        for role in Role::ALL {
            table.push_str(if role.allows(permission) { " ✓ |" } else { "   |" });
        }
        table.push('\n');
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_and_operator_read_pii() {
        let readers: Vec<_> = Role::ALL.into_iter().filter(|r| r.allows(Permission::PiiRead)).collect();
        assert_eq!(readers, vec![Role::Owner, Role::Operator]);
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
