//! Criterion micro-benchmark of the per-request authentication hot path: verifying an HS256
//! access token (signature, `kid`, `iss`, `aud`, `exp`, `nbf`, claims → `Principal`), the
//! first time and again (a remembered token: only the clock is checked).
//! Run by `make bench` (scripts/bench/run.sh) with a short measurement time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use brokerage_domain::users::{Role, TokenIssuer as _};
use brokerage_domain::{AccountId, Credential, Principal, SessionId, UserId};
use brokerage_security::{JwtConfig, JwtIssuer, JwtKey};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use uuid::Uuid;

fn issuer() -> JwtIssuer {
    JwtIssuer::new(&JwtConfig {
        current: JwtKey { kid: "k1".into(), secret: "bench-secret-0123456789abcdef0123456789".into() },
        previous: Vec::new(),
        issuer: "brokerage".into(),
        audience: "brokerage-api".into(),
        ttl_seconds: 900,
    })
    .expect("valid JWT config")
}

fn jwt(c: &mut Criterion) {
    let issuer = issuer();
    let principal = Principal {
        user_id: UserId::from_uuid(Uuid::now_v7()),
        account_id: AccountId::from_uuid(Uuid::now_v7()),
        role: Role::Customer,
        credential: Credential::Session(SessionId::from_uuid(Uuid::now_v7())),
    };
    let now = Utc::now();
    let token = issuer.issue(&principal, now).expect("issued").token;

    // A token seen for the first time: twice the verifier's capacity of distinct tokens in
    // turn, so none is remembered when it comes round again.
    let fresh: Vec<String> = (0..8192).map(|_| issuer.issue(&principal, now).expect("issued").token).collect();
    let mut next = fresh.iter().cycle();
    c.bench_function("jwt_verify", |b| {
        b.iter(|| issuer.verify(black_box(next.next().expect("cycle")), black_box(now)).expect("valid token"));
    });
    // The same token again, as every request of a session sends it.
    c.bench_function("jwt_verify_repeat", |b| {
        b.iter(|| issuer.verify(black_box(&token), black_box(now)).expect("valid token"));
    });
    c.bench_function("jwt_issue", |b| {
        b.iter(|| issuer.issue(black_box(&principal), black_box(now)).expect("issued"));
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
