//! The template library's pages: `/templates` lists the saved templates, `/templates/new` and
//! `/templates/{name}` edit one — its title, class, 简体中文 and English text — with a live
//! preview for a chosen customer in either language (`assets/console.js` posts the form to
//! `/messages/preview`). Saving checks the template as publishing a journey would; a problem is
//! shown beside the form and nothing is saved.

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_domain::access::Permission;
use siyu_domain::channels::guardrails::MessageClass;
use siyu_domain::channels::library::{TemplateInput, TemplateView};
use siyu_domain::channels::messaging::Translation;
use siyu_domain::{DomainError, FieldError};

struct TemplateRow {
    name: String,
    title: String,
    class: &'static str,
    languages: &'static str,
    updated: String,
}

#[derive(Template)]
#[template(path = "templates.html")]
struct TemplatesPage {
    t: &'static Text,
    chrome: Chrome,
    rows: Vec<TemplateRow>,
    can_manage: bool,
}

/// What the form shows: a saved template, or what was typed.
#[derive(Default)]
struct Form {
    name: String,
    title: String,
    class: String,
    subject: String,
    body: String,
    html: String,
    template: String,
    params: String,
    en_subject: String,
    en_body: String,
    en_html: String,
}

impl Form {
    fn of(view: &TemplateView) -> Self {
        let content = &view.content;
        let en = content.en.clone().unwrap_or_default();
        Self {
            name: view.name.clone(),
            title: view.title.clone(),
            class: view.class.as_str().into(),
            subject: content.subject.clone().unwrap_or_default(),
            body: content.body.clone(),
            html: content.html.clone().unwrap_or_default(),
            template: content.template.clone().unwrap_or_default(),
            params: if content.params.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&content.params).unwrap_or_default()
            },
            en_subject: en.subject.unwrap_or_default(),
            en_body: en.body,
            en_html: en.html.unwrap_or_default(),
        }
    }

    fn read(form: &FormData) -> Self {
        let get = |name: &str| form.get(name).to_string();
        Self {
            name: get("name").trim().into(),
            title: get("title"),
            class: get("class"),
            subject: get("subject"),
            body: get("body"),
            html: get("html"),
            template: get("template"),
            params: get("params"),
            en_subject: get("en_subject"),
            en_body: get("en_body"),
            en_html: get("en_html"),
        }
    }

    /// The input it makes, or the problems with what cannot be read (a class, the parameters).
    fn input(&self) -> Result<TemplateInput, Vec<FieldError>> {
        let some = |text: &str| Some(text.to_string()).filter(|s| !s.trim().is_empty());
        let mut errors = Vec::new();
        let class = MessageClass::parse(&self.class).unwrap_or_else(|| {
            errors.push(FieldError::new("class", "must be marketing or transactional"));
            MessageClass::Marketing
        });
        let params = match self.params.trim() {
            "" => Default::default(),
            text => serde_json::from_str(text).unwrap_or_else(|e| {
                errors.push(FieldError::new("params", format!("is not a JSON object of texts: {e}")));
                Default::default()
            }),
        };
        let has_en = [&self.en_subject, &self.en_body, &self.en_html].iter().any(|s| !s.trim().is_empty());
        let input = TemplateInput {
            title: self.title.clone(),
            class,
            subject: some(&self.subject),
            body: self.body.clone(),
            html: some(&self.html),
            data: serde_json::Value::Null,
            template: some(&self.template),
            params,
            en: has_en.then(|| Translation {
                subject: some(&self.en_subject),
                body: self.en_body.clone(),
                html: some(&self.en_html),
                params: Default::default(),
            }),
        };
        if errors.is_empty() { Ok(input) } else { Err(errors) }
    }
}

#[derive(Template)]
#[template(path = "template.html")]
struct TemplatePage {
    t: &'static Text,
    chrome: Chrome,
    /// Whether it is saved (the name then cannot change).
    saved: bool,
    form: Form,
    classes: Vec<Choice>,
    errors: Vec<FieldMessage>,
    can_manage: bool,
}

/// A problem's field in words.
fn label(t: &Text, field: &str) -> String {
    match field {
        "name" => t.template_name,
        "title" => t.template_title,
        "class" => t.field_class,
        "subject" => t.field_subject,
        "body" => t.field_body,
        "html" => t.field_html,
        "template" => t.field_template,
        "en.subject" => t.field_en_subject,
        "en.body" => t.field_en_body,
        "en.html" => t.field_en_html,
        f if f.starts_with("params") => t.field_params,
        f if f.starts_with("en.params") => t.field_params,
        _ => t.field_body,
    }
    .to_string()
}

