//! One attempt on one instance: the worker's reusable timeout timer, its kept-alive
//! connection to the instance, and the response attributed to the instance (status class,
//! `X-Instance-ID` cross-check).
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;

use super::shared::Slot;
use super::worker::Worker;
use super::{grpc, http1, ErrorKind};

/// The result of one attempt on one instance.
pub(super) enum Attempt {
    Ok { id_mismatch: bool },
    Failed(ErrorKind),
}

impl Worker {
    /// One attempt, bounded by --timeout. The worker keeps one timer armed for a deadline
    /// between the attempt's due time and `slack` after it, and moves it only when it falls
    /// out of that range: a timer per request (`tokio::time::timeout`) would enter and leave
    /// the runtime's timer wheel on every request. A timeout so fires at most `slack` late.
    pub(super) async fn send(
        &mut self,
        slot: &Slot,
        hash_value: Option<&HeaderValue>,
        sent_ns: u64,
    ) -> Attempt {
        let timeout = self.shared.options.timeout;
        let slack = (timeout / 20).max(Duration::from_millis(1));
        let due = self.shared.start + Duration::from_nanos(sent_ns) + timeout;
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until((due + slack).into())));
        let armed = timer.deadline().into_std();
        if armed < due || armed > due + slack {
            timer.as_mut().reset((due + slack).into());
        }
        let result = tokio::select! {
            biased;
            result = self.exchange(slot, hash_value) => Some(result),
            () = timer.as_mut() => None,
        };
        self.timer = Some(timer);
        match result {
            Some(Ok(attempt)) => attempt,
            Some(Err(kind)) => Attempt::Failed(kind),
            None => Attempt::Failed(ErrorKind::Timeout),
        }
    }

    /// One exchange on the worker's connection to `slot`. The connection is taken out while
    /// in use and put back only when it can carry the next request, so a timeout or a broken
    /// exchange drops it.
    async fn exchange(
        &mut self,
        slot: &Slot,
        hash_value: Option<&HeaderValue>,
    ) -> Result<Attempt, ErrorKind> {
        if self.shared.options.grpc.is_some() {
            return self.grpc_exchange(slot).await;
        }
        if self.connections.len() <= slot.index {
            self.connections.resize_with(slot.index + 1, || None);
        }
        let extra = match (&self.shared.options.hash, hash_value) {
            (Some(h), Some(v)) if !self.shared.hash_header_fixed => Some((&h.header, v)),
            _ => None,
        };
        let template = &slot.request;
        let request = template.bytes(extra, &mut self.scratch);
        let expect_id = slot.check_id.then_some(slot.id.as_bytes());
        let mut resent = false;
        loop {
            let mut connection = match self.connections[slot.index].take() {
                Some(c) => c,
                None => {
                    let tls = match (&slot.tls, &self.shared.options.tls) {
                        (None, _) => None,
                        (Some(name), Some(client)) => Some((client, name)),
                        // An HTTPS instance appeared in a run that has no TLS client (no
                        // trusted roots and neither --cacert nor --insecure).
                        (Some(_), None) => return Err(ErrorKind::Tls),
                    };
                    let opened =
                        http1::Connection::open(slot.addr, tls)
                            .await
                            .map_err(|e| match e {
                                http1::OpenError::Connect(_) => ErrorKind::Connect,
                                http1::OpenError::Tls(_) => ErrorKind::Tls,
                            })?;
                    let totals = &mut self.report.totals;
                    totals.connections += 1;
                    if let Some(d) = opened.handshake {
                        let _ = totals.tls_handshakes.record(d.as_micros().max(1) as u64);
                    }
                    opened
                }
            };
            match connection
                .exchange(request, template.is_head, expect_id)
                .await
            {
                Ok(exchange) => {
                    if exchange.keep_alive {
                        self.connections[slot.index] = Some(connection);
                    }
                    return Ok(match exchange.status {
                        500..=599 => Attempt::Failed(ErrorKind::Status5xx),
                        400..=499 => Attempt::Failed(ErrorKind::Status4xx),
                        _ => Attempt::Ok {
                            id_mismatch: exchange.id_mismatch,
                        },
                    });
                }
                // The server closed the idle connection: the request never reached it.
                Err(http1::Failure::Stale) if template.idempotent && !resent => resent = true,
                Err(_) => return Err(ErrorKind::Transport),
            }
        }
    }

    /// One unary gRPC call on the worker's HTTP/2 connection to `slot`, opened on first use
    /// and dropped when it breaks (a GOAWAY, a reset, a killed instance).
    async fn grpc_exchange(&mut self, slot: &Slot) -> Result<Attempt, ErrorKind> {
        let shared = Arc::clone(&self.shared);
        let Some(call) = &shared.options.grpc else {
            return Err(ErrorKind::Transport);
        };
        if self.grpc_connections.len() <= slot.index {
            self.grpc_connections.resize_with(slot.index + 1, || None);
        }
        let expect_id = slot.check_id.then_some(slot.id.as_bytes());
        let mut resent = false;
        let answer = loop {
            let mut connection = match self.grpc_connections[slot.index].take() {
                Some(c) => c,
                None => {
                    let tls = match (&slot.tls, &shared.options.tls) {
                        (None, _) => None,
                        (Some(name), Some(client)) => Some((client, name)),
                        (Some(_), None) => return Err(ErrorKind::Tls),
                    };
                    let opened = grpc::Connection::open(slot.addr, tls).await?;
                    let totals = &mut self.report.totals;
                    totals.connections += 1;
                    if let Some(d) = opened.handshake {
                        let _ = totals.tls_handshakes.record(d.as_micros().max(1) as u64);
                    }
                    opened
                }
            };
            match connection.call(&slot.authority, call, expect_id).await {
                Ok(answer) => {
                    self.grpc_connections[slot.index] = Some(connection);
                    break answer;
                }
                // A connection the server is closing (GOAWAY after a graceful stop began, an
                // idle timeout): the call never reached it, so it goes once more on a new one.
                Err(grpc::CallError::Stale) if !resent => resent = true,
                Err(_) => return Err(ErrorKind::Transport),
            }
        };
        Ok(match grpc::classify(answer.code) {
            Some(kind) => Attempt::Failed(kind),
            None => Attempt::Ok {
                id_mismatch: answer.id_mismatch,
            },
        })
    }
}
