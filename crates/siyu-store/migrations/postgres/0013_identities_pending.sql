-- PostgreSQL writes the identity index directly (several nodes order their writes through its
-- primary key); only SQLite indexes new identities in two steps. Nothing to change.
SELECT 1;
