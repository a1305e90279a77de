//! Phone numbers: E.164 only (`+` then 8–15 digits, no leading zero), and the channel's address
//! form Twilio expects (`whatsapp:+1…` for WhatsApp).

use std::fmt;
use std::str::FromStr;

/// `+15550100123`: a plus, a non-zero digit, 7–14 more digits.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Whatsapp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
        }
    }

    /// How Twilio addresses `number` on this channel.
    pub fn address(self, number: &str) -> String {
        match self {
            Channel::Sms => number.to_string(),
            Channel::Whatsapp => format!("whatsapp:{number}"),
        }
    }

    /// Splits Twilio's `whatsapp:+1…` / `+1…` into the channel and the bare number.
    pub fn split(address: &str) -> (Channel, &str) {
        match address.strip_prefix("whatsapp:") {
            Some(n) => (Channel::Whatsapp, n),
            None => (Channel::Sms, address),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sms" => Ok(Channel::Sms),
            "whatsapp" => Ok(Channel::Whatsapp),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+15550100123"));
        assert!(is_e164("+442071838750"));
        for bad in [
            "15550100123",
            "+0555010012",
            "+1555",
            "+1555010012345678",
            "+1555-010-0123",
            "",
            "+",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn whatsapp_addresses() {
        assert_eq!(
            Channel::Whatsapp.address("+15550100123"),
            "whatsapp:+15550100123"
        );
        assert_eq!(
            Channel::split("whatsapp:+15550100123"),
            (Channel::Whatsapp, "+15550100123")
        );
        assert_eq!(
            Channel::split("+15550100123"),
            (Channel::Sms, "+15550100123")
        );
    }
}
