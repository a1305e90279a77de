// Diesel table definitions for the `voice` schema (keep in step with migrations/voice;
// `diesel print-schema --schema voice` regenerates it).

diesel::table! {
    org_profiles (org_id) {
        org_id -> Uuid,
        name -> Text,
        timezone -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    agents (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        vapi_assistant_id -> Nullable<Text>,
        settings -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        system_prompt -> Text,
        first_message -> Text,
        voice -> Text,
        language -> Text,
        enabled_tools -> Array<Text>,
        transfer_number -> Nullable<Text>,
        after_hours_message -> Nullable<Text>,
        is_default -> Bool,
    }
}

diesel::table! {
    phone_numbers (id) {
        id -> Uuid,
        org_id -> Uuid,
        number -> Text,
        label -> Text,
        vapi_phone_number_id -> Nullable<Text>,
        agent_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    routes (kind, key) {
        kind -> Text,
        key -> Text,
        org_id -> Uuid,
        phone_number_id -> Nullable<Uuid>,
        agent_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    calls (id) {
        id -> Uuid,
        org_id -> Uuid,
        vapi_call_id -> Text,
        agent_id -> Nullable<Uuid>,
        phone_number_id -> Nullable<Uuid>,
        direction -> Text,
        from_number -> Nullable<Text>,
        to_number -> Nullable<Text>,
        caller_name -> Nullable<Text>,
        status -> Text,
        status_rank -> Int4,
        started_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
        duration_seconds -> Nullable<Int4>,
        ended_reason -> Nullable<Text>,
        cost_usd -> Nullable<Float8>,
        summary -> Nullable<Text>,
        structured_data -> Nullable<Jsonb>,
        success_evaluation -> Nullable<Text>,
        recording_url -> Nullable<Text>,
        booked -> Bool,
        report_received -> Bool,
        started_event_sent -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    call_transcripts (call_id) {
        call_id -> Uuid,
        org_id -> Uuid,
        key_id -> Text,
        ciphertext -> Bytea,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tool_invocations (id) {
        id -> Uuid,
        org_id -> Uuid,
        call_id -> Nullable<Uuid>,
        tool_call_id -> Text,
        name -> Text,
        outcome -> Text,
        result -> Text,
        duration_ms -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    call_messages (id) {
        id -> Uuid,
        org_id -> Uuid,
        call_id -> Nullable<Uuid>,
        callback_number -> Nullable<Text>,
        key_id -> Text,
        ciphertext -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        org_id -> Nullable<Uuid>,
        message_type -> Text,
        vapi_call_id -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        key_id -> Text,
        payload -> Bytea,
        received_at -> Timestamptz,
        outcome -> Text,
        error -> Nullable<Text>,
        attempts -> Int4,
        applied_at -> Nullable<Timestamptz>,
        phone_number_id -> Nullable<Uuid>,
        agent_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    vapi_tools (name) {
        name -> Text,
        vapi_tool_id -> Text,
        definition -> Jsonb,
        synced_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_secrets (org_id) {
        org_id -> Uuid,
        key_id -> Text,
        ciphertext -> Bytea,
        previous_key_id -> Nullable<Text>,
        previous_ciphertext -> Nullable<Bytea>,
        previous_valid_until -> Nullable<Timestamptz>,
        rotated_at -> Timestamptz,
    }
}
