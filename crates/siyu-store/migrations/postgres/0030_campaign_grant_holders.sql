-- The customer each automation's grant was for (siyu_domain::campaigns), so an erasure deletes
-- the grants with the rest of the customer's campaign data (grants written before have none).
ALTER TABLE campaign_grants ADD COLUMN customer_id BIGINT;
CREATE INDEX campaign_grants_customer ON campaign_grants(workspace_id, customer_id);
