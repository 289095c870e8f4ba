//! What a run's tasks share: every instance seen (its slot: request template, breaker,
//! fault marks), the current balancing generation over them, the schedule, and the channel to
//! the collector with the messages it carries.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use http::header::HeaderValue;
use http::Uri;
use tokio::sync::mpsc;

use super::{http1, stats, Endpoint, FaultStep, LoadOptions, Protection, TimelineEvent};
use crate::balance::{Balancer, EndpointSpec};
use crate::breaker::{
    AdaptiveThrottle, CircuitBreaker, EjectionLimit, RetryBudget, State, Transition,
};

/// One instance as seen over the whole run (a slot lives from its first appearance).
pub(super) struct Slot {
    pub(super) index: usize,
    pub(super) id: String,
    pub(super) addr: SocketAddr,
    /// The request, serialised once for this instance.
    pub(super) request: http1::RequestTemplate,
    pub(super) weight: u32,
    pub(super) check_id: bool,
    /// What its requests' Host says.
    pub(super) authority: String,
    /// HTTPS: the server name its connections present.
    pub(super) tls: Option<rustls::pki_types::ServerName<'static>>,
    pub(super) breaker: Option<CircuitBreaker>,
    pub(super) throttle: Option<AdaptiveThrottle>,
    /// Set while a kill fault is in force, so requests to a dead instance can be counted.
    pub(super) dead: AtomicBool,
    pub(super) sent_while_dead: AtomicU64,
    /// Set by a restore fault; the first success afterwards stores its time.
    pub(super) awaiting_recovery: AtomicBool,
    pub(super) first_ok_after_restore_ns: AtomicU64,
}

impl Slot {
    pub(super) fn state(&self) -> State {
        match (&self.breaker, &self.throttle) {
            (Some(b), _) => b.state(),
            (_, Some(t)) if t.is_throttling() => State::Open,
            _ => State::Closed,
        }
    }
}

pub(super) struct Generation {
    pub(super) number: u64,
    pub(super) slots: Vec<Arc<Slot>>,
    pub(super) balancer: Balancer,
}

pub(super) enum Message {
    /// A worker moved past a tick: its window for it (if anything happened in it), and the
    /// first tick it may still add to.
    Window {
        worker: usize,
        window: Option<stats::Window>,
        open_from: u32,
    },
    Event(TimelineEvent),
    Done {
        worker: usize,
        report: Box<stats::WorkerReport>,
    },
    /// A worker panicked: it will never send `Done`, so the run ends with this error.
    WorkerFailed(String),
}

pub(super) struct Shared {
    pub(super) options: LoadOptions,
    pub(super) start: Instant,
    pub(super) deadline: Instant,
    /// `deadline` as nanoseconds since `start`.
    pub(super) deadline_ns: u64,
    pub(super) stop: AtomicBool,
    pub(super) generation_number: AtomicU64,
    pub(super) generation: RwLock<Arc<Generation>>,
    pub(super) all_slots: Mutex<Vec<Arc<Slot>>>,
    pub(super) ejection: EjectionLimit,
    pub(super) retry_budget: Option<RetryBudget>,
    /// Closed model with --requests: how many have been claimed.
    pub(super) claimed: AtomicU64,
    /// Open model: the next arrival to send.
    pub(super) next_arrival: AtomicU64,
    pub(super) schedule: Vec<u64>,
    pub(super) uri: Uri,
    pub(super) hash_values: Vec<(HeaderValue, u64)>,
    /// The hash header has one value given with the request headers (already in the template).
    pub(super) hash_header_fixed: bool,
    pub(super) tx: mpsc::UnboundedSender<Message>,
}

impl Shared {
    pub(super) fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub(super) fn event(
        &self,
        kind: &'static str,
        instance: &str,
        state: Option<State>,
        detail: String,
    ) {
        self.event_at(self.now_ns(), kind, instance, state, detail);
    }

    pub(super) fn event_at(
        &self,
        t_ns: u64,
        kind: &'static str,
        instance: &str,
        state: Option<State>,
        detail: String,
    ) {
        let _ = self.tx.send(Message::Event(TimelineEvent {
            t_ms: t_ns as f64 / 1e6,
            kind,
            instance: instance.to_string(),
            state,
            detail,
            fault: None,
        }));
    }

    /// A carried-out (`fault`) or failed (`fault-failed`) fault, with its typed kind.
    pub(super) fn fault_event(
        &self,
        t_ns: u64,
        kind: &'static str,
        step: &FaultStep,
        detail: String,
    ) {
        let _ = self.tx.send(Message::Event(TimelineEvent {
            t_ms: t_ns as f64 / 1e6,
            kind,
            instance: step.action.instance().to_string(),
            state: None,
            detail,
            fault: Some(step.action.kind()),
        }));
    }

    pub(super) fn transition(&self, slot: &Slot, t: Transition) {
        let kind = if slot.throttle.is_some() {
            "throttle"
        } else if t.from == t.to {
            "ejection-refused"
        } else {
            "breaker"
        };
        self.event(kind, &slot.id, Some(t.to), t.reason);
    }

    pub(super) fn current(&self) -> Arc<Generation> {
        self.generation
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Build a generation for `endpoints`, reusing the slots (and so the breakers and
    /// statistics) of instances already known.
    pub(super) fn install(&self, endpoints: &[Endpoint]) {
        let mut all = self.all_slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut slots = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let existing = all
                .iter()
                .find(|s| {
                    s.id == e.id && s.addr == e.addr && s.tls == e.tls && s.authority == e.authority
                })
                .cloned();
            let slot = existing.unwrap_or_else(|| {
                let slot = Arc::new(Slot {
                    index: all.len(),
                    id: e.id.clone(),
                    addr: e.addr,
                    request: http1::RequestTemplate::new(
                        &self.options.method,
                        self.uri.path_and_query().map_or("/", |p| p.as_str()),
                        &e.authority,
                        &self.options.headers,
                        self.options.body.clone(),
                    ),
                    weight: e.weight.max(1),
                    check_id: e.check_id,
                    authority: e.authority.clone(),
                    tls: e.tls.clone(),
                    breaker: match &self.options.protection {
                        Protection::Breaker(c) => Some(CircuitBreaker::new(c.clone())),
                        _ => None,
                    },
                    throttle: match &self.options.protection {
                        Protection::Adaptive(c) => Some(AdaptiveThrottle::new(c.clone())),
                        _ => None,
                    },
                    dead: AtomicBool::new(false),
                    sent_while_dead: AtomicU64::new(0),
                    awaiting_recovery: AtomicBool::new(false),
                    first_ok_after_restore_ns: AtomicU64::new(0),
                });
                all.push(slot.clone());
                slot
            });
            slots.push(slot);
        }
        let specs: Vec<EndpointSpec> = slots
            .iter()
            .map(|s| EndpointSpec {
                id: s.id.clone(),
                weight: s.weight,
            })
            .collect();
        let old = self.current();
        for gone in old
            .slots
            .iter()
            .filter(|o| !slots.iter().any(|s| s.index == o.index))
        {
            if let Some(b) = &gone.breaker {
                b.forget(&self.ejection);
            }
        }
        self.ejection
            .set_fleet_size(slots.len(), self.options.max_ejected);
        let number = old.number + 1;
        let generation = Arc::new(Generation {
            number,
            slots,
            balancer: Balancer::new(&self.options.balance, &specs),
        });
        *self.generation.write().unwrap_or_else(|e| e.into_inner()) = generation;
        self.generation_number.store(number, Ordering::Release);
        tracing::debug!(
            generation = number,
            instances = ?endpoints.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            "balancing generation installed"
        );
    }
}
