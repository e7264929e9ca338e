-- Configured channels (siyu_domain::channels::messaging): settings in clear, secrets sealed.
CREATE TABLE channels (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    secrets BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
-- Messages: the outbox each send job works from and the message log. Content sealed.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    customer_id INTEGER,
    class TEXT NOT NULL,
    content BLOB NOT NULL,
    source TEXT NOT NULL,
    journey_id INTEGER,
    status TEXT NOT NULL,
    guardrail TEXT,
    reason TEXT,
    provider_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER,
    UNIQUE (workspace_id, key)
);
-- The frequency cap counts a customer's recent marketing sends on a channel; the log reads a
-- customer's messages newest first.
CREATE INDEX messages_customer ON messages(workspace_id, customer_id, channel, sent_at);
CREATE INDEX messages_log ON messages(workspace_id, id);
