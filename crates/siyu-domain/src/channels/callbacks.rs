//! Callbacks a provider sends to a configured channel — WeCom's customer-contact changes
//! (`change_external_contact`), a WeChat official account's template receipts
//! (`TEMPLATESENDJOBFINISH`) and SMS gateways' delivery reports — checked, applied once and counted.
//!
//! A callback names its workspace and channel in its URL; the channel's factory checks its
//! signature before anything else and opens it (a URL check's `echostr` is answered with its
//! plaintext). Its timestamp must lie within [`CALLBACK_WINDOW`] of now, so a captured callback
//! cannot be replayed later; one accepted within the window is recognised by its signature and
//! answered without being applied again (WeCom repeats a callback it got no answer to in five
//! seconds). Every callback that reaches a configured channel is counted by outcome (the channel's
//! `callbacks` in its view).
//!
//! A contact added (`add_external_contact`, `add_half_external_contact`) is the customer with that
//! `wecom_external_userid` (created if new), their `wecom_owner` trait the staff member's userid,
//! and a `WeCom Contact Added` event; with a welcome code and the channel's `welcome` template, a
//! transactional welcome message is queued under the key `wecom-welcome:{code}` (the adapter sends
//! it with `send_welcome_msg`). An edit records `WeCom Contact Edited`; a deletion either way
//! (`del_external_contact` by the staff member, `del_follow_user` by the customer) records `WeCom
//! Contact Deleted` with who ended it and clears `wecom_owner` when it named that staff member.
//!
//! A receipt names a message by the id its provider gave it when it was sent (`provider_id`): a
//! `sent` message becomes `delivered` (recording `Message Delivered`) or `undelivered` (recording
//! `Message Undelivered` with the provider's words); a receipt for a message already receipted
//! changes nothing. A receipt naming an id no message has yet — its send's answer not recorded
//! yet, or not siyu's — is answered with a conflict (counted `unmatched`) after the others are
//! applied, so that the provider sends it again, as providers do until they are answered.

use super::guardrails::MessageClass;
use super::messaging::{MESSAGE_DELIVERED, MESSAGE_UNDELIVERED};
use super::messaging::{MessageContent, MessageRequest, Messaging};
use super::store::{MessageStatus, ReceiptOutcome};
use super::{CallbackRefusal, ChannelSpec, OpenedCallback, Receipt, SignedCallback};
use crate::access::Principal;
use crate::customers::CustomerInput;
use crate::error::{DomainError, DomainResult};
use crate::events::NewEvent;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::BTreeMap;

/// How far a callback's timestamp may lie from now, either way.
pub const CALLBACK_WINDOW: SignedDuration = SignedDuration::from_secs(300);
/// How long an accepted callback's signature is kept to recognise a repeat.
const RECEIPT_LIFETIME: SignedDuration = SignedDuration::from_secs(24 * 3600);

/// What to answer a callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackAnswer {
    /// A URL check: answer this plaintext.
    Echo(String),
    /// Received (applied now, or before).
    Received,
}

/// The longest id or userid taken from a callback.
const MAX_ID: usize = 128;

/// The delivery receipts a WeChat event carries, if it is one: an official account's template
/// message finished (`TEMPLATESENDJOBFINISH`: `Status` is `success`, `failed:user block` or
/// `failed: system failed`) or a mini-program's subscribe messages sent
/// (`subscribe_msg_sent_event`: a `List` per message, `ErrorCode` 0 when it was delivered).
fn wechat_receipts(fields: &BTreeMap<String, String>) -> Option<Vec<Receipt>> {
    let field = |name: &str| fields.get(name).map(|v| v.trim()).unwrap_or_default();
    let reason = |text: &str| text.chars().take(MAX_ID).collect::<String>();
    if field("MsgType") != "event" {
        return None;
    }
    match field("Event") {
        "TEMPLATESENDJOBFINISH" => {
            let status = field("Status");
            Some(vec![Receipt {
                provider_id: field("MsgID").to_string(),
                delivered: status == "success",
                reason: (status != "success").then(|| reason(status)),
            }])
        }
        "subscribe_msg_sent_event" => Some(
            (0..)
                .map(|i| format!("SubscribeMsgSentEvent.List.{i}."))
                .take_while(|item| fields.contains_key(&format!("{item}MsgID")))
                .map(|item| {
                    let code = field(&format!("{item}ErrorCode"));
                    let delivered = code == "0";
                    let status = field(&format!("{item}ErrorStatus"));
                    Receipt {
                        provider_id: field(&format!("{item}MsgID")).to_string(),
                        delivered,
                        reason: (!delivered).then(|| reason(&format!("{code} {status}"))),
                    }
                })
                .collect(),
        ),
        _ => None,
    }
}

