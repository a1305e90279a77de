DROP INDEX webhook_deliveries_waiting;
ALTER TABLE webhook_deliveries
    DROP COLUMN agent_id,
    DROP COLUMN phone_number_id;
