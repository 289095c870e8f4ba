//! The one stop signal: SIGINT and SIGTERM become a [`Stop`] that a command hands to the domain
//! code. Long work (`up`, `register`, `discover --watch`, `load`, builds, pushes, rollout waits)
//! selects on [`Stop::stopped`], reports what it did, and the command exits 130.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// A cloneable stop signal. Cancelled by SIGINT/SIGTERM (see [`Stop::on_signals`]) or by
/// [`Stop::stop`] (tests, a worker that gave up).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    by_signal: Arc<AtomicBool>,
}

impl Stop {
    /// A stop signal nothing triggers but [`Stop::stop`].
    pub fn new() -> Self {
        Stop::default()
    }

    /// A stop signal that SIGINT (Ctrl-C) and SIGTERM trigger. Call once, inside the runtime.
    pub fn on_signals() -> Self {
        let stop = Stop::new();
        let armed = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            armed.by_signal.store(true, Ordering::SeqCst);
            armed.token.cancel();
        });
        stop
    }

    /// Trigger the stop.
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Whether the stop was triggered.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Whether a signal (rather than [`Stop::stop`]) triggered it: the run was interrupted.
    pub fn by_signal(&self) -> bool {
        self.by_signal.load(Ordering::SeqCst)
    }

    /// Resolves once the stop is triggered (at once if it already was).
    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// A child that stops with this one and can also be stopped on its own (one worker group).
    pub fn child(&self) -> Stop {
        Stop {
            token: self.token.child_token(),
            by_signal: self.by_signal.clone(),
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_stops_with_its_parent_and_a_manual_stop_is_not_a_signal() {
        let stop = Stop::new();
        let child = stop.child();
        assert!(!child.is_stopped());
        stop.stop();
        child.stopped().await;
        assert!(child.is_stopped());
        assert!(!stop.by_signal());
    }

    #[tokio::test]
    async fn stopping_a_child_leaves_the_parent_running() {
        let stop = Stop::new();
        let child = stop.child();
        child.stop();
        assert!(child.is_stopped());
        assert!(!stop.is_stopped());
    }
}
