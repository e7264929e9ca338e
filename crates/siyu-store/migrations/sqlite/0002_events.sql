-- The embedded default keeps events in append-only segment files beside this database
-- (events/ws-<id>/*.seg, see src/eventlog.rs), so SQLite gets no events table.
SELECT 1;
