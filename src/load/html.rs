//! `--report FILE.html`: one self-contained page (inline SVG, no scripts, no network) with
//! latency over time, per-instance share over time and the breaker timeline.
use std::fmt::Write as _;

use super::report::Report;
use crate::breaker::State;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn x_of(t_ms: f64, end_ms: f64) -> f64 {
    LEFT + (t_ms / end_ms.max(1.0)) * (WIDTH - LEFT - 10.0)
}

fn polyline(out: &mut String, points: &[(f64, f64)], end_ms: f64, max_y: f64, color: &str) {
    let max_y = if max_y > 0.0 { max_y } else { 1.0 };
    let pts: Vec<String> = points
        .iter()
        .map(|(t, y)| {
            format!(
                "{:.1},{:.1}",
                x_of(*t, end_ms),
                HEIGHT - 20.0 - (y / max_y) * (HEIGHT - 40.0)
            )
        })
        .collect();
    let _ = write!(
        out,
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
        pts.join(" ")
    );
}

fn axes(out: &mut String, title: &str, max_y: f64, unit: &str, end_ms: f64) {
    let _ = write!(
        out,
        r##"<svg width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><text x="{LEFT}" y="14" font-size="13" font-weight="bold">{}</text><line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/><line x1="{LEFT}" y1="20" x2="{LEFT}" y2="{b}" stroke="#999"/><text x="4" y="26" font-size="11">{max_y:.2}{unit}</text><text x="4" y="{b}" font-size="11">0</text><text x="{r2}" y="{b2}" font-size="11">{:.1}s</text>"##,
        escape(title),
        end_ms / 1000.0,
        b = HEIGHT - 20.0,
        r = WIDTH - 10.0,
        r2 = WIDTH - 40.0,
        b2 = HEIGHT - 6.0,
    );
}

