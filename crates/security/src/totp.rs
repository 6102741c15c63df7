//! RFC 6238 time-based one-time passwords: HMAC-SHA-1, 6 digits, 30-second steps, one step
//! of clock skew either way.

use crate::encoding::{base32, constant_time_eq, os_random_or_abort, percent_encode};
use brokerage_domain::crypto::OneTimeCodes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

const ISSUER: &str = "Brokerage";
const DIGITS: u32 = 6;
const STEP_SECONDS: i64 = 30;
/// Steps accepted before and after the current one.
const SKEW_STEPS: i64 = 1;
/// RFC 4226 §4: at least 128 bits, 160 bits recommended.
const SECRET_BYTES: usize = 20;

/// TOTP as authenticator apps (Google Authenticator, Aegis, 1Password…) implement it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totp;

impl Totp {
    pub fn new() -> Self {
        Self
    }

    /// The code an authenticator app shows at `at` for a secret as displayed to users
    /// (base32): for tests and operator tools. `None` for a secret that is not base32.
    pub fn code_for(display_secret: &str, at: DateTime<Utc>) -> Option<String> {
        let secret = crate::encoding::unbase32(display_secret)?;
        code_at(&secret, u64::try_from(at.timestamp().div_euclid(STEP_SECONDS)).ok()?, DIGITS)
    }
}

/// The RFC 4226 HOTP value of `secret` at `counter` with `digits` digits, zero-padded.
/// `None` only for an unsupported `digits` (1 to 9 work).
pub(crate) fn code_at(secret: &[u8], counter: u64, digits: u32) -> Option<String> {
    if !(1..=9).contains(&digits) {
        return None;
    }
    // HMAC takes keys of any length, so this never fails.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    // Dynamic truncation (RFC 4226 §5.3).
    let offset = usize::from(hash.last()? & 0x0f);
    let window: [u8; 4] = hash.get(offset..offset + 4)?.try_into().ok()?;
    let binary = u32::from_be_bytes(window) & 0x7fff_ffff;
    let code = binary % 10u32.pow(digits);
    Some(format!("{code:0width$}", width = usize::try_from(digits).ok()?))
}

impl OneTimeCodes for Totp {
    fn new_secret(&self) -> Vec<u8> {
        let mut secret = vec![0u8; SECRET_BYTES];
        os_random_or_abort(&mut secret);
        secret
    }

    fn display_secret(&self, secret: &[u8]) -> String {
        base32(secret)
    }

    fn provisioning_uri(&self, secret: &[u8], account_name: &str) -> String {
        format!(
            "otpauth://totp/{ISSUER}:{account}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            account = percent_encode(account_name),
            secret = base32(secret),
        )
    }

    fn matching_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
        let wanted = code.as_bytes();
        if wanted.len() != 6 || !wanted.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let current = now.timestamp().div_euclid(STEP_SECONDS);
        // Every candidate is computed and compared, match or not, so the time taken does not
        // tell which step (if any) matched. The latest matching step wins: spending it also
        // spends the earlier ones for replay protection.
        let mut found = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            let Ok(counter) = u64::try_from(step) else { continue };
            let Some(expected) = code_at(secret, counter, DIGITS) else { continue };
            if constant_time_eq(expected.as_bytes(), wanted) {
                found = Some(step);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_for_reads_the_displayed_secret_and_matches() {
        let totp = Totp::new();
        let secret = totp.new_secret();
        let now = Utc::now();
        let code = Totp::code_for(&totp.display_secret(&secret), now).expect("base32");
        assert!(totp.matching_step(&secret, &code, now).is_some());
        assert_eq!(Totp::code_for("not base32!", now), None);
    }
    use chrono::TimeZone;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).single().expect("valid timestamp")
    }

    fn code(unix: i64) -> String {
        code_at(RFC_SECRET, u64::try_from(unix / 30).expect("positive"), 6).expect("code")
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        for (unix, expected) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = u64::try_from(unix / 30).expect("positive");
            assert_eq!(code_at(RFC_SECRET, step, 8).as_deref(), Some(expected), "T = {unix}");
            // Six digits are the last six of the same truncated value.
            assert_eq!(code_at(RFC_SECRET, step, 6).as_deref(), Some(&expected[2..]), "T = {unix}");
        }
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_vectors() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, want) in (0u64..).zip(expected) {
            assert_eq!(code_at(RFC_SECRET, counter, 6).as_deref(), Some(want), "counter {counter}");
        }
        assert_eq!(code_at(RFC_SECRET, 0, 0), None);
        assert_eq!(code_at(RFC_SECRET, 0, 10), None);
    }

    #[test]
    fn the_current_step_and_one_either_side_are_accepted() {
        let totp = Totp::new();
        let now = 1_111_111_111_i64;
        let step = now / 30;
        assert_eq!(totp.matching_step(RFC_SECRET, &code(now), at(now)), Some(step));
        assert_eq!(totp.matching_step(RFC_SECRET, &code(now - 30), at(now)), Some(step - 1));
        assert_eq!(totp.matching_step(RFC_SECRET, &code(now + 30), at(now)), Some(step + 1));
    }

    #[test]
    fn two_steps_away_is_refused() {
        let totp = Totp::new();
        let now = 1_111_111_111_i64;
        for other in [now - 60, now + 60, now - 90, now + 90] {
            let c = code(other);
            // Guard against a coincidental collision with an accepted step.
            assert!(![now - 30, now, now + 30].iter().any(|t| code(*t) == c));
            assert_eq!(totp.matching_step(RFC_SECRET, &c, at(now)), None, "T = {other}");
        }
    }

    #[test]
    fn codes_must_be_exactly_six_ascii_digits() {
        let totp = Totp::new();
        let now = 59;
        let valid = code(now);
        assert_eq!(totp.matching_step(RFC_SECRET, &valid, at(now)), Some(1));
        for bad in [
            String::new(),
            valid[1..].to_owned(),
            format!("{valid}0"),
            format!(" {valid}"),
            format!("{valid}\n"),
            "28708a".to_owned(),
            "+87082".to_owned(),
            "２８７０８２".to_owned(),
            "94287082".to_owned(),
        ] {
            assert_eq!(totp.matching_step(RFC_SECRET, &bad, at(now)), None, "{bad:?}");
        }
    }

    #[test]
    fn times_before_the_epoch_do_not_underflow() {
        let totp = Totp::new();
        assert_eq!(totp.matching_step(RFC_SECRET, &code(0), at(0)), Some(0));
        assert_eq!(totp.matching_step(RFC_SECRET, "000000", at(-10_000)), None);
        assert_eq!(totp.matching_step(RFC_SECRET, &code(0), at(-1)), Some(0), "step -1 sees step 0");
    }

    #[test]
    fn secrets_are_random_160_bit_values() {
        let totp = Totp::new();
        let (a, b) = (totp.new_secret(), totp.new_secret());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert_eq!(totp.display_secret(&a).len(), 32);
    }

    #[test]
    fn provisioning_uri_has_the_authenticator_fields() {
        let uri = Totp::new().provisioning_uri(RFC_SECRET, "ann+1@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Brokerage:ann%2B1%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Brokerage&algorithm=SHA1&digits=6&period=30"
        );
    }
}
