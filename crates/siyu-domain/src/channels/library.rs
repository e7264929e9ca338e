//! The template library: a message written once — its class, its 简体中文 text and optionally its
//! English text — saved by name (`PUT /api/v1/templates/{name}`) and chosen by that name from a
//! journey's send node or an API send. A journey copies the template into the version it publishes,
//! so editing or deleting a template never changes what a running journey says; a draft that names
//! a template that is gone is refused at publish, naming the node.
//!
//! A template is checked as every message is when it is saved (each variable known, each template
//! parses and runs), so a send that names it fails only on what changed about the customer.

use super::guardrails::MessageClass;
use super::messaging::{MessageContent, Messaging, Translation};
use super::store::StoredTemplate;
use crate::FieldError;
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use siyu_core::WorkspaceId;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The most templates a workspace keeps.
pub const MAX_TEMPLATES: usize = 1_000;
/// The longest title, in characters.
const MAX_TITLE: usize = 100;

/// A template to save.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// What operators call it (`新客欢迎礼`).
    pub title: String,
    /// `marketing` (held to consent, the cap and quiet hours) or `transactional`: every message
    /// sent with it is of this class.
    pub class: MessageClass,
    /// Subject line (e-mail), a template.
    #[serde(default)]
    pub subject: Option<String>,
    /// Text (简体中文), a template.
    pub body: String,
    /// HTML (e-mail), a template.
    #[serde(default)]
    pub html: Option<String>,
    /// Structured data for the receiver (a webhook sends it).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    /// The provider's registered template (SMS template code, WeChat template id).
    #[serde(default)]
    pub template: Option<String>,
    /// The registered template's parameters by name, each a template.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The English text, for customers whose language is English.
    #[serde(default)]
    pub en: Option<Translation>,
}

/// A saved template.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TemplateView {
    /// Name (what send nodes and sends give as `saved_template`).
    pub name: String,
    /// Title.
    pub title: String,
    /// Class.
    pub class: MessageClass,
    /// Its text and data.
    pub content: MessageContent,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

fn view(stored: StoredTemplate) -> DomainResult<TemplateView> {
    let content = serde_json::from_str(&stored.content)
        .map_err(|e| DomainError::internal(format!("template {}: {e}", stored.name)))?;
    Ok(TemplateView {
        name: stored.name,
        title: stored.title,
        class: stored.class,
        content,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    })
}

impl Messaging {
    /// Saves a template under `name`, new or replacing the one of that name (needs
    /// `journeys:manage`): checked as a message is, every problem named by its field.
    pub async fn save_template(
        &self,
        principal: &Principal,
        name: &str,
        input: TemplateInput,
    ) -> DomainResult<TemplateView> {
        principal.require(Permission::JourneysManage)?;
        let ws = principal.workspace_id();
        super::messaging::check_name(name)?;
        let mut errors = Vec::new();
        let title = input.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            errors.push(FieldError::new("title", format!("must be 1 to {MAX_TITLE} characters")));
        }
        let content = MessageContent {
            subject: input.subject.filter(|s| !s.trim().is_empty()),
            body: input.body,
            html: input.html.filter(|s| !s.trim().is_empty()),
            data: input.data,
            template: input.template,
            params: input.params,
            en: input.en.map(|en| Translation {
                subject: en.subject.filter(|s| !s.trim().is_empty()),
                html: en.html.filter(|s| !s.trim().is_empty()),
                ..en
            }),
        };
        Self::check_content("", &content, &self.vocabulary(ws).await?, &mut errors);
        let existing = self.store.template(ws, name).await?;
        if existing.is_none() && self.store.templates(ws).await?.len() >= MAX_TEMPLATES {
            errors.push(FieldError::new(
                "name",
                format!("the workspace has {MAX_TEMPLATES} templates, the most it keeps"),
            ));
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        let now = self.access.now();
        let stored = StoredTemplate {
            name: name.to_string(),
            title: title.to_string(),
            class: input.class,
            content: serde_json::to_string(&content).map_err(|e| DomainError::internal(e.to_string()))?,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        self.store.save_template(ws, &stored).await?;
        self.access.audit(principal, "template.save", &format!("template:{name}")).await?;
        view(stored)
    }

    /// Every saved template of the workspace, by name (needs `messages:send`).
    pub async fn templates(&self, principal: &Principal) -> DomainResult<Vec<TemplateView>> {
        principal.require(Permission::MessagesSend)?;
        self.store.templates(principal.workspace_id()).await?.into_iter().map(view).collect()
    }

    /// One saved template (needs `messages:send`).
    pub async fn template(&self, principal: &Principal, name: &str) -> DomainResult<TemplateView> {
        principal.require(Permission::MessagesSend)?;
        match self.store.template(principal.workspace_id(), name).await? {
            Some(stored) => view(stored),
            None => Err(DomainError::NotFound(format!("template {name}"))),
        }
    }

    /// Deletes a saved template (needs `journeys:manage`); published journeys keep their copies.
    pub async fn delete_template(&self, principal: &Principal, name: &str) -> DomainResult<()> {
        principal.require(Permission::JourneysManage)?;
        if !self.store.delete_template(principal.workspace_id(), name).await? {
            return Err(DomainError::NotFound(format!("template {name}")));
        }
        self.access.audit(principal, "template.delete", &format!("template:{name}")).await
    }

    /// A message's content once it takes the saved template `name` names: the template's text,
    /// with `own`'s data where it has some, and the template's class. Without a name, `own` as it
    /// is and no class. A message that names a template and has text of its own, or names one
    /// the workspace does not have, is an error at `{field}saved_template`.
    pub(crate) async fn with_saved(
        &self,
        ws: WorkspaceId,
        name: Option<&str>,
        field: &str,
        own: MessageContent,
        errors: &mut Vec<FieldError>,
    ) -> DomainResult<(Option<MessageClass>, MessageContent)> {
        let Some(name) = name else { return Ok((None, own)) };
        let at = format!("{field}saved_template");
        if own.has_text() {
            errors.push(FieldError::new(
                at.clone(),
                "a message that uses a saved template has no text of its own (subject, body, html, template, params, en)",
            ));
        }
        let Some(stored) = self.store.template(ws, name).await? else {
            errors.push(FieldError::new(at, format!("no saved template \"{name}\"")));
            return Ok((None, own));
        };
        let saved = view(stored)?;
        let mut content = saved.content;
        if !own.data.is_null() {
            content.data = own.data;
        }
        Ok((Some(saved.class), content))
    }
}
