//! `Idempotency-Key` (API.md, Conventions) on every POST that creates or moves something
//! ([`IDEMPOTENT_POSTS`]).
//!
//! For such a request from a known caller that carries the header, this middleware:
//! 1. checks the key (1..255 visible ASCII characters, sent once; else 400 `validation_error`
//!    naming `Idempotency-Key`);
//! 2. reads the body (up to the JSON limit) and hands the same bytes on to the handler;
//! 3. claims the key for (user, route) with a SHA-256 fingerprint of method, path and body
//!    ([`IdempotencyService::begin`], one atomic step in the shared store):
//!    - the key's first answer exists → that answer, byte for byte (status, content type,
//!      `Location`, body) with `Idempotent-Replayed: true`;
//!    - the key was used with another body → 422 `idempotency_key_reused`;
//!    - the key's first request is still running → 409 `idempotency_key_in_use`;
//! 4. runs the request and stores its answer when it is final (2xx, and 4xx describing the
//!    request: see [`brokerage_domain::idempotency::is_final`]).
//!
//! A 5xx, a 401/408/429, a request dropped mid-way (client gone, request timeout) or an error
//! escaping the handler RELEASES the key: a retry then runs again. The in-flight hold also
//! expires by itself after `lock_ttl` (an instance that dies mid-request never leaves a key
//! stuck). Consequence to know: a request that committed and then lost its answer (timeout,
//! dropped connection) is run again by a retry with the same key; for orders, a
//! `client_order_id` guards against that duplicate.
//!
//! The caller must be known before the key is looked at, because keys are per user: it runs
//! after [`authorize`](crate::authorize) (which authenticates and checks the permission of
//! every protected route) and [`api_key_auth`](crate::api_key_auth), and uses the caller they
//! found; failing those, a bearer token is checked here with the same session check as the
//! [`Authenticated`](crate::Authenticated) extractor. An unknown caller passes untouched
//! (the handler answers 401). If the store is unreachable, the request is refused
//! (503 `unavailable`): running it without the guarantee could duplicate a money movement.
//!
//! Like `api_key_auth`, no clone of the `HttpRequest` is kept across `next.call` (actix's
//! router needs to be its only owner).

use crate::api_key_auth::{BodyLimit, SignedCaller};
use crate::authorize::AuthorizedCaller;
use crate::errors::ApiError;
use crate::extract::bearer_token;
use crate::state::ApiState;
use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use brokerage_domain::UserId;
use brokerage_domain::idempotency::{
    Attempt, Claim, Fingerprint, IdempotencyKey, IdempotencyScope, IdempotencyService, StoredResponse, is_final,
};
use sha2::{Digest, Sha256};

pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer replayed from the store.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Every POST that creates or moves something: the routes that honour `Idempotency-Key`.
/// A new creating POST belongs here.
pub const IDEMPOTENT_POSTS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/account/deposits",
    "/api/v1/account/withdrawals",
    "/api/v1/api-keys",
    "/api/v1/webhooks",
];

/// The answer headers stored and replayed with the body (the outer middleware add the rest:
/// request id, security headers, rate-limit headers).
const STORED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::CACHE_CONTROL];

/// Answers larger than this are not stored (the key is released). Ours are small JSON.
const MAX_STORED_BODY: u64 = 1024 * 1024;

const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Whether `method path` honours `Idempotency-Key`.
pub fn is_idempotent_route(method: &Method, path: &str) -> bool {
    method == Method::POST && IDEMPOTENT_POSTS.contains(&path)
}

