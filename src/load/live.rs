//! The collector's view of the ticks: every worker's windows merged per tick, and the live
//! figures drawn only from ticks that every worker has closed, so what a terminal shows while
//! the run goes is what the report says afterwards for the same ticks.
//!
//! A worker closes a tick when it will add nothing more to it: it moved on to a later tick (a
//! response ended after the tick), it waits for an open-model arrival due after it, or it
//! stopped. Until the slowest worker has closed a tick, that tick is left out of the figures:
//! a tick counted early would lack the requests of the workers that have not reported yet,
//! which is how a live rate of a quarter of the real one came about.
use std::time::Duration;

use super::stats::Window;

/// How much of the run the live rate and p99 cover: the last second of closed ticks.
const RATE_SPAN: Duration = Duration::from_secs(1);

/// Merged ticks and, per worker, the first tick it may still add to.
pub struct TickBook {
    tick: Duration,
    ticks: Vec<Window>,
    open_from: Vec<u32>,
}

/// The live figures over ticks every worker has closed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFigures {
    /// Ticks `0..closed` are final (every worker stopped: all the run's ticks).
    pub closed: u32,
    /// The ticks the rate and p99 cover: `window.0..window.1`.
    pub window: (u32, u32),
    /// Requests and errors over every closed tick.
    pub requests: u64,
    pub errors: u64,
    /// Requests per second over `window`.
    pub rps: f64,
    /// p99 of the final outcomes over `window`, milliseconds.
    pub p99_ms: f64,
}

impl TickBook {
    pub fn new(workers: usize, tick: Duration) -> Self {
        TickBook {
            tick,
            ticks: Vec::new(),
            open_from: vec![0; workers],
        }
    }

    /// A worker's report: its window (if it had anything in it) and the first tick it may
    /// still add to.
    pub fn record(&mut self, worker: usize, window: Option<&Window>, open_from: u32) {
        if let Some(w) = window {
            let i = w.tick as usize;
            if self.ticks.len() <= i {
                let len = self.ticks.len();
                self.ticks.extend((len..=i).map(|t| Window::new(t as u32)));
            }
            self.ticks[i].merge(w);
        }
        if let Some(mark) = self.open_from.get_mut(worker) {
            *mark = (*mark).max(open_from);
        }
    }

    /// The worker stopped: it closed every tick.
    pub fn finished(&mut self, worker: usize) {
        self.record(worker, None, u32::MAX);
    }

    /// Ticks below this one are final.
    pub fn closed(&self) -> u32 {
        self.open_from.iter().copied().min().unwrap_or(u32::MAX)
    }

    /// The figures over the closed ticks; the rate and p99 over the last second of them.
    /// Closed ticks nobody reported anything in count as empty (every worker idle).
    pub fn figures(&self) -> LiveFigures {
        let recorded = self.ticks.len() as u32;
        let end = match self.closed() {
            // Every worker stopped: the run's ticks are all there.
            u32::MAX => recorded,
            closed => closed,
        };
        let span = (RATE_SPAN.as_nanos() / self.tick.as_nanos().max(1)).max(1) as u32;
        let start = end.saturating_sub(span);
        let ticks = |from: u32, to: u32| {
            &self.ticks[from.min(recorded) as usize..to.min(recorded) as usize]
        };
        let requests = ticks(0, end).iter().map(|w| u64::from(w.requests)).sum();
        let errors = ticks(0, end).iter().map(|w| u64::from(w.errors)).sum();
        let in_window = ticks(start, end);
        let window_requests: u64 = in_window.iter().map(|w| u64::from(w.requests)).sum();
        let rps = if end == start {
            0.0
        } else {
            window_requests as f64 / (self.tick.as_secs_f64() * f64::from(end - start))
        };
        let mut latency = super::stats::window_histogram();
        for w in in_window {
            let _ = latency.add(&w.latency);
        }
        LiveFigures {
            closed: end,
            window: (start, end),
            requests,
            errors,
            rps,
            p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
        }
    }

