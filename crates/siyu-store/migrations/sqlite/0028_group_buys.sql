-- Group buying (siyu_domain::campaigns): the activity (units reserved held to its stock), groups
-- (members counted on the row, never past the size), one member row per distinct customer and
-- group (its order reserved, confirmed or released), and each customer's groups per activity.
CREATE TABLE group_buys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    price_fen INTEGER NOT NULL,
    group_size INTEGER NOT NULL,
    time_limit_minutes INTEGER NOT NULL,
    stock INTEGER,
    reserved INTEGER NOT NULL DEFAULT 0,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    per_customer INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (stock IS NULL OR reserved <= stock)
);
CREATE INDEX group_buys_workspace ON group_buys(workspace_id, id);
CREATE TABLE group_buy_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    group_buy_id INTEGER NOT NULL REFERENCES group_buys(id) ON DELETE CASCADE,
    leader_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    members INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    settled_at INTEGER,
    CHECK (members <= size)
);
CREATE INDEX group_buy_groups_activity ON group_buy_groups(group_buy_id, status);
CREATE INDEX group_buy_groups_due ON group_buy_groups(expires_at) WHERE status = 'open';
CREATE TABLE group_buy_members (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES group_buy_groups(id) ON DELETE CASCADE,
    group_buy_id INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, customer_id)
);
CREATE INDEX group_buy_members_customer ON group_buy_members(workspace_id, customer_id);
CREATE TABLE group_buy_players (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    group_buy_id INTEGER NOT NULL REFERENCES group_buys(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    groups INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_buy_id, customer_id)
);
CREATE INDEX group_buy_players_customer ON group_buy_players(workspace_id, customer_id);