impl Messaging {
    /// Receives a callback to `channel` of the workspace `workspace` (its slug): checked, applied
    /// once, counted. An unknown workspace or channel, or one that takes no callbacks, is not
    /// found; a forged, unreadable or stale callback is refused as unauthenticated.
    pub async fn receive_callback(
        &self,
        workspace: &str,
        channel: &str,
        callback: SignedCallback,
    ) -> DomainResult<CallbackAnswer> {
        let (ws, spec) = self.callback_channel(workspace, channel).await?;
        let now = self.access.now();
        let opened = match self.factory.open_callback(&spec, &callback) {
            Ok(opened) => opened,
            Err(refusal) => return Err(self.refused(ws, channel, refusal, now).await?),
        };
        let sent = callback.timestamp.trim().parse::<i64>().ok().and_then(|s| Timestamp::from_second(s).ok());
        let off_by = sent.map(|sent| now.duration_since(sent).abs());
        if off_by.is_none_or(|off| off > CALLBACK_WINDOW) {
            self.store.count_callback(ws, channel, "stale", now).await?;
            tracing::warn!(workspace = ws.0, channel, "a callback outside the replay window was refused");
            return Err(DomainError::Unauthenticated(format!(
                "the timestamp is not within {} s of now",
                CALLBACK_WINDOW.as_secs()
            )));
        }
        match opened {
            OpenedCallback::Echo(plaintext) => {
                self.store.count_callback(ws, channel, "verified", now).await?;
                Ok(CallbackAnswer::Echo(plaintext))
            }
            OpenedCallback::Message(fields) => {
                let signature = callback.msg_signature.trim().to_ascii_lowercase();
                if self.store.callback_seen(ws, channel, &signature).await? {
                    self.store.count_callback(ws, channel, "repeated", now).await?;
                    return Ok(CallbackAnswer::Received);
                }
                if let Some(receipts) = wechat_receipts(&fields) {
                    if !self.apply_receipts(ws, channel, &receipts, now).await? {
                        // Not noted as seen: the provider's next try is applied.
                        return Err(self.unmatched(ws, channel, now).await?);
                    }
                } else {
                    self.apply_contact_change(ws, channel, &spec.settings, &fields, now).await?;
                }
                let forget_before = now.checked_sub(RECEIPT_LIFETIME).unwrap_or(now);
                self.store.note_callback(ws, channel, &signature, now, forget_before).await?;
                self.store.count_callback(ws, channel, "accepted", now).await?;
                Ok(CallbackAnswer::Received)
            }
        }
    }

    /// Receives an SMS gateway's delivery report posted to `channel` of the workspace `workspace`
    /// (its slug) with the channel's report token in its URL: checked (the token first), applied,
    /// counted; returns the answer the gateway expects. An unknown workspace or channel, or one
    /// that takes no reports, is not found; a wrong token or an unreadable report is refused.
    pub async fn receive_report(
        &self,
        workspace: &str,
        channel: &str,
        token: &str,
        body: &str,
    ) -> DomainResult<String> {
        let (ws, spec) = self.callback_channel(workspace, channel).await?;
        let now = self.access.now();
        let report = match self.factory.open_report(&spec, token, body) {
            Ok(report) => report,
            Err(refusal) => return Err(self.refused(ws, channel, refusal, now).await?),
        };
        if !self.apply_receipts(ws, channel, &report.receipts, now).await? {
            return Err(self.unmatched(ws, channel, now).await?);
        }
        self.store.count_callback(ws, channel, "accepted", now).await?;
        Ok(report.answer)
    }

    /// The workspace (by its slug) and the channel a provider's request names; not found when
    /// either is unknown.
    async fn callback_channel(&self, workspace: &str, channel: &str) -> DomainResult<(WorkspaceId, ChannelSpec)> {
        let not_found = || DomainError::NotFound(format!("channel \"{channel}\""));
        let ws = self.access.workspace_by_slug(workspace).await.map_err(|_| not_found())?.id;
        let stored = self.store.channel(ws, channel).await?.ok_or_else(not_found)?;
        Ok((ws, self.spec(ws, &stored).await?))
    }

    /// The error a refused provider request gets: not found when the channel takes no such
    /// requests (as if it did not exist), else unauthenticated, counted under its outcome.
    async fn refused(
        &self,
        ws: WorkspaceId,
        channel: &str,
        refusal: CallbackRefusal,
        now: Timestamp,
    ) -> DomainResult<DomainError> {
        if let CallbackRefusal::NotConfigured(_) = refusal {
            return Ok(DomainError::NotFound(format!("channel \"{channel}\"")));
        }
        self.store.count_callback(ws, channel, refusal.outcome(), now).await?;
        tracing::warn!(workspace = ws.0, channel, outcome = refusal.outcome(), "a provider's request was refused");
        Ok(DomainError::Unauthenticated(refusal.to_string()))
    }

    /// Counts a receipt naming no message yet and returns the conflict that asks for it again.
    async fn unmatched(&self, ws: WorkspaceId, channel: &str, now: Timestamp) -> DomainResult<DomainError> {
        self.store.count_callback(ws, channel, "unmatched", now).await?;
        Ok(DomainError::Conflict(
            "a receipt names a message that has not been sent from here (yet): send it again".into(),
        ))
    }