fn messages(t: &Text, errors: &[FieldError]) -> Vec<FieldMessage> {
    errors
        .iter()
        .map(|e| FieldMessage { field: e.field.clone(), label: label(t, &e.field), reason: t.reason(&e.reason) })
        .collect()
}

fn class_words(t: &Text, class: MessageClass) -> &'static str {
    match class {
        MessageClass::Marketing => t.class_marketing,
        MessageClass::Transactional => t.class_transactional,
    }
}

fn page(console: &Console, saved: bool, form: Form, errors: Vec<FieldMessage>) -> TemplatePage {
    let t = console.t();
    let current = if form.class.is_empty() { "marketing" } else { form.class.as_str() };
    let classes = [MessageClass::Marketing, MessageClass::Transactional]
        .into_iter()
        .map(|c| Choice::new(c.as_str(), class_words(t, c), current))
        .collect();
    TemplatePage {
        t,
        chrome: Chrome::new(console, "templates"),
        saved,
        form,
        classes,
        errors,
        can_manage: console.may(Permission::JourneysManage),
    }
}

/// GET /templates: the saved templates.
pub(crate) async fn list_templates(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let t = console.t();
    let templates = match app.services.messaging.templates(&console.principal).await {
        Ok(found) => found,
        Err(error) => return console.fail(error),
    };
    let rows = templates
        .into_iter()
        .map(|v| TemplateRow {
            languages: if v.content.en.is_some() { t.template_both_languages } else { t.template_zh_only },
            class: class_words(t, v.class),
            updated: v.updated_at.strftime("%Y-%m-%d %H:%M").to_string(),
            name: v.name,
            title: v.title,
        })
        .collect();
    let mut chrome = Chrome::new(&console, "templates");
    chrome = chrome.with_flash(t, FormData::query(raw).get("done"));
    render(StatusCode::OK, &TemplatesPage { t, chrome, rows, can_manage: console.may(Permission::JourneysManage) })
}

/// GET /templates/new: an empty template.
pub(crate) async fn new_template(console: Console) -> Response {
    if !console.may(Permission::JourneysManage) {
        return console.fail(DomainError::Forbidden(Permission::JourneysManage.name()));
    }
    render(StatusCode::OK, &page(&console, false, Form::default(), Vec::new()))
}

/// GET /templates/{name}: a saved template, in the form.
pub(crate) async fn show_template(
    State(app): State<AppState>,
    console: Console,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    match app.services.messaging.template(&console.principal, &name).await {
        Ok(view) => {
            let mut shown = page(&console, true, Form::of(&view), Vec::new());
            shown.chrome = shown.chrome.with_flash(console.t(), FormData::query(raw).get("done"));
            render(StatusCode::OK, &shown)
        }
        Err(error) => console.fail(error),
    }
}

/// POST /templates/save: saves the form's template (new, or the one of its name).
pub(crate) async fn save_template(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    if !console.may(Permission::JourneysManage) {
        return console.fail(DomainError::Forbidden(Permission::JourneysManage.name()));
    }
    let typed = Form::read(&form);
    let saved = form.get("saved") == "1";
    // The new-template form makes a new one: a name in use is refused, not replaced.
    let taken = !saved && app.services.messaging.template(&console.principal, &typed.name).await.is_ok();
    let outcome = match typed.input() {
        Ok(_) if taken => {
            let reason = format!("a template named \"{}\" exists: change it from the list", typed.name);
            Err(DomainError::Invalid(vec![FieldError::new("name", reason)]))
        }
        Ok(input) => app.services.messaging.save_template(&console.principal, &typed.name, input).await,
        Err(errors) => Err(DomainError::Invalid(errors)),
    };
    match outcome {
        Ok(view) => Redirect::to(&format!("/templates/{}?done=template_saved", view.name)).into_response(),
        Err(DomainError::Invalid(errors)) => {
            let errors = messages(console.t(), &errors);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page(&console, saved, typed, errors))
        }
        Err(error) => console.fail(error),
    }
}

/// POST /templates/{name}/delete: deletes a saved template.
pub(crate) async fn delete_template(State(app): State<AppState>, Path(name): Path<String>, post: Post) -> Response {
    let Post { console, .. } = post;
    match app.services.messaging.delete_template(&console.principal, &name).await {
        Ok(()) => Redirect::to("/templates?done=template_deleted").into_response(),
        Err(error) => console.fail(error),
    }
}
