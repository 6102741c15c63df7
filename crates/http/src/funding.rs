//! The funding provider's incoming webhook (`POST /api/v1/webhooks/funding`): no bearer token;
//! the provider proves itself with `X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." +
//! body)>`, checked on the raw bytes BEFORE the body is parsed, in constant time, within a
//! tolerance of the timestamp (replays of an old capture are refused; a replay within the
//! window credits nothing twice: each `event_id` is credited once).

use brokerage_domain::Clock;
use brokerage_domain::crypto::Signatures;
use std::sync::Arc;

/// The header the provider signs with.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// How far a signature's timestamp may be from our clock, either way.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// The shared secret and the means to check signatures made with it.
#[derive(Clone)]
pub struct FundingWebhook {
    secret: Arc<[u8]>,
    signatures: Arc<dyn Signatures>,
    clock: Arc<dyn Clock>,
    tolerance_secs: u64,
}

impl std::fmt::Debug for FundingWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FundingWebhook")
            .field("secret", &"<redacted>")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

impl FundingWebhook {
    pub fn new(secret: &[u8], signatures: Arc<dyn Signatures>, clock: Arc<dyn Clock>) -> Self {
        Self { secret: Arc::from(secret), signatures, clock, tolerance_secs: DEFAULT_TOLERANCE_SECS }
    }

    #[must_use]
    pub fn with_tolerance_secs(mut self, secs: u64) -> Self {
        self.tolerance_secs = secs;
        self
    }

    /// Checks `header` (the `X-Signature` value) against the raw `body`. The error says why,
    /// for the logs only.
    pub fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<(), &'static str> {
        let header = header.ok_or("no X-Signature header")?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (key, value) = part.trim().split_once('=').ok_or("malformed X-Signature")?;
            match key.trim() {
                "t" if timestamp.is_none() => timestamp = Some(value.trim()),
                "t" => return Err("two timestamps in X-Signature"),
                "v1" => signatures.push(value.trim()),
                // Other schemes (a future v2) are ignored, as the format allows.
                _ => {}
            }
        }
        let raw_t = timestamp.ok_or("no timestamp in X-Signature")?;
        if signatures.is_empty() {
            return Err("no v1 signature in X-Signature");
        }
        let t: i64 = raw_t.parse().map_err(|_| "malformed timestamp in X-Signature")?;
        let skew = self.clock.now().timestamp().checked_sub(t).map(i64::unsigned_abs);
        if skew.is_none_or(|s| s > self.tolerance_secs) {
            return Err("timestamp outside the tolerance");
        }
        let mut message = Vec::with_capacity(raw_t.len() + 1 + body.len());
        message.extend_from_slice(raw_t.as_bytes());
        message.push(b'.');
        message.extend_from_slice(body);
        // Each candidate is compared in constant time (the port's contract).
        if signatures.iter().any(|s| self.signatures.verify(&self.secret, &message, s)) {
            Ok(())
        } else {
            Err("signature mismatch")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokerage_domain::crypto::MockSignatures;
    use chrono::{DateTime, TimeZone, Utc};

    struct Fixed(DateTime<Utc>);
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    /// A fake HMAC: "sig(<secret>|<message>)".
    fn hook(now: i64) -> FundingWebhook {
        let mut signatures = MockSignatures::new();
        signatures.expect_verify().returning(|secret, message, sig| {
            sig == format!("{}|{}", String::from_utf8_lossy(secret), String::from_utf8_lossy(message))
        });
        FundingWebhook::new(
            b"s3cret",
            Arc::new(signatures),
            Arc::new(Fixed(Utc.timestamp_opt(now, 0).single().expect("valid"))),
        )
    }

    #[test]
    fn a_fresh_signature_over_the_raw_body_is_accepted() {
        let h = hook(1_700_000_100);
        assert_eq!(h.verify(Some("t=1700000000,v1=s3cret|1700000000.{}"), b"{}"), Ok(()));
        assert_eq!(h.verify(Some("t=1700000000, v1=bad, v1=s3cret|1700000000.{}"), b"{}"), Ok(()), "rotation");
    }

    #[test]
    fn missing_malformed_stale_or_wrong_signatures_are_refused() {
        let h = hook(1_700_000_000);
        let sig = "t=1700000000,v1=s3cret|1700000000.{}";
        assert!(h.verify(None, b"{}").is_err());
        assert!(h.verify(Some("garbage"), b"{}").is_err());
        assert!(h.verify(Some("t=1700000000"), b"{}").is_err());
        assert!(h.verify(Some("v1=s3cret|1700000000.{}"), b"{}").is_err());
        assert!(h.verify(Some(sig), b"{ }").is_err(), "tampered body");
        assert!(hook(1_700_000_301).verify(Some(sig), b"{}").is_err(), "stale");
        assert!(hook(1_699_999_699).verify(Some(sig), b"{}").is_err(), "from the future");
        assert!(hook(1_700_000_300).verify(Some(sig), b"{}").is_ok(), "at the edge");
        assert!(h.verify(Some("t=-9223372036854775808,v1=x"), b"{}").is_err(), "no overflow");
    }
}