    /// Applies providers' receipts to the messages they name (see the module's header); returns
    /// whether each named a message siyu sent.
    async fn apply_receipts(
        &self,
        ws: WorkspaceId,
        channel: &str,
        receipts: &[Receipt],
        now: Timestamp,
    ) -> DomainResult<bool> {
        let mut all_known = true;
        for receipt in receipts {
            if receipt.provider_id.is_empty() || receipt.provider_id.len() > MAX_ID {
                continue;
            }
            let (status, event) = match receipt.delivered {
                true => (MessageStatus::Delivered, MESSAGE_DELIVERED),
                false => (MessageStatus::Undelivered, MESSAGE_UNDELIVERED),
            };
            let reason = receipt.reason.as_deref();
            let message = match self.store.apply_receipt(ws, channel, &receipt.provider_id, status, reason, now).await?
            {
                ReceiptOutcome::Applied(message) => message,
                ReceiptOutcome::Already => continue,
                ReceiptOutcome::Unknown => {
                    all_known = false;
                    continue;
                }
            };
            if let Some(customer) = message.customer
                && let Some(live) = self.customers.stores.customers.resolve(ws, customer).await?
            {
                self.record(ws, &message, live, event, json!({"reason": receipt.reason})).await?;
            }
        }
        Ok(all_known)
    }

    /// Applies a WeCom customer-contact change (other messages are received and left alone).
    async fn apply_contact_change(
        &self,
        ws: WorkspaceId,
        channel: &str,
        settings: &serde_json::Map<String, Value>,
        fields: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> DomainResult<()> {
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        if field("MsgType") != "event" || field("Event") != "change_external_contact" {
            return Ok(());
        }
        let (contact, staff) = (field("ExternalUserID"), field("UserID"));
        if contact.is_empty() || contact.len() > MAX_ID || staff.len() > MAX_ID {
            return Err(DomainError::invalid("ExternalUserID", "a contact change names no valid external contact"));
        }
        let change = field("ChangeType");
        let (event, by) = match change {
            "add_external_contact" | "add_half_external_contact" => ("WeCom Contact Added", None),
            "edit_external_contact" => ("WeCom Contact Edited", None),
            "del_external_contact" => ("WeCom Contact Deleted", Some("staff")),
            "del_follow_user" => ("WeCom Contact Deleted", Some("customer")),
            _ => return Ok(()),
        };
        let automation = Principal::automation(ws);
        let mut traits = serde_json::Map::new();
        if event == "WeCom Contact Added" && !staff.is_empty() {
            traits.insert("wecom_owner".into(), staff.into());
        }
        let customer = self.upsert_contact(&automation, contact, traits).await?;
        if by.is_some() && !staff.is_empty() {
            let view = self.customers.customer(&automation, customer).await?;
            if view.traits.get("wecom_owner").is_some_and(|t| t.value == staff) {
                let cleared = serde_json::Map::from_iter([("wecom_owner".to_string(), Value::Null)]);
                self.upsert_contact(&automation, contact, cleared).await?;
            }
        }
        let mut properties = json!({"staff_user_id": staff, "change_type": change, "channel": channel});
        if let Some(state) = fields.get("State").filter(|s| !s.is_empty()) {
            properties["state"] = state.chars().take(MAX_ID).collect::<String>().into();
        }
        if let Some(by) = by {
            properties["deleted_by"] = by.into();
        }
        let event = NewEvent::recorded(customer, event, properties.to_string(), now);
        self.events.append_and_index(ws, &[event]).await?;

        let welcome = settings.get("welcome").and_then(Value::as_str).filter(|w| !w.trim().is_empty());
        let code = fields.get("WelcomeCode").filter(|c| !c.is_empty() && c.len() <= MAX_ID);
        if let (Some(welcome), Some(code)) = (welcome, code)
            && change.starts_with("add_")
        {
            let request = MessageRequest {
                key: format!("wecom-welcome:{code}"),
                channel: channel.to_string(),
                customer,
                class: MessageClass::Transactional,
                content: MessageContent {
                    body: welcome.to_string(),
                    data: json!({"welcome_code": code}),
                    ..MessageContent::default()
                },
                source: json!({"callback": "wecom", "staff_user_id": staff}),
                at: now,
            };
            self.enqueue(ws, &[request]).await?;
        }
        Ok(())
    }

    /// The customer with this WeCom external contact id (created if new), with `traits` written.
    async fn upsert_contact(
        &self,
        principal: &Principal,
        contact: &str,
        traits: serde_json::Map<String, Value>,
    ) -> DomainResult<CustomerId> {
        let input: CustomerInput = serde_json::from_value(json!({
            "identities": [{"type": "wecom_external_userid", "value": contact}],
            "traits": traits,
            "source": "wecom",
        }))
        .map_err(|e| DomainError::internal(format!("a contact's input: {e}")))?;
        Ok(self.customers.upsert_customer(principal, input).await?.id)
    }
}
