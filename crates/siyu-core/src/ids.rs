//! Typed integer ids, so a customer id can never be passed where a workspace id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// Identifies a workspace (one brand); every stored row belongs to exactly one.
    WorkspaceId,
    /// Identifies a customer profile within its workspace.
    CustomerId,
    /// Identifies a console user (users may belong to several workspaces).
    UserId,
    /// Identifies a tag group.
    TagGroupId,
    /// Identifies a tag.
    TagId,
    /// Identifies an API key.
    ApiKeyId,
    /// Identifies a staff note on a customer.
    NoteId,
    /// Identifies an invitation to join a workspace.
    InvitationId,
);
