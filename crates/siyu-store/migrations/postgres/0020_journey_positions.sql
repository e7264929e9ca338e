-- Each workspace's journey triggers' position in its event log (the log's opaque checkpoint): read
-- from again after a crash, so an event appended while no process heard it still fires its triggers.
CREATE TABLE journey_positions (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    checkpoint TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
