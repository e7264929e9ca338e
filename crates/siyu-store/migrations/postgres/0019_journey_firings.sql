-- Each occurrence of a journey's scheduled trigger (a broadcast, an anniversary day) that fired, and
-- how many customers it entered: an occurrence fires once (its entries are keyed by it as well).
CREATE TABLE journey_firings (
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    journey_id BIGINT NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    occurrence BIGINT NOT NULL,
    entered BIGINT NOT NULL,
    fired_at BIGINT NOT NULL,
    PRIMARY KEY (journey_id, occurrence)
);
