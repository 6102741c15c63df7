//! The threads that run argon2id, apart from everything else.
//!
//! A login costs ~20 ms of CPU and 19 MiB of memory by design; a storm of them must not slow
//! down trading. So hashing gets threads of its own (never tokio's workers or its shared
//! blocking pool), a bounded queue (a flood is refused with `Unavailable`, i.e. 503, rather
//! than queued without end), and a lower CPU priority: each thread raises its own nice value,
//! so when the CPU is contended the scheduler serves order placement, PostgreSQL and Redis
//! first, and logins take what is left; when it is not, hashing runs at full speed.
//!
//! A nice value only ranks threads of one scheduling group, and PostgreSQL's backends are not
//! in ours (each is a session, and an autogroup, of its own on a desktop-style kernel; a pod of
//! its own in a cluster), nor are other tenants of the box. So the threads also pace
//! themselves ([`pause_after`]): a hash that got markedly less CPU than the time it took was
//! competing for the cores, and then its thread rests long enough to use at most
//! `contended_share` of a core, so that a login storm on a saturated machine takes a bounded
//! slice from trading and queues (then 503s) for the rest. On idle cores no hash waited for
//! one, so logins run back to back. (`docs/benchmarks.md`: the login-storm phase measures
//! exactly this.)

use crate::password::HashingConfig;
use crate::priority::set_thread_nice;
use brokerage_domain::InfraError;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads; they end when the last clone of the pool is dropped.
#[derive(Clone)]
pub(crate) struct HashPool {
    jobs: SyncSender<Job>,
}

impl HashPool {
    /// `max_concurrent` threads at `nice`, `max_queued` jobs waiting at most.
    pub(crate) fn start(config: &HashingConfig) -> anyhow::Result<Self> {
        let (jobs, queue) = sync_channel::<Job>(config.max_queued);
        let queue = Arc::new(Mutex::new(queue));
        let (nice, share) = (config.nice, config.contended_share);
        for i in 0..config.max_concurrent.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || serve(&queue, nice, share))
                .map_err(|e| anyhow::anyhow!("cannot start hashing thread: {e}"))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a hashing thread and blocks the caller until it is done: for start-up,
    /// so that even the first hash uses a hashing thread's reused memory.
    pub(crate) fn run_and_wait<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = std::sync::mpsc::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(job());
            }))
            .map_err(|_| anyhow::anyhow!("password hashing threads have stopped"))?;
        result.recv().map_err(|_| anyhow::anyhow!("a password hashing job was lost"))
    }

    /// Runs `job` on a hashing thread and waits (asynchronously) for its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, InfraError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (request cancelled): nothing to deliver then.
            let _ = done.send(job());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(InfraError::Unavailable(anyhow::anyhow!("password hashing queue full")));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(InfraError::Unknown(anyhow::anyhow!("password hashing threads have stopped")));
            }
        }
        result.await.map_err(|_| InfraError::Unknown(anyhow::anyhow!("a password hashing job was lost")))
    }
}

fn serve(queue: &Mutex<Receiver<Job>>, nice: i32, contended_share: f64) {
    if nice != 0
        && let Err(e) = set_thread_nice(nice)
    {
        tracing::warn!(error = %e, nice, "cannot lower the priority of a password hashing thread");
    }
    loop {
        // The lock is held only while waiting for the next job (and never while hashing or
        // pausing: the other threads take the queue meanwhile).
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // every sender dropped: the pool is gone
        };
        let (started, cpu_before) = (Instant::now(), thread_cpu_time());
        job();
        if let (Some(before), Some(after)) = (cpu_before, thread_cpu_time())
            && let Some(pause) = pause_after(started.elapsed(), after.saturating_sub(before), contended_share)
        {
            std::thread::sleep(pause);
        }
    }
}

/// A job that got less than this share of the time it took was waiting for a core: the
/// machine is contended. (Uncontended, a hash gets ~100 %; on the bench's saturated cores
/// ~35 %.)
const CONTENDED_BELOW: f64 = 0.8;

