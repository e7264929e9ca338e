-- Invitations to a workspace: a one-time link (stored as the SHA-256 of its token) that the invited
-- person accepts themselves; adding someone to a workspace never touches an existing account.
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    revoked_at INTEGER
);
CREATE INDEX invitations_workspace ON invitations(workspace_id, created_at);
-- Browsers that have logged in to an account (a long-lived cookie, stored as the SHA-256 of its token):
-- an account locked by failed logins from elsewhere still lets its known browsers in.
CREATE TABLE known_devices (
    token_hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    PRIMARY KEY (token_hash, user_id)
);
CREATE INDEX known_devices_user ON known_devices(user_id);
