//! One run: the discovery follower, the fault timeline, the workers and the collector that
//! merges their windows per tick, feeds the live view and builds the [`RunOutcome`].
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::Uri;
use tokio::sync::mpsc;

use super::shared::{Generation, Message, Shared};
use super::worker::Worker;
use super::{
    live, schedule, stats, FaultAction, FaultActuator, FaultStep, LiveView, LoadError, LoadOptions,
    Model, Targets, TimelineEvent, HARD_CAP,
};
use crate::balance::{self, Balancer};
use crate::breaker::{EjectionLimit, RetryBudget, State};
use crate::stop::Stop;

/// Await every worker in completion order; one that panicked is reported at once, so the
/// collector stops instead of waiting for its `Done` forever.
async fn watch_workers(
    handles: Vec<tokio::task::JoinHandle<()>>,
    tx: mpsc::UnboundedSender<Message>,
) {
    use futures::StreamExt as _;
    let mut running: futures::stream::FuturesUnordered<_> = handles
        .into_iter()
        .enumerate()
        .map(|(w, h)| async move { (w, h.await) })
        .collect();
    while let Some((w, result)) = running.next().await {
        if let Err(e) = result {
            if e.is_panic() {
                let payload = e.into_panic();
                let why = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                let _ = tx.send(Message::WorkerFailed(format!(
                    "load worker {w} panicked: {why}"
                )));
            }
        }
    }
}

/// What the run measured, before it is turned into a [`Report`].
pub struct RunOutcome {
    pub elapsed: Duration,
    pub instances: Vec<InstanceOutcome>,
    pub totals: stats::Totals,
    pub ticks: Vec<stats::Window>,
    pub events: Vec<TimelineEvent>,
    /// Open model: how many arrivals were scheduled and a digest of their times, so two runs
    /// can be shown to have replayed the same schedule.
    pub schedule: Option<(u64, String)>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
}

/// One instance's figures and final state.
pub struct InstanceOutcome {
    pub id: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub present_at_end: bool,
    pub final_state: State,
    pub stats: stats::SlotStats,
    pub sent_while_dead: u64,
    pub first_ok_after_restore: Option<Duration>,
}