/// How long a hashing thread rests after a job that took `wall` and got `cpu` of it: when the
/// cores were contended, long enough that the thread uses at most `share` of a core, i.e.
/// `cpu / (wall + pause) <= share`; otherwise not at all.
pub(crate) fn pause_after(wall: Duration, cpu: Duration, share: f64) -> Option<Duration> {
    let (wall, cpu) = (wall.as_secs_f64(), cpu.as_secs_f64());
    if share >= 1.0 || cpu <= 0.0 || cpu >= CONTENDED_BELOW * wall {
        return None;
    }
    let pause = cpu / share - wall;
    (pause > 0.0).then(|| Duration::from_secs_f64(pause))
}

/// CPU time the calling thread has used (None where it cannot be read: no pacing then).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which lives on our stack for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (rc == 0).then(|| Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0)))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    fn own_nice() -> i32 {
        // Field 19 of /proc/thread-self/stat (after the parenthesised command name).
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        after.split(' ').nth(16).expect("nice field").parse().expect("number")
    }

    #[tokio::test]
    async fn jobs_run_on_lower_priority_threads() {
        let config = HashingConfig { max_concurrent: 2, max_queued: 4, nice: 7, ..HashingConfig::default() };
        let pool = HashPool::start(&config).expect("pool");
        let (name, nice) =
            pool.run(|| (std::thread::current().name().map(str::to_owned), own_nice())).await.expect("ran");
        assert!(name.expect("named").starts_with("argon2-"));
        assert_eq!(nice, 7);
        assert_eq!(own_nice(), 0, "the caller's own priority is untouched");
    }

    #[test]
    fn a_hash_that_waited_for_a_core_rests_to_its_share() {
        let ms = Duration::from_millis;
        assert_eq!(pause_after(ms(20), ms(19), 0.2), None, "uncontended: back to back");
        assert_eq!(pause_after(ms(40), ms(10), 1.0), None, "a share of 1 is no limit");
        // 10 ms of CPU in 40 ms: contended; 10 / (40 + 10) = 0.2 of a core.
        assert_eq!(pause_after(ms(40), ms(10), 0.2), Some(ms(10)));
        assert_eq!(pause_after(ms(40), ms(10), 0.25), None, "already within its share");
        assert_eq!(pause_after(ms(5), Duration::ZERO, 0.2), None);
    }

    #[tokio::test]
    async fn a_hashing_thread_measures_its_own_cpu_time() {
        let pool = HashPool::start(&HashingConfig { max_concurrent: 1, ..HashingConfig::default() }).expect("pool");
        let (before, after) = pool
            .run(|| {
                let before = thread_cpu_time();
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_millis(20) {
                    std::hint::black_box(0u64);
                }
                (before, thread_cpu_time())
            })
            .await
            .expect("ran");
        let used = after.expect("cpu time").saturating_sub(before.expect("cpu time"));
        assert!(used >= Duration::from_millis(1) && used <= Duration::from_secs(5), "{used:?}");
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_not_queued() {
        let config = HashingConfig { max_concurrent: 1, max_queued: 1, nice: 0, ..HashingConfig::default() };
        let pool = HashPool::start(&config).expect("pool");
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (running, started) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let blocker = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = running.send(());
                    gate.lock().map(|g| g.recv()).is_ok()
                })
                .await
            })
        };
        // The thread is busy once the blocker runs; then a second job takes the one queue slot.
        tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10)))
            .await
            .expect("joined")
            .expect("the blocker runs");
        // Polled once, the second job has taken the one queue slot (`run` sends on first poll).
        let mut queued = Box::pin(pool.run(|| 1));
        assert!(tokio::time::timeout(Duration::ZERO, &mut queued).await.is_err(), "waits behind the blocker");
        let refused = pool.run(|| 2).await;
        assert!(matches!(refused, Err(InfraError::Unavailable(_))), "{refused:?}");
        release.send(()).expect("release");
        assert!(blocker.await.expect("joined").expect("ran"));
        assert_eq!(queued.await.expect("ran"), 1);
        assert_eq!(pool.run(|| 3).await.expect("ran"), 3, "room again");
    }
}