/// The middleware (`middleware::from_fn(idempotency::middleware)`); wrap it inside
/// `authorize` and `api_key_auth` (so it sees the caller they found) and inside the
/// request-timeout middleware (a timed-out request releases its key).
pub async fn middleware<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let service = req.app_data::<web::Data<ApiState>>().and_then(|state| state.ops.idempotency.clone()).filter(|_| {
        req.headers().contains_key(IDEMPOTENCY_KEY_HEADER) && is_idempotent_route(req.method(), req.path())
    });
    let Some(service) = service else {
        return pass(req, next).await;
    };
    let Some(user) = caller(&req).await else {
        // Unknown caller: the handler's `Authenticated` extractor answers 401.
        return pass(req, next).await;
    };
    let key = match key_of(req.headers()) {
        Ok(key) => key,
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };
    let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let body = match crate::extract::read_body(&mut req, limit).await {
        Ok(body) => body,
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };
    let path_and_query = req.uri().path_and_query().map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let fingerprint = fingerprint(req.method(), &path_and_query, &body);
    let scope = IdempotencyScope::new(user, format!("{} {}", req.method(), req.path()), key);
    req.set_payload(Payload::from(body));

    let attempt = match service.begin(scope, &fingerprint).await {
        Ok(Claim::Started(attempt)) => attempt,
        Ok(Claim::Replay(stored)) => {
            tracing::info!(http.response.status_code = stored.status, "idempotent request replayed");
            return Ok(req.into_response(replay(stored)).map_into_right_body());
        }
        Ok(Claim::InFlight) => {
            tracing::info!("idempotency key in use by a running request");
            return Ok(req.error_response(ApiError::idempotency_key_in_use()).map_into_right_body());
        }
        Ok(Claim::Mismatch) => {
            tracing::info!("idempotency key reused with a different request");
            return Ok(req.error_response(ApiError::idempotency_key_reused()).map_into_right_body());
        }
        Err(e) => return Ok(req.error_response(ApiError::from(e)).map_into_right_body()),
    };
    // From here the key is held: every way out completes or releases it (the guard releases
    // it when this future is dropped mid-way).
    let hold = Hold { service, attempt: Some(attempt) };
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            hold.release().await;
            return Err(e);
        }
    };
    let status = res.status();
    if !is_final(status.as_u16()) {
        hold.release().await;
        return Ok(res.map_into_left_body());
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    if !matches!(body.size(), BodySize::Sized(n) if n <= MAX_STORED_BODY) {
        tracing::warn!(
            http.response.status_code = status.as_u16(),
            "answer too large or streamed; not stored for idempotency"
        );
        hold.release().await;
        return Ok(ServiceResponse::new(req, head.set_body(body)).map_into_left_body());
    }
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            hold.release().await;
            let e: Box<dyn std::error::Error> = e.into();
            let err = ApiError::internal(anyhow::anyhow!("reading the answer to store it: {e}"));
            return Ok(ServiceResponse::new(req, err.error_response()).map_into_right_body());
        }
    };
    let stored =
        StoredResponse { status: status.as_u16(), headers: stored_headers(head.headers()), body: bytes.to_vec() };
    hold.finish(&stored).await;
    Ok(ServiceResponse::new(req, head.set_body(bytes).map_into_boxed_body()).map_into_right_body())
}

async fn pass<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

/// The user behind the request: the caller `authorize` checked, a verified API-key signature,
/// or else a live bearer token (checked here as the `Authenticated` extractor would).
async fn caller(req: &ServiceRequest) -> Option<UserId> {
    if let Some(AuthorizedCaller(principal)) = req.extensions().get::<AuthorizedCaller>().copied() {
        return Some(principal.user_id);
    }
    if let Some(SignedCaller(principal)) = req.extensions().get::<SignedCaller>().copied() {
        return Some(principal.user_id);
    }
    let state = req.app_data::<web::Data<ApiState>>()?.clone();
    let token = req.headers().get(header::AUTHORIZATION)?.to_str().ok().and_then(bearer_token)?.to_owned();
    state.auth.authenticate(&token).await.ok().map(|p| p.user_id)
}

/// The request's `Idempotency-Key` scoped to its route (keys are per user and route, as in
/// the Redis record), for handlers that store it with what they create, so a retry after a
/// crash that lost the recorded answer finds the first effect. The middleware already refused
/// a malformed key on these routes.
pub(crate) fn request_key(req: &actix_web::HttpRequest) -> Option<String> {
    if !req.headers().contains_key(IDEMPOTENCY_KEY_HEADER) {
        return None;
    }
    key_of(req.headers()).ok().map(|k| format!("{} {}", req.path(), k.as_str()))
}

/// The one `Idempotency-Key` header, checked.
fn key_of(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let invalid = |message: String| ApiError::invalid_field("Idempotency-Key", message);
    let mut values = headers.get_all(IDEMPOTENCY_KEY_HEADER);
    let value = values.next().ok_or_else(|| invalid("is required".to_owned()))?;
    if values.next().is_some() {
        return Err(invalid("must be sent once".to_owned()));
    }
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| invalid("must be visible ASCII characters only (no spaces)".to_owned()))?;
    IdempotencyKey::parse(text).map_err(|e| invalid(e.to_string()))
}

