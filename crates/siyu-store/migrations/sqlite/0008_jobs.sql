-- Durable jobs (siyu_domain::jobs): scheduled for an instant, claimed under a lease, retried,
-- buried with the reason. One row per workspace, kind and idempotency key.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    leased_by TEXT,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (workspace_id, kind, key)
);
-- Claims read pending jobs of a kind by due time.
CREATE INDEX jobs_due ON jobs(kind, run_at) WHERE state = 'pending';
CREATE INDEX jobs_workspace ON jobs(workspace_id, state, updated_at);