    /// Every tick, merged: the run's timeline.
    pub fn into_ticks(self) -> Vec<Window> {
        self.ticks
    }
}

/// The live view, sent to the progress renderer about every tick as one line.
#[derive(Debug, Clone)]
pub struct LiveView {
    pub elapsed: Duration,
    pub total: Option<Duration>,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p99_ms: f64,
    /// (instance id, breaker state name) for every current instance.
    pub breakers: Vec<(String, &'static str)>,
}

impl std::fmt::Display for LiveView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open: Vec<String> = self
            .breakers
            .iter()
            .filter(|(_, s)| *s != "closed")
            .map(|(id, s)| format!("{id} {s}"))
            .collect();
        let total = self
            .total
            .map_or(String::new(), |t| format!("/{:.0}s", t.as_secs_f64()));
        write!(
            f,
            "{:.1}s{total}  {} requests  {:.0} req/s  p99 {:.2} ms  {} errors  breakers: {}",
            self.elapsed.as_secs_f64(),
            self.requests,
            self.rps,
            self.p99_ms,
            self.errors,
            if open.is_empty() {
                "all closed".to_string()
            } else {
                open.join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(tick: u32, requests: u32, latency_us: u64) -> Window {
        let mut w = Window::new(tick);
        for _ in 0..requests {
            w.requests += 1;
            w.latency.record(latency_us).unwrap();
            w.count(0, true);
        }
        w
    }

    #[test]
    fn a_tick_counts_only_once_every_worker_has_closed_it() {
        let mut book = TickBook::new(2, Duration::from_millis(250));
        // Worker 0 is two ticks ahead of worker 1.
        book.record(0, Some(&window(0, 100, 1000)), 1);
        book.record(0, Some(&window(1, 100, 1000)), 2);
        assert_eq!(
            book.figures().requests,
            0,
            "worker 1 has closed nothing yet"
        );
        book.record(1, Some(&window(0, 60, 1000)), 1);
        let f = book.figures();
        assert_eq!((f.closed, f.requests), (1, 160));
        assert_eq!(f.window, (0, 1));
        assert_eq!(f.rps, 160.0 / 0.25);
        // Worker 1 idle through tick 1 (waiting for a later arrival), then reports tick 2.
        book.record(1, None, 2);
        let f = book.figures();
        assert_eq!((f.closed, f.requests), (2, 260));
        assert_eq!(f.rps, 260.0 / 0.5);
        // A window arriving late for a tick still open is added before the tick counts.
        book.record(0, Some(&window(2, 10, 5000)), 3);
        book.record(1, Some(&window(2, 30, 1000)), 3);
        assert_eq!(book.figures().requests, 300);
    }

    #[test]
    fn the_rate_covers_the_last_second_of_closed_ticks_and_p99_the_same_ticks() {
        let mut book = TickBook::new(1, Duration::from_millis(250));
        for t in 0..6 {
            book.record(
                0,
                Some(&window(t, 10 * (t + 1), 1000 * u64::from(t + 1))),
                t + 1,
            );
        }
        let f = book.figures();
        assert_eq!(f.window, (2, 6));
        // Ticks 2..6 hold 30+40+50+60 requests over one second.
        assert_eq!(f.rps, 180.0);
        assert_eq!(f.requests, 10 + 20 + 30 + 40 + 50 + 60);
        // The slowest tick in the window (6 ms) sets the p99; tick 0's 1 ms does not count.
        assert!((f.p99_ms - 6.0).abs() < 0.1, "{}", f.p99_ms);
        book.finished(0);
        assert_eq!(book.figures().closed, 6);
        assert_eq!(book.into_ticks().len(), 6);
    }

    #[test]
    fn nothing_closed_gives_zero_figures() {
        let book = TickBook::new(3, Duration::from_millis(250));
        let f = book.figures();
        assert_eq!((f.requests, f.rps, f.window), (0, 0.0, (0, 0)));
    }
}
