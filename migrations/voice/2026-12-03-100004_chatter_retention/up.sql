-- Message types voice does not act on (speech-update, conversation-update, model-output,
-- voice-input, transcript, …) are no longer requested; the ones that still arrive are logged as
-- applied (or unknown_tenant) and deleted after VOICE_CHATTER_RETENTION_HOURS by the retention worker, which finds
-- them through this index. The list is `domain::message::ACTED_ON`.
CREATE INDEX webhook_deliveries_chatter ON webhook_deliveries (received_at)
    WHERE outcome IN ('applied', 'unknown_tenant') AND message_type NOT IN ('assistant-request', 'tool-calls',
        'transfer-destination-request', 'knowledge-base-request', 'handoff-destination-request',
        'function-call', 'status-update', 'end-of-call-report', 'hang');
