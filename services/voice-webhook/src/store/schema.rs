// @generated automatically by Diesel CLI.

pub mod voice {
    diesel::table! {
        voice.agents (id) {
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
        voice.call_messages (id) {
            id -> Uuid,
            org_id -> Uuid,
            call_id -> Nullable<Uuid>,
            callback_number -> Nullable<Text>,
            key_id -> Text,
            ciphertext -> Bytea,
            created_at -> Timestamptz,
            handled_at -> Nullable<Timestamptz>,
            handled_by -> Nullable<Uuid>,
        }
    }

    diesel::table! {
        voice.call_transcripts (call_id) {
            call_id -> Uuid,
            org_id -> Uuid,
            key_id -> Text,
            ciphertext -> Bytea,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.calls (id) {
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
        voice.knowledge_changes (id) {
            id -> Uuid,
            org_id -> Uuid,
            actor_user_id -> Uuid,
            actor_role -> Text,
            action -> Text,
            document_id -> Nullable<Uuid>,
            title -> Nullable<Text>,
            changed_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.knowledge_documents (id) {
            id -> Uuid,
            org_id -> Uuid,
            kind -> Text,
            system_key -> Nullable<Text>,
            title -> Text,
            body -> Text,
            tags -> Array<Nullable<Text>>,
            active -> Bool,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.knowledge_settings (org_id) {
            org_id -> Uuid,
            language -> Text,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.org_profiles (org_id) {
            org_id -> Uuid,
            name -> Text,
            timezone -> Text,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            weekly_hours -> Nullable<Jsonb>,
            date_overrides -> Nullable<Jsonb>,
            clinic_synced_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        voice.phi_access_log (id) {
            id -> Uuid,
            org_id -> Uuid,
            actor_user_id -> Uuid,
            actor_role -> Text,
            session_id -> Nullable<Uuid>,
            resource_type -> Text,
            resource_id -> Uuid,
            call_id -> Nullable<Uuid>,
            action -> Text,
            accessed_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.phone_numbers (id) {
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
        voice.routes (kind, key) {
            kind -> Text,
            key -> Text,
            org_id -> Uuid,
            phone_number_id -> Nullable<Uuid>,
            agent_id -> Nullable<Uuid>,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.tool_invocations (id) {
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
        voice.vapi_credentials (name) {
            name -> Text,
            vapi_credential_id -> Text,
            fingerprint -> Text,
            synced_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.vapi_tools (name) {
            name -> Text,
            vapi_tool_id -> Text,
            definition -> Jsonb,
            synced_at -> Timestamptz,
        }
    }

    diesel::table! {
        voice.webhook_deliveries (id) {
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
        voice.webhook_secrets (org_id) {
            org_id -> Uuid,
            key_id -> Text,
            ciphertext -> Bytea,
            previous_key_id -> Nullable<Text>,
            previous_ciphertext -> Nullable<Bytea>,
            previous_valid_until -> Nullable<Timestamptz>,
            rotated_at -> Timestamptz,
        }
    }

    diesel::joinable!(call_messages -> calls (call_id));
    diesel::joinable!(call_transcripts -> calls (call_id));
    diesel::joinable!(phone_numbers -> agents (agent_id));
    diesel::joinable!(tool_invocations -> calls (call_id));

    diesel::allow_tables_to_appear_in_same_query!(
        agents,
        call_messages,
        call_transcripts,
        calls,
        knowledge_changes,
        knowledge_documents,
        knowledge_settings,
        org_profiles,
        phi_access_log,
        phone_numbers,
        routes,
        tool_invocations,
        vapi_credentials,
        vapi_tools,
        webhook_deliveries,
        webhook_secrets,
    );
}
