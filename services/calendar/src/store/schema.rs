// @generated automatically by Diesel CLI.

pub mod calendar {
    diesel::table! {
        calendar.appointments (id) {
            id -> Uuid,
            org_id -> Uuid,
            service_id -> Uuid,
            service_name -> Text,
            starts_at -> Timestamptz,
            ends_at -> Timestamptz,
            block_start -> Timestamptz,
            block_end -> Timestamptz,
            buffer_before_minutes -> Int4,
            buffer_after_minutes -> Int4,
            status -> Text,
            hold_expires_at -> Nullable<Timestamptz>,
            source -> Text,
            contact_name -> Nullable<Text>,
            contact_phone -> Nullable<Text>,
            contact_email -> Nullable<Text>,
            call_id -> Nullable<Uuid>,
            notes -> Nullable<Text>,
            idempotency_key -> Nullable<Text>,
            request_hash -> Nullable<Text>,
            cancel_reason -> Nullable<Text>,
            cancelled_at -> Nullable<Timestamptz>,
            google_synced_at -> Nullable<Timestamptz>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            version -> Int8,
            provider_id -> Uuid,
            provider_name -> Text,
        }
    }

    diesel::table! {
        calendar.clinic_settings (org_id) {
            org_id -> Uuid,
            timezone -> Text,
            slot_interval_minutes -> Nullable<Int4>,
            min_notice_minutes -> Int4,
            booking_window_days -> Int4,
            default_buffer_before_minutes -> Int4,
            default_buffer_after_minutes -> Int4,
            hold_minutes -> Int4,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        calendar.date_overrides (id) {
            id -> Uuid,
            org_id -> Uuid,
            day -> Date,
            start_minute -> Int4,
            end_minute -> Int4,
        }
    }

    diesel::table! {
        calendar.external_busy (id) {
            id -> Uuid,
            org_id -> Uuid,
            starts_at -> Timestamptz,
            ends_at -> Timestamptz,
            source -> Text,
        }
    }

    diesel::table! {
        calendar.google_busy_refresh (org_id) {
            org_id -> Uuid,
            next_refresh_at -> Timestamptz,
        }
    }

    diesel::table! {
        calendar.google_connections (org_id) {
            org_id -> Uuid,
            status -> Text,
            calendar_id -> Text,
            refresh_token_key_id -> Nullable<Text>,
            refresh_token_sealed -> Nullable<Bytea>,
            connected_by -> Nullable<Uuid>,
            connected_at -> Nullable<Timestamptz>,
            disconnected_at -> Nullable<Timestamptz>,
            last_error -> Nullable<Text>,
            busy_synced_at -> Nullable<Timestamptz>,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        calendar.google_sync_jobs (id) {
            id -> Int8,
            org_id -> Uuid,
            appointment_id -> Uuid,
            attempts -> Int4,
            next_attempt_at -> Timestamptz,
            last_error -> Nullable<Text>,
            created_at -> Timestamptz,
            failed_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        calendar.providers (id) {
            id -> Uuid,
            org_id -> Uuid,
            name -> Text,
            active -> Bool,
            is_default -> Bool,
            weekly_hours -> Nullable<Jsonb>,
            date_overrides -> Jsonb,
            service_ids -> Nullable<Array<Nullable<Uuid>>>,
            google_calendar_id -> Nullable<Text>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
        }
    }

    diesel::table! {
        calendar.services (id) {
            id -> Uuid,
            org_id -> Uuid,
            name -> Text,
            description -> Text,
            duration_minutes -> Int4,
            price_cents -> Int8,
            #[max_length = 3]
            currency -> Bpchar,
            buffer_before_minutes -> Nullable<Int4>,
            buffer_after_minutes -> Nullable<Int4>,
            active -> Bool,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            archived_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        calendar.weekly_hours (id) {
            id -> Uuid,
            org_id -> Uuid,
            weekday -> Int2,
            start_minute -> Int4,
            end_minute -> Int4,
        }
    }

    diesel::allow_tables_to_appear_in_same_query!(
        appointments,
        clinic_settings,
        date_overrides,
        external_busy,
        google_busy_refresh,
        google_connections,
        google_sync_jobs,
        providers,
        services,
        weekly_hours,
    );
}
