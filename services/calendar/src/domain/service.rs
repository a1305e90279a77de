//! A bookable service of the catalog and its validation rules.

use servicekit::ApiError;

/// A validated new catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub active: bool,
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
    ) -> Result<Self, ApiError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("name"),
                "name must be 1 to 200 characters",
            ));
        }
        let description = description.unwrap_or("").trim();
        if description.chars().count() > 2000 {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("description"),
                "description must be at most 2000 characters",
            ));
        }
        if !(5..=1440).contains(&duration_minutes) {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("duration_minutes"),
                "duration_minutes must be between 5 and 1440",
            ));
        }
        let price_cents = price_cents.unwrap_or(0);
        if price_cents < 0 {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("price_cents"),
                "price_cents cannot be negative",
            ));
        }
        let currency = currency.unwrap_or("USD").trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ApiError::invalid(
                "invalid_field",
                Some("currency"),
                "currency must be an ISO 4217 code such as USD",
            ));
        }
        let check_buffer = |v: Option<i32>, field: &'static str| {
            let v = v.unwrap_or(0);
            if (0..=240).contains(&v) {
                Ok(v)
            } else {
                Err(ApiError::invalid(
                    "invalid_field",
                    Some(field),
                    format!("{field} must be between 0 and 240"),
                ))
            }
        };
        Ok(NewService {
            name: name.to_string(),
            description: description.to_string(),
            duration_minutes,
            price_cents,
            currency,
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
        assert_eq!(s.buffer_after_minutes, 10);
        assert!(s.active);
    }

    #[test]
    fn each_rule_names_its_field() {
        let field = |r: Result<NewService, ApiError>| {
            r.unwrap_err().problem()["field"]
                .as_str()
                .unwrap()
                .to_string()
        };
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
}
