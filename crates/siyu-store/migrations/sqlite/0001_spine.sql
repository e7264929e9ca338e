-- The spine: workspaces, access, profiles, tags, consent, audit. Instants are unix milliseconds.
CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    currency TEXT NOT NULL,
    data_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, workspace_id)
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    merged_into INTEGER,
    -- Traits as one JSON document: {"key": {"v": value | "s": base64 ciphertext, "src": source, "at": ms}}.
    traits TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX customers_live ON customers(workspace_id, id) WHERE merged_into IS NULL;
CREATE INDEX customers_merged ON customers(merged_into) WHERE merged_into IS NOT NULL;
-- The identity lookup index: one narrow row per identity, keyed by the blind index (random by design),
-- so it stays dense; the sealed value lives in customer_identities, which is appended in customer order.
CREATE TABLE identities (
    workspace_id INTEGER NOT NULL,
    lookup TEXT NOT NULL,
    kind TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, lookup, kind)
) WITHOUT ROWID;
CREATE TABLE customer_identities (
    workspace_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    lookup TEXT NOT NULL,
    sealed BLOB,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, kind, lookup)
) WITHOUT ROWID;
CREATE TABLE tag_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    family TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL REFERENCES tag_groups(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE TABLE customer_tags (
    workspace_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    tag_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, tag_id)
) WITHOUT ROWID;
CREATE INDEX customer_tags_tag ON customer_tags(tag_id, customer_id);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_customer ON notes(customer_id);
CREATE TABLE customer_merges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    survivor_id INTEGER NOT NULL,
    merged_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    merged_at INTEGER NOT NULL
);
CREATE INDEX customer_merges_survivor ON customer_merges(survivor_id);
CREATE TABLE consent_records (
    id INTEGER PRIMARY KEY, -- rowid: append-only history, no AUTOINCREMENT bookkeeping per insert
    workspace_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    granted BOOLEAN NOT NULL,
    source TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX consent_records_customer ON consent_records(customer_id);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY, -- rowid: append-only history, no AUTOINCREMENT bookkeeping per insert
    workspace_id INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX audit_log_workspace ON audit_log(workspace_id, id);
