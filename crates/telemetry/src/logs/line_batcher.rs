//! Log lines leave the process in batches, off the request path. Writing each JSON line to
//! stdout was one `write` system call per request, on the request's own thread; together with
//! taking ids from a userspace RNG, batching cut up to ~15 % of the gateway's CPU per cached
//! answer (docs/benchmarks.md, "Gateway CPU per cache hit"). Here a
//! line is appended to a shared buffer, and one writer thread, woken by the first line into an
//! empty buffer, waits [`BATCH_WINDOW`] for more and writes them all with one call.
//!
//! What this costs: a line reaches stdout up to [`BATCH_WINDOW`] (plus one write) late, and a
//! process killed with SIGKILL loses at most that window's lines. [`flush_logs`] writes what
//! is pending at once; the binaries call it before they exit and a panic hook calls it too.
//! Lines never reorder: a batch is taken from the buffer and written under one output lock.
//! Memory is bounded: a line that would grow the buffer past [`MAX_PENDING`] bytes first
//! writes the buffer out on the caller's thread.
//!
//! Why not `tracing_appender::non_blocking` (lossy off, into a `BufWriter` flushed whenever
//! its queue is empty): measured in the same run, the same JSON lines from 4 threads cost
//! about twice the CPU per line when they arrive like requests (each thread one line per
//! 200 µs: 17 against 8.5 µs per line, 9,379 writes and 11,527 `sched_yield` against 777
//! writes per 20,000 lines) and ~20 % more in a burst, because its worker wakes for every
//! line instead of letting lines gather (docs/benchmarks.md, "Log writer").

use parking_lot::{Condvar, Mutex};
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;

/// How long the writer thread lets lines gather after the first one.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Bytes buffered at most before a caller writes them itself.
pub const MAX_PENDING: usize = 1 << 20;

/// Lines waiting for the writer thread, and where batches go.
struct Batcher<W> {
    pending: Mutex<Vec<u8>>,
    not_empty: Condvar,
    /// The destination; holding it is what keeps batches in order.
    output: Mutex<W>,
}

impl<W: Write> Batcher<W> {
    fn new(output: W) -> Batcher<W> {
        Batcher {
            pending: Mutex::new(Vec::new()),
            not_empty: Condvar::new(),
            output: Mutex::new(output),
        }
    }

    fn push(&self, line: &[u8]) {
        let mut pending = self.pending.lock();
        if !pending.is_empty() && pending.len() + line.len() > MAX_PENDING {
            drop(pending);
            self.flush();
            pending = self.pending.lock();
        }
        if pending.is_empty() {
            self.not_empty.notify_one();
        }
        pending.extend_from_slice(line);
    }

    /// Writes everything pending now, on the calling thread.
    fn flush(&self) {
        let mut output = self.output.lock();
        let batch = std::mem::take(&mut *self.pending.lock());
        if !batch.is_empty() {
            // A log line that cannot be written has nowhere else to go.
            let _ = output.write_all(&batch);
            let _ = output.flush();
        }
    }

    /// [`Batcher::flush`] unless a lock is held (a panic hook must not wait: the panicking
    /// thread may hold one).
    fn try_flush(&self) {
        let Some(mut output) = self.output.try_lock() else {
            return;
        };
        let Some(mut pending) = self.pending.try_lock() else {
            return;
        };
        let batch = std::mem::take(&mut *pending);
        drop(pending);
        let _ = output.write_all(&batch);
        let _ = output.flush();
    }

    /// The writer thread's loop: wait for a first line, let more gather, write them.
    fn run(&self) {
        loop {
            {
                let mut pending = self.pending.lock();
                while pending.is_empty() {
                    self.not_empty.wait(&mut pending);
                }
            }
            std::thread::sleep(BATCH_WINDOW);
            self.flush();
        }
    }
}

/// Starts a batcher writing to `output` on its own thread; None if no thread can start.
fn start<W: Write + Send + 'static>(output: W, name: &str) -> Option<Arc<Batcher<W>>> {
    let batcher = Arc::new(Batcher::new(output));
    let runner = Arc::clone(&batcher);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runner.run())
        .ok()?;
    Some(batcher)
}

static STDOUT: OnceLock<Option<Arc<Batcher<std::io::Stdout>>>> = OnceLock::new();

fn stdout_batcher() -> Option<&'static Arc<Batcher<std::io::Stdout>>> {
    STDOUT
        .get_or_init(|| {
            let batcher = start(std::io::stdout(), "log-writer")?;
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if let Some(Some(batcher)) = STDOUT.get() {
                    batcher.try_flush();
                }
                previous(info);
            }));
            Some(batcher)
        })
        .as_ref()
}

/// Writes every log line still waiting for the writer thread; call before the process exits.
pub fn flush_logs() {
    if let Some(Some(batcher)) = STDOUT.get() {
        batcher.flush();
    }
}

/// The JSON layer's writer: stdout through the batching thread (or straight to stdout when
/// no thread could be started).
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchedStdout;

/// One line on its way to [`BatchedStdout`]; the JSON layer writes each line with one call.
pub struct BatchedLine(Destination);

enum Destination {
    Batched(&'static Batcher<std::io::Stdout>),
    Direct(std::io::Stdout),
}

impl Write for BatchedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Destination::Batched(batcher) => {
                batcher.push(buf);
                Ok(buf.len())
            }
            Destination::Direct(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Destination::Batched(batcher) => {
                batcher.flush();
                Ok(())
            }
            Destination::Direct(out) => out.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = BatchedLine;

    fn make_writer(&'a self) -> BatchedLine {
        BatchedLine(match stdout_batcher() {
            Some(batcher) => Destination::Batched(batcher),
            None => Destination::Direct(std::io::stdout()),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A destination that counts write calls and keeps the bytes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut inner = self.0.lock();
            inner.0.extend_from_slice(buf);
            inner.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().1
        }
    }

    fn wait_for(sink: &Sink, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.text() != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.text(), expected);
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_in_order_per_thread_and_in_few_writes() {
        let sink = Sink::default();
        let batcher = start(sink.clone(), "test-log-writer").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let batcher = Arc::clone(&batcher);
                std::thread::spawn(move || {
                    for i in 0..500 {
                        batcher.push(format!("thread {t} line {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.text().lines().count() < 2000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        for t in 0..4 {
            let own: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..500).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(own, expected, "thread {t}'s lines, whole and in order");
        }
        assert!(
            sink.writes() < 2000,
            "{} write calls for 2000 lines: nothing was batched",
            sink.writes()
        );
    }

    #[test]
    fn a_lone_line_is_written_by_the_thread_and_flush_writes_at_once() {
        let sink = Sink::default();
        let batcher = start(sink.clone(), "test-log-writer").unwrap();
        batcher.push(b"first\n");
        wait_for(&sink, "first\n");
        // Flushing on the caller's thread does not wait for the window.
        batcher.push(b"second\n");
        batcher.flush();
        assert_eq!(sink.text(), "first\nsecond\n");
        batcher.flush();
        assert_eq!(sink.text(), "first\nsecond\n", "nothing is written twice");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_caller_before_it_grows_further() {
        // No writer thread: only the bound can write these lines.
        let sink = Sink::default();
        let batcher = Batcher::new(sink.clone());
        let line = vec![b'x'; MAX_PENDING / 2 + 1];
        batcher.push(&line);
        assert_eq!(sink.writes(), 0);
        batcher.push(&line);
        assert_eq!(sink.text().len(), line.len(), "the first line went out");
        assert_eq!(batcher.pending.lock().len(), line.len());
    }
}
