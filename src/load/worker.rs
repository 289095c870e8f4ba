//! A worker: claims its next send time (closed loop, or the open model's schedule), picks an
//! instance through the balancer and its breaker, retries within the budget, and records into
//! its own statistics, handing the collector one window per tick.
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::attempt::Attempt;
use super::shared::{Generation, Message, Shared};
use super::{http1, stats, ErrorKind, Model};
use crate::breaker::Admission;

/// Sleep until `target` with sub-millisecond precision: tokio's timer wheel has 1 ms ticks and
/// rounds deadlines up, which would make every open-model request up to 1 ms late and show up
/// as corrected latency the server never caused. Sleep to 2 ms before, then yield until due.
async fn wait_until(target: Instant) {
    let now = Instant::now();
    if target <= now {
        return;
    }
    // A sleep can end up to a tick (plus scheduling) after its deadline: aim 2 ms early.
    if target - now > Duration::from_millis(3) {
        tokio::time::sleep_until((target - Duration::from_millis(2)).into()).await;
    }
    while Instant::now() < target {
        tokio::task::yield_now().await;
    }
}

pub(super) struct Worker {
    pub(super) shared: Arc<Shared>,
    /// This worker's number, for the collector's per-worker tick marks.
    pub(super) index: usize,
    pub(super) rng: SmallRng,
    pub(super) generation: Arc<Generation>,
    pub(super) connections: Vec<Option<http1::Connection>>,
    /// `--grpc`: the HTTP/2 connection to each instance, by slot.
    pub(super) grpc_connections: Vec<Option<super::grpc::Connection>>,
    /// Where a request with a per-request header is assembled.
    pub(super) scratch: Vec<u8>,
    /// The attempt timer, reused across requests (see [`Worker::send`]).
    pub(super) timer: Option<Pin<Box<tokio::time::Sleep>>>,
    pub(super) report: stats::WorkerReport,
    pub(super) window: stats::Window,
    pub(super) tick_ns: u64,
    pub(super) next_tick_ns: u64,
}

impl Worker {
    pub(super) fn new(shared: Arc<Shared>, seed: u64, index: usize) -> Self {
        let generation = shared.current();
        let tick_ns = shared
            .options
            .tick
            .max(Duration::from_millis(10))
            .as_nanos() as u64;
        Worker {
            shared,
            index,
            rng: SmallRng::seed_from_u64(seed),
            generation,
            connections: Vec::new(),
            grpc_connections: Vec::new(),
            scratch: Vec::new(),
            timer: None,
            report: stats::WorkerReport::default(),
            window: stats::Window::new(0),
            tick_ns,
            next_tick_ns: tick_ns,
        }
    }

