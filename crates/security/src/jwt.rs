use brokerage_domain::users::{AccessToken, Role, TokenError, TokenIssuer};
use brokerage_domain::{AccountId, Credential, InfraError, Principal, SessionId, UserId};
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use uuid::Uuid;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: i64 = 30;
/// A 256-bit HMAC key needs at least 32 bytes of secret.
const MIN_SECRET_BYTES: usize = 32;

/// An HMAC key and the id (`kid` header) that names it.
#[derive(Debug, Clone)]
pub struct JwtKey {
    pub kid: String,
    pub secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// Signs new tokens.
    pub current: JwtKey,
    /// Still verify tokens issued before a rotation (until they expire).
    pub previous: Vec<JwtKey>,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    acct: Uuid,
    role: String,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: Uuid,
    /// The login session; the token dies with it.
    sid: Uuid,
    /// Token use; only `access` tokens authenticate API calls.
    typ: String,
}

/// HS256 access tokens with the algorithm pinned and `iss`, `aud`, `exp`, `nbf` checked
/// against the service clock.
pub struct JwtIssuer {
    kid: String,
    encoding: EncodingKey,
    /// Every accepted key by id: the current one and those rotated out.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
    /// Tokens verified lately, by their exact text (see [`Verified`]).
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

/// What verifying a token established: its signature, issuer, audience, type and claims
/// never change, so the same text verifies the same way until its time claims say
/// otherwise. Every request of a session sends the same token; a repeat costs a lookup and
/// the clock checks instead of two base64 decodes, two JSON parses and an HMAC.
/// Only tokens that verified are kept, so garbage cannot fill the map.
#[derive(Debug, Clone, Copy)]
struct Verified {
    principal: Principal,
    nbf: i64,
    exp: i64,
}

/// Verified tokens kept at most; the map starts over when full (a few hundred kB).
const VERIFIED_CAPACITY: usize = 4096;

impl Verified {
    /// The checks that depend on the clock, as at first verification.
    fn at(&self, now: i64) -> Result<Principal, TokenError> {
        if self.nbf > now + LEEWAY_SECONDS {
            return Err(TokenError::Invalid);
        }
        if self.exp <= now - LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        Ok(self.principal)
    }
}

impl JwtIssuer {
    pub fn new(config: &JwtConfig) -> anyhow::Result<Self> {
        let mut decoding = Vec::new();
        for key in std::iter::once(&config.current).chain(&config.previous) {
            let secret = key.secret.expose_secret().as_bytes();
            anyhow::ensure!(
                secret.len() >= MIN_SECRET_BYTES,
                "JWT key {:?} must be at least {MIN_SECRET_BYTES} bytes",
                key.kid
            );
            anyhow::ensure!(
                !key.kid.is_empty() && decoding.iter().all(|(k, _)| k != &key.kid),
                "JWT key ids must be unique and non-empty"
            );
            decoding.push((key.kid.clone(), DecodingKey::from_secret(secret)));
        }
        anyhow::ensure!(
            config.ttl_seconds > 0 && config.ttl_seconds <= 900,
            "access tokens must live 1 to 900 seconds"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Time claims are checked against the service's clock below, not the library's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Self {
            kid: config.current.kid.clone(),
            encoding: EncodingKey::from_secret(config.current.secret.expose_secret().as_bytes()),
            decoding,
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_seconds: config.ttl_seconds,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Checks signature, key id, issuer, audience, type and role: everything but the clock.
    fn verify_text(&self, token: &str) -> Result<Verified, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let (_, key) = self.decoding.iter().find(|(k, _)| *k == kid).ok_or(TokenError::Invalid)?;
        let data = decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let c = data.claims;
        if c.typ != "access" {
            return Err(TokenError::Invalid);
        }
        let role = Role::parse(&c.role).ok_or(TokenError::Invalid)?;
        let principal = Principal {
            user_id: UserId::from_uuid(c.sub),
            account_id: AccountId::from_uuid(c.acct),
            role,
            credential: Credential::Session(SessionId::from_uuid(c.sid)),
        };
        Ok(Verified { principal, nbf: c.nbf, exp: c.exp })
    }

    fn remembered(&self, token: &str) -> Option<Verified> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner).get(token).copied()
    }

