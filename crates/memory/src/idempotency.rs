//! An in-process [`IdempotencyStore`] (demo mode and tests): the same rules as the Redis
//! adapter, for one instance only. Records expire on the injected clock.

use async_trait::async_trait;
use brokerage_domain::idempotency::{
    AttemptId, Begin, Fingerprint, IdempotencyScope, IdempotencyStore, StoredResponse,
};
use brokerage_domain::{Clock, InfraError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Above this many records, expired ones are swept on the next `begin`.
const SWEEP_ABOVE: usize = 10_000;

enum State {
    Running(AttemptId),
    Done(StoredResponse),
}

struct Record {
    fingerprint: Fingerprint,
    state: State,
    expires_at: DateTime<Utc>,
}

/// Idempotency records in memory. Cheap to clone: clones share the records.
#[derive(Clone)]
pub struct MemoryIdempotency {
    clock: Arc<dyn Clock>,
    records: Arc<Mutex<HashMap<IdempotencyScope, Record>>>,
}

impl MemoryIdempotency {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, records: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IdempotencyScope, Record>> {
        // A panic while holding the lock cannot leave a record half-written: every change is
        // one insert or remove.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deadline(&self, ttl: Duration) -> Result<DateTime<Utc>, InfraError> {
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|e| InfraError::Unknown(anyhow::anyhow!("idempotency ttl out of range: {e}")))?;
        Ok(self.clock.now() + ttl)
    }
}

/// The live record of `scope`, held by `attempt` and still running.
fn held<'a>(
    records: &'a mut HashMap<IdempotencyScope, Record>,
    scope: &IdempotencyScope,
    attempt: AttemptId,
    now: DateTime<Utc>,
) -> Option<&'a mut Record> {
    records
        .get_mut(scope)
        .filter(|r| r.expires_at > now && matches!(r.state, State::Running(owner) if owner == attempt))
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn begin(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &Fingerprint,
        attempt: AttemptId,
        lock_ttl: Duration,
    ) -> Result<Begin, InfraError> {
        let now = self.clock.now();
        let expires_at = self.deadline(lock_ttl)?;
        let mut records = self.lock();
        if records.len() > SWEEP_ABOVE {
            records.retain(|_, r| r.expires_at > now);
        }
        match records.get(scope).filter(|r| r.expires_at > now) {
            Some(r) if r.fingerprint != *fingerprint => Ok(Begin::Mismatch),
            Some(Record { state: State::Done(answer), .. }) => Ok(Begin::Replay(answer.clone())),
            Some(Record { state: State::Running(_), .. }) => Ok(Begin::InFlight),
            None => {
                let record = Record { fingerprint: *fingerprint, state: State::Running(attempt), expires_at };
                records.insert(scope.clone(), record);
                Ok(Begin::Started)
            }
        }
    }

    async fn complete(
        &self,
        scope: &IdempotencyScope,
        attempt: AttemptId,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<bool, InfraError> {
        let now = self.clock.now();
        let expires_at = self.deadline(ttl)?;
        let mut records = self.lock();
        let Some(record) = held(&mut records, scope, attempt, now) else {
            return Ok(false);
        };
        record.state = State::Done(response.clone());
        record.expires_at = expires_at;
        Ok(true)
    }

    async fn release(&self, scope: &IdempotencyScope, attempt: AttemptId) -> Result<(), InfraError> {
        let now = self.clock.now();
        let mut records = self.lock();
        if held(&mut records, scope, attempt, now).is_some() {
            records.remove(scope);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]
    use super::*;
    use brokerage_domain::UserId;
    use brokerage_domain::idempotency::IdempotencyKey;
    use uuid::Uuid;

    struct TestClock(Mutex<DateTime<Utc>>);

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    impl TestClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += chrono::Duration::from_std(by).unwrap();
        }
    }

    const LOCK: Duration = Duration::from_secs(60);
    const TTL: Duration = Duration::from_secs(24 * 3600);

    fn setup() -> (Arc<TestClock>, MemoryIdempotency, IdempotencyScope) {
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        let store = MemoryIdempotency::new(clock.clone());
        let scope = IdempotencyScope::new(
            UserId::from_uuid(Uuid::now_v7()),
            "POST /api/v1/orders",
            IdempotencyKey::parse("k-1").unwrap(),
        );
        (clock, store, scope)
    }

    fn attempt() -> AttemptId {
        AttemptId::from_uuid(Uuid::now_v7())
    }

    fn answer() -> StoredResponse {
        StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        }
    }

    const FP: Fingerprint = Fingerprint::from_sha256([7; 32]);
    const OTHER: Fingerprint = Fingerprint::from_sha256([8; 32]);

    #[tokio::test]
    async fn started_then_in_flight_then_replayed_and_mismatched() {
        let (_, store, scope) = setup();
        let first = attempt();
        assert_eq!(store.begin(&scope, &FP, first, LOCK).await.unwrap(), Begin::Started);
        assert_eq!(store.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::InFlight);
        assert_eq!(store.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Mismatch);
        assert!(!store.complete(&scope, attempt(), &answer(), TTL).await.unwrap(), "only the holder completes");
        assert!(store.complete(&scope, first, &answer(), TTL).await.unwrap());
        assert_eq!(store.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::Replay(answer()));
        assert_eq!(store.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(), Begin::Mismatch);
        store.release(&scope, first).await.unwrap();
        assert_eq!(
            store.begin(&scope, &FP, attempt(), LOCK).await.unwrap(),
            Begin::Replay(answer()),
            "a final answer is never released"
        );
    }

    #[tokio::test]
    async fn released_keys_run_again() {
        let (_, store, scope) = setup();
        let first = attempt();
        assert_eq!(store.begin(&scope, &FP, first, LOCK).await.unwrap(), Begin::Started);
        store.release(&scope, attempt()).await.unwrap();
        assert_eq!(
            store.begin(&scope, &FP, attempt(), LOCK).await.unwrap(),
            Begin::InFlight,
            "only the holder releases"
        );
        store.release(&scope, first).await.unwrap();
        assert_eq!(
            store.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(),
            Begin::Started,
            "a released key is free, whatever the body"
        );
    }

    #[tokio::test]
    async fn locks_and_answers_expire() {
        let (clock, store, scope) = setup();
        let first = attempt();
        assert_eq!(store.begin(&scope, &FP, first, LOCK).await.unwrap(), Begin::Started);
        clock.advance(LOCK + Duration::from_secs(1));
        let second = attempt();
        assert_eq!(
            store.begin(&scope, &FP, second, LOCK).await.unwrap(),
            Begin::Started,
            "an abandoned lock frees itself"
        );
        assert!(!store.complete(&scope, first, &answer(), TTL).await.unwrap(), "the expired holder stores nothing");
        assert!(store.complete(&scope, second, &answer(), TTL).await.unwrap());
        clock.advance(TTL - Duration::from_secs(1));
        assert!(matches!(store.begin(&scope, &FP, attempt(), LOCK).await.unwrap(), Begin::Replay(_)));
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            store.begin(&scope, &OTHER, attempt(), LOCK).await.unwrap(),
            Begin::Started,
            "kept for the ttl only"
        );
    }
}
