-- Each customer's key for their events in the log (wrapped by the workspace's data key): the log
-- seals an event's ids, properties and context under it, so deleting the customer's row makes every
-- copy of those events unreadable (crypto-shredding). Given on a customer's first event.
ALTER TABLE customers ADD COLUMN event_key BLOB;