/// SHA-256 over method, path (with query) and body, newline-separated (neither a method nor a
/// path can hold a newline, so two different requests never hash the same input).
fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path_and_query.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    Fingerprint::from_sha256(hasher.finalize().into())
}

fn stored_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    STORED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect()
}

/// The stored answer as it was, marked as a replay.
fn replay(stored: StoredResponse) -> HttpResponse {
    let Ok(status) = StatusCode::from_u16(stored.status) else {
        return ApiError::internal(anyhow::anyhow!("stored idempotent status {} is not valid", stored.status))
            .error_response();
    };
    let mut res = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            res.insert_header((name, value));
        }
    }
    res.insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")));
    res.body(stored.body)
}

/// A held key: finished or released explicitly, or released when dropped (the request's
/// future was dropped: client gone, request timeout).
struct Hold {
    service: IdempotencyService,
    attempt: Option<Attempt>,
}

impl Hold {
    async fn finish(mut self, answer: &StoredResponse) {
        if let Some(attempt) = self.attempt.take()
            && let Err(e) = self.service.finish(&attempt, answer).await
        {
            // The key stays held until its lock expires; retries meanwhile get 409.
            tracing::error!(error = format!("{:#}", anyhow::Error::new(e)), "could not store the idempotent answer");
        }
    }

    async fn release(mut self) {
        if let Some(attempt) = self.attempt.take() {
            release_logged(&self.service, &attempt).await;
        }
    }
}

