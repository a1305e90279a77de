// @generated automatically by Diesel CLI.

pub mod auth {
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
        auth.inbox (consumer, event_id) {
            consumer -> Text,
            event_id -> Uuid,
            org_id -> Uuid,
            event_type -> Text,
            processed_at -> Timestamptz,
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
            deletion_scheduled_at -> Nullable<Timestamptz>,
            deletes_at -> Nullable<Timestamptz>,
            deletion_requested_by -> Nullable<Uuid>,
            share_member_login_failures -> Bool,
        }
    }

    diesel::table! {
        auth.outbox (id) {
            id -> Int8,
            event_id -> Uuid,
            org_id -> Uuid,
            event_type -> Text,
            payload -> Jsonb,
            traceparent -> Nullable<Text>,
            created_at -> Timestamptz,
            published_at -> Nullable<Timestamptz>,
            attempts -> Int4,
            next_attempt_at -> Timestamptz,
            last_error -> Nullable<Text>,
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
        auth.session_orgs (session_id, org_id) {
            session_id -> Uuid,
            org_id -> Uuid,
            left_at -> Timestamptz,
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
        auth.user_security_events (id) {
            id -> Uuid,
            user_id -> Uuid,
            action -> Text,
            metadata -> Jsonb,
            ip -> Nullable<Text>,
            user_agent -> Nullable<Text>,
            created_at -> Timestamptz,
        }
    }

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
            user_metadata -> Jsonb,
        }
    }

    diesel::joinable!(email_tokens -> users (user_id));
    diesel::joinable!(flag_overrides -> feature_flags (key));
    diesel::joinable!(flag_overrides -> organizations (org_id));
    diesel::joinable!(flag_overrides -> users (updated_by));
    diesel::joinable!(identities -> users (user_id));
    diesel::joinable!(invitations -> organizations (org_id));
    diesel::joinable!(memberships -> organizations (org_id));
    diesel::joinable!(memberships -> users (user_id));
    diesel::joinable!(mfa_challenges -> mfa_factors (factor_id));
    diesel::joinable!(mfa_challenges -> sessions (session_id));
    diesel::joinable!(mfa_factors -> users (user_id));
    diesel::joinable!(organizations -> users (created_by));
    diesel::joinable!(recovery_codes -> users (user_id));
    diesel::joinable!(session_orgs -> organizations (org_id));
    diesel::joinable!(session_orgs -> sessions (session_id));
    diesel::joinable!(sessions -> organizations (org_id));
    diesel::joinable!(sessions -> users (user_id));
    diesel::joinable!(user_security_events -> users (user_id));

    diesel::allow_tables_to_appear_in_same_query!(
        audit_log,
        email_tokens,
        feature_flags,
        flag_overrides,
        identities,
        inbox,
        invitations,
        mail_outbox,
        memberships,
        mfa_challenges,
        mfa_factors,
        organizations,
        outbox,
        recovery_codes,
        session_orgs,
        sessions,
        signing_keys,
        user_security_events,
        users,
    );
}
