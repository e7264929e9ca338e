-- Journeys (siyu_domain::journeys): drafts and published versions, the customers' entries (each
-- its place on a journey and, while it waits, its timer), per-node counters and agent tasks.
CREATE TABLE journeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    draft TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX journeys_workspace ON journeys(workspace_id, status);
CREATE TABLE journey_versions (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    journey_id INTEGER NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (journey_id, version)
);
CREATE TABLE journey_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    journey_id INTEGER NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    trigger_key TEXT NOT NULL,
    node TEXT NOT NULL,
    waiting INTEGER NOT NULL,
    -- At a wait_for_event node: the event happened (it goes on at once).
    event_seen INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    arm TEXT,
    converted INTEGER NOT NULL,
    entered_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    leased_by TEXT,
    lease_until INTEGER,
    UNIQUE (journey_id, customer_id, trigger_key)
);
-- The step worker claims active entries by due time; the re-entry rule and the log read a
-- customer's entries.
CREATE INDEX journey_entries_due ON journey_entries(due_at) WHERE state = 'active';
CREATE INDEX journey_entries_customer ON journey_entries(workspace_id, customer_id, journey_id);
CREATE INDEX journey_entries_journey ON journey_entries(journey_id, state, node);
CREATE TABLE journey_counts (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    journey_id INTEGER NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    node TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (journey_id, version, node, outcome)
);
CREATE TABLE agent_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    journey_id INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    node TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (entry_id, node)
);
CREATE INDEX agent_tasks_workspace ON agent_tasks(workspace_id, status, id);
-- A message's journey node, for the journey's per-node counts of sent, blocked and failed.
ALTER TABLE messages ADD COLUMN journey_node TEXT;
CREATE INDEX messages_journey ON messages(journey_id, journey_node, status);
