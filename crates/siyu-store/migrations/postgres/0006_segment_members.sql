-- Each segment's members as a serialized Roaring bitmap (portable format), saved by the upkeep after
-- changes, and the size at the end of each local day for the history chart.
CREATE TABLE segment_members (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    members BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key)
);
CREATE TABLE segment_sizes (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    day TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key, day)
);
