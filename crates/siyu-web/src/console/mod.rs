//! The server-rendered console (简体中文 / English): login, the KPI dashboard (the home page of
//! roles that may read analytics), customers and the customer 360 page, tags, analytics (funnel,
//! retention, RFM, event segmentation, paths), journeys and agents' follow-ups, API keys, users and roles.
//!
//! Modules, in reading order: [`i18n`] (every UI string in both languages), [`session`] (cookies,
//! the logged-in [`session::Console`] extractor, CSRF-checked [`session::Post`] forms), [`page`]
//! (layout frame, rendering, error pages), then one module per page: [`login`], [`dashboard`],
//! [`customers`], [`tags`], [`analytics`], [`journeys`] (journeys and follow-up tasks), [`journey_editor`] (a journey's graph and editor,
//! drawn by [`journey_graph`]), [`message_templates`] (the template library), [`channels`]
//! (sending rules and channel tests), [`keys`], [`users`],
//! [`invitations`] (public accept page). Templates live in
//! `crates/siyu-web/templates/`.

mod analytics;
mod channels;
mod customers;
mod dashboard;
mod i18n;
mod invitations;
mod journey_editor;
mod journey_graph;
mod journeys;
mod keys;
mod login;
mod message_templates;
mod models;
mod page;
mod segments;
mod session;
mod system;
mod tags;
mod users;

use crate::AppState;
use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::show_home))
        .route("/login", get(login::show_login).post(login::login))
        .route("/logout", post(login::logout))
        .route("/lang/{code}", get(login::set_lang))
        .route("/workspace/switch", post(login::switch_workspace))
        .route("/customers", get(customers::list_customers))
        .route("/customers/{id}", get(customers::show_customer))
        .route("/customers/{id}/notes", post(customers::add_note))
        .route("/customers/{id}/export.json", get(customers::export_customer))
        .route("/customers/{id}/erase", post(customers::erase_customer))
        .route("/tags", get(tags::show_tags).post(tags::create_tag))
        .route("/tags/groups", post(tags::create_tag_group))
        .route("/analytics", get(|| async { Redirect::to("/analytics/funnel") }))
        .route("/analytics/funnel", get(analytics::show_funnel))
        .route("/analytics/retention", get(analytics::show_retention))
        .route("/analytics/rfm", get(analytics::show_rfm))
        .route("/analytics/segmentation", get(analytics::segmentation::show_segmentation))
        .route("/analytics/paths", get(analytics::paths::show_paths))
        .route("/models", get(models::show_models))
        .route("/models/run", post(models::run_models))
        .route("/models/recall", get(models::show_recall))
        .route("/models/recall.csv", get(models::export_recall))
        .route("/models/settings", get(models::show_settings).post(models::save_settings))
        .route("/segments", get(segments::list_segments).post(segments::save_segment))
        .route("/segments/new", get(segments::new_segment))
        .route("/segments/preview", get(segments::preview_segment))
        .route("/segments/{key}", get(segments::show_segment))
        .route("/segments/{key}/members.csv", get(segments::export_segment_members))
        .route("/keys", get(keys::list_keys).post(keys::create_key))
        .route("/keys/{id}/revoke", post(keys::revoke_key))
        .route("/users", get(users::list_users).post(users::invite_user))
        .route("/system", get(system::show_system))
        .route("/journeys", get(journeys::list_journeys))
        .route("/journeys/new", get(journey_editor::new_journey).post(journey_editor::create_journey))
        .route("/journeys/check", post(journey_editor::check_journey))
        .route("/journeys/{id}", get(journey_editor::show_journey).post(journey_editor::save_journey))
        .route("/journeys/{id}/status", post(journey_editor::change_status))
        .route("/messages/preview", post(journey_editor::preview_message))
        .route("/messages", get(journeys::list_messages))
        .route("/templates", get(message_templates::list_templates))
        .route("/templates/new", get(message_templates::new_template))
        .route("/templates/save", post(message_templates::save_template))
        .route("/templates/{name}", get(message_templates::show_template))
        .route("/templates/{name}/delete", post(message_templates::delete_template))
        .route("/tasks", get(journeys::list_tasks))
        .route("/channels", get(channels::show_channels))
        .route("/channels/settings", post(channels::save_rules))
        .route("/channels/{name}/test", post(channels::test_channel))
        .route("/channels/save", post(channels::save_channel))
        .route("/channels/{name}/delete", post(channels::delete_channel))
        .route("/tasks/{id}/done", post(journeys::complete_task))
        .route("/users/{id}/role", post(users::set_role))
        .route("/users/invitations/{id}/revoke", post(users::revoke_invitation))
        .route("/invite/{token}", get(invitations::show_invitation).post(invitations::accept_invitation))
}
