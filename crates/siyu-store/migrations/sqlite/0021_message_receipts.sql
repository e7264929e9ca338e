-- A provider's delivery receipt names the message by the id the provider gave it when it was sent:
-- found by channel and that id.
CREATE INDEX messages_provider ON messages(workspace_id, channel, provider_id) WHERE provider_id IS NOT NULL;
