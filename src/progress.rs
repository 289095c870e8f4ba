//! The one progress path: producers (fleet start-up, registration keepers, load workers, image
//! builds, pushes, rollout waits) send [`Event`]s through a [`Progress`] handle; one renderer
//! task, owned by the printer, draws them: indicatif bars on a terminal, plain status lines on
//! stderr otherwise, nothing under `-q` or `--output json`. Producers never print.
use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

/// Identifies one task (a layer, a build step, an instance) within a progress display.
pub type TaskId = String;

/// What a producer reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A task started: `label` names it (`orders-1`, `layer sha256:ab12…`, `[2/5] RUN go build`).
    Start {
        id: TaskId,
        label: String,
        total: Option<u64>,
    },
    /// A task moved on: a new message, and/or a position out of its total.
    Update {
        id: TaskId,
        message: Option<String>,
        position: Option<u64>,
    },
    /// A task ended; `message` says how (`ready`, `pushed`, `cached`, `failed: …`).
    Finish { id: TaskId, message: String },
    /// A status line with a verb, cargo style (`Started orders-1 on 127.0.0.1:8081`).
    Status { verb: String, message: String },
    /// A warning (`warning: orders-2 did not appear in …`), shown in every visible mode.
    Warn(String),
    /// One live summary line replacing the previous one (load's rate/p99/errors view). Shown
    /// only on a terminal: plain output does not repeat it.
    Live(String),
}

/// How the renderer draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// indicatif bars and spinners on stderr.
    Terminal,
    /// Plain lines on stderr: a line per start, finish and status; no live lines.
    Lines,
    /// Nothing (`-q`, `--output json`).
    Hidden,
}

/// The producer side: cheap to clone, never blocks, never fails (a gone renderer is ignored).
#[derive(Debug, Clone)]
pub struct Progress {
    tx: Option<mpsc::UnboundedSender<Event>>,
}

impl Progress {
    /// A handle that discards everything (library callers, tests).
    pub fn hidden() -> Self {
        Progress { tx: None }
    }

    /// A handle feeding `tx` (tests that want to see the events).
    pub fn to_channel(tx: mpsc::UnboundedSender<Event>) -> Self {
        Progress { tx: Some(tx) }
    }

    pub fn send(&self, event: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event);
        }
    }

    pub fn start(&self, id: impl Into<TaskId>, label: impl Into<String>, total: Option<u64>) {
        self.send(Event::Start {
            id: id.into(),
            label: label.into(),
            total,
        });
    }

    pub fn message(&self, id: impl Into<TaskId>, message: impl Into<String>) {
        self.send(Event::Update {
            id: id.into(),
            message: Some(message.into()),
            position: None,
        });
    }

    pub fn position(&self, id: impl Into<TaskId>, position: u64) {
        self.send(Event::Update {
            id: id.into(),
            message: None,
            position: Some(position),
        });
    }

    pub fn finish(&self, id: impl Into<TaskId>, message: impl Into<String>) {
        self.send(Event::Finish {
            id: id.into(),
            message: message.into(),
        });
    }

    pub fn status(&self, verb: impl Into<String>, message: impl Into<String>) {
        self.send(Event::Status {
            verb: verb.into(),
            message: message.into(),
        });
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.send(Event::Warn(message.into()));
    }

    pub fn live(&self, line: impl Into<String>) {
        self.send(Event::Live(line.into()));
    }
}

