//! JSON log lines gathered in memory and written in batches, by one thread of their own.
//!
//! With one `write` to stdout per line, every request paid a system call for its access-log
//! line, and the HTTP workers queued on stdout's lock whenever two logged at once (a futex
//! wait and wake each time: `docs/benchmarks.md`). Here a line is appended to a shared
//! buffer under a lock held only for the copy, and only the `log-flush` thread writes: every
//! [`FLUSH_EVERY`], as soon as the buffer holds [`BATCH_BYTES`], and on
//! [`BufferedLines::flush`] (shutdown, the end of a command, a panic). A process killed
//! outright loses at most the last interval's lines.
//!
//! A thread serving requests never waits for the sink: stdout may be a pipe to a log agent
//! that stalls, and a worker blocked in `write` would stall every request it serves. While
//! [`MAX_PENDING`] bytes are already waiting, new lines are dropped and counted, and the next
//! batch starts with a `WARN` line saying how many were lost.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A buffer this full wakes the writing thread at once.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Lines waiting beyond this (the sink is stuck) are dropped, not waited for.
pub const MAX_PENDING: usize = 16 * 1024 * 1024;

/// Lines buffered for a sink (stdout in production). Clones share the buffer.
#[derive(Clone)]
pub struct BufferedLines {
    shared: Arc<Shared>,
}

struct Pending {
    bytes: Vec<u8>,
    /// Lines dropped since the last batch, because `MAX_PENDING` bytes were waiting.
    dropped: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when a batch is full.
    full: Condvar,
    /// Held while writing, so batches reach the sink in the order they were taken.
    sink: Mutex<Box<dyn Write + Send>>,
    max_pending: usize,
}

impl BufferedLines {
    /// Buffers lines for `sink` and starts the thread that writes them every `every`.
    pub fn new(sink: impl Write + Send + 'static, every: Duration) -> io::Result<Self> {
        Self::with_limit(sink, every, MAX_PENDING)
    }

    fn with_limit(sink: impl Write + Send + 'static, every: Duration, max_pending: usize) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { bytes: Vec::with_capacity(BATCH_BYTES), dropped: 0 }),
            full: Condvar::new(),
            sink: Mutex::new(Box::new(sink)),
            max_pending,
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("log-flush".into()).spawn(move || {
            loop {
                let Some(shared) = weak.upgrade() else { return };
                {
                    let pending = shared.pending();
                    // A spurious or early wake-up only writes sooner.
                    let _ = shared.full.wait_timeout_while(pending, every, |p| p.bytes.len() < BATCH_BYTES);
                }
                // Nowhere to report a failed write: the log itself is what failed.
                let _ = shared.flush();
            }
        })?;
        Ok(Self { shared })
    }

    /// Writes what is buffered now.
    pub fn flush(&self) -> io::Result<()> {
        self.shared.flush()
    }
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let (batch, dropped) = {
            let mut pending = self.pending();
            (std::mem::take(&mut pending.bytes), std::mem::take(&mut pending.dropped))
        };
        if dropped > 0 {
            sink.write_all(dropped_line(dropped).as_bytes())?;
        }
        if batch.is_empty() && dropped == 0 {
            return Ok(());
        }
        sink.write_all(&batch)?;
        sink.flush()
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.pending();
        if pending.bytes.len() + line.len() > self.max_pending {
            pending.dropped += 1;
            return;
        }
        pending.bytes.extend_from_slice(line);
        if pending.bytes.len() >= BATCH_BYTES {
            self.full.notify_one();
        }
    }
}

/// The line that stands for `n` lines dropped (in the JSON lines' own shape).
fn dropped_line(n: u64) -> String {
    let mut line = String::from("{\"timestamp\":\"");
    // Writing into a String cannot fail.
    let _ = crate::json_lines::timestamp(&mut line, chrono::Utc::now());
    line.push_str(
        "\",\"level\":\"WARN\",\"target\":\"brokerage_app::log_buffer\",\
         \"message\":\"log lines dropped: the log sink was slower than the service\",\"dropped\":",
    );
    line.push_str(&format!("{n}}}\n"));
    line
}

/// What the fmt layer writes one event through.
pub struct LineSink<'a> {
    shared: &'a Shared,
}

