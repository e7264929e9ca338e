-- Callbacks a provider sent to a channel (WeCom's contact changes): each accepted one's signature,
-- so a repeat is answered without being applied twice (kept for a day), and a count per outcome
-- (accepted, repeated, verified, forged, stale, unreadable).
CREATE TABLE callback_receipts (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    signature TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, channel, signature)
);

CREATE TABLE channel_callbacks (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, channel, outcome)
);