/// Render the page.
pub fn render(report: &Report) -> String {
    let end_ms = (report.duration_s * 1000.0).max(
        report
            .series
            .last()
            .map_or(0.0, |p| p.t_ms + report.tick_ms),
    );
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>hale load report</title>\
         <style>body{{font-family:sans-serif;margin:20px}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head><body>\
         <h1>hale load: {} {}</h1><p>{} requests in {:.2}s, {:.1} req/s, {} errors ({:.2}%); \
         strategy {}, protection {}, model {}, seed {}</p>",
        escape(&report.target.method),
        escape(&report.target.path),
        report.requests,
        report.duration_s,
        report.rps,
        report.errors,
        report.error_share * 100.0,
        escape(&report.strategy),
        escape(&report.protection),
        report.model.kind,
        report.seed
    );
    page.push_str("<table><tr><th>instance</th><th>share</th><th>expected</th><th>requests</th><th>p50 ms</th><th>p99 ms</th><th>breaker</th></tr>");
    for (k, i) in report.instances.iter().enumerate() {
        let _ = write!(
            page,
            "<tr><td style=\"color:{}\">{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            COLORS[k % COLORS.len()],
            escape(&i.id),
            i.share * 100.0,
            i.expected_share.map_or("-".into(), |e| format!("{:.1}%", e * 100.0)),
            i.requests,
            i.latency.p50,
            i.latency.p99,
            i.breaker.name()
        );
    }
    page.push_str("</table>");

    // Latency over time.
    let p99: Vec<(f64, f64)> = report.series.iter().map(|p| (p.t_ms, p.p99_ms)).collect();
    let p50: Vec<(f64, f64)> = report.series.iter().map(|p| (p.t_ms, p.p50_ms)).collect();
    let max_latency = p99.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut svg = String::new();
    axes(
        &mut svg,
        "latency p50 (green) and p99 (red) per tick",
        max_latency,
        " ms",
        end_ms,
    );
    polyline(&mut svg, &p50, end_ms, max_latency, "#2ca02c");
    polyline(&mut svg, &p99, end_ms, max_latency, "#d62728");
    fault_markers(&mut svg, report, end_ms, HEIGHT - 20.0);
    svg.push_str("</svg>");
    page.push_str(&svg);

    // Share over time.
    let mut svg = String::new();
    axes(
        &mut svg,
        "share of attempts per instance per tick",
        100.0,
        " %",
        end_ms,
    );
    for (k, _) in report.instances.iter().enumerate() {
        let points: Vec<(f64, f64)> = report
            .series
            .iter()
            .map(|p| {
                let total: u32 = p.per_instance.iter().sum();
                let mine = p.per_instance.get(k).copied().unwrap_or(0);
                (p.t_ms, 100.0 * f64::from(mine) / f64::from(total.max(1)))
            })
            .collect();
        polyline(&mut svg, &points, end_ms, 100.0, COLORS[k % COLORS.len()]);
    }
    fault_markers(&mut svg, report, end_ms, HEIGHT - 20.0);
    svg.push_str("</svg>");
    page.push_str(&svg);

    // Breaker lanes.
    let lane = 22.0;
    let height = 30.0 + lane * report.instances.len() as f64 + 20.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><text x="{LEFT}" y="14" font-size="13" font-weight="bold">breaker state (green closed, red open, amber half-open)</text>"#
    );
    for (k, inst) in report.instances.iter().enumerate() {
        let y = 24.0 + lane * k as f64;
        let _ = write!(
            svg,
            r#"<text x="2" y="{:.1}" font-size="10">{}</text>"#,
            y + 13.0,
            // The end of the id tells instances apart (orders-2, :41002).
            escape(&{
                let chars: Vec<char> = inst.id.chars().collect();
                chars[chars.len().saturating_sub(11)..]
                    .iter()
                    .collect::<String>()
            })
        );
        let mut state = State::Closed;
        let mut since = 0.0;
        let changes = report.timeline.iter().filter(|e| {
            e.instance == inst.id
                && (e.kind == "breaker" || e.kind == "throttle")
                && e.state.is_some()
        });
        let mut segments = Vec::new();
        for e in changes {
            segments.push((since, e.t_ms, state));
            state = e.state.unwrap_or(State::Closed);
            since = e.t_ms;
        }
        segments.push((since, end_ms, state));
        for (from, to, s) in segments {
            let color = match s {
                State::Closed => "#2ca02c",
                State::Open => "#d62728",
                State::HalfOpen => "#ffbf00",
            };
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="16" fill="{color}"><title>{} {} {:.0}–{:.0} ms</title></rect>"#,
                x_of(from, end_ms),
                (x_of(to, end_ms) - x_of(from, end_ms)).max(0.5),
                escape(&inst.id),
                s.name(),
                from,
                to
            );
        }
    }
    fault_markers(&mut svg, report, end_ms, height - 20.0);
    svg.push_str("</svg>");
    page.push_str(&svg);

    page.push_str("<h2>timeline</h2><table><tr><th>t (s)</th><th>instance</th><th>event</th><th>detail</th></tr>");
    for e in &report.timeline {
        let _ = write!(
            page,
            "<tr><td>{:.3}</td><td>{}</td><td>{}{}</td><td style=\"text-align:left\">{}</td></tr>",
            e.t_ms / 1000.0,
            escape(&e.instance),
            e.kind,
            e.state
                .map_or(String::new(), |s| format!(" → {}", s.name())),
            escape(&e.detail)
        );
    }
    page.push_str("</table></body></html>\n");
    page
}

fn fault_markers(svg: &mut String, report: &Report, end_ms: f64, bottom: f64) {
    for e in report
        .timeline
        .iter()
        .filter(|e| e.kind == "fault" || e.kind == "added" || e.kind == "removed")
    {
        let x = x_of(e.t_ms, end_ms);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"20\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#555\" stroke-dasharray=\"4 3\"><title>{}</title></line>",
            escape(&format!("{} {} {}", e.kind, e.instance, e.detail))
        );
    }
}
