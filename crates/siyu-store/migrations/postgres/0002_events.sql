-- The event log on PostgreSQL: append-only, read back in append order per workspace.
CREATE TABLE events (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    customer_id BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    name TEXT NOT NULL,
    ts_us BIGINT NOT NULL,
    received_us BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    anonymous_id TEXT NOT NULL,
    properties TEXT NOT NULL,
    context TEXT NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
