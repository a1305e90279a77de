-- Fire-and-forget webhooks are answered once logged and applied by background workers
-- (ADR 0007): the log row keeps the route the request resolved (our phone number and its agent),
-- and the workers find what is waiting through a partial index.
ALTER TABLE webhook_deliveries
    ADD COLUMN phone_number_id uuid,
    ADD COLUMN agent_id uuid;
CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries (received_at)
    WHERE outcome = 'received';
