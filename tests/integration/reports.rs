//! What users read, as snapshots: the text report of `hale load`, the output of `hale up`,
//! `ps` and `down`, and whole error lines for the common bad inputs. Paths, ports, pids and
//! times are filtered (insta filters), so a snapshot changes only when the words do.
use crate::common;
use crate::load::{Behaviour, TestServer};

use std::process::Output;

/// Run `hale ARGS` in a fresh temporary folder.
fn run(args: &[&str]) -> Output {
    let dir = common::tempdir();
    common::hale(dir.path())
        .args(args)
        .env("COLUMNS", "100")
        .current_dir(dir.path())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Filters for what varies between runs: addresses' ports, timings and rates.
fn varying() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (
            r"in \d+(\.\d+)?m?s: \d+(\.\d+)? req/s",
            "in [TIME]: [RATE] req/s",
        ),
        // Latency figures: `p50 1.234 ms`-style and the per-instance columns.
        (r"\d+\.\d+ ?(ms|µs|s)\b", "[TIME]"),
        (
            r"(?m)^( +(successful|corrected|uncorrected))( +\S+)+$",
            "$1 [LATENCY]",
        ),
        (
            r"(?m)^(127\.0\.0\.1:\[PORT\]\s+127\.0\.0\.1:\[PORT\]\s+\S+\s+\S+\s+\d+\s+\d+)\s+\S+\s+\S+",
            "$1 [P50] [P99]",
        ),
    ]
}

#[test]
fn load_text_report_of_a_fixed_round_robin_run() {
    let servers: Vec<_> = (1..=3)
        .map(|i| TestServer::start(&format!("srv-{i}"), Behaviour::Ok))
        .collect();
    let list = servers
        .iter()
        .map(|s| s.addr.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // Round robin over three servers with a fixed request count: every count, share and
    // fairness figure is exact; only timings vary, and they are filtered.
    let out = run(&[
        "load",
        "--endpoints",
        &list,
        "-s",
        "round-robin",
        "-c",
        "3",
        "-n",
        "300",
    ]);
    common::assert_success(&out, "hale load");
    insta::with_settings!({ filters => varying() }, {
        insta::assert_snapshot!("load-report", text(&out.stdout));
    });
}

/// Filters for a fleet's output: the temporary folder, pids, ports and times.
fn fleet_varying() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\S*hale-test-[A-Za-z0-9]+", "[TMP]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"\bpid \d+", "pid [PID]"),
        // The PID column of the `up` and `ps` tables.
        (r"(?m)^(snapsvc-\d+) +\d+ ", "$1 [PID] "),
        (r"\b\d+(\.\d+)?(ms|s)\b", "[TIME]"),
    ]
}

#[test]
fn up_ps_and_down_print_what_they_did() {
    need!(Go);
    let tmp = common::tempdir();
    // A fixed name (the registry is the test's own file registry), so ids are the same each run.
    let dir = tmp.path().join("snapsvc");
    common::scaffold(tmp.path(), "snapsvc", &dir);
    let hale = |args: &[&str]| {
        let out = common::hale(tmp.path())
            .args(args)
            .arg(&dir)
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        common::assert_success(&out, &format!("hale {args:?}"));
        out
    };
    let up = hale(&["up", "--replicas", "2"]);
    let ps = hale(&["ps"]);
    let down = hale(&["down"]);
    let ps_after = hale(&["ps"]);
    insta::with_settings!({ filters => fleet_varying() }, {
        insta::assert_snapshot!("up-stdout", text(&up.stdout));
        insta::assert_snapshot!("up-stderr", text(&up.stderr));
        insta::assert_snapshot!("ps-stdout", text(&ps.stdout));
        insta::assert_snapshot!("down-stdout", text(&down.stdout));
        insta::assert_snapshot!("down-stderr", text(&down.stderr));
        insta::assert_snapshot!("ps-after-down", format!("{}{}", text(&ps_after.stdout), text(&ps_after.stderr)));
    });
}

/// The whole of what a user sees for the common bad inputs: exit code and every stderr line.
#[test]
fn bad_inputs_get_these_exact_error_lines() {
    let cases: &[(&str, &[&str])] = &[
        ("bad-service-name", &["new", "Bad_Name"]),
        (
            "bad-registry-url",
            &[
                "discover",
                "orders",
                "--registry",
                "zookeeper://127.0.0.1:2181",
            ],
        ),
        (
            "bad-flag-value",
            &[
                "load",
                "--endpoints",
                "127.0.0.1:1",
                "--strategy",
                "fastest",
            ],
        ),
        ("bad-endpoint", &["load", "--endpoints", "127.0.0.1"]),
        (
            "bad-duration",
            &["load", "--endpoints", "127.0.0.1:1", "-d", "soon"],
        ),
        (
            "missing-argument",
            &["register", "--address", "127.0.0.1:8080"],
        ),
        ("unknown-flag", &["ps", "--all"]),
    ];
    for (name, args) in cases {
        let out = run(args);
        let seen = format!(
            "$ hale {}\nexit {:?}\n{}",
            args.join(" "),
            out.status.code(),
            text(&out.stderr)
        );
        // Nothing filtered: the inputs are fixed, and so must be every word of the answer.
        insta::with_settings!({ filters => Vec::<(&str, &str)>::new() }, {
            insta::assert_snapshot!(format!("error-{name}"), seen);
        });
    }
}
