//! Templates per org: listed (the org's own, else the defaults), replaced after validation, and
//! previewed with variables and the SMS segment count.

use std::collections::BTreeMap;

use tenancy::OrgId;

use super::CoreError;
use crate::domain::template::{self, Segments};
use crate::state::AppState;
use crate::store::templates::{self, TemplateRow};

pub async fn list(st: &AppState, org: OrgId) -> Result<Vec<TemplateRow>, CoreError> {
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move { templates::list(tx, org).await.map_err(CoreError::from) })
        })
        .await
}

pub async fn put(
    st: &AppState,
    org: OrgId,
    key: String,
    channel: String,
    body: String,
    content_sid: Option<String>,
) -> Result<TemplateRow, CoreError> {
    if !(1..=64).contains(&key.len())
        || !key.starts_with(|c: char| c.is_ascii_lowercase())
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "key",
            "key is lower-case letters, digits and _",
        ));
    }
    if channel != "sms" && channel != "whatsapp" {
        return Err(CoreError::invalid(
            "invalid_field",
            "channel",
            "channel is sms or whatsapp",
        ));
    }
    if let Some(c) = &content_sid
        && !(c.len() == 34 && c.starts_with("HX"))
    {
        return Err(CoreError::invalid(
            "invalid_field",
            "content_sid",
            "content_sid is HX followed by 32 characters",
        ));
    }
    template::validate(&body)?;
    st.db
        .tenant_tx(org, |tx| {
            Box::pin(async move {
                templates::upsert(tx, org, &key, &channel, &body, content_sid.as_deref())
                    .await
                    .map_err(CoreError::from)
            })
        })
        .await
}

pub struct Preview {
    pub text: String,
    pub segments: Segments,
    pub variables: Vec<String>,
}

pub fn preview(body: &str, values: &BTreeMap<String, String>) -> Result<Preview, CoreError> {
    template::validate(body)?;
    for k in values.keys() {
        if !template::VARIABLES.contains(&k.as_str()) {
            return Err(CoreError::invalid(
                "invalid_field",
                "variables",
                format!("unknown variable {k}"),
            ));
        }
    }
    let text = template::render(body, values)?;
    Ok(Preview {
        segments: template::segments(&text),
        variables: template::variables(body)?,
        text,
    })
}
