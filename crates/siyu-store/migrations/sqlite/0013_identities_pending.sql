-- New identities are indexed in two steps (src/sqlite/identity_index.rs): appended here in the
-- transaction that creates them, then moved into `identities` in large sorted batches, so that a
-- transaction does not dirty one random page of the index per new identity. AUTOINCREMENT: a seq
-- is never reused, so the lowest and highest seq name the table's contents.
CREATE TABLE identities_pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    lookup TEXT NOT NULL,
    kind TEXT NOT NULL,
    customer_id INTEGER NOT NULL
);
