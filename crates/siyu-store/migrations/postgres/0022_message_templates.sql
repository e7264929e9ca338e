-- Saved message templates (siyu_domain::channels::library): written once, chosen by name from
-- journeys' send nodes and API sends. Operators' text, not personal data: kept in clear.
CREATE TABLE message_templates (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    class TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
