// @generated automatically by Diesel CLI.

pub mod messaging {
    diesel::table! {
        messaging.appointments (org_id, appointment_id) {
            org_id -> Uuid,
            appointment_id -> Uuid,
            version -> Int8,
            status -> Text,
            starts_at -> Timestamptz,
            phone -> Nullable<Text>,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.message_events (id) {
            id -> Int8,
            org_id -> Uuid,
            message_id -> Uuid,
            status -> Text,
            source -> Text,
            error_code -> Nullable<Text>,
            applied -> Bool,
            at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.messages (id) {
            id -> Uuid,
            org_id -> Uuid,
            direction -> Text,
            channel -> Text,
            kind -> Text,
            to_number -> Text,
            from_number -> Nullable<Text>,
            body_key_id -> Text,
            body_sealed -> Bytea,
            body_sha256 -> Text,
            template_key -> Nullable<Text>,
            content_sid -> Nullable<Text>,
            status -> Text,
            status_rank -> Int4,
            twilio_sid -> Nullable<Text>,
            error_code -> Nullable<Text>,
            error_reason -> Nullable<Text>,
            idempotency_key -> Nullable<Text>,
            request_sha256 -> Nullable<Text>,
            dedupe_key -> Nullable<Text>,
            appointment_id -> Nullable<Uuid>,
            send_at -> Timestamptz,
            attempts -> Int4,
            last_attempt_at -> Nullable<Timestamptz>,
            sent_at -> Nullable<Timestamptz>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.opt_out_audit (id) {
            id -> Int8,
            org_id -> Uuid,
            phone -> Text,
            action -> Text,
            source -> Text,
            keyword -> Nullable<Text>,
            actor_user_id -> Nullable<Uuid>,
            at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.opt_outs (org_id, phone) {
            org_id -> Uuid,
            phone -> Text,
            source -> Text,
            keyword -> Nullable<Text>,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.send_jobs (message_id) {
            message_id -> Uuid,
            org_id -> Uuid,
            due_at -> Timestamptz,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.settings (org_id) {
            org_id -> Uuid,
            clinic_name -> Text,
            timezone -> Text,
            quiet_start -> Time,
            quiet_end -> Time,
            reminder_offsets_minutes -> Array<Nullable<Int4>>,
            missed_call_textback -> Bool,
            staff_numbers -> Array<Nullable<Text>>,
            help_text -> Text,
            twilio_replies_to_keywords -> Bool,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        messaging.templates (id) {
            id -> Uuid,
            org_id -> Uuid,
            key -> Text,
            channel -> Text,
            body -> Text,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            content_sid -> Nullable<Text>,
        }
    }

    diesel::table! {
        messaging.twilio_accounts (org_id) {
            org_id -> Uuid,
            account_sid -> Text,
            auth_token_key_id -> Text,
            auth_token_sealed -> Bytea,
            api_key_sid -> Nullable<Text>,
            api_key_secret_key_id -> Nullable<Text>,
            api_key_secret_sealed -> Nullable<Bytea>,
            from_number -> Nullable<Text>,
            messaging_service_sid -> Nullable<Text>,
            whatsapp_from -> Nullable<Text>,
            verified_at -> Timestamptz,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::joinable!(message_events -> messages (message_id));

    diesel::allow_tables_to_appear_in_same_query!(
        appointments,
        message_events,
        messages,
        opt_out_audit,
        opt_outs,
        send_jobs,
        settings,
        templates,
        twilio_accounts,
    );
}
