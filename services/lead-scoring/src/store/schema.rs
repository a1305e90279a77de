// @generated automatically by Diesel CLI.

pub mod leads {
    diesel::table! {
        leads.call_intents (org_id, call_id) {
            org_id -> Uuid,
            call_id -> Uuid,
            intent -> Nullable<Text>,
            outcome -> Text,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        leads.classify_queue (id) {
            id -> Int8,
            org_id -> Uuid,
            call_id -> Uuid,
            attempts -> Int4,
            next_at -> Timestamptz,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        leads.contacts (id) {
            id -> Uuid,
            org_id -> Uuid,
            phone_e164 -> Text,
            name -> Nullable<Text>,
            email -> Nullable<Text>,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            first_contact_at -> Nullable<Timestamptz>,
            last_contact_at -> Nullable<Timestamptz>,
            calls_count -> Int4,
            appointments_booked -> Int4,
            appointments_kept -> Int4,
            appointments_no_show -> Int4,
            appointments_cancelled -> Int4,
            messages_count -> Int4,
            opted_out_at -> Nullable<Timestamptz>,
            stage -> Text,
            stage_source -> Text,
            stage_changed_at -> Timestamptz,
            score -> Nullable<Int2>,
            tier -> Nullable<Text>,
            next_action -> Nullable<Text>,
            model_version -> Nullable<Text>,
            scored_at -> Nullable<Timestamptz>,
        }
    }

    diesel::table! {
        leads.lead_events (org_id, event_id) {
            org_id -> Uuid,
            event_id -> Uuid,
            contact_id -> Uuid,
            event_type -> Text,
            occurred_at -> Timestamptz,
            payload -> Jsonb,
            received_at -> Timestamptz,
        }
    }

    diesel::table! {
        leads.lead_notes (id) {
            id -> Uuid,
            org_id -> Uuid,
            contact_id -> Uuid,
            author_id -> Uuid,
            body -> Text,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        leads.lead_scores (id) {
            id -> Uuid,
            org_id -> Uuid,
            contact_id -> Uuid,
            score -> Int2,
            tier -> Text,
            next_action -> Text,
            model_version -> Text,
            features -> Jsonb,
            reasons -> Jsonb,
            cause -> Text,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        leads.lead_stage_history (id) {
            id -> Uuid,
            org_id -> Uuid,
            contact_id -> Uuid,
            from_stage -> Nullable<Text>,
            to_stage -> Text,
            source -> Text,
            actor -> Text,
            reason -> Text,
            created_at -> Timestamptz,
        }
    }

    diesel::table! {
        leads.org_profile (org_id) {
            org_id -> Uuid,
            timezone -> Text,
            seen_at -> Timestamptz,
        }
    }

    diesel::joinable!(lead_events -> contacts (contact_id));
    diesel::joinable!(lead_notes -> contacts (contact_id));
    diesel::joinable!(lead_scores -> contacts (contact_id));
    diesel::joinable!(lead_stage_history -> contacts (contact_id));

    diesel::allow_tables_to_appear_in_same_query!(
        call_intents,
        classify_queue,
        contacts,
        lead_events,
        lead_notes,
        lead_scores,
        lead_stage_history,
        org_profile,
    );
}
