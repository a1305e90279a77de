//! An org's Twilio account: verified against Twilio before anything is stored (a wrong
//! credential stores nothing), secrets sealed with the org as associated data, never returned.

use chrono::Utc;
use tenancy::OrgId;

use super::{API_SECRET_PURPOSE, AUTH_TOKEN_PURPOSE, CoreError, open_text};
use crate::clients::twilio::{Credentials, VerifyError};
use crate::domain::phone::is_e164;
use crate::state::AppState;
use crate::store::accounts::{self, AccountRow};

/// What an admin submits.
#[derive(Debug, Clone)]
pub struct AccountInput {
    pub account_sid: String,
    pub auth_token: String,
    pub api_key_sid: Option<String>,
    pub api_key_secret: Option<String>,
    pub from_number: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub whatsapp_from: Option<String>,
}

fn sid_ok(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn validate(i: &AccountInput) -> Result<(), CoreError> {
    if !sid_ok(&i.account_sid, "AC") {
        return Err(CoreError::invalid(
            "invalid_field",
            "account_sid",
            "account_sid is AC followed by 32 hex digits",
        ));
    }
    if i.auth_token.trim().len() < 16 || i.auth_token.len() > 128 {
        return Err(CoreError::invalid(
            "invalid_field",
            "auth_token",
            "auth_token is required (it verifies Twilio's webhook signatures)",
        ));
    }
    match (&i.api_key_sid, &i.api_key_secret) {
        (None, None) => {}
        (Some(k), Some(s)) => {
            if !sid_ok(k, "SK") {
                return Err(CoreError::invalid(
                    "invalid_field",
                    "api_key_sid",
                    "api_key_sid is SK followed by 32 hex digits",
                ));
            }
            if s.len() < 16 || s.len() > 128 {
                return Err(CoreError::invalid(
                    "invalid_field",
                    "api_key_secret",
                    "api_key_secret looks wrong",
                ));
            }
        }
        _ => {
            return Err(CoreError::invalid(
                "invalid_field",
                "api_key_sid",
                "api_key_sid and api_key_secret go together",
            ));
        }
    }
    if let Some(f) = &i.from_number
        && !is_e164(f)
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "from_number",
            "from_number must be E.164, e.g. +15550100123",
        ));
    }
    if let Some(m) = &i.messaging_service_sid
        && !sid_ok(m, "MG")
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "messaging_service_sid",
            "messaging_service_sid is MG followed by 32 hex digits",
        ));
    }
    if i.from_number.is_none() && i.messaging_service_sid.is_none() {
        return Err(CoreError::invalid(
            "invalid_field",
            "from_number",
            "give a from_number or a messaging_service_sid",
        ));
    }
    if let Some(w) = &i.whatsapp_from
        && !is_e164(w)
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "whatsapp_from",
            "whatsapp_from must be E.164 (without the whatsapp: prefix)",
        ));
    }
    Ok(())
}

/// Verifies with Twilio, then stores. The auth token is always checked (webhook signatures need
/// it); an API key, when given, is checked too and is what sends use.
pub async fn put(st: &AppState, org: OrgId, i: AccountInput) -> Result<AccountRow, CoreError> {
    validate(&i)?;
    let mut checks = vec![Credentials {
        account_sid: i.account_sid.clone(),
        username: i.account_sid.clone(),
        password: i.auth_token.clone(),
    }];
    if let (Some(k), Some(s)) = (&i.api_key_sid, &i.api_key_secret) {
        checks.push(Credentials {
            account_sid: i.account_sid.clone(),
            username: k.clone(),
            password: s.clone(),
        });
    }
    for (n, c) in checks.iter().enumerate() {
        match st.twilio.verify(c).await {
            Ok(()) => {}
            Err(VerifyError::Rejected(status)) => {
                let which = if n == 0 { "auth token" } else { "API key" };
                return Err(CoreError::CredentialsRejected(format!(
                    "the {which} was refused with HTTP {status}"
                )));
            }
            Err(VerifyError::Unavailable(e)) => return Err(CoreError::TwilioUnavailable(e)),
        }
    }
    let token = st
        .keys
        .encrypt(org.as_uuid(), AUTH_TOKEN_PURPOSE, i.auth_token.as_bytes())?;
    let secret = i
        .api_key_secret
        .as_ref()
        .map(|s| {
            st.keys
                .encrypt(org.as_uuid(), API_SECRET_PURPOSE, s.as_bytes())
        })
        .transpose()?;
    let now = Utc::now();
    let row = AccountRow {
        org_id: org.as_uuid(),
        account_sid: i.account_sid,
        auth_token_key_id: token.key_id,
        auth_token_sealed: token.ciphertext,
        api_key_sid: i.api_key_sid,
        api_key_secret_key_id: secret.as_ref().map(|s| s.key_id.clone()),
        api_key_secret_sealed: secret.map(|s| s.ciphertext),
        from_number: i.from_number,
        messaging_service_sid: i.messaging_service_sid,
        whatsapp_from: i.whatsapp_from,
        verified_at: now,
        created_at: now,
        updated_at: now,
    };
    let stored = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move { accounts::upsert(tx, &row).await.map_err(CoreError::from) })
        })
        .await?;
    tracing::info!(org = %org, api_key = stored.api_key_sid.is_some(), "twilio account verified and stored");
    Ok(stored)
}

pub async fn get(st: &AppState, org: OrgId) -> Result<AccountRow, CoreError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move { accounts::find(tx, org).await.map_err(CoreError::from) })
        })
        .await?
        .ok_or(CoreError::NotFound("twilio account"))
}

pub async fn delete(st: &AppState, org: OrgId) -> Result<(), CoreError> {
    let gone = st
        .db
        .tenant_tx(org, |tx| {
            Box::pin(async move { accounts::delete(tx, org).await.map_err(CoreError::from) })
        })
        .await?;
    if gone {
        Ok(())
    } else {
        Err(CoreError::NotFound("twilio account"))
    }
}

/// The credentials sends use (the API key when there is one) and the auth token (signatures).
pub struct Opened {
    pub rest: Credentials,
    pub auth_token: String,
}

pub fn open(st: &AppState, org: OrgId, row: &AccountRow) -> Result<Opened, CoreError> {
    let auth_token = open_text(
        &st.keys,
        org,
        AUTH_TOKEN_PURPOSE,
        &row.auth_token_key_id,
        &row.auth_token_sealed,
    )?;
    let rest = match (
        &row.api_key_sid,
        &row.api_key_secret_key_id,
        &row.api_key_secret_sealed,
    ) {
        (Some(k), Some(kid), Some(ct)) => Credentials {
            account_sid: row.account_sid.clone(),
            username: k.clone(),
            password: open_text(&st.keys, org, API_SECRET_PURPOSE, kid, ct)?,
        },
        _ => Credentials {
            account_sid: row.account_sid.clone(),
            username: row.account_sid.clone(),
            password: auth_token.clone(),
        },
    };
    Ok(Opened { rest, auth_token })
}
