//! Random opaque tokens, their SHA-256 digests, and HMAC-SHA-256 request signatures.

use crate::encoding::{hex, os_random_or_abort, unhex};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use brokerage_domain::crypto::{Signatures, TokenDigests};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 output, and so HMAC-SHA-256 tag, length in bytes.
const SHA256_BYTES: usize = 32;

/// Tokens from the OS CSPRNG (URL-safe base64, no padding) and their SHA-256 hex digests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Digests;

impl Digests {
    pub fn new() -> Self {
        Self
    }
}

impl TokenDigests for Digests {
    fn random_token(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        os_random_or_abort(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    fn digest(&self, token: &str) -> String {
        hex(&Sha256::digest(token.as_bytes()))
    }
}

/// HMAC-SHA-256, lower-case hex, verified in constant time.
#[derive(Debug, Clone, Copy, Default)]
pub struct HmacSigner;

impl HmacSigner {
    pub fn new() -> Self {
        Self
    }
}

fn mac(secret: &[u8], message: &[u8]) -> Option<Hmac<Sha256>> {
    // HMAC accepts keys of any length (longer ones are hashed), so this is always `Some`.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(message);
    Some(mac)
}

impl Signatures for HmacSigner {
    fn sign(&self, secret: &[u8], message: &[u8]) -> String {
        // The `None` arm cannot happen (see `mac`); an empty string never verifies.
        mac(secret, message).map(|m| hex(&m.finalize().into_bytes())).unwrap_or_default()
    }

    /// Hex of either case is accepted (the domain lower-cases signatures before using them
    /// as replay nonces); anything but exactly 64 hex characters is `false`.
    fn verify(&self, secret: &[u8], message: &[u8], signature_hex: &str) -> bool {
        if signature_hex.len() != SHA256_BYTES * 2 {
            return false;
        }
        let Some(tag) = unhex(signature_hex) else { return false };
        mac(secret, message).is_some_and(|m| m.verify_slice(&tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    const JEFE_TAG: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn rfc_4231_test_case_2() {
        let s = HmacSigner::new();
        assert_eq!(s.sign(b"Jefe", b"what do ya want for nothing?"), JEFE_TAG);
        assert!(s.verify(b"Jefe", b"what do ya want for nothing?", JEFE_TAG));
        assert!(s.verify(b"Jefe", b"what do ya want for nothing?", &JEFE_TAG.to_ascii_uppercase()));
    }

    #[test]
    fn rfc_4231_test_case_6_key_longer_than_a_block() {
        let key = [0xaa_u8; 131];
        assert_eq!(
            HmacSigner::new().sign(&key, b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn wrong_secrets_messages_or_signatures_do_not_verify() {
        let s = HmacSigner::new();
        let msg = b"what do ya want for nothing?";
        assert!(!s.verify(b"jefe", msg, JEFE_TAG), "other secret");
        assert!(!s.verify(b"Jefe", b"what do ya want for nothing!", JEFE_TAG), "other message");
        let mut flipped = JEFE_TAG.to_owned();
        flipped.replace_range(63..64, "2");
        assert!(!s.verify(b"Jefe", msg, &flipped), "one nibble off");
    }

    #[test]
    fn malformed_signatures_are_false() {
        let s = HmacSigner::new();
        let msg = b"what do ya want for nothing?";
        for bad in [
            "",
            &JEFE_TAG[..62],
            &JEFE_TAG[..63],
            &format!("{JEFE_TAG}00"),
            &format!("{}zz", &JEFE_TAG[..62]),
            &format!(" {}", &JEFE_TAG[1..]),
            &JEFE_TAG[..32],
        ] {
            assert!(!s.verify(b"Jefe", msg, bad), "{bad:?}");
        }
    }

    #[test]
    fn digest_is_sha256_hex() {
        let d = Digests::new();
        assert_eq!(d.digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(d.digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn random_tokens_are_url_safe_unpadded_and_unique() {
        let d = Digests::new();
        let a = d.random_token(32);
        assert_eq!(a.len(), 43, "32 bytes are 43 base64 characters without padding");
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_ne!(a, d.random_token(32));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|b| b.len()).ok(), Some(32));
        assert_eq!(d.random_token(0), "");
    }
}
