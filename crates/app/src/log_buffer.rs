//! JSON log lines gathered in memory and written in batches.
//!
//! With one `write` to stdout per line, every request paid a system call for its access-log
//! line, and the HTTP workers queued on stdout's lock whenever two logged at once (a futex
//! wait and wake each time: `docs/benchmarks.md`). Here a line is appended to a shared
//! buffer under a lock held only for the copy; the buffer goes to the sink in one write
//! every [`FLUSH_EVERY`], as soon as it holds [`BATCH_BYTES`], and on [`BufferedLines::flush`]
//! (shutdown, the end of a command, a panic). A process killed outright loses at most the
//! last interval's lines.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A buffer this full is written at once by the thread that filled it.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Lines buffered for a sink (stdout in production). Clones share the buffer.
#[derive(Clone)]
pub struct BufferedLines {
    shared: Arc<Shared>,
}

struct Shared {
    lines: Mutex<Vec<u8>>,
    /// Held while writing, so batches reach the sink in the order they were taken.
    sink: Mutex<Box<dyn Write + Send>>,
}

impl BufferedLines {
    /// Buffers lines for `sink` and starts the thread that writes them every `every`.
    pub fn new(sink: impl Write + Send + 'static, every: Duration) -> io::Result<Self> {
        let shared =
            Arc::new(Shared { lines: Mutex::new(Vec::with_capacity(BATCH_BYTES)), sink: Mutex::new(Box::new(sink)) });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("log-flush".into()).spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(shared) = weak.upgrade() else { return };
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
    fn flush(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        let batch = std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return Ok(());
        }
        sink.write_all(&batch)?;
        sink.flush()
    }

    fn append(&self, line: &[u8]) -> io::Result<()> {
        let full = {
            let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            lines.extend_from_slice(line);
            lines.len() >= BATCH_BYTES
        };
        if full { self.flush() } else { Ok(()) }
    }
}

/// What the fmt layer writes one event through.
pub struct LineSink<'a> {
    shared: &'a Shared,
}

impl Write for LineSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.append(buf)?;
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
    fn a_full_batch_is_written_by_the_thread_that_filled_it() {
        let sink = Sink::default();
        let lines = BufferedLines::new(sink.clone(), Duration::from_secs(3600)).unwrap();
        let line = vec![b'x'; 1000];
        for _ in 0..BATCH_BYTES / 1000 {
            lines.make_writer().write_all(&line).unwrap();
        }
        assert!(sink.text().is_empty());
        lines.make_writer().write_all(&line).unwrap();
        assert_eq!(sink.text().len(), (BATCH_BYTES / 1000 + 1) * 1000);
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
