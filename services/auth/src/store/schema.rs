// The auth schema as diesel sees it (kept by hand beside migrations/auth; the catalog and API
// tests fail when they drift).

diesel::table! {
    auth.users (id) {
        id -> Uuid,
        email -> Text,
        email_normalized -> Text,
        password_hash -> Nullable<Text>,
        display_name -> Nullable<Text>,
        email_verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    auth.organizations (id) {
        id -> Uuid,
        name -> Text,
        timezone -> Text,
        require_mfa -> Bool,
        session_lifetime_secs -> Nullable<Int4>,
        inactivity_timeout_secs -> Nullable<Int4>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.memberships (org_id, user_id) {
        org_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    auth.sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        org_id -> Nullable<Uuid>,
        aal -> Text,
        amr -> Jsonb,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        refresh_counter -> Int8,
        hmac_key -> Bytea,
        hmac_key_id -> Text,
        created_at -> Timestamptz,
        refreshed_at -> Timestamptz,
        not_after -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    auth.signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Bytea,
        enc_key_id -> Text,
        public_key -> Bytea,
        created_at -> Timestamptz,
        retired_at -> Nullable<Timestamptz>,
        publish_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.audit_log (id) {
        id -> Uuid,
        org_id -> Uuid,
        actor_id -> Nullable<Uuid>,
        action -> Text,
        target -> Nullable<Text>,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, organizations, memberships, sessions);

diesel::table! {
    auth.mfa_factors (id) {
        id -> Uuid,
        user_id -> Uuid,
        friendly_name -> Nullable<Text>,
        secret -> Bytea,
        secret_key_id -> Text,
        status -> Text,
        last_used_step -> Nullable<Int8>,
        created_at -> Timestamptz,
        verified_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.mfa_challenges (id) {
        id -> Uuid,
        factor_id -> Uuid,
        session_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        verified_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.recovery_codes (id) {
        id -> Uuid,
        user_id -> Uuid,
        code_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.identities (id) {
        id -> Uuid,
        user_id -> Uuid,
        provider -> Text,
        provider_sub -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.invitations (id) {
        id -> Uuid,
        org_id -> Uuid,
        email -> Text,
        email_normalized -> Text,
        role -> Text,
        token_hash -> Bytea,
        invited_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.email_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        purpose -> Text,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    auth.mail_outbox (id) {
        id -> Uuid,
        to_email -> Text,
        kind -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamptz,
    }
}

diesel::table! {
    auth.feature_flags (key) {
        key -> Text,
        description -> Text,
        default_enabled -> Bool,
        rollout_percent -> Int2,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    auth.flag_overrides (org_id, key) {
        org_id -> Uuid,
        key -> Text,
        enabled -> Bool,
        updated_by -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}
