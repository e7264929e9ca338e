-- Coupons (siyu_domain::campaigns): templates with the count issued (the stock is a condition on
-- it), coupons (a code is derived from the id, so none is stored), each customer's claims per
-- template, and bulk issues to a segment with their members, cursor and lease.
CREATE TABLE coupon_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    benefit TEXT NOT NULL,
    min_spend_fen INTEGER NOT NULL,
    stock INTEGER,
    issued INTEGER NOT NULL DEFAULT 0,
    per_customer INTEGER NOT NULL,
    valid_from INTEGER,
    valid_until INTEGER,
    valid_days INTEGER,
    channels TEXT NOT NULL,
    stores TEXT NOT NULL,
    claimable INTEGER NOT NULL,
    remind_days INTEGER,
    created_at INTEGER NOT NULL,
    CHECK (stock IS NULL OR issued <= stock)
);
CREATE INDEX coupon_templates_workspace ON coupon_templates(workspace_id, id);
CREATE TABLE coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    template_id INTEGER NOT NULL REFERENCES coupon_templates(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    remind_at INTEGER,
    redeemed_at INTEGER,
    order_id TEXT,
    order_amount_fen INTEGER,
    discount_fen INTEGER
);
CREATE INDEX coupons_customer ON coupons(workspace_id, customer_id);
CREATE INDEX coupons_template ON coupons(workspace_id, template_id, status);
CREATE UNIQUE INDEX coupons_order ON coupons(workspace_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX coupons_expiry ON coupons(valid_until) WHERE status = 'issued';
CREATE INDEX coupons_reminder ON coupons(remind_at) WHERE remind_at IS NOT NULL;
CREATE TABLE coupon_holders (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    template_id INTEGER NOT NULL REFERENCES coupon_templates(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    held INTEGER NOT NULL,
    PRIMARY KEY (template_id, customer_id)
);
CREATE TABLE coupon_issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    template_id INTEGER NOT NULL REFERENCES coupon_templates(id) ON DELETE CASCADE,
    segment TEXT NOT NULL,
    members BLOB NOT NULL,
    total INTEGER NOT NULL,
    issued INTEGER NOT NULL DEFAULT 0,
    after_customer INTEGER NOT NULL DEFAULT -1,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    leased_by TEXT,
    lease_until INTEGER
);
CREATE INDEX coupon_issues_running ON coupon_issues(id) WHERE status = 'running';
-- Refusals of customers' actions, counted in memory and added here by the campaigns' upkeep.
CREATE TABLE campaign_refusals (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    activity TEXT NOT NULL,
    activity_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, activity, activity_id, reason)
);
