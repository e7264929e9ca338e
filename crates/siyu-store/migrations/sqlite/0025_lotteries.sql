-- Lotteries (siyu_domain::campaigns): the lottery with its prizes and sealed seed, each prize's
-- count given (its stock a condition on it), each player's draws and extra chances, every draw.
CREATE TABLE lotteries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    prizes TEXT NOT NULL,
    no_prize_weight INTEGER NOT NULL,
    per_day INTEGER NOT NULL,
    total INTEGER,
    rules TEXT NOT NULL,
    sealed_seed BLOB NOT NULL,
    seed_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX lotteries_workspace ON lotteries(workspace_id, id);
CREATE TABLE lottery_awards (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    lottery_id INTEGER NOT NULL REFERENCES lotteries(id) ON DELETE CASCADE,
    prize_key TEXT NOT NULL,
    stock INTEGER NOT NULL,
    awarded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (lottery_id, prize_key),
    CHECK (awarded <= stock)
);
CREATE TABLE lottery_players (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    lottery_id INTEGER NOT NULL REFERENCES lotteries(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    draws INTEGER NOT NULL DEFAULT 0,
    day INTEGER NOT NULL DEFAULT 0,
    day_draws INTEGER NOT NULL DEFAULT 0,
    extra INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (lottery_id, customer_id)
);
CREATE TABLE lottery_draws (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    lottery_id INTEGER NOT NULL REFERENCES lotteries(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    prize_key TEXT,
    outcome TEXT NOT NULL,
    drawn_at INTEGER NOT NULL,
    UNIQUE (lottery_id, customer_id, n)
);
CREATE INDEX lottery_draws_customer ON lottery_draws(workspace_id, customer_id);
