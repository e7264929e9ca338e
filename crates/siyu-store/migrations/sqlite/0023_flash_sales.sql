-- Flash sales (siyu_domain::campaigns): the sale with its stock and the units taken, each buyer's
-- count of units held (the per-customer limit is a condition on it), and the orders, each holding
-- a unit until it is paid or released; unpaid ones are found by when they must be paid.
CREATE TABLE flash_sales (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    price_fen INTEGER NOT NULL,
    stock INTEGER NOT NULL,
    sold INTEGER NOT NULL DEFAULT 0,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    per_customer INTEGER NOT NULL,
    segment TEXT,
    pay_minutes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    refused_sold_out INTEGER NOT NULL DEFAULT 0,
    refused_limit INTEGER NOT NULL DEFAULT 0,
    refused_not_eligible INTEGER NOT NULL DEFAULT 0,
    refused_closed INTEGER NOT NULL DEFAULT 0,
    refused_rate_limited INTEGER NOT NULL DEFAULT 0,
    CHECK (sold >= 0 AND sold <= stock)
);
CREATE INDEX flash_sales_workspace ON flash_sales(workspace_id, id);
CREATE TABLE flash_buyers (
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    sale_id INTEGER NOT NULL REFERENCES flash_sales(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    bought INTEGER NOT NULL,
    PRIMARY KEY (sale_id, customer_id),
    CHECK (bought >= 0)
);
CREATE TABLE flash_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    sale_id INTEGER NOT NULL REFERENCES flash_sales(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    pay_by INTEGER NOT NULL,
    settled_at INTEGER,
    payment_ref TEXT
);
CREATE INDEX flash_orders_sale ON flash_orders(workspace_id, sale_id, id);
CREATE INDEX flash_orders_customer ON flash_orders(workspace_id, customer_id);
CREATE INDEX flash_orders_unpaid ON flash_orders(pay_by) WHERE status = 'reserved';
