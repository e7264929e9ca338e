//! The tag system page: tag groups by family, tags with customer counts, and forms to create both.

use super::i18n::Text;
use super::page::{Choice, Chrome, FieldMessage, form_errors, render};
use super::session::{Console, FormData, Post};
use crate::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use siyu_domain::DomainError;
use siyu_domain::access::Permission;
use siyu_domain::customers::tags::TagFamily;

struct TagView {
    name: String,
    customer_count: i64,
}

struct GroupView {
    name: String,
    family: &'static str,
    tags: Vec<TagView>,
}

/// What a create form held when it was sent, and what was wrong with it.
#[derive(Default)]
struct FormState {
    name: String,
    choice: String,
    errors: Vec<FieldMessage>,
}

#[derive(Template)]
#[template(path = "tags.html")]
struct TagsPage {
    t: &'static Text,
    chrome: Chrome,
    groups: Vec<GroupView>,
    can_manage: bool,
    families: Vec<Choice>,
    group_choices: Vec<Choice>,
    group_form: FormState,
    tag_form: FormState,
}

async fn tags_page(
    app: &AppState,
    console: &Console,
    group_form: FormState,
    tag_form: FormState,
) -> Result<TagsPage, DomainError> {
    let (groups, tags) = tokio::try_join!(
        app.services.customers.tag_groups(&console.principal),
        app.services.customers.tags(&console.principal)
    )?;
    let t = console.t();
    let group_choices = groups.iter().map(|g| Choice::new(g.name.clone(), g.name.clone(), &tag_form.choice)).collect();
    let groups = groups
        .into_iter()
        .map(|group| GroupView {
            family: t.family(group.family),
            tags: tags
                .iter()
                .filter(|tag| tag.group_id == group.id)
                .map(|tag| TagView { name: tag.name.clone(), customer_count: tag.customer_count })
                .collect(),
            name: group.name,
        })
        .collect();
    Ok(TagsPage {
        t,
        chrome: Chrome::new(console, "tags"),
        groups,
        can_manage: console.may(Permission::TagsManage),
        families: TagFamily::ALL.iter().map(|f| Choice::new(f.as_str(), t.family(*f), &group_form.choice)).collect(),
        group_choices,
        group_form,
        tag_form,
    })
}

/// GET /tags: the tag system.
pub(crate) async fn show_tags(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    match tags_page(&app, &console, FormState::default(), FormState::default()).await {
        Ok(mut page) => {
            page.chrome = page.chrome.with_flash(console.t(), FormData::query(raw).get("done"));
            render(StatusCode::OK, &page)
        }
        Err(error) => console.fail(error),
    }
}

/// Shows the page again with the failed form's input and errors, or the error page.
async fn form_failed(
    app: &AppState,
    console: &Console,
    error: DomainError,
    form: FormState,
    is_group: bool,
) -> Response {
    let Some(errors) = form_errors(console.t(), &error) else {
        return console.fail(error);
    };
    let form = FormState { errors, ..form };
    let (group_form, tag_form) = if is_group { (form, FormState::default()) } else { (FormState::default(), form) };
    match tags_page(app, console, group_form, tag_form).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => console.fail(error),
    }
}

/// POST /tags/groups: creates a tag group in one of the five families.
pub(crate) async fn create_tag_group(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let (name, family) = (form.get("name"), form.get("family"));
    match app.services.customers.create_tag_group(&console.principal, name, family).await {
        Ok(_) => Redirect::to("/tags?done=group").into_response(),
        Err(error) => {
            let state = FormState { name: name.into(), choice: family.into(), errors: Vec::new() };
            form_failed(&app, &console, error, state, true).await
        }
    }
}

/// POST /tags: creates a tag in a group.
pub(crate) async fn create_tag(State(app): State<AppState>, post: Post) -> Response {
    let Post { console, form } = post;
    let (name, group) = (form.get("name"), form.get("group"));
    match app.services.customers.create_tag(&console.principal, group, name).await {
        Ok(_) => Redirect::to("/tags?done=tag").into_response(),
        Err(error) => {
            let state = FormState { name: name.into(), choice: group.into(), errors: Vec::new() };
            form_failed(&app, &console, error, state, false).await
        }
    }
}