async fn release_logged(service: &IdempotencyService, attempt: &Attempt) {
    if let Err(e) = service.release(attempt).await {
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::new(e)),
            "could not release an idempotency key; it frees itself when its lock expires"
        );
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let Some(attempt) = self.attempt.take() else { return };
        let service = self.service.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { release_logged(&service, &attempt).await });
            }
            Err(_) => tracing::warn!(
                "no runtime to release an abandoned idempotency key; it frees itself when its lock expires"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::Authenticated;
    use crate::api_tests::{GOOD_TOKEN, Mocks};
    use actix_web::dev::Service;
    use actix_web::middleware::from_fn;
    use actix_web::test::{self, TestRequest};
    use actix_web::{App, HttpRequest};
    use async_trait::async_trait;
    use brokerage_domain::InfraError;
    use brokerage_domain::crypto::SecretCipher;
    use brokerage_domain::idempotency::{AttemptId, Begin, IdempotencyPolicy, IdempotencyStore};
    use brokerage_domain::system::UuidV7Generator;
    use serde_json::Value;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::sync::Notify;

    type Records = HashMap<IdempotencyScope, (Fingerprint, Option<AttemptId>, Option<StoredResponse>)>;

    /// The store's rules in a map (the real adapters are tested in their crates).
    #[derive(Default)]
    struct FakeStore(Mutex<Records>);

    #[async_trait]
    impl IdempotencyStore for FakeStore {
        async fn begin(
            &self,
            scope: &IdempotencyScope,
            fp: &Fingerprint,
            attempt: AttemptId,
            _: Duration,
        ) -> Result<Begin, InfraError> {
            let mut records = self.0.lock().unwrap();
            Ok(match records.get(scope) {
                Some((stored, _, _)) if stored != fp => Begin::Mismatch,
                Some((_, _, Some(answer))) => Begin::Replay(answer.clone()),
                Some(_) => Begin::InFlight,
                None => {
                    records.insert(scope.clone(), (*fp, Some(attempt), None));
                    Begin::Started
                }
            })
        }

        async fn complete(
            &self,
            scope: &IdempotencyScope,
            attempt: AttemptId,
            r: &StoredResponse,
            _: Duration,
        ) -> Result<bool, InfraError> {
            let mut records = self.0.lock().unwrap();
            match records.get_mut(scope) {
                Some(record) if record.1 == Some(attempt) => {
                    *record = (record.0, None, Some(r.clone()));
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        async fn release(&self, scope: &IdempotencyScope, attempt: AttemptId) -> Result<(), InfraError> {
            let mut records = self.0.lock().unwrap();
            if records.get(scope).is_some_and(|r| r.1 == Some(attempt)) {
                records.remove(scope);
            }
            Ok(())
        }
    }

    /// Reverses the bytes and hex-encodes them: sealed values differ from the plain ones.
    struct TestCipher;

    impl SecretCipher for TestCipher {
        fn seal(&self, plain: &[u8]) -> Result<String, InfraError> {
            Ok(plain.iter().rev().map(|b| format!("{b:02x}")).collect())
        }

        fn open(&self, sealed: &str) -> Result<Vec<u8>, InfraError> {
            let mut bytes = (0..sealed.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&sealed[i..i + 2], 16).map_err(|e| InfraError::Unknown(e.into())))
                .collect::<Result<Vec<u8>, _>>()?;
            bytes.reverse();
            Ok(bytes)
        }

        fn is_stale(&self, _: &str) -> bool {
            false
        }
    }

    /// What the test handlers share: how often they ran, what they answer, and gates.
    #[derive(Default)]
    struct Probe {
        runs: AtomicUsize,
        /// Answer 500 this many times before succeeding.
        failures_left: AtomicUsize,
        /// Set: the handler signals `entered` then waits for `gate`.
        block: std::sync::atomic::AtomicBool,
        entered: Notify,
        gate: Notify,
    }

    async fn create(probe: web::Data<Probe>, Authenticated(who): Authenticated, body: web::Bytes) -> HttpResponse {
        let run = probe.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if probe.block.load(Ordering::SeqCst) {
            probe.entered.notify_one();
            probe.gate.notified().await;
        }
        if probe.failures_left.load(Ordering::SeqCst) > 0 {
            probe.failures_left.fetch_sub(1, Ordering::SeqCst);
            return HttpResponse::InternalServerError().finish();
        }
        let echoed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/orders/{run}")))
            .json(serde_json::json!({"run": run, "user": who.user_id.to_string(), "echo": echoed}))
    }

    async fn read_only(probe: web::Data<Probe>, _: HttpRequest) -> HttpResponse {
        let run = probe.runs.fetch_add(1, Ordering::SeqCst) + 1;
        HttpResponse::Ok().json(serde_json::json!({"run": run}))
    }

    fn state(enabled: bool) -> ApiState {
        let mut state = Mocks::new().state();
        if enabled {
            state.ops.idempotency = Some(IdempotencyService::new(
                Arc::new(FakeStore::default()),
                Arc::new(TestCipher),
                Arc::new(UuidV7Generator),
                IdempotencyPolicy::default(),
            ));
        }
        state
    }

    /// A small app: the middleware around handlers that count their runs.
    macro_rules! app {
        ($state:expr, $probe:expr) => {
            test::init_service(
                App::new()
                    .app_data(web::Data::new($state))
                    .app_data($probe.clone())
                    .app_data(BodyLimit(1024))
                    .route("/api/v1/orders", web::post().to(create))
                    .route("/api/v1/orders", web::get().to(read_only))
                    .route("/api/v1/auth/logout", web::post().to(read_only))
                    .wrap(from_fn(middleware)),
            )
            .await
        };
    }

    macro_rules! send {
        ($app:expr, $req:expr) => {
            seen($app.call($req.to_request()).await)
        };
    }

    fn post(path: &str, key: Option<&str>, body: &str) -> TestRequest {
        let mut req = TestRequest::post()
            .uri(path)
            .insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}")))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body.to_owned());
        if let Some(key) = key {
            req = req.insert_header((IDEMPOTENCY_KEY_HEADER, key));
        }
        req
    }

    struct Seen {
        status: u16,
        headers: HeaderMap,
        body: web::Bytes,
    }

    impl Seen {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).expect("json")
        }

        fn replayed(&self) -> bool {
            self.headers.get(REPLAYED_HEADER).is_some_and(|v| v == "true")
        }
    }

    async fn seen<B: MessageBody>(res: Result<ServiceResponse<B>, Error>) -> Seen {
        let res = res.expect("answered");
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        let body = actix_web::body::to_bytes(res.into_body()).await.map_err(|_| ()).expect("body");
        Seen { status, headers, body }
    }

    #[actix_web::test]
    async fn the_first_answer_is_replayed_byte_for_byte_and_the_handler_runs_once() {
        let probe = web::Data::new(Probe::default());
        let app = app!(state(true), probe);
        let first = send!(app, post("/api/v1/orders", Some("k-1"), r#"{"qty": 1}"#)).await;
        assert_eq!(first.status, 201);
        assert!(!first.replayed());
        let again = send!(app, post("/api/v1/orders", Some("k-1"), r#"{"qty": 1}"#)).await;
        assert_eq!(again.status, 201);
        assert!(again.replayed(), "marked as a replay");
        assert_eq!(again.body, first.body, "byte for byte");
        for name in [header::CONTENT_TYPE, header::LOCATION] {
            assert_eq!(again.headers.get(&name), first.headers.get(&name), "{name}");
        }
        assert_eq!(probe.runs.load(Ordering::SeqCst), 1);

        let other_key = send!(app, post("/api/v1/orders", Some("k-2"), r#"{"qty": 1}"#)).await;
        assert_eq!((other_key.status, other_key.json()["run"].as_u64()), (201, Some(2)), "another key runs again");
    }

    #[actix_web::test]
    async fn the_same_key_with_another_body_is_refused_with_422() {
        let probe = web::Data::new(Probe::default());
        let app = app!(state(true), probe);
        assert_eq!(send!(app, post("/api/v1/orders", Some("k"), r#"{"qty": 1}"#)).await.status, 201);
        let reused = send!(app, post("/api/v1/orders", Some("k"), r#"{"qty": 2}"#)).await;
        assert_eq!((reused.status, reused.json()["error"].as_str()), (422, Some("idempotency_key_reused")));
        let other_query = send!(app, post("/api/v1/orders?x=1", Some("k"), r#"{"qty": 1}"#)).await;
        assert_eq!(other_query.status, 422, "the path and query are part of the request");
        assert_eq!(probe.runs.load(Ordering::SeqCst), 1);
    }

    #[actix_web::test]
    async fn malformed_keys_are_400_naming_the_header() {
        let probe = web::Data::new(Probe::default());
        let app = app!(state(true), probe);
        let long = "k".repeat(256);
        for bad in ["", "with space", long.as_str()] {
            let res = send!(app, post("/api/v1/orders", Some(bad), "{}")).await;
            assert_eq!(res.status, 400, "{bad:?}");
            assert_eq!(res.json()["error"], "validation_error");
            assert_eq!(res.json()["details"][0]["field"], "Idempotency-Key", "{bad:?}");
        }
        let twice = post("/api/v1/orders", Some("a"), "{}").append_header((IDEMPOTENCY_KEY_HEADER, "b"));
        let res = send!(app, twice).await;
        assert_eq!((res.status, res.json()["details"][0]["message"].as_str()), (400, Some("must be sent once")));
        let non_ascii = post("/api/v1/orders", None, "{}")
            .insert_header((IDEMPOTENCY_KEY_HEADER, HeaderValue::from_bytes(b"caf\xe9").unwrap()));
        assert_eq!(send!(app, non_ascii).await.status, 400);
        assert_eq!(probe.runs.load(Ordering::SeqCst), 0, "nothing ran");
        let max = "k".repeat(255);
        assert_eq!(send!(app, post("/api/v1/orders", Some(&max), "{}")).await.status, 201, "255 characters are fine");
    }

    #[actix_web::test]
    async fn a_5xx_releases_the_key_so_a_retry_runs_again() {
        let probe = web::Data::new(Probe::default());
        probe.failures_left.store(1, Ordering::SeqCst);
        let app = app!(state(true), probe);
        assert_eq!(send!(app, post("/api/v1/orders", Some("k"), "{}")).await.status, 500);
        let retry = send!(app, post("/api/v1/orders", Some("k"), "{}")).await;
        assert_eq!(retry.status, 201);
        assert!(!retry.replayed());
        assert_eq!(probe.runs.load(Ordering::SeqCst), 2);
        assert!(send!(app, post("/api/v1/orders", Some("k"), "{}")).await.replayed(), "the success is kept");
    }

    #[actix_web::test]
    async fn a_retry_while_the_first_runs_is_409_and_later_gets_the_replay() {
        let probe = web::Data::new(Probe::default());
        probe.block.store(true, Ordering::SeqCst);
        let app = app!(state(true), probe);
        let first = async { send!(app, post("/api/v1/orders", Some("k"), "{}")).await };
        let retry = async {
            probe.entered.notified().await;
            let retry = send!(app, post("/api/v1/orders", Some("k"), "{}")).await;
            probe.gate.notify_one();
            retry
        };
        let (first, retry) = futures_util::future::join(first, retry).await;
        assert_eq!(first.status, 201);
        assert_eq!((retry.status, retry.json()["error"].as_str()), (409, Some("idempotency_key_in_use")));
        probe.block.store(false, Ordering::SeqCst);
        let later = send!(app, post("/api/v1/orders", Some("k"), "{}")).await;
        assert!(later.replayed());
        assert_eq!(later.body, first.body);
        assert_eq!(probe.runs.load(Ordering::SeqCst), 1);
    }

    #[actix_web::test]
    async fn an_abandoned_request_releases_its_key() {
        let probe = web::Data::new(Probe::default());
        probe.block.store(true, Ordering::SeqCst);
        let app = app!(state(true), probe);
        let first = async { send!(app, post("/api/v1/orders", Some("k"), "{}")).await };
        let dropped = tokio::time::timeout(Duration::from_millis(50), first).await;
        assert!(dropped.is_err(), "the first request never answered (a timeout or a gone client)");
        // The release runs on the runtime after the drop.
        tokio::time::sleep(Duration::from_millis(50)).await;
        probe.block.store(false, Ordering::SeqCst);
        let retry = send!(app, post("/api/v1/orders", Some("k"), "{}")).await;
        assert_eq!(retry.status, 201);
        assert!(!retry.replayed(), "the retry ran");
        assert_eq!(probe.runs.load(Ordering::SeqCst), 2);
    }

    #[actix_web::test]
    async fn the_header_is_ignored_where_it_does_not_apply() {
        let probe = web::Data::new(Probe::default());
        let app = app!(state(true), probe);
        for _ in 0..2 {
            let get = TestRequest::get().uri("/api/v1/orders").insert_header((IDEMPOTENCY_KEY_HEADER, "k"));
            assert!(!send!(app, get).await.replayed());
            assert!(!send!(app, post("/api/v1/auth/logout", Some("k"), "{}")).await.replayed());
            assert!(!send!(app, post("/api/v1/orders", None, "{}")).await.replayed(), "no key: no idempotency");
        }
        assert_eq!(probe.runs.load(Ordering::SeqCst), 6);

        let disabled = app!(state(false), probe);
        for _ in 0..2 {
            assert!(!send!(disabled, post("/api/v1/orders", Some("k"), "{}")).await.replayed());
        }
        assert_eq!(probe.runs.load(Ordering::SeqCst), 8);
    }

    #[actix_web::test]
    async fn unknown_callers_pass_untouched_and_claim_nothing() {
        let probe = web::Data::new(Probe::default());
        let app = app!(state(true), probe);
        let anonymous = TestRequest::post()
            .uri("/api/v1/orders")
            .insert_header((IDEMPOTENCY_KEY_HEADER, "with space"))
            .set_payload("{}");
        assert_eq!(send!(app, anonymous).await.status, 401, "the handler's extractor answers, not the key check");
        let forged = post("/api/v1/orders", Some("k"), "{}").insert_header((header::AUTHORIZATION, "Bearer forged"));
        assert_eq!(send!(app, forged).await.status, 401);
        let real = send!(app, post("/api/v1/orders", Some("k"), "{}")).await;
        assert_eq!(real.status, 201);
        assert!(!real.replayed(), "the 401 was not stored");
    }

    #[actix_web::test]
    async fn bodies_over_the_limit_are_413() {
        let probe = web::Data::new(Probe::default());
        let app = app!(state(true), probe);
        let res = send!(app, post("/api/v1/orders", Some("k"), &"x".repeat(1025))).await;
        assert_eq!((res.status, res.json()["error"].as_str()), (413, Some("payload_too_large")));
        assert_eq!(probe.runs.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn fingerprints_cover_method_path_and_body() {
        let base = fingerprint(&Method::POST, "/api/v1/orders", b"{}");
        assert_eq!(base, fingerprint(&Method::POST, "/api/v1/orders", b"{}"));
        assert_ne!(base, fingerprint(&Method::PUT, "/api/v1/orders", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/api/v1/orders?a=1", b"{}"));
        assert_ne!(base, fingerprint(&Method::POST, "/api/v1/orders", b"{ }"));
    }

    #[test]
    fn every_creating_post_honours_the_key() {
        for path in ["/api/v1/orders", "/api/v1/account/deposits", "/api/v1/account/withdrawals", "/api/v1/api-keys"] {
            assert!(is_idempotent_route(&Method::POST, path), "{path}");
            assert!(!is_idempotent_route(&Method::GET, path), "{path}");
        }
        for path in ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/orders/x", "/api/v1/ordersX"] {
            assert!(!is_idempotent_route(&Method::POST, path), "{path}");
        }
    }
}