/// Run the load. `progress` receives a live view about every tick (the renderer draws it);
/// `actuator` carries out `options.faults`. On `stop` the senders stop and the outcome, marked
/// interrupted, covers what was measured so far.
pub async fn run(
    options: LoadOptions,
    targets: Targets,
    actuator: Option<Arc<dyn FaultActuator>>,
    progress: &crate::progress::Progress,
    stop: &Stop,
) -> Result<RunOutcome, LoadError> {
    let uri: Uri = options
        .path
        .parse()
        .map_err(|e: http::uri::InvalidUri| LoadError::BadPath {
            path: options.path.clone(),
            why: e.to_string(),
        })?;
    let duration = options.duration.unwrap_or(HARD_CAP).min(HARD_CAP);
    let schedule = match &options.model {
        Model::Open {
            rate,
            arrivals,
            profile,
            ..
        } => schedule::arrival_times(
            *rate,
            profile,
            *arrivals,
            duration,
            options.requests.unwrap_or(u64::MAX),
            options.seed,
        ),
        Model::Closed { .. } => Vec::new(),
    };
    // A shard sends its interleaved part of the whole schedule: no burst at the start, and
    // the shards together send exactly the requested arrivals.
    let schedule = match options.shard {
        Some(s) if s.count > 1 => schedule
            .into_iter()
            .skip(s.index as usize)
            .step_by(s.count as usize)
            .collect(),
        _ => schedule,
    };
    // A fixed -H value for the hash header is already in each instance's request template;
    // otherwise workers add one of the generated keys per request.
    let fixed = options
        .hash
        .as_ref()
        .and_then(|h| options.headers.iter().find(|(n, _)| *n == h.header));
    let hash_header_fixed = fixed.is_some();
    let hash_values = match (&options.hash, fixed) {
        (Some(_), Some((_, v))) => vec![(v.clone(), balance::hash_bytes(v.as_bytes()))],
        (Some(h), None) => (0..h.keys.max(1))
            .map(|k| {
                let text = format!("key-{k}");
                let hash = balance::hash_bytes(text.as_bytes());
                (HeaderValue::from_str(&text).expect("ascii key"), hash)
            })
            .collect(),
        (None, _) => Vec::new(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let retry_budget =
        (options.retries > 0).then(|| RetryBudget::new(options.retry_budget.clone()));
    let tick = options.tick.max(Duration::from_millis(10));
    let shared = Arc::new(Shared {
        start,
        deadline: start + duration,
        deadline_ns: duration.as_nanos() as u64,
        stop: AtomicBool::new(false),
        generation_number: AtomicU64::new(0),
        generation: RwLock::new(Arc::new(Generation {
            number: 0,
            slots: Vec::new(),
            balancer: Balancer::new(&options.balance, &[]),
        })),
        all_slots: Mutex::new(Vec::new()),
        ejection: EjectionLimit::new(),
        retry_budget,
        claimed: AtomicU64::new(0),
        next_arrival: AtomicU64::new(0),
        schedule,
        uri,
        hash_values,
        hash_header_fixed,
        tx: tx.clone(),
        options,
    });

    // Discovery: the first list now, then follow changes until the run stops.
    let mut discovery = None;
    match targets {
        Targets::Fixed(list) => shared.install(&list),
        Targets::Live(mut rx_instances) => {
            let first = rx_instances.borrow_and_update().clone();
            shared.install(&first);
            for e in &first {
                shared.event("added", &e.id, None, format!("{} (initial)", e.addr));
            }
            let shared = shared.clone();
            discovery = Some(tokio::spawn(async move {
                let mut known = first;
                while rx_instances.changed().await.is_ok() {
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let next = rx_instances.borrow_and_update().clone();
                    for e in next.iter().filter(|e| !known.contains(e)) {
                        shared.event("added", &e.id, None, e.addr.to_string());
                    }
                    for e in known.iter().filter(|e| !next.contains(e)) {
                        shared.event("removed", &e.id, None, e.addr.to_string());
                    }
                    shared.install(&next);
                    known = next;
                }
            }));
        }
    }

    // Faults at their times, carried out off the async threads (they fork and wait).
    let fault_task = actuator
        .filter(|_| !shared.options.faults.is_empty())
        .map(|actuator| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut plan = shared.options.faults.clone();
                plan.sort_by_key(|f| f.at);
                for step in plan {
                    tokio::time::sleep_until((shared.start + step.at).into()).await;
                    if shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    apply_fault(&shared, actuator.clone(), step).await;
                }
            })
        });

    let workers = match &shared.options.model {
        Model::Closed { concurrency } | Model::Open { concurrency, .. } => (*concurrency).max(1),
    };
    tracing::debug!(
        workers,
        scheduled = shared.schedule.len(),
        ?duration,
        "starting the run"
    );
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let shared = shared.clone();
        let seed = shared.options.seed ^ (w as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        handles.push(tokio::spawn(async move {
            let mut worker = Worker::new(shared, seed, w);
            worker.run().await;
        }));
    }
    let monitor = tokio::spawn(watch_workers(handles, tx.clone()));
    drop(tx);

    // The hard stop: the deadline plus one timeout for requests in flight.
    let stopper = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let grace = shared.options.timeout + Duration::from_secs(1);
            tokio::time::sleep_until((shared.deadline + grace).into()).await;
            shared.stop.store(true, Ordering::Relaxed);
        })
    };

    // Collect until every worker reported; draw progress once per tick.
    let mut totals = stats::WorkerReport::default();
    let mut book = live::TickBook::new(workers, tick);
    let mut events = Vec::new();
    let mut done = 0;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut interrupted = false;
    let mut failure = None;
    while done < workers {
        tokio::select! {
            // The stop signal stops the senders; the report covers what was measured so far.
            () = stop.stopped(), if !interrupted => {
                interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
            }
            message = rx.recv() => match message {
                Some(Message::Window { worker, window, open_from }) => {
                    book.record(worker, window.as_ref(), open_from);
                }
                Some(Message::Event(e)) => events.push(e),
                Some(Message::Done { worker, report }) => {
                    totals.merge(&report);
                    book.finished(worker);
                    done += 1;
                }
                Some(Message::WorkerFailed(why)) => {
                    failure = Some(why);
                    break;
                }
                None => break,
            },
            _ = interval.tick() => {
                // Only ticks every worker has closed count, as in the report.
                let figures = book.figures();
                let generation = shared.current();
                progress.live(LiveView {
                    elapsed: start.elapsed(),
                    total: shared.options.duration,
                    requests: figures.requests,
                    errors: figures.errors,
                    rps: figures.rps,
                    p99_ms: figures.p99_ms,
                    breakers: generation
                        .slots
                        .iter()
                        .map(|s| (s.id.clone(), s.state().name()))
                        .collect(),
                }.to_string());
            }
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    stopper.abort();
    if let Some(d) = discovery {
        d.abort();
    }
    if let Some(f) = fault_task {
        f.abort();
    }
    if let Some(why) = failure {
        monitor.abort();
        return Err(LoadError::WorkerPanicked(why));
    }
    let _ = monitor.await;
    while let Ok(message) = rx.try_recv() {
        if let Message::Event(e) = message {
            events.push(e);
        }
    }
    // The run lasted until its last response (a worker that found nothing left to send
    // does not stretch it).
    let last_ns = totals.totals.last_end_ns.max(1);
    let elapsed = Duration::from_nanos(last_ns).min(start.elapsed());
    let schedule_digest = (!shared.schedule.is_empty()).then(|| {
        let bytes: Vec<u8> = shared
            .schedule
            .iter()
            .flat_map(|t| t.to_le_bytes())
            .collect();
        (
            shared.schedule.len() as u64,
            format!("{:016x}", balance::hash_bytes(&bytes)),
        )
    });
    events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));

    let current = shared.current();
    let all = shared
        .all_slots
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let instances = all
        .iter()
        .map(|slot| {
            let stats = totals.slots.get(slot.index).cloned().unwrap_or_default();
            let first_ok = slot.first_ok_after_restore_ns.load(Ordering::Relaxed);
            InstanceOutcome {
                id: slot.id.clone(),
                addr: slot.addr,
                weight: slot.weight,
                present_at_end: current.slots.iter().any(|s| s.index == slot.index),
                final_state: slot.state(),
                stats,
                sent_while_dead: slot.sent_while_dead.load(Ordering::Relaxed),
                first_ok_after_restore: (first_ok > 0).then(|| Duration::from_nanos(first_ok)),
            }
        })
        .collect();
    Ok(RunOutcome {
        elapsed: elapsed.max(Duration::from_millis(1)),
        instances,
        totals: totals.totals,
        ticks: book.into_ticks(),
        events,
        schedule: schedule_digest,
        interrupted,
    })
}

