DROP TABLE vapi_tools;
DROP TABLE webhook_deliveries;
DROP TABLE call_messages;
DROP TABLE tool_invocations;
DROP TABLE call_transcripts;
DROP TABLE calls;
DROP TABLE routes;
DROP TABLE phone_numbers;
DROP INDEX agents_one_default;
ALTER TABLE agents
    DROP COLUMN system_prompt, DROP COLUMN first_message, DROP COLUMN voice, DROP COLUMN language,
    DROP COLUMN enabled_tools, DROP COLUMN transfer_number, DROP COLUMN after_hours_message,
    DROP COLUMN is_default;
DROP TABLE org_profiles;
