-- Saved message templates (siyu_domain::channels::library): written once, chosen by name from
-- journeys' send nodes and API sends. Operators' text, not personal data: kept in clear.
CREATE TABLE message_templates (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    class TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