async fn apply_fault(shared: &Arc<Shared>, actuator: Arc<dyn FaultActuator>, step: FaultStep) {
    let started_ns = shared.now_ns();
    let slot = {
        let all = shared.all_slots.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().find(|s| s.id == step.action.instance()).cloned()
    };
    // Mark before acting: requests racing the kill are the ones the report must count.
    if let (FaultAction::Kill(_), Some(slot)) = (&step.action, &slot) {
        slot.awaiting_recovery.store(false, Ordering::Relaxed);
        slot.dead.store(true, Ordering::Relaxed);
    }
    let result = super::faults::carry_out(actuator.as_ref(), &step.action).await;
    match result {
        Ok(()) => {
            if let (FaultAction::Restore(_), Some(slot)) = (&step.action, &slot) {
                slot.dead.store(false, Ordering::Relaxed);
                slot.first_ok_after_restore_ns.store(0, Ordering::Relaxed);
                slot.awaiting_recovery.store(true, Ordering::Relaxed);
            }
            shared.fault_event(started_ns, "fault", &step, step.to_string());
        }
        Err(e) => {
            if let (FaultAction::Kill(_), Some(slot)) = (&step.action, &slot) {
                slot.dead.store(false, Ordering::Relaxed);
            }
            shared.fault_event(
                started_ns,
                "fault-failed",
                &step,
                format!("{step}: {:#}", anyhow::Error::new(e)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`watch_workers`] only sees a panic if the binary unwinds: with `panic = "abort"` a
    /// worker's panic would end the process with SIGABRT (no report, no one-line error, no
    /// destructor: a `go build` child or a temporary file left behind).
    #[test]
    fn the_release_binary_unwinds_so_a_worker_panic_can_be_reported() {
        let manifest: toml::Value = toml::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/Cargo.toml"
        )))
        .unwrap();
        for profile in ["release", "dev"] {
            let panic = manifest
                .get("profile")
                .and_then(|p| p.get(profile))
                .and_then(|p| p.get("panic"))
                .and_then(|p| p.as_str())
                .unwrap_or("unwind");
            assert_eq!(panic, "unwind", "[profile.{profile}] panic");
        }
    }

    #[tokio::test]
    async fn a_panicking_worker_is_reported_while_the_others_still_run() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let still_running = tokio::spawn(async move {
            let _ = hold.await;
        });
        let panicking = tokio::spawn(async { panic!("boom") });
        tokio::spawn(watch_workers(vec![still_running, panicking], tx));
        let message = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the panic is reported without waiting for the other worker");
        match message {
            Some(Message::WorkerFailed(why)) => {
                assert!(why.contains("worker 1") && why.contains("boom"), "{why}")
            }
            _ => panic!("expected WorkerFailed"),
        }
        let _ = release.send(());
    }
}
