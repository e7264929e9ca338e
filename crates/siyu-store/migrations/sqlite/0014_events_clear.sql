-- Events live in log files beside the database on SQLite (src/eventlog.rs), which marks a
-- workspace's folder once its events are all sealed. Nothing to change here.
SELECT 1;
