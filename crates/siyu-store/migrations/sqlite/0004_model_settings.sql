-- Each workspace's model thresholds (RFM, lifecycle, tiers, churn warning, health, LTV) as one
-- JSON document; a workspace without a row uses the documented defaults.
CREATE TABLE model_settings (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
