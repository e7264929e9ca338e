-- Each occurrence of a journey's scheduled trigger (a broadcast, an anniversary day) that fired, and
-- how many customers it entered: an occurrence fires once (its entries are keyed by it as well).
CREATE TABLE journey_firings (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    journey_id INTEGER NOT NULL REFERENCES journeys(id) ON DELETE CASCADE,
    occurrence INTEGER NOT NULL,
    entered INTEGER NOT NULL,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (journey_id, occurrence)
);
