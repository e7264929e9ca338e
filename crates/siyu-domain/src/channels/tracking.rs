//! Tracked links and open pixels: a message's links point at `/t/c/{token}`, which records
//! `Message Clicked` and redirects to the link's target, and an e-mail carries `/t/o/{token}`, a
//! 1×1 image whose loading records `Message Opened`. A token names the workspace, the customer, the
//! message's idempotency key and (for a click) the target, and is signed under the workspace's
//! index key: nobody can make siyu redirect anywhere a message did not link to, nor record an
//! event for another customer. A forged or altered token records nothing; so does one for a
//! customer since erased.

use crate::access::{Access, Permission, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::{Events, NewEvent};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;
use siyu_core::{CustomerId, WorkspaceId};

/// The event an opened message records.
pub const MESSAGE_OPENED: &str = "Message Opened";
/// The event a followed link records.
pub const MESSAGE_CLICKED: &str = "Message Clicked";
/// The longest link target.
pub const MAX_TARGET: usize = 2048;

/// What a token says.
#[derive(serde::Serialize, serde::Deserialize)]
struct Claim {
    /// Workspace.
    w: i64,
    /// Customer.
    c: i64,
    /// The message's idempotency key.
    m: String,
    /// The target of a tracked link; absent for an open pixel.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    u: Option<String>,
}

/// Makes and follows tracked links and open pixels.
#[derive(Clone)]
pub struct Tracking {
    access: Access,
    events: Events,
}

impl Tracking {
    pub(crate) fn new(access: Access, events: Events) -> Self {
        Self { access, events }
    }

    async fn sign(&self, claim: &Claim) -> DomainResult<String> {
        let payload = BASE64.encode(serde_json::to_vec(claim).map_err(|e| DomainError::internal(e.to_string()))?);
        let key = self.access.data_key(WorkspaceId(claim.w)).await?;
        let signature = key.blind_index("tracked link", &payload);
        Ok(format!("{payload}.{signature}"))
    }

    /// Returns the token of a tracked link to `target` (an http or https URL) in message
    /// `message_key` to `customer` of the principal's workspace. Needs `customers:write`: a token
    /// makes siyu redirect and record events, so minting one is a sender's right, not a reader's.
    pub async fn link_token(
        &self,
        principal: &Principal,
        customer: CustomerId,
        message_key: &str,
        target: &str,
    ) -> DomainResult<String> {
        principal.require(Permission::CustomersWrite)?;
        let ws = principal.workspace_id();
        let parsed = url::Url::parse(target)
            .map_err(|e| DomainError::invalid("url", format!("\"{target}\" is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || target.len() > MAX_TARGET {
            return Err(DomainError::invalid(
                "url",
                format!("a tracked link goes to an http or https URL of at most {MAX_TARGET} characters"),
            ));
        }
        self.sign(&Claim { w: ws.0, c: customer.0, m: message_key.to_string(), u: Some(target.to_string()) }).await
    }

    /// Returns the token of the open pixel of message `message_key` to `customer` of the
    /// principal's workspace (needs `customers:write`, as [`Self::link_token`]).
    pub async fn open_token(
        &self,
        principal: &Principal,
        customer: CustomerId,
        message_key: &str,
    ) -> DomainResult<String> {
        principal.require(Permission::CustomersWrite)?;
        let ws = principal.workspace_id();
        self.sign(&Claim { w: ws.0, c: customer.0, m: message_key.to_string(), u: None }).await
    }

    /// Checks a token's signature (in constant time) and returns its claim, its workspace and the
    /// customer as they are now; `NotFound` for anything forged or about a customer since erased.
    async fn check(&self, token: &str) -> DomainResult<(Claim, WorkspaceId, CustomerId)> {
        let invalid = || DomainError::NotFound("tracked link".into());
        let (payload, _) = token.rsplit_once('.').ok_or_else(invalid)?;
        let claim: Claim =
            BASE64.decode(payload).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).ok_or_else(invalid)?;
        let ws = WorkspaceId(claim.w);
        if self.access.stores.workspaces.find(ws).await?.is_none() {
            return Err(invalid());
        }
        let expected = self.sign(&claim).await?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), token.as_bytes())) {
            return Err(invalid());
        }
        let live =
            self.events.customers.stores.customers.resolve(ws, CustomerId(claim.c)).await?.ok_or_else(invalid)?;
        Ok((claim, ws, live))
    }

    async fn record(
        &self,
        ws: WorkspaceId,
        customer: CustomerId,
        name: &str,
        properties: serde_json::Value,
    ) -> DomainResult<()> {
        let event = NewEvent::recorded(customer, name, properties.to_string(), self.access.now());
        self.events.append_and_index(ws, &[event]).await
    }

    /// Records `Message Opened` for an open pixel's token.
    pub async fn record_open(&self, token: &str) -> DomainResult<()> {
        let (claim, ws, customer) = self.check(token).await?;
        if claim.u.is_some() {
            return Err(DomainError::NotFound("tracked link".into()));
        }
        self.record(ws, customer, MESSAGE_OPENED, serde_json::json!({ "message_key": claim.m })).await
    }

    /// Records `Message Clicked` for a tracked link's token and returns where it goes.
    pub async fn follow_link(&self, token: &str) -> DomainResult<String> {
        let (claim, ws, customer) = self.check(token).await?;
        let target = claim.u.ok_or_else(|| DomainError::NotFound("tracked link".into()))?;
        self.record(ws, customer, MESSAGE_CLICKED, serde_json::json!({ "message_key": claim.m, "url": target }))
            .await?;
        Ok(target)
    }
}
