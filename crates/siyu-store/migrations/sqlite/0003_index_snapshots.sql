-- The embedded default keeps index snapshots as files beside the event log (events/ws-<id>/index.snap),
-- so SQLite gets no snapshot table.
SELECT 1;
