-- Snapshots of the analytics index on PostgreSQL, so a restart loads it and reads only the events
-- after it. A snapshot of 100M events is about 1.6 GB and bytea holds at most 1 GB, so it is kept in
-- parts of 64 MiB.
CREATE TABLE index_snapshots (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, part)
);