    fn remember(&self, token: &str, verified: Verified) {
        let mut map = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= VERIFIED_CAPACITY {
            map.clear();
        }
        map.insert(token.into(), verified);
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(&self, principal: &Principal, now: DateTime<Utc>) -> Result<AccessToken, InfraError> {
        let session = principal
            .session()
            .ok_or_else(|| InfraError::Unknown(anyhow::anyhow!("access tokens are only issued for sessions")))?;
        let iat = now.timestamp();
        let ttl = i64::try_from(self.ttl_seconds).map_err(|e| InfraError::Unknown(e.into()))?;
        let claims = Claims {
            sub: *principal.user_id.as_uuid(),
            acct: *principal.account_id.as_uuid(),
            role: principal.role.as_str().to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            nbf: iat,
            exp: iat + ttl,
            jti: Uuid::now_v7(),
            sid: *session.as_uuid(),
            typ: "access".to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token = encode(&header, &claims, &self.encoding)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("jwt encoding failed: {e}")))?;
        Ok(AccessToken { token, expires_in_seconds: self.ttl_seconds })
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, TokenError> {
        let verified = match self.remembered(token) {
            Some(verified) => verified,
            None => {
                let verified = self.verify_text(token)?;
                self.remember(token, verified);
                verified
            }
        };
        verified.at(now.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn key(kid: &str, secret: &str) -> JwtKey {
        JwtKey { kid: kid.into(), secret: SecretString::from(secret.to_owned()) }
    }

    fn config(secret: &str) -> JwtConfig {
        JwtConfig {
            current: key("k1", secret),
            previous: Vec::new(),
            issuer: "brokerage".into(),
            audience: "brokerage-api".into(),
            ttl_seconds: 900,
        }
    }

    fn issuer() -> JwtIssuer {
        JwtIssuer::new(&config("0123456789abcdef0123456789abcdef")).expect("valid config")
    }

    fn principal() -> Principal {
        Principal::for_tests(Role::Customer)
    }

    #[test]
    fn tokens_of_a_rotated_out_key_still_verify_until_the_key_is_dropped() {
        let now = Utc::now();
        let old = issuer().issue(&principal(), now).expect("issued");
        let mut rotated = config("a-brand-new-secret-of-at-least-32-bytes");
        rotated.current.kid = "k2".into();
        rotated.previous = vec![key("k1", "0123456789abcdef0123456789abcdef")];
        let rotated = JwtIssuer::new(&rotated).expect("valid");
        assert!(rotated.verify(&old.token, now).is_ok(), "previous key accepted");
        let fresh = rotated.issue(&principal(), now).expect("issued");
        assert_eq!(issuer().verify(&fresh.token, now), Err(TokenError::Invalid), "unknown kid");
        let mut dropped = config("a-brand-new-secret-of-at-least-32-bytes");
        dropped.current.kid = "k2".into();
        assert_eq!(JwtIssuer::new(&dropped).expect("valid").verify(&old.token, now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_signed_with_another_algorithm_is_refused_even_with_the_right_key() {
        let now = Utc::now();
        let good = issuer().issue(&principal(), now).expect("issued");
        let claims = decode::<Claims>(&good.token, &DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef"), &{
            let mut v = Validation::new(Algorithm::HS256);
            v.validate_exp = false;
            v.validate_aud = false;
            v
        })
        .expect("decodes")
        .claims;
        let mut header = Header::new(Algorithm::HS384);
        header.kid = Some("k1".into());
        let hs384 =
            encode(&header, &claims, &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef")).expect("encodes");
        assert_eq!(issuer().verify(&hs384, now), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let now = Utc::now();
        let t = issuer().issue(&principal(), now).expect("issued");
        let mut other = config("0123456789abcdef0123456789abcdef");
        other.audience = "someone-else".into();
        assert_eq!(JwtIssuer::new(&other).expect("valid").verify(&t.token, now), Err(TokenError::Invalid));
        let mut other = config("0123456789abcdef0123456789abcdef");
        other.issuer = "someone-else".into();
        assert_eq!(JwtIssuer::new(&other).expect("valid").verify(&t.token, now), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_round_trips_to_the_same_principal() {
        let now = Utc::now();
        let p = principal();
        let t = issuer().issue(&p, now).expect("issued");
        assert_eq!(t.expires_in_seconds, 900);
        assert_eq!(issuer().verify(&t.token, now), Ok(p));
    }

    #[test]
    fn expiry_is_checked_against_the_service_clock() {
        let now = Utc::now();
        let t = issuer().issue(&principal(), now).expect("issued");
        assert!(issuer().verify(&t.token, now + Duration::seconds(900 + 29)).is_ok(), "within leeway");
        assert_eq!(issuer().verify(&t.token, now + Duration::seconds(900 + 31)), Err(TokenError::Expired));
        assert_eq!(issuer().verify(&t.token, now - Duration::seconds(31)), Err(TokenError::Invalid), "not yet valid");
    }

    #[test]
    fn a_remembered_token_is_still_held_to_the_clock_and_its_exact_text() {
        let now = Utc::now();
        let (issuer, p) = (issuer(), principal());
        let t = issuer.issue(&p, now).expect("issued");
        assert_eq!(issuer.verify(&t.token, now), Ok(p));
        assert_eq!(issuer.verify(&t.token, now + Duration::seconds(900 + 31)), Err(TokenError::Expired));
        assert_eq!(issuer.verify(&t.token, now - Duration::seconds(31)), Err(TokenError::Invalid), "not yet valid");
        assert_eq!(issuer.verify(&t.token, now), Ok(p));
        let mut tampered = t.token.clone();
        let last = tampered.pop().expect("a signature");
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(issuer.verify(&tampered, now), Err(TokenError::Invalid), "another text is verified afresh");
        let other = issuer.issue(&Principal { role: Role::Admin, ..p }, now).expect("issued");
        assert_eq!(issuer.verify(&other.token, now).map(|p| p.role), Ok(Role::Admin));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let now = Utc::now();
        let t = issuer().issue(&principal(), now).expect("issued");
        let other = JwtIssuer::new(&config("another-secret-of-at-least-32-bytes!")).expect("valid");
        assert_eq!(other.verify(&t.token, now), Err(TokenError::Invalid), "wrong key");
        let mut parts: Vec<&str> = t.token.split('.').collect();
        // {"alg":"none","typ":"JWT"}
        parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        assert_eq!(issuer().verify(&format!("{}.{}.", parts[0], parts[1]), now), Err(TokenError::Invalid), "alg none");
        assert_eq!(issuer().verify("not a jwt", now), Err(TokenError::Invalid));
    }

    #[test]
    fn short_secrets_are_refused_at_start_up() {
        assert!(JwtIssuer::new(&config("too short")).is_err());
    }
}
