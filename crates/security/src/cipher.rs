//! AES-256-GCM encryption at rest with named, rotatable keys.

use crate::encoding::unhex;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use brokerage_domain::InfraError;
use brokerage_domain::crypto::SecretCipher;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const EPHEMERAL_KID: &str = "ephemeral";

/// The keys of an [`AesGcmCipher`]: each a key id and 32 bytes written as 64 hex characters.
#[derive(Debug, Clone)]
pub struct CipherKeys {
    /// Seals new values.
    pub current: (String, SecretString),
    /// Still open values sealed before a rotation (until they are all sealed again).
    pub previous: Vec<(String, SecretString)>,
}

/// AES-256-GCM with a fresh random 96-bit nonce per value. A sealed value reads
/// `"<key id>:<base64url(nonce || ciphertext || tag)>"`; the key id is also authenticated
/// (as associated data), so a value cannot be relabelled to another key.
pub struct AesGcmCipher {
    /// The current key first, then the previous ones.
    keys: Vec<(String, Aes256Gcm)>,
}

impl fmt::Debug for AesGcmCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_struct("AesGcmCipher").field("key_ids", &kids).finish_non_exhaustive()
    }
}

impl AesGcmCipher {
    /// Checks every key: 64 hex characters, a non-empty unique key id without `:`.
    pub fn new(keys: &CipherKeys) -> anyhow::Result<Self> {
        let mut cipher = Self { keys: Vec::with_capacity(1 + keys.previous.len()) };
        for (kid, key) in std::iter::once(&keys.current).chain(&keys.previous) {
            anyhow::ensure!(!kid.is_empty(), "secret cipher key ids must not be empty");
            anyhow::ensure!(!kid.contains(':'), "secret cipher key id {kid:?} must not contain ':'");
            anyhow::ensure!(cipher.keys.iter().all(|(k, _)| k != kid), "secret cipher key id {kid:?} is used twice");
            let hex = key.expose_secret();
            let bytes = (hex.len() == KEY_BYTES * 2).then(|| unhex(hex)).flatten();
            let Some(mut bytes) = bytes else {
                anyhow::bail!("secret cipher key {kid:?} must be {} hex characters ({KEY_BYTES} bytes)", KEY_BYTES * 2);
            };
            let aes = Aes256Gcm::new_from_slice(&bytes);
            bytes.zeroize();
            let aes = aes.map_err(|_| anyhow::anyhow!("secret cipher key {kid:?} has the wrong length"))?;
            cipher.keys.push((kid.clone(), aes));
        }
        Ok(cipher)
    }

    /// A random key that lives as long as the process, for the in-memory demo mode only:
    /// what it seals cannot be opened after a restart.
    pub fn ephemeral() -> anyhow::Result<Self> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
        let aes = Aes256Gcm::new_from_slice(&key);
        key.zeroize();
        let aes = aes.map_err(|_| anyhow::anyhow!("ephemeral key has the wrong length"))?;
        Ok(Self { keys: vec![(EPHEMERAL_KID.to_owned(), aes)] })
    }

    fn current(&self) -> Result<&(String, Aes256Gcm), InfraError> {
        self.keys.first().ok_or_else(|| failure("no current key"))
    }
}

/// An error whose message says what went wrong without any key or plaintext material.
fn failure(what: &str) -> InfraError {
    InfraError::Unknown(anyhow::anyhow!("secret cipher: {what}"))
}

