-- Check-in (siyu_domain::campaigns): the activity with its milestones, each customer's check-in
-- days (one row a day, by the workspace's local day), make-up cards used, milestones reached.
CREATE TABLE checkins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    milestones TEXT NOT NULL,
    makeup_cards INTEGER NOT NULL,
    makeup_days INTEGER NOT NULL,
    rules TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX checkins_workspace ON checkins(workspace_id, id);
CREATE TABLE checkin_players (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    checkin_id INTEGER NOT NULL REFERENCES checkins(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    days INTEGER NOT NULL DEFAULT 0,
    cards_used INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (checkin_id, customer_id)
);
CREATE INDEX checkin_players_customer ON checkin_players(workspace_id, customer_id);
CREATE TABLE checkin_days (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    checkin_id INTEGER NOT NULL REFERENCES checkins(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    makeup INTEGER NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (checkin_id, customer_id, day)
);
CREATE INDEX checkin_days_day ON checkin_days(checkin_id, day);
CREATE INDEX checkin_days_customer ON checkin_days(workspace_id, customer_id);
CREATE TABLE checkin_milestones (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    checkin_id INTEGER NOT NULL REFERENCES checkins(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    streak INTEGER NOT NULL,
    reached_at INTEGER NOT NULL,
    PRIMARY KEY (checkin_id, customer_id, streak)
);
CREATE INDEX checkin_milestones_customer ON checkin_milestones(workspace_id, customer_id);
