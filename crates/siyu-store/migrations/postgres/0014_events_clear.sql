-- Events an older siyu logged in the clear are sealed at start (Events::seal_clear_events). This
-- partial index holds only such rows, so finding them costs nothing once they are sealed.
CREATE INDEX events_clear ON events(workspace_id, seq) WHERE properties NOT LIKE '#sealed1:%';