impl SecretCipher for AesGcmCipher {
    fn seal(&self, plaintext: &[u8]) -> Result<String, InfraError> {
        let (kid, aes) = self.current()?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|_| failure("the OS random number generator failed"))?;
        let sealed = aes
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: kid.as_bytes() })
            .map_err(|_| failure("encryption failed"))?;
        let mut payload = Vec::with_capacity(NONCE_BYTES + sealed.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&sealed);
        Ok(format!("{kid}:{}", URL_SAFE_NO_PAD.encode(payload)))
    }

    fn open(&self, sealed: &str) -> Result<Vec<u8>, InfraError> {
        let (kid, encoded) = sealed.split_once(':').ok_or_else(|| failure("value has no key id"))?;
        let (kid, aes) =
            self.keys.iter().find(|(k, _)| k == kid).ok_or_else(|| failure("value names an unknown key id"))?;
        let payload = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| failure("value is not valid base64url"))?;
        if payload.len() < NONCE_BYTES + TAG_BYTES {
            return Err(failure("value is too short"));
        }
        let (nonce, ciphertext) = payload.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| failure("value is too short"))?;
        aes.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: kid.as_bytes() })
            .map_err(|_| failure("value failed authentication (tampered, or sealed by another key)"))
    }

    fn is_stale(&self, sealed: &str) -> bool {
        let current = self.keys.first().map(|(kid, _)| kid.as_str());
        sealed.split_once(':').map(|(kid, _)| kid) != current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1F1E1D1C1B1A191817161514131211100F0E0D0C0B0A09080706050403020100";

    fn key(kid: &str, hex: &str) -> (String, SecretString) {
        (kid.to_owned(), SecretString::from(hex.to_owned()))
    }

    fn cipher(current: (&str, &str), previous: &[(&str, &str)]) -> anyhow::Result<AesGcmCipher> {
        AesGcmCipher::new(&CipherKeys {
            current: key(current.0, current.1),
            previous: previous.iter().map(|(k, h)| key(k, h)).collect(),
        })
    }

    #[test]
    fn a_sealed_value_opens_to_the_plaintext() {
        let c = cipher(("k1", K1), &[]).expect("valid");
        for plaintext in [&b""[..], b"x", b"JBSWY3DPEHPK3PXP-a-totp-secret", &[0u8; 1000]] {
            let sealed = c.seal(plaintext).expect("sealed");
            assert!(sealed.starts_with("k1:"));
            assert_eq!(c.open(&sealed).expect("opened"), plaintext);
            assert!(!c.is_stale(&sealed));
        }
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let c = cipher(("k1", K1), &[]).expect("valid");
        assert_ne!(c.seal(b"same secret").expect("sealed"), c.seal(b"same secret").expect("sealed"));
    }

    #[test]
    fn the_plaintext_does_not_appear_in_the_sealed_value() {
        let c = cipher(("k1", K1), &[]).expect("valid");
        let plaintext = "my-api-secret-do-not-leak";
        let sealed = c.seal(plaintext.as_bytes()).expect("sealed");
        assert!(!sealed.contains(plaintext));
        assert!(!sealed.contains(&URL_SAFE_NO_PAD.encode(plaintext)));
    }

    #[test]
    fn tampering_with_any_byte_is_detected() {
        let c = cipher(("k1", K1), &[]).expect("valid");
        let sealed = c.seal(b"secret").expect("sealed");
        let (kid, encoded) = sealed.split_once(':').expect("kid");
        let payload = URL_SAFE_NO_PAD.decode(encoded).expect("base64");
        for i in 0..payload.len() {
            let mut bad = payload.clone();
            bad[i] ^= 0x01;
            let err = c.open(&format!("{kid}:{}", URL_SAFE_NO_PAD.encode(&bad))).expect_err("tampered");
            assert!(matches!(err, InfraError::Unknown(_)), "byte {i}");
        }
    }

    #[test]
    fn a_previous_key_still_opens_and_marks_the_value_stale() {
        let old = cipher(("k1", K1), &[]).expect("valid");
        let sealed = old.seal(b"rotate me").expect("sealed");
        let rotated = cipher(("k2", K2), &[("k1", K1)]).expect("valid");
        assert_eq!(rotated.open(&sealed).expect("opened"), b"rotate me");
        assert!(rotated.is_stale(&sealed));
        let resealed = rotated.seal(b"rotate me").expect("sealed");
        assert!(resealed.starts_with("k2:") && !rotated.is_stale(&resealed));
        assert!(old.open(&resealed).is_err(), "k2 is unknown to the old cipher");
    }

    #[test]
    fn a_value_relabelled_to_another_key_id_does_not_open() {
        // Same key material under two ids: the id is authenticated, so relabelling fails.
        let c = cipher(("k2", K1), &[("k1", K1)]).expect("valid");
        let sealed = c.seal(b"secret").expect("sealed");
        let relabelled = sealed.replacen("k2:", "k1:", 1);
        assert!(c.open(&relabelled).is_err());
    }

    #[test]
    fn malformed_or_foreign_values_are_errors_without_secrets_in_the_message() {
        let c = cipher(("k1", K1), &[]).expect("valid");
        let sealed = c.seal(b"hunter2-plaintext").expect("sealed");
        let (_, encoded) = sealed.split_once(':').expect("kid");
        let unknown_kid = format!("k9:{encoded}");
        let short = format!("k1:{}", URL_SAFE_NO_PAD.encode([0u8; NONCE_BYTES + TAG_BYTES - 1]));
        for bad in [unknown_kid.as_str(), "no-colon", "k1:***not base64***", "k1:", short.as_str(), ""] {
            let err = c.open(bad).expect_err(bad);
            let InfraError::Unknown(cause) = err else { panic!("{bad:?}: not Unknown") };
            let message = format!("{cause:#}");
            assert!(message.starts_with("secret cipher: "), "{message}");
            for leak in [K1, "hunter2", encoded] {
                assert!(!message.contains(leak), "{message}");
            }
        }
        assert!(c.is_stale(&unknown_kid));
        assert!(c.is_stale("no-colon"));
    }

    #[test]
    fn invalid_key_sets_are_refused_at_start_up() {
        assert!(cipher(("k1", &K1[..62]), &[]).is_err(), "too short");
        assert!(cipher(("k1", &format!("{K1}00")), &[]).is_err(), "too long");
        assert!(cipher(("k1", &K1.replace('0', "g")), &[]).is_err(), "not hex");
        assert!(cipher(("", K1), &[]).is_err(), "empty kid");
        assert!(cipher(("a:b", K1), &[]).is_err(), "kid with ':'");
        assert!(cipher(("k1", K1), &[("k1", K2)]).is_err(), "duplicate kid");
        let err = cipher(("k1", K1), &[("k2", "00")]).expect_err("short previous key");
        assert!(!err.to_string().contains("00\""), "the key itself is not echoed: {err}");
        assert!(cipher(("k1", K1), &[("k2", K2)]).is_ok());
    }

    #[test]
    fn ephemeral_ciphers_round_trip_and_differ_from_each_other() {
        let a = AesGcmCipher::ephemeral().expect("random key");
        let b = AesGcmCipher::ephemeral().expect("random key");
        let sealed = a.seal(b"demo").expect("sealed");
        assert!(sealed.starts_with("ephemeral:"));
        assert_eq!(a.open(&sealed).expect("opened"), b"demo");
        assert!(b.open(&sealed).is_err(), "each process has its own key");
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let c = cipher(("k1", K1), &[("k0", K2)]).expect("valid");
        let shown = format!("{c:?}");
        assert!(shown.contains("k1") && shown.contains("k0"));
        assert!(!shown.contains(K1) && !shown.contains(K2));
    }
}
