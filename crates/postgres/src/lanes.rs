//! Pools per HTTP worker thread ("lanes").
//!
//! A tokio-postgres connection is driven by a task on the runtime that opened it, and bb8
//! opens connections on the runtime of the caller that needed one. With one pool shared by
//! every actix worker (each a single-threaded runtime), about half of all queries crossed
//! threads: the worker hands the query to a driver task on the other worker's thread and is
//! woken again by it, two extra thread wake-ups per round trip (`docs/benchmarks.md`).
//!
//! So each HTTP worker claims a lane of its own when it starts ([`PgPools::claim_lane`], called
//! by the server on every worker thread), and its connections are opened, driven and used on
//! that thread only. Every other thread (start-up, the execution engine, the webhook
//! dispatcher, the admin listener) uses lane 0, as all threads did before. A lane is never
//! shared by two workers: a connection never outlives the runtime that drives it while still
//! in use elsewhere.

use crate::pool::PgPool;
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tells `PgPools` instances apart in the thread-local claim.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The lane this thread claimed: (pools id, lane).
    static CLAIMED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// One pool, or lane 0 plus one per HTTP worker.
#[derive(Clone)]
pub struct PgPools {
    id: usize,
    lanes: Arc<[PgPool]>,
    claimed: Arc<AtomicUsize>,
}

impl PgPools {
    /// Every thread shares `pool` (tools, tests).
    pub fn single(pool: PgPool) -> Self {
        Self::new(vec![pool])
    }

    /// `lanes[0]` for every thread, `lanes[1..]` for the threads that claim one.
    pub fn per_worker(lanes: Vec<PgPool>) -> anyhow::Result<Self> {
        anyhow::ensure!(!lanes.is_empty(), "at least one pool");
        Ok(Self::new(lanes))
    }

    fn new(lanes: Vec<PgPool>) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Self { id, lanes: Arc::from(lanes), claimed: Arc::new(AtomicUsize::new(0)) }
    }

    /// Gives the calling thread a lane of its own, while any is left (else it stays on
    /// lane 0). Call once per worker thread, before it uses the store.
    pub fn claim_lane(&self) {
        let lane = self.claimed.fetch_add(1, Ordering::Relaxed) + 1;
        if lane < self.lanes.len() {
            CLAIMED.with(|c| c.set((self.id, lane)));
        }
    }

    /// The calling thread's pool.
    pub fn pool(&self) -> &PgPool {
        let (id, lane) = CLAIMED.with(Cell::get);
        // A claim is only ever recorded for a lane that exists (`claim_lane`).
        &self.lanes[if id == self.id { lane } else { 0 }]
    }

    /// Open connections per lane.
    pub fn open_per_lane(&self) -> Vec<u32> {
        self.lanes.iter().map(|p| p.state().connections).collect()
    }

    /// Open and idle connections over every lane (for the pool gauges).
    pub fn state(&self) -> (u32, u32) {
        self.lanes
            .iter()
            .map(|p| p.state())
            .fold((0, 0), |(open, idle), s| (open + s.connections, idle + s.idle_connections))
    }
}
