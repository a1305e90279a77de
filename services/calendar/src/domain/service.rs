//! A bookable service of the catalog and its validation rules.

use super::invalid::InvalidField;

/// A validated new catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    /// `None`: the clinic's default buffer (`default_buffer_before_minutes`) applies.
    pub buffer_before_minutes: Option<i32>,
    /// `None`: the clinic's default buffer (`default_buffer_after_minutes`) applies.
    pub buffer_after_minutes: Option<i32>,
    pub active: bool,
}

/// A validated partial update: `None` leaves a field as it is. Buffers take a second level:
/// `Some(None)` hands the buffer back to the clinic's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub duration_minutes: Option<i32>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub buffer_before_minutes: Option<Option<i32>>,
    pub buffer_after_minutes: Option<Option<i32>>,
    pub active: Option<bool>,
}

fn check_name(name: &str) -> Result<String, InvalidField> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(InvalidField::new(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    Ok(name.to_string())
}

fn check_description(d: &str) -> Result<String, InvalidField> {
    let d = d.trim();
    if d.chars().count() > 2000 {
        return Err(InvalidField::new(
            "description",
            "description must be at most 2000 characters",
        ));
    }
    Ok(d.to_string())
}

fn check_duration(m: i32) -> Result<i32, InvalidField> {
    if !(5..=1440).contains(&m) {
        return Err(InvalidField::new(
            "duration_minutes",
            "duration_minutes must be between 5 and 1440",
        ));
    }
    Ok(m)
}

fn check_price(p: i64) -> Result<i64, InvalidField> {
    if p < 0 {
        return Err(InvalidField::new(
            "price_cents",
            "price_cents cannot be negative",
        ));
    }
    Ok(p)
}

fn check_currency(c: &str) -> Result<String, InvalidField> {
    let c = c.trim().to_ascii_uppercase();
    if c.len() != 3 || !c.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(InvalidField::new(
            "currency",
            "currency must be an ISO 4217 code such as USD",
        ));
    }
    Ok(c)
}

fn check_buffer(v: Option<i32>, field: &'static str) -> Result<Option<i32>, InvalidField> {
    match v {
        Some(v) if !(0..=240).contains(&v) => Err(InvalidField::new(
            field,
            format!("{field} must be between 0 and 240"),
        )),
        other => Ok(other),
    }
}

impl ServicePatch {
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        name: Option<&str>,
        description: Option<&str>,
        duration_minutes: Option<i32>,
        price_cents: Option<i64>,
        currency: Option<&str>,
        buffer_before_minutes: Option<Option<i32>>,
        buffer_after_minutes: Option<Option<i32>>,
        active: Option<bool>,
    ) -> Result<Self, InvalidField> {
        let patch = ServicePatch {
            name: name.map(check_name).transpose()?,
            description: description.map(check_description).transpose()?,
            duration_minutes: duration_minutes.map(check_duration).transpose()?,
            price_cents: price_cents.map(check_price).transpose()?,
            currency: currency.map(check_currency).transpose()?,
            buffer_before_minutes: buffer_before_minutes
                .map(|v| check_buffer(v, "buffer_before_minutes"))
                .transpose()?,
            buffer_after_minutes: buffer_after_minutes
                .map(|v| check_buffer(v, "buffer_after_minutes"))
                .transpose()?,
            active,
        };
        if patch == ServicePatch::default() {
            return Err(InvalidField::new(
                "body",
                "send at least one field to change",
            ));
        }
        Ok(patch)
    }
}

impl NewService {
    #[allow(clippy::too_many_arguments)]
    pub fn validate(
        name: &str,
        description: Option<&str>,
        duration_minutes: i32,
        price_cents: Option<i64>,
        currency: Option<&str>,
        buffer_before_minutes: Option<i32>,
        buffer_after_minutes: Option<i32>,
        active: Option<bool>,
    ) -> Result<Self, InvalidField> {
        let price_cents = check_price(price_cents.unwrap_or(0))?;
        Ok(NewService {
            name: check_name(name)?,
            description: check_description(description.unwrap_or(""))?,
            duration_minutes: check_duration(duration_minutes)?,
            price_cents,
            currency: check_currency(currency.unwrap_or("USD"))?,
            buffer_before_minutes: check_buffer(buffer_before_minutes, "buffer_before_minutes")?,
            buffer_after_minutes: check_buffer(buffer_after_minutes, "buffer_after_minutes")?,
            active: active.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_normalisation() {
        let s = NewService::validate(
            "  Cleaning ",
            None,
            30,
            None,
            Some("eur"),
            None,
            Some(10),
            None,
        )
        .unwrap();
        assert_eq!(s.name, "Cleaning");
        assert_eq!(s.currency, "EUR");
        assert_eq!(s.price_cents, 0);
        assert_eq!(s.buffer_after_minutes, Some(10));
        assert_eq!(s.buffer_before_minutes, None);
        assert!(s.active);
    }

    #[test]
    fn each_rule_names_its_field() {
        let field = |r: Result<NewService, InvalidField>| r.unwrap_err().field;
        assert_eq!(
            field(NewService::validate(
                "", None, 30, None, None, None, None, None
            )),
            "name"
        );
        assert_eq!(
            field(NewService::validate(
                "x", None, 4, None, None, None, None, None
            )),
            "duration_minutes"
        );
        assert_eq!(
            field(NewService::validate(
                "x",
                None,
                30,
                Some(-1),
                None,
                None,
                None,
                None
            )),
            "price_cents"
        );
        assert_eq!(
            field(NewService::validate(
                "x",
                None,
                30,
                None,
                Some("dollars"),
                None,
                None,
                None
            )),
            "currency"
        );
        assert_eq!(
            field(NewService::validate(
                "x",
                None,
                30,
                None,
                None,
                Some(241),
                None,
                None
            )),
            "buffer_before_minutes"
        );
    }

    #[test]
    fn a_patch_validates_what_it_changes_and_refuses_an_empty_body() {
        let none = || ServicePatch::validate(None, None, None, None, None, None, None, None);
        assert_eq!(none().unwrap_err().field, "body");
        let p = ServicePatch::validate(
            Some(" Deep clean "),
            None,
            Some(45),
            None,
            None,
            Some(None),
            Some(Some(15)),
            None,
        )
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("Deep clean"));
        assert_eq!(p.buffer_before_minutes, Some(None));
        assert_eq!(p.buffer_after_minutes, Some(Some(15)));
        let field = |r: Result<ServicePatch, InvalidField>| r.unwrap_err().field;
        assert_eq!(
            field(ServicePatch::validate(
                Some(" "),
                None,
                None,
                None,
                None,
                None,
                None,
                None
            )),
            "name"
        );
        assert_eq!(
            field(ServicePatch::validate(
                None,
                None,
                Some(2000),
                None,
                None,
                None,
                None,
                None
            )),
            "duration_minutes"
        );
        assert_eq!(
            field(ServicePatch::validate(
                None,
                None,
                None,
                None,
                None,
                None,
                Some(Some(-1)),
                None
            )),
            "buffer_after_minutes"
        );
    }
}