/// A running renderer. Dropping the last [`Progress`] clone and calling [`Renderer::finish`]
/// waits until everything sent has been drawn and the bars are cleared.
#[derive(Debug)]
pub struct Renderer {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Renderer {
    /// Start a renderer in `mode`; `color` styles the status verbs. Must run inside the runtime.
    pub fn start(mode: Mode, color: bool) -> (Progress, Renderer) {
        if mode == Mode::Hidden {
            return (Progress::hidden(), Renderer { task: None });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(render(rx, mode, color));
        (Progress { tx: Some(tx) }, Renderer { task: Some(task) })
    }

    /// Wait until the renderer has drawn everything (all [`Progress`] clones must be dropped).
    pub async fn finish(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// `warning: message`, the label bold yellow when `color`.
pub(crate) fn warning_line(message: &str, color: bool) -> String {
    if color {
        format!("\x1b[1;33mwarning\x1b[0m: {message}")
    } else {
        format!("warning: {message}")
    }
}

/// `verb` right-aligned in 12 columns, bold green when `color`: the cargo-style status line.
pub(crate) fn status_line(verb: &str, message: &str, color: bool) -> String {
    if color {
        format!("\x1b[1;32m{verb:>12}\x1b[0m {message}")
    } else {
        format!("{verb:>12} {message}")
    }
}

async fn render(mut rx: mpsc::UnboundedReceiver<Event>, mode: Mode, color: bool) {
    match mode {
        Mode::Hidden => while rx.recv().await.is_some() {},
        Mode::Lines => {
            let mut labels: HashMap<TaskId, String> = HashMap::new();
            while let Some(event) = rx.recv().await {
                if let Some(line) = plain_line(&mut labels, event, color) {
                    eprintln!("{line}");
                }
            }
        }
        Mode::Terminal => render_terminal(rx, color).await,
    }
}

/// The plain-lines form of an event, or `None` for what only a terminal shows.
fn plain_line(labels: &mut HashMap<TaskId, String>, event: Event, color: bool) -> Option<String> {
    match event {
        Event::Start { id, label, .. } => {
            let line = status_line("Started", &label, color);
            labels.insert(id, label);
            Some(line)
        }
        Event::Update { .. } | Event::Live(_) => None,
        Event::Finish { id, message } => {
            let label = labels.remove(&id).unwrap_or(id);
            Some(status_line(
                "Finished",
                &format!("{label}: {message}"),
                color,
            ))
        }
        Event::Status { verb, message } => Some(status_line(&verb, &message, color)),
        Event::Warn(message) => Some(warning_line(&message, color)),
    }
}

async fn render_terminal(mut rx: mpsc::UnboundedReceiver<Event>, color: bool) {
    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let spinner = ProgressStyle::with_template("{spinner} {prefix} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut tasks: HashMap<TaskId, ProgressBar> = HashMap::new();
    let mut live: Option<ProgressBar> = None;
    while let Some(event) = rx.recv().await {
        match event {
            Event::Start { id, label, total } => {
                let pb = match total {
                    Some(total) => multi.add(ProgressBar::new(total).with_style(bar.clone())),
                    None => multi.add(ProgressBar::new_spinner().with_style(spinner.clone())),
                };
                pb.set_prefix(label);
                pb.enable_steady_tick(Duration::from_millis(120));
                tasks.insert(id, pb);
            }
            Event::Update {
                id,
                message,
                position,
            } => {
                if let Some(pb) = tasks.get(&id) {
                    if let Some(m) = message {
                        pb.set_message(m);
                    }
                    if let Some(p) = position {
                        pb.set_position(p);
                    }
                }
            }
            Event::Finish { id, message } => {
                if let Some(pb) = tasks.remove(&id) {
                    let label = pb.prefix();
                    pb.finish_and_clear();
                    multi.remove(&pb);
                    let _ = multi.println(status_line(
                        "Finished",
                        &format!("{label}: {message}"),
                        color,
                    ));
                }
            }
            Event::Status { verb, message } => {
                let _ = multi.println(status_line(&verb, &message, color));
            }
            Event::Warn(message) => {
                let _ = multi.println(warning_line(&message, color));
            }
            Event::Live(line) => {
                let pb = live.get_or_insert_with(|| {
                    let pb = multi.add(ProgressBar::new_spinner().with_style(spinner.clone()));
                    pb.enable_steady_tick(Duration::from_millis(120));
                    pb
                });
                pb.set_message(line);
            }
        }
    }
    for pb in tasks.values().chain(live.iter()) {
        pb.finish_and_clear();
    }
    let _ = multi.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_name_the_task_when_it_finishes_and_skip_live_lines() {
        let mut labels = HashMap::new();
        let start = Event::Start {
            id: "l1".into(),
            label: "layer sha256:ab12".into(),
            total: Some(10),
        };
        assert_eq!(
            plain_line(&mut labels, start, false).as_deref(),
            Some("     Started layer sha256:ab12")
        );
        assert_eq!(
            plain_line(&mut labels, Event::Live("3 req/s".into()), false),
            None
        );
        let finish = Event::Finish {
            id: "l1".into(),
            message: "pushed".into(),
        };
        assert_eq!(
            plain_line(&mut labels, finish, false).as_deref(),
            Some("    Finished layer sha256:ab12: pushed")
        );
    }

    #[tokio::test]
    async fn a_hidden_renderer_accepts_events_and_finishes() {
        let (progress, renderer) = Renderer::start(Mode::Hidden, false);
        progress.status("Built", "orders");
        drop(progress);
        renderer.finish().await;
    }
}
