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
//! themselves ([`pause_after`]): after a hash that ran while the cores were contended, its
//! thread rests long enough to use at most `contended_share` of a core, so that a login storm
//! on a saturated machine takes a bounded slice from trading and queues (then 503s) for the
//! rest. On idle cores logins run back to back. (`docs/benchmarks.md`: the login-storm phase
//! measures exactly this.)
//!
//! "Contended" is read from the kernel's CPU pressure (`/proc/pressure/cpu`): the share of
//! the hash's wall time during which some task, anywhere on the machine, was ready to run but
//! waited for a core. That sees PostgreSQL's backends and the HTTP workers waiting, which the
//! hashing thread's own CPU time does not: sitting in the service's scheduling group, it gets a
//! core nearly to itself (≥ 80 % of its wall time) while order placement queues behind it.
//! Where the kernel has no pressure file, the thread's own share of its wall time is the
//! signal instead.

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
        let before = Sample::now();
        job();
        if let Some(pause) = before.contention_since().and_then(|c| pause_after(c, contended_share)) {
            std::thread::sleep(pause);
        }
    }
}

/// What a hashing thread reads before a job, to tell afterwards how contended the cores were.
struct Sample {
    at: Instant,
    cpu: Option<Duration>,
    waited: Option<Duration>,
}

/// How a job's wall time went: the CPU time the thread got, and (where the kernel reports it)
/// how long some task on the machine (this thread included) waited for a core meanwhile.
#[derive(Debug, Clone, Copy)]
struct Contention {
    wall: Duration,
    cpu: Duration,
    tasks_waited: Option<Duration>,
}

impl Sample {
    fn now() -> Self {
        Self { at: Instant::now(), cpu: thread_cpu_time(), waited: cpu_pressure_total() }
    }

    /// None where the thread's CPU time cannot be read: no pacing then.
    fn contention_since(&self) -> Option<Contention> {
        let cpu = thread_cpu_time()?.saturating_sub(self.cpu?);
        let tasks_waited = self.waited.zip(cpu_pressure_total()).map(|(before, after)| after.saturating_sub(before));
        Some(Contention { wall: self.at.elapsed(), cpu, tasks_waited })
    }
}

impl Contention {
    /// Tasks waited for a core during more than this share of the job's wall time: the machine
    /// is saturated. (Measured on the bench's two cores: 0–9 % while logins run alone, 98–100 %
    /// under order placement.)
    const WAITING_ABOVE: f64 = 0.5;
    /// Without the pressure file: a job that got less than this share of its wall time waited
    /// for a core. (Uncontended, a hash gets ~100 %.)
    const OWN_SHARE_BELOW: f64 = 0.8;

    fn contended(&self) -> bool {
        let wall = self.wall.as_secs_f64();
        match self.tasks_waited {
            Some(waited) => waited.as_secs_f64() > Self::WAITING_ABOVE * wall,
            None => self.cpu.as_secs_f64() < Self::OWN_SHARE_BELOW * wall,
        }
    }
}

/// How long a hashing thread rests after a job: when the cores were contended, long enough
/// that the thread uses at most `share` of a core, i.e. `cpu / (wall + pause) <= share`;
/// otherwise not at all.
fn pause_after(job: Contention, share: f64) -> Option<Duration> {
    let (wall, cpu) = (job.wall.as_secs_f64(), job.cpu.as_secs_f64());
    if share >= 1.0 || cpu <= 0.0 || !job.contended() {
        return None;
    }
    let pause = cpu / share - wall;
    (pause > 0.0).then(|| Duration::from_secs_f64(pause))
}

/// Total time, since boot, during which some task waited for a CPU (the `some` line's
/// `total=`, in microseconds, of Linux's pressure stall information); None where the kernel
/// does not report it (before 4.20, or built or booted without PSI).
fn cpu_pressure_total() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    pressure_some_total(&text)
}

/// The `some` line's `total=` of a pressure file's text
/// ("some avg10=0.00 avg60=0.00 avg300=0.00 total=5256778").
fn pressure_some_total(text: &str) -> Option<Duration> {
    let some = text.lines().find(|line| line.starts_with("some "))?;
    let micros = some.split(' ').find_map(|field| field.strip_prefix("total="))?;
    micros.trim().parse().ok().map(Duration::from_micros)
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

    fn job(wall_ms: u64, cpu_ms: u64, waited_ms: Option<u64>) -> Contention {
        let ms = Duration::from_millis;
        Contention { wall: ms(wall_ms), cpu: ms(cpu_ms), tasks_waited: waited_ms.map(ms) }
    }

    #[test]
    fn a_hash_on_saturated_cores_rests_to_its_share() {
        let ms = Duration::from_millis;
        // Tasks waited for a core during most of the hash: contended, even though the hashing
        // thread itself got a core nearly to itself (20 ms in 20 ms); 20 / (20 + 80) = 0.2.
        assert_eq!(pause_after(job(20, 20, Some(19)), 0.2), Some(ms(80)));
        assert_eq!(pause_after(job(20, 19, Some(2)), 0.2), None, "nobody waited: back to back");
        assert_eq!(pause_after(job(20, 20, Some(10)), 0.2), None, "half the time is not saturated");
        assert_eq!(pause_after(job(40, 10, Some(40)), 1.0), None, "a share of 1 is no limit");
        assert_eq!(pause_after(job(40, 10, Some(40)), 0.25), None, "already within its share");
        assert_eq!(pause_after(job(5, 0, Some(5)), 0.2), None);
    }

    #[test]
    fn without_pressure_figures_a_hash_that_waited_for_a_core_is_the_signal() {
        let ms = Duration::from_millis;
        assert_eq!(pause_after(job(20, 19, None), 0.2), None, "uncontended: back to back");
        // 10 ms of CPU in 40 ms: contended; 10 / (40 + 10) = 0.2 of a core.
        assert_eq!(pause_after(job(40, 10, None), 0.2), Some(ms(10)));
    }

    #[test]
    fn the_pressure_file_gives_the_time_tasks_waited() {
        let text =
            "some avg10=1.46 avg60=3.78 avg300=1.39 total=5256778\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(pressure_some_total(text), Some(Duration::from_micros(5_256_778)));
        assert_eq!(pressure_some_total("full avg10=0.00 total=3\n"), None);
        assert_eq!(pressure_some_total(""), None);
        assert_eq!(pressure_some_total("some avg10=1.46 total=x\n"), None);
    }

    #[test]
    fn where_the_kernel_reports_cpu_pressure_it_is_read_and_only_grows() {
        if !std::path::Path::new("/proc/pressure/cpu").exists() {
            assert_eq!(cpu_pressure_total(), None);
            return;
        }
        let first = cpu_pressure_total().expect("the kernel's pressure file parses");
        let second = cpu_pressure_total().expect("the kernel's pressure file parses");
        assert!(second >= first, "{first:?} then {second:?}");
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