impl Write for LineSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedLines {
    type Writer = LineSink<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink { shared: &self.shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_wait_for_a_flush_and_arrive_whole_and_in_order() {
        let sink = Sink::default();
        let lines = BufferedLines::new(sink.clone(), Duration::from_secs(3600)).unwrap();
        lines.make_writer().write_all(b"one\n").unwrap();
        lines.make_writer().write_all(b"two\n").unwrap();
        assert_eq!(sink.text(), "", "nothing is written per line");
        lines.flush().unwrap();
        assert_eq!(sink.text(), "one\ntwo\n");
        lines.flush().unwrap();
        assert_eq!(sink.text(), "one\ntwo\n", "an empty flush writes nothing");
    }

    #[test]
    fn a_full_batch_is_written_at_once_by_the_flush_thread() {
        let sink = Sink::default();
        let lines = BufferedLines::new(sink.clone(), Duration::from_secs(3600)).unwrap();
        let line = vec![b'x'; 1000];
        for _ in 0..BATCH_BYTES / 1000 {
            lines.make_writer().write_all(&line).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(sink.text().is_empty(), "not full yet, and the interval is an hour");
        lines.make_writer().write_all(&line).unwrap();
        let started = Instant::now();
        while sink.text().len() < (BATCH_BYTES / 1000 + 1) * 1000 {
            assert!(started.elapsed() < Duration::from_secs(5), "a full batch waited for the interval");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A sink that blocks until told to go on; `.2` says a write has started.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Sink, Arc<std::sync::atomic::AtomicBool>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.2.store(true, std::sync::atomic::Ordering::SeqCst);
            let (open, turn) = &*self.0;
            let mut open = open.lock().unwrap();
            while !*open {
                open = turn.wait(open).unwrap();
            }
            self.1.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_sink_never_blocks_a_logging_thread_and_the_loss_is_reported() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let writing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stuck = Stuck(gate.clone(), sink.clone(), writing.clone());
        let lines = BufferedLines::with_limit(stuck, Duration::from_millis(1), 4 * BATCH_BYTES).unwrap();
        lines.make_writer().write_all(b"first\n").unwrap();
        let started = Instant::now();
        while !writing.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(started.elapsed() < Duration::from_secs(5), "the flush thread never wrote");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut line = vec![b'y'; 999];
        line.push(b'\n');
        let started = Instant::now();
        // The flush thread is stuck in its first write; these must neither block nor grow
        // the buffer past its limit.
        for _ in 0..2_000 {
            lines.make_writer().write_all(&line).unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(2), "a logging thread waited for the sink");
        {
            let (open, turn) = &*gate;
            *open.lock().unwrap() = true;
            turn.notify_all();
        }
        lines.flush().unwrap();
        let text = sink.text();
        let warning = text.lines().find(|l| l.contains("log lines dropped")).expect("the loss is reported");
        let warning: serde_json::Value = serde_json::from_str(warning).expect("a JSON line");
        assert_eq!(warning["level"], "WARN");
        let dropped = warning["dropped"].as_u64().expect("a count");
        let kept = text.lines().filter(|l| l.starts_with('y')).count() as u64;
        assert!(dropped > 0 && kept > 0, "dropped {dropped}, kept {kept}");
        assert!(text.len() <= 4 * BATCH_BYTES + 1_000, "no more than the limit waited: {}", text.len());
    }

    #[test]
    fn the_background_thread_writes_within_its_interval() {
        let sink = Sink::default();
        let lines = BufferedLines::new(sink.clone(), Duration::from_millis(20)).unwrap();
        lines.make_writer().write_all(b"later\n").unwrap();
        let started = Instant::now();
        while sink.text().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(5), "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text(), "later\n");
    }

    #[test]
    fn lines_from_many_threads_all_arrive_unbroken() {
        let sink = Sink::default();
        let lines = BufferedLines::new(sink.clone(), Duration::from_millis(1)).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let lines = lines.clone();
                s.spawn(move || {
                    for i in 0..500 {
                        lines.make_writer().write_all(format!("thread {t} line {i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        lines.flush().unwrap();
        let text = sink.text();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let mine: Vec<_> = text.lines().filter(|l| l.starts_with(&format!("thread {t} "))).collect();
            let expected: Vec<_> = (0..500).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected, "each thread's lines whole and in order");
        }
    }
}
