-- What automations granted (siyu_domain::campaigns): a journey's coupon or lottery chances are
-- given once per grant key (journey, version, node and entry), however often the step runs again
-- after a crash. `ref_id` is the coupon's id or the lottery's.
CREATE TABLE campaign_grants (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    grant_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, grant_key)
);
