//! Versioned schema migrations, embedded in the binary, one SQL file per version and backend.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Each version: (number, description, SQLite text, PostgreSQL text).
const VERSIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "spine",
        include_str!("../migrations/sqlite/0001_spine.sql"),
        include_str!("../migrations/postgres/0001_spine.sql"),
    ),
    (
        2,
        "events",
        include_str!("../migrations/sqlite/0002_events.sql"),
        include_str!("../migrations/postgres/0002_events.sql"),
    ),
    (
        3,
        "index snapshots",
        include_str!("../migrations/sqlite/0003_index_snapshots.sql"),
        include_str!("../migrations/postgres/0003_index_snapshots.sql"),
    ),
    (
        4,
        "model settings",
        include_str!("../migrations/sqlite/0004_model_settings.sql"),
        include_str!("../migrations/postgres/0004_model_settings.sql"),
    ),
    (
        5,
        "segments",
        include_str!("../migrations/sqlite/0005_segments.sql"),
        include_str!("../migrations/postgres/0005_segments.sql"),
    ),
    (
        6,
        "segment members",
        include_str!("../migrations/sqlite/0006_segment_members.sql"),
        include_str!("../migrations/postgres/0006_segment_members.sql"),
    ),
    (
        7,
        "invitations",
        include_str!("../migrations/sqlite/0007_invitations.sql"),
        include_str!("../migrations/postgres/0007_invitations.sql"),
    ),
    (
        8,
        "jobs",
        include_str!("../migrations/sqlite/0008_jobs.sql"),
        include_str!("../migrations/postgres/0008_jobs.sql"),
    ),
    (
        9,
        "jobs due order",
        include_str!("../migrations/sqlite/0009_jobs_due_order.sql"),
        include_str!("../migrations/postgres/0009_jobs_due_order.sql"),
    ),
    (
        10,
        "seal every identity",
        include_str!("../migrations/sqlite/0010_seal_every_identity.sql"),
        include_str!("../migrations/postgres/0010_seal_every_identity.sql"),
    ),
    (
        11,
        "event keys",
        include_str!("../migrations/sqlite/0011_event_keys.sql"),
        include_str!("../migrations/postgres/0011_event_keys.sql"),
    ),
    (
        12,
        "jobs leased",
        include_str!("../migrations/sqlite/0012_jobs_leased.sql"),
        include_str!("../migrations/postgres/0012_jobs_leased.sql"),
    ),
    (
        13,
        "identities pending",
        include_str!("../migrations/sqlite/0013_identities_pending.sql"),
        include_str!("../migrations/postgres/0013_identities_pending.sql"),
    ),
    (
        14,
        "events clear",
        include_str!("../migrations/sqlite/0014_events_clear.sql"),
        include_str!("../migrations/postgres/0014_events_clear.sql"),
    ),
    (
        15,
        "messages",
        include_str!("../migrations/sqlite/0015_messages.sql"),
        include_str!("../migrations/postgres/0015_messages.sql"),
    ),
    (
        16,
        "journeys",
        include_str!("../migrations/sqlite/0016_journeys.sql"),
        include_str!("../migrations/postgres/0016_journeys.sql"),
    ),
    (
        17,
        "messaging settings",
        include_str!("../migrations/sqlite/0017_messaging_settings.sql"),
        include_str!("../migrations/postgres/0017_messaging_settings.sql"),
    ),
    (
        18,
        "channel callbacks",
        include_str!("../migrations/sqlite/0018_channel_callbacks.sql"),
        include_str!("../migrations/postgres/0018_channel_callbacks.sql"),
    ),
    (
        19,
        "journey firings",
        include_str!("../migrations/sqlite/0019_journey_firings.sql"),
        include_str!("../migrations/postgres/0019_journey_firings.sql"),
    ),
    (
        20,
        "journey positions",
        include_str!("../migrations/sqlite/0020_journey_positions.sql"),
        include_str!("../migrations/postgres/0020_journey_positions.sql"),
    ),
    (
        21,
        "message receipts",
        include_str!("../migrations/sqlite/0021_message_receipts.sql"),
        include_str!("../migrations/postgres/0021_message_receipts.sql"),
    ),
    (
        22,
        "message templates",
        include_str!("../migrations/sqlite/0022_message_templates.sql"),
        include_str!("../migrations/postgres/0022_message_templates.sql"),
    ),
    (
        23,
        "flash sales",
        include_str!("../migrations/sqlite/0023_flash_sales.sql"),
        include_str!("../migrations/postgres/0023_flash_sales.sql"),
    ),
    (
        24,
        "coupons",
        include_str!("../migrations/sqlite/0024_coupons.sql"),
        include_str!("../migrations/postgres/0024_coupons.sql"),
    ),
    (
        25,
        "lotteries",
        include_str!("../migrations/sqlite/0025_lotteries.sql"),
        include_str!("../migrations/postgres/0025_lotteries.sql"),
    ),
    (
        26,
        "campaign grants",
        include_str!("../migrations/sqlite/0026_campaign_grants.sql"),
        include_str!("../migrations/postgres/0026_campaign_grants.sql"),
    ),
    (
        27,
        "check-ins",
        include_str!("../migrations/sqlite/0027_checkins.sql"),
        include_str!("../migrations/postgres/0027_checkins.sql"),
    ),
    (
        28,
        "group buys",
        include_str!("../migrations/sqlite/0028_group_buys.sql"),
        include_str!("../migrations/postgres/0028_group_buys.sql"),
    ),
    (
        29,
        "quizzes",
        include_str!("../migrations/sqlite/0029_quizzes.sql"),
        include_str!("../migrations/postgres/0029_quizzes.sql"),
    ),
    (
        30,
        "campaign grant holders",
        include_str!("../migrations/sqlite/0030_campaign_grant_holders.sql"),
        include_str!("../migrations/postgres/0030_campaign_grant_holders.sql"),
    ),
];

/// Which dialect's files to use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Returns the migrator for a dialect.
pub(crate) fn migrator(dialect: Dialect) -> Migrator {
    Migrator::with_migrations(
        VERSIONS
            .iter()
            .map(|(version, description, sqlite, postgres)| {
                let sql = match dialect {
                    Dialect::Sqlite => *sqlite,
                    Dialect::Postgres => *postgres,
                };
                Migration::new(*version, (*description).into(), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}