    pub(super) async fn run(&mut self) {
        let open = matches!(self.shared.options.model, Model::Open { .. });
        let limit = self.shared.options.requests;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            // The clock is read once here and once when the response is complete: on the
            // closed model's hot path each read is a visible share of the generator's time.
            let (intended_ns, now_ns) = if open {
                let i = self.shared.next_arrival.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(&at) = self.shared.schedule.get(i) else {
                    break;
                };
                // Nothing this worker records from now on ends before `at`: the ticks
                // before it are closed as far as it is concerned.
                if at >= self.next_tick_ns {
                    self.flush_window(at);
                }
                let target = self.shared.start + Duration::from_nanos(at);
                wait_until(target).await;
                (at, self.shared.now_ns())
            } else {
                let now_ns = self.shared.now_ns();
                if now_ns >= self.shared.deadline_ns {
                    break;
                }
                if let Some(limit) = limit {
                    if self.shared.claimed.fetch_add(1, Ordering::Relaxed) >= limit {
                        break;
                    }
                }
                (now_ns, now_ns)
            };
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let rejected_locally = self.request(intended_ns, now_ns).await;
            if rejected_locally && !open {
                // A closed-model worker whose every instance is cut off would otherwise spin
                // millions of local rejections a second; a real client would back off too.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let now = self.shared.now_ns();
        self.flush_window(now);
        let report = std::mem::take(&mut self.report);
        let _ = self.shared.tx.send(Message::Done {
            worker: self.index,
            report: Box::new(report),
        });
    }

    fn refresh_generation(&mut self) {
        let number = self.shared.generation_number.load(Ordering::Acquire);
        if number != self.generation.number {
            self.generation = self.shared.current();
            // Close the keep-alive connections to instances that left the fleet: a long run
            // over a churning fleet would otherwise hold one socket per worker per departed
            // instance. Slot indices are stable for the run, so a returning instance simply
            // connects again.
            for (index, connection) in self.connections.iter_mut().enumerate() {
                if connection.is_some() && !self.generation.slots.iter().any(|s| s.index == index) {
                    *connection = None;
                }
            }
        }
    }

    /// Close the current window: nothing this worker records from now on ends before
    /// `now_ns`. The collector hears of it even when the window is empty, since it counts a
    /// tick only once every worker has closed it.
    fn flush_window(&mut self, now_ns: u64) {
        let tick = (now_ns / self.tick_ns) as u32;
        let window = if self.window.requests > 0 || !self.window.per_slot.is_empty() {
            Some(std::mem::replace(
                &mut self.window,
                stats::Window::new(tick),
            ))
        } else {
            self.window.tick = tick;
            None
        };
        let _ = self.shared.tx.send(Message::Window {
            worker: self.index,
            window,
            open_from: tick,
        });
        self.next_tick_ns = (u64::from(tick) + 1) * self.tick_ns;
    }

    /// Send one request (with its retries); returns whether it was refused locally.
    async fn request(&mut self, intended_ns: u64, now_ns: u64) -> bool {
        self.refresh_generation();
        let generation = self.generation.clone();
        let (hash_value, key) = if self.shared.hash_values.is_empty() {
            (None, 0)
        } else {
            let i = self.rng.gen_range(0..self.shared.hash_values.len());
            let (v, k) = &self.shared.hash_values[i];
            (Some(v.clone()), *k)
        };
        if let Some(budget) = &self.shared.retry_budget {
            budget.deposit(intended_ns);
        }
        let mut excluded: Option<usize> = None;
        let mut attempts_left = self.shared.options.retries;
        let outcome: Result<usize, ErrorKind>;
        let mut sent_ns = intended_ns;
        let mut last_end_ns = None;
        let mut now = now_ns;
        loop {
            let Some((position, admitted_probe)) = self.choose(&generation, key, now, excluded)
            else {
                outcome = Err(if generation.slots.is_empty() {
                    ErrorKind::NoInstance
                } else {
                    ErrorKind::BreakerRejected
                });
                break;
            };
            let _ = admitted_probe;
            let slot = generation.slots[position].clone();
            if let Some(throttle) = &slot.throttle {
                let draw: f64 = self.rng.gen();
                let (admit, transition) = throttle.try_acquire(now, draw);
                if let Some(t) = transition {
                    self.shared.transition(&slot, t);
                }
                if !admit {
                    self.report.slot(slot.index).errors[ErrorKind::BreakerRejected as usize] += 1;
                    outcome = Err(ErrorKind::BreakerRejected);
                    break;
                }
            }
            // Sent after the kill was ordered: counted once it is known the instance did not
            // answer (one that still answered was not dead yet: the kill takes a moment).
            let sent_while_dead = slot.dead.load(Ordering::Relaxed);
            sent_ns = now;
            generation.balancer.start(position);
            let attempt = self.send(&slot, hash_value.as_ref(), sent_ns).await;
            let end_ns = self.shared.now_ns();
            now = end_ns;
            last_end_ns = Some(end_ns);
            generation
                .balancer
                .finish(position, end_ns.saturating_sub(sent_ns), end_ns);
            let failed = match &attempt {
                Attempt::Ok { .. } => None,
                Attempt::Failed(kind) => Some(*kind),
            };
            let instance_failure = failed.is_some_and(ErrorKind::is_instance_failure);
            if sent_while_dead && failed.is_some() {
                slot.sent_while_dead.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(b) = &slot.breaker {
                if let Some(t) = b.record(end_ns, instance_failure, &self.shared.ejection) {
                    self.shared.transition(&slot, t);
                }
            }
            if let Some(t) = &slot.throttle {
                if let Some(tr) = t.record(end_ns, !instance_failure) {
                    self.shared.transition(&slot, tr);
                }
            }
            let stats = self.report.slot(slot.index);
            stats.sent += 1;
            let corrected_us = (end_ns.saturating_sub(intended_ns) / 1000).max(1);
            let uncorrected_us = (end_ns.saturating_sub(sent_ns) / 1000).max(1);
            let _ = stats.corrected.record(corrected_us);
            let _ = stats.uncorrected.record(uncorrected_us);
            match attempt {
                Attempt::Ok { id_mismatch } => {
                    stats.ok += 1;
                    stats.id_mismatches += u64::from(id_mismatch);
                    if slot.awaiting_recovery.load(Ordering::Relaxed)
                        && slot
                            .awaiting_recovery
                            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                    {
                        slot.first_ok_after_restore_ns
                            .store(end_ns.max(1), Ordering::Relaxed);
                    }
                    outcome = Ok(slot.index);
                    break;
                }
                Attempt::Failed(kind) => {
                    stats.errors[kind as usize] += 1;
                    let retry = attempts_left > 0
                        && kind.is_instance_failure()
                        && self
                            .shared
                            .retry_budget
                            .as_ref()
                            .is_some_and(|b| b.try_withdraw(end_ns));
                    if !retry {
                        outcome = Err(kind);
                        break;
                    }
                    attempts_left -= 1;
                    self.report.totals.retries += 1;
                    excluded = Some(position);
                }
            }
        }
        // One clock read per attempt is enough: a local rejection reads it once more.
        let end_ns = last_end_ns.unwrap_or_else(|| self.shared.now_ns());
        if end_ns >= self.next_tick_ns {
            self.flush_window(end_ns);
        }
        let totals = &mut self.report.totals;
        totals.requests += 1;
        totals.last_end_ns = totals.last_end_ns.max(end_ns);
        let corrected_us = (end_ns.saturating_sub(intended_ns) / 1000).max(1);
        let uncorrected_us = (end_ns.saturating_sub(sent_ns.min(end_ns)) / 1000).max(1);
        self.window.requests += 1;
        match outcome {
            Ok(index) => {
                totals.ok += 1;
                let _ = totals.corrected.record(corrected_us);
                let _ = totals.uncorrected.record(uncorrected_us);
                let _ = self.window.latency.record(corrected_us);
                self.window.count(index, true);
                false
            }
            Err(kind) => {
                totals.errors[kind as usize] += 1;
                self.window.errors += 1;
                matches!(kind, ErrorKind::BreakerRejected | ErrorKind::NoInstance)
            }
        }
    }

    /// Pick an instance its breaker admits; a few tries, since a half-open breaker may have
    /// run out of probe permits between the eligibility check and the acquire.
    fn choose(
        &mut self,
        generation: &Generation,
        key: u64,
        now: u64,
        excluded: Option<usize>,
    ) -> Option<(usize, bool)> {
        for _ in 0..3 {
            let slots = &generation.slots;
            let eligible = |i: usize| {
                Some(i) != excluded
                    && slots[i]
                        .breaker
                        .as_ref()
                        .is_none_or(|b| b.is_available(now))
            };
            let position = generation
                .balancer
                .pick(&mut self.rng, key, now, &eligible)?;
            let Some(breaker) = &slots[position].breaker else {
                return Some((position, false));
            };
            match breaker.try_acquire(now) {
                Admission::Allowed => return Some((position, false)),
                Admission::Probe(transition) => {
                    if let Some(t) = transition {
                        self.shared.transition(&slots[position], t);
                    }
                    return Some((position, true));
                }
                Admission::Rejected => continue,
            }
        }
        None
    }
}
