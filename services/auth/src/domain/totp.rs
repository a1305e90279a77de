//! TOTP (RFC 6238) over HMAC (RFC 4226) with ring: SHA1, 6 digits, 30 s steps for app
//! compatibility, ±1 step of skew. The caller stores the matched step and never accepts it (or an
//! older one) again.

use ring::hmac;

pub const DIGITS: u32 = 6;
pub const PERIOD: u64 = 30;
pub const SECRET_LEN: usize = 20; // 160 bits

#[derive(Debug, Clone, Copy)]
pub enum Alg {
    Sha1,
    Sha256,
    Sha512,
}

impl Alg {
    fn ring(self) -> hmac::Algorithm {
        match self {
            Alg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Alg::Sha256 => hmac::HMAC_SHA256,
            Alg::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// HOTP value of `counter` (RFC 4226 §5.3, dynamic truncation).
pub fn hotp(alg: Alg, secret: &[u8], counter: u64, digits: u32) -> String {
    let tag = hmac::sign(&hmac::Key::new(alg.ring(), secret), &counter.to_be_bytes());
    let h = tag.as_ref();
    let o = usize::from(h.last().copied().unwrap_or(0) & 0x0f);
    let mut word = [0u8; 4];
    if let Some(b) = h.get(o..o + 4) {
        word.copy_from_slice(b);
    }
    let bin = u32::from_be_bytes(word) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        bin % 10u32.pow(digits),
        width = usize::try_from(digits).unwrap_or(6)
    )
}

pub fn step_at(unix: u64) -> u64 {
    unix / PERIOD
}

/// The code for the step containing `unix`.
pub fn code_at(secret: &[u8], unix: u64) -> String {
    hotp(Alg::Sha1, secret, step_at(unix), DIGITS)
}

/// The step `code` matches at `unix` (±1 step), compared in constant time per candidate.
pub fn matching_step(secret: &[u8], code: &str, unix: u64) -> Option<u64> {
    let code = code.trim();
    if u32::try_from(code.len()).ok() != Some(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix);
    let mut found = None;
    for step in [now.saturating_sub(1), now, now + 1] {
        let expected = hotp(Alg::Sha1, secret, step, DIGITS);
        if crate::domain::refresh::constant_time_eq(expected.as_bytes(), code.as_bytes())
            && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The Base32 letter of the low 5 bits of `v`.
fn b32_char(v: u32) -> char {
    let i = usize::try_from(v & 31).unwrap_or(0);
    B32.get(i).map(|b| char::from(*b)).unwrap_or('A')
}

/// RFC 4648 Base32 without padding (what authenticator apps expect in `secret=`).
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(b32_char(buf >> (bits - 5)));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(b32_char(buf << (5 - bits)));
    }
    out
}

/// Decodes unpadded (or padded) RFC 4648 Base32, case-insensitively.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for ch in s.trim_end_matches('=').bytes() {
        let v = u32::try_from(B32.iter().position(|&b| b == ch.to_ascii_uppercase())?).ok()?;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push(u8::try_from((buf >> (bits - 8)) & 0xff).ok()?);
            bits -= 8;
        }
        buf &= (1 << bits) - 1;
    }
    Some(out)
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
pub fn uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = issuer.replace(':', " ");
    let account = account.replace(':', " ");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        enc(&issuer),
        enc(&account),
        base32(secret),
        enc(&issuer)
    )
}

/// The provisioning URI as an SVG QR code (at least 200×200).
pub fn qr_svg(uri: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::new(uri.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED1: &[u8] = b"12345678901234567890";
    const SEED256: &[u8] = b"12345678901234567890123456789012";
    const SEED512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let rows: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, s1, s256, s512) in rows {
            assert_eq!(hotp(Alg::Sha1, SEED1, t / 30, 8), s1, "SHA1 at {t}");
            assert_eq!(hotp(Alg::Sha256, SEED256, t / 30, 8), s256, "SHA256 at {t}");
            assert_eq!(hotp(Alg::Sha512, SEED512, t / 30, 8), s512, "SHA512 at {t}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(hotp(Alg::Sha1, SEED1, u64::try_from(i).unwrap(), 6), *w);
        }
    }

    #[test]
    fn skew_is_one_step_either_way() {
        let t = 1_700_000_000;
        let code = code_at(SEED1, t);
        assert_eq!(matching_step(SEED1, &code, t), Some(t / 30));
        assert_eq!(matching_step(SEED1, &code, t + 30), Some(t / 30));
        assert_eq!(matching_step(SEED1, &code, t - 30), Some(t / 30));
        assert_eq!(matching_step(SEED1, &code, t + 90), None);
        assert_eq!(matching_step(SEED1, "12345", t), None);
        assert_eq!(matching_step(SEED1, "abcdef", t), None);
    }

    #[test]
    fn base32_and_uri() {
        assert_eq!(base32(SEED1), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(
            base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap(),
            SEED1
        );
        assert!(base32_decode("not base32!").is_none());
        assert_eq!(
            uri("Cedar Point Physio", "lee@cedarpointphysio.example", SEED1),
            "otpauth://totp/Cedar%20Point%20Physio:lee%40cedarpointphysio.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Cedar%20Point%20Physio&algorithm=SHA1&digits=6&period=30"
        );
    }
}
