-- A workspace's messaging guardrails (quiet hours, frequency cap) as JSON; none: the defaults.
CREATE TABLE messaging_settings (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
