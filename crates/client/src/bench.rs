//! A load generator: N workers, each sending one request at a time for a fixed duration,
//! every latency recorded in an HDR histogram. Closed loop by default (each worker sends its
//! next request when the last is answered: the throughput a given concurrency reaches);
//! with a [`Pace`], open loop at a fixed total rate (the latency at a given throughput). Open
//! loop measures each latency from the moment the request was *due*, so a stall delays
//! every request scheduled behind it and shows in the percentiles (no coordinated
//! omission). What a request is belongs to the [`Worker`]; the engine only times, counts
//! and reports, so the same engine measures trent and its peers side by side.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

// tokio's clock (the system's, unless a test pauses it), so schedules and deadlines agree.
use tokio::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One client of the load: sends a request and waits for its answer.
#[async_trait::async_trait]
pub trait Worker: Send + 'static {
    /// One request; `Err` counts as an error and its message is kept for the report.
    async fn call(&mut self) -> Result<(), String>;
}

/// What a run measured. Latencies are in microseconds.
#[derive(Debug, Serialize)]
pub struct Report {
    pub workers: usize,
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub first_error: Option<String>,
}

impl Report {
    /// One line for humans: `ops/s  p50  p90  p99  max  errors`.
    pub fn line(&self) -> String {
        format!(
            "{:>6} workers {:>10.0} ops/s  p50 {:>8}  p90 {:>8}  p99 {:>8}  max {:>8}  errors {}",
            self.workers,
            self.per_second,
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.max_us),
            self.errors
        )
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}ms", us as f64 / 1000.0)
}

/// An open-loop schedule: `per_second` requests in all, spread evenly over the workers.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub per_second: f64,
}

/// Runs every worker for `duration` in a closed loop, with a progress line on a terminal's
/// stderr.
pub async fn run<W: Worker>(workers: Vec<W>, duration: Duration) -> Report {
    run_paced(workers, duration, None).await
}

/// Runs every worker for `duration`, at `pace` if given (open loop), else closed loop.
pub async fn run_paced<W: Worker>(
    workers: Vec<W>,
    duration: Duration,
    pace: Option<Pace>,
) -> Report {
    let count = workers.len();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let progress = tokio::spawn(show_progress(done.clone(), start, duration));
    let tasks: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let schedule = pace.map(|p| Schedule::of(p, count, i, start));
            tokio::spawn(drive(w, deadline, schedule, done.clone()))
        })
        .collect();
    let mut total = new_histogram();
    let (mut errors, mut first_error) = (0, None);
    for task in tasks {
        let outcome = task.await.expect("bench worker panicked");
        total
            .add(&outcome.latencies)
            .expect("histograms are compatible");
        errors += outcome.errors;
        first_error = first_error.or(outcome.first_error);
    }
    progress.abort();
    let seconds = start.elapsed().as_secs_f64();
    Report {
        workers: count,
        seconds,
        ok: total.len(),
        errors,
        per_second: total.len() as f64 / seconds,
        p50_us: total.value_at_quantile(0.50),
        p90_us: total.value_at_quantile(0.90),
        p99_us: total.value_at_quantile(0.99),
        max_us: total.max(),
        first_error,
    }
}

struct Outcome {
    latencies: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// When one worker's requests are due: every `interval` from `first`.
struct Schedule {
    next: Instant,
    interval: Duration,
}

impl Schedule {
    fn of(pace: Pace, workers: usize, index: usize, start: Instant) -> Schedule {
        let interval = Duration::from_secs_f64(workers as f64 / pace.per_second.max(1e-3));
        // Workers are staggered over one interval, so the total rate is even.
        let offset = interval.mul_f64(index as f64 / workers as f64);
        Schedule {
            next: start + offset,
            interval,
        }
    }

    /// Waits until the next request is due; returns when it was due.
    async fn due(&mut self) -> Instant {
        let due = self.next;
        self.next += self.interval;
        tokio::time::sleep_until(due).await;
        due
    }
}

async fn drive<W: Worker>(
    mut worker: W,
    deadline: Instant,
    mut schedule: Option<Schedule>,
    done: Arc<AtomicU64>,
) -> Outcome {
    let mut outcome = Outcome {
        latencies: new_histogram(),
        errors: 0,
        first_error: None,
    };
    loop {
        // Paced: every request due before the deadline is sent, however late it runs.
        let began = match &mut schedule {
            Some(schedule) => schedule.due().await,
            None => Instant::now(),
        };
        if began >= deadline {
            break;
        }
        match worker.call().await {
            Ok(()) => {
                let us = began.elapsed().as_micros() as u64;
                outcome.latencies.saturating_record(us.max(1));
                done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                outcome.errors += 1;
                outcome.first_error.get_or_insert(e);
            }
        }
    }
    outcome
}

fn new_histogram() -> Histogram<u64> {
    // 1 us .. 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

async fn show_progress(done: Arc<AtomicU64>, start: Instant, duration: Duration) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let elapsed = start.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        eprint!(
            "\r  {:>4.0}/{}s  {n} ok  {:.0} ops/s   ",
            elapsed,
            duration.as_secs(),
            n as f64 / elapsed
        );
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Alternating(u64);

    #[async_trait::async_trait]
    impl Worker for Alternating {
        async fn call(&mut self) -> Result<(), String> {
            self.0 += 1;
            tokio::task::yield_now().await;
            if self.0.is_multiple_of(2) {
                Err(format!("call {}", self.0))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn counts_successes_and_errors_separately() {
        let report = run(
            vec![Alternating(0), Alternating(0)],
            Duration::from_millis(50),
        )
        .await;
        assert!(report.ok > 0);
        assert!(report.errors.abs_diff(report.ok) <= 2, "{report:?}");
        assert_eq!(report.first_error.as_deref(), Some("call 2"));
        assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    }

    struct Instant0;

    #[async_trait::async_trait]
    impl Worker for Instant0 {
        async fn call(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_pace_sends_the_rate_asked_for_and_no_more() {
        let pace = Pace { per_second: 200.0 };
        let two = vec![Instant0, Instant0];
        let report = run_paced(two, Duration::from_millis(500), Some(pace)).await;
        assert_eq!(report.ok, 100, "{report:?}");
        assert_eq!(report.errors, 0);
    }

    struct Stalls(u32);

    #[async_trait::async_trait]
    impl Worker for Stalls {
        async fn call(&mut self) -> Result<(), String> {
            self.0 += 1;
            if self.0 == 1 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stall_delays_the_requests_due_behind_it() {
        // 10/s for 1 s: the first call stalls 500 ms, so the four due during the stall wait
        // for it and their latency counts from when they were due.
        let pace = Pace { per_second: 10.0 };
        let report = run_paced(vec![Stalls(0)], Duration::from_secs(1), Some(pace)).await;
        assert_eq!(report.ok, 10, "{report:?}");
        assert!(report.max_us >= 500_000, "{report:?}");
        assert!(report.p90_us >= 300_000, "{report:?}");
    }
}
