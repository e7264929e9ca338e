-- Claims take the earliest due jobs in (run_at, id) order: the index holds both, so a claim reads
-- its batch off the front of the index instead of sorting every due job (a backlog of a million
-- timers due at one instant made each claim sort them all on PostgreSQL).
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs(kind, run_at, id) WHERE state = 'pending';
