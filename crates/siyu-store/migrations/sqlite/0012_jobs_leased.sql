-- Jobs under a lease (claimed and running, or whose worker stopped): few at any time, so a worker
-- finds when the next lease ends without reading every pending job.
CREATE INDEX jobs_leased ON jobs(lease_until) WHERE state = 'pending' AND lease_until IS NOT NULL;
