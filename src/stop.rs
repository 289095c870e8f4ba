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
    ///
    /// The handlers are installed before this returns: a signal that arrives while the command
    /// is still starting stops it (exit 130) instead of killing the process with the default
    /// action, which would skip every cleanup.
    pub fn on_signals() -> Self {
        let stop = Stop::new();
        let armed = stop.clone();
        let signals = Signals::install();
        tokio::spawn(async move {
            signals.recv().await;
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

/// SIGINT and SIGTERM, registered with the runtime at once (tokio's `ctrl_c()` registers only
/// when first polled, which is too late for a signal sent right after start).
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn recv(mut self) {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.interrupt) => {}
            () = next(&mut self.terminate) => {}
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
    async fn a_signal_sent_right_after_arming_stops_instead_of_killing() {
        let stop = Stop::on_signals();
        // No yield between arming and the signal: the handler must already be in place.
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), stop.stopped())
            .await
            .expect("the stop fires");
        assert!(stop.by_signal());
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
