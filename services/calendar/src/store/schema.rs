// Diesel table definitions for the `calendar` schema (keep in step with migrations/calendar;
// `diesel print-schema --schema calendar` regenerates it).

diesel::table! {
    services (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        description -> Text,
        duration_minutes -> Int4,
        price_cents -> Int8,
        currency -> Bpchar,
        buffer_before_minutes -> Int4,
        buffer_after_minutes -> Int4,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}
