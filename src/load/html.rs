//! `--report FILE.html`: one self-contained page (inline SVG and CSS, one small inline script,
//! no network) carrying everything the text report has, plus latency, throughput, share and
//! breaker state over time on a labelled time axis with named fault markers.
use std::fmt::Write as _;

use super::report::{Percentiles, Report, TimelineEntry};
use crate::breaker::State;

/// Charts are drawn in a 1000-unit-wide view box and stretched to the page width.
const WIDTH: f64 = 1000.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 16.0;
/// Room above the plot for fault labels.
const TOP: f64 = 34.0;
/// Room below the plot for the time axis.
const BOTTOM: f64 = 34.0;
const PLOT_HEIGHT: f64 = 170.0;

/// Instances: a categorical palette with no green, red or amber, which belong to the breaker.
const INSTANCE_COLORS: [&str; 8] = [
    "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#393b79", "#bcbd22",
];
/// Breaker states, and only them.
fn state_color(state: State) -> &'static str {
    match state {
        State::Closed => "#4daf4a",
        State::Open => "#e41a1c",
        State::HalfOpen => "#ff9f1c",
    }
}
/// Latency percentiles: black, solid and dashed, so they match neither palette.
const P50_STYLE: &str = r##"stroke="#111" stroke-width="1.6""##;
const P99_STYLE: &str = r##"stroke="#111" stroke-width="1.6" stroke-dasharray="6 3""##;

fn instance_color(k: usize) -> &'static str {
    INSTANCE_COLORS[k % INSTANCE_COLORS.len()]
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The time span the charts show and where a millisecond lands on it.
struct TimeAxis {
    end_ms: f64,
}

impl TimeAxis {
    fn x(&self, t_ms: f64) -> f64 {
        LEFT + (t_ms / self.end_ms.max(1.0)).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    /// A round step (0.1 s … 10 min) giving at most about ten ticks.
    fn step_ms(&self) -> f64 {
        const STEPS_S: [f64; 14] = [
            0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
        ];
        let end_s = self.end_ms / 1000.0;
        STEPS_S
            .iter()
            .copied()
            .find(|s| end_s / s <= 10.0)
            .unwrap_or(900.0)
            * 1000.0
    }

    /// Vertical grid lines, tick labels and the axis title under a plot of `bottom`.
    fn draw(&self, svg: &mut String, top: f64, bottom: f64) {
        let step = self.step_ms();
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{bottom}" x2="{r}" y2="{bottom}" stroke="#666"/>"##,
            r = WIDTH - RIGHT
        );
        let mut t = 0.0;
        while t <= self.end_ms + 0.5 {
            let x = self.x(t);
            let label = if step < 1000.0 {
                format!("{:.1}", t / 1000.0)
            } else {
                format!("{:.0}", t / 1000.0)
            };
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#eee"/><line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{b5}" stroke="#666"/><text x="{x:.1}" y="{b16}" font-size="11" text-anchor="middle">{label}</text>"##,
                b5 = bottom + 5.0,
                b16 = bottom + 16.0,
            );
            t += step;
        }
        let _ = write!(
            svg,
            r##"<text x="{cx:.1}" y="{b30}" font-size="11" text-anchor="middle" fill="#444">time since start (s)</text>"##,
            cx = LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            b30 = bottom + 30.0,
        );
    }
}

/// 1, 2 or 5 × 10^k at or above `max / 4`, so the y axis gets four or five labelled ticks.
fn nice_step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let rough = max / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude)
}

fn format_tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else if step >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart: open the SVG, y axis with ticks and its unit, x axis; returns the y scale.
struct LineChart {
    svg: String,
    y_max: f64,
    bottom: f64,
}

impl LineChart {
    fn new(id: &str, axis: &TimeAxis, y_max: f64, y_label: &str) -> LineChart {
        let step = nice_step(y_max);
        let y_max = (y_max / step).ceil().max(1.0) * step;
        let bottom = TOP + PLOT_HEIGHT;
        let height = bottom + BOTTOM;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg id="{id}" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">"##
        );
        let mut v = 0.0;
        while v <= y_max + step / 2.0 {
            let y = bottom - v / y_max * PLOT_HEIGHT;
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{r}" y2="{y:.1}" stroke="#eee"/><text x="{lx}" y="{ty:.1}" font-size="11" text-anchor="end">{}</text>"##,
                format_tick(v, step),
                r = WIDTH - RIGHT,
                lx = LEFT - 6.0,
                ty = y + 4.0,
            );
            v += step;
        }
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#666"/><text x="14" y="{my:.1}" font-size="11" fill="#444" transform="rotate(-90 14 {my:.1})" text-anchor="middle">{}</text>"##,
            escape(y_label),
            my = TOP + PLOT_HEIGHT / 2.0,
        );
        axis.draw(&mut svg, TOP, bottom);
        LineChart { svg, y_max, bottom }
    }

    fn line(&mut self, axis: &TimeAxis, points: &[(f64, f64)], style: &str, name: &str) {
        let pts: Vec<String> = points
            .iter()
            .map(|(t, v)| {
                format!(
                    "{:.1},{:.1}",
                    axis.x(*t),
                    self.bottom - (v / self.y_max).min(1.0) * PLOT_HEIGHT
                )
            })
            .collect();
        let _ = write!(
            self.svg,
            r#"<polyline fill="none" {style} points="{}"><title>{}</title></polyline>"#,
            pts.join(" "),
            escape(name)
        );
    }

    fn finish(mut self, axis: &TimeAxis, markers: &[Marker]) -> String {
        draw_markers(&mut self.svg, axis, markers, self.bottom);
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// A fault (or a discovery change) drawn as a named vertical line on every chart.
struct Marker {
    t_ms: f64,
    label: String,
}

fn markers(report: &Report) -> Vec<Marker> {
    report
        .timeline
        .iter()
        .filter(|e| matches!(e.kind, "fault" | "fault-failed" | "added" | "removed"))
        .filter(|e| !(e.kind == "added" && e.detail.ends_with("(initial)")))
        .map(|e| Marker {
            t_ms: e.t_ms,
            label: match e.kind {
                "fault" | "fault-failed" => {
                    // "at=3s,kill=orders-2" → "kill orders-2".
                    let what = e
                        .detail
                        .split(',')
                        .find(|p| !p.starts_with("at="))
                        .unwrap_or(&e.detail)
                        .replacen('=', " ", 1);
                    if e.kind == "fault-failed" {
                        format!("{what} (failed)")
                    } else {
                        what
                    }
                }
                kind => format!("{kind} {}", e.instance),
            },
        })
        .collect()
}

fn draw_markers(svg: &mut String, axis: &TimeAxis, markers: &[Marker], bottom: f64) {
    for (k, m) in markers.iter().enumerate() {
        let x = axis.x(m.t_ms);
        // Labels of close markers are staggered over two rows.
        let y = if k % 2 == 0 { 12.0 } else { 26.0 };
        let _ = write!(
            svg,
            r##"<g class="fault-marker"><line x1="{x:.1}" y1="{y2:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#333" stroke-dasharray="3 3"/><text x="{tx:.1}" y="{y:.1}" font-size="11" fill="#222">{}</text><title>{} at {:.3}s</title></g>"##,
            escape(&m.label),
            escape(&m.label),
            m.t_ms / 1000.0,
            y2 = y + 3.0,
            tx = x + 3.0,
        );
    }
}

fn legend(items: &[(String, String)]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for (swatch, name) in items {
        let _ = write!(out, r#"<span>{swatch}{}</span>"#, escape(name));
    }
    out.push_str("</div>");
    out
}

fn swatch_line(dashed: bool) -> String {
    format!(
        r##"<svg width="28" height="10"><line x1="0" y1="5" x2="28" y2="5" stroke="#111" stroke-width="2"{}/></svg>"##,
        if dashed {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        }
    )
}

fn swatch_box(color: &str) -> String {
    format!(r#"<i class="box" style="background:{color}"></i>"#)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.0} ms"))
}

fn percentile_row(page: &mut String, name: &str, p: &Percentiles) {
    let cell = |v: f64| p.text(v);
    let _ = write!(
        page,
        "<tr><th>{name}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        p.count,
        cell(p.mean),
        cell(p.p50),
        cell(p.p90),
        cell(p.p99),
        cell(p.p999),
        cell(p.max)
    );
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px 24px;color:#111}\
h1{font-size:20px}h2{font-size:16px;margin:22px 0 6px}\
svg{display:block}section.chart>svg{width:100%;height:auto}\
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\
th{background:#f4f4f4}td.l,th.l{text-align:left}.fail{color:#b00;font-weight:bold}.pass{color:#060}\
.legend span{margin-right:18px;font-size:13px;display:inline-flex;align-items:center;gap:5px}\
.box{display:inline-block;width:12px;height:12px}.note{color:#555;font-size:13px}\
section.chart{margin:14px 0 4px}";

/// The inline script: names script errors on the page (a report that broke while drawing says
/// so) and records which sections rendered, for people and for the headless-browser test.
const SCRIPT_HEAD: &str = "<script>window.addEventListener('error',function(e){\
document.documentElement.setAttribute('data-script-error',String(e.message));});</script>";
const SCRIPT_END: &str = "<script>(function(){var s=document.querySelectorAll('section[id]');\
var ids=[];for(var i=0;i<s.length;i++){ids.push(s[i].id);}\
var charts=document.querySelectorAll('section.chart>svg');var drawn=0;\
for(var j=0;j<charts.length;j++){var b=charts[j].getBoundingClientRect();if(b.width>0&&b.height>0){drawn++;}}\
var st=document.getElementById('render-status');\
st.setAttribute('data-sections',ids.join(' '));st.setAttribute('data-charts-drawn',String(drawn));\
st.setAttribute('data-status',drawn===charts.length?'ok':'charts-missing');\
st.textContent='rendered '+ids.length+' sections, '+drawn+' of '+charts.length+' charts';})();</script>";

/// Render the page.
pub fn render(report: &Report) -> String {
    let duration_ms = report.duration_s * 1000.0;
    // The tick still running at the end covers less than a tick: drawn, it would read as a
    // drop (or, for latency, a spike). It is left out of the charts and said so.
    let partial = report
        .series
        .last()
        .filter(|p| p.t_ms + report.tick_ms > duration_ms + 1.0);
    let series = match partial {
        Some(_) => &report.series[..report.series.len() - 1],
        None => &report.series[..],
    };
    let axis = TimeAxis {
        end_ms: duration_ms.max(report.tick_ms),
    };
    let marks = markers(report);

    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>hale load: {} {}</title>\
         <style>{STYLE}</style>{SCRIPT_HEAD}</head><body>",
        escape(&report.target.method),
        escape(&report.target.path),
    );
    let _ = write!(
        page,
        "<h1>hale load: {} {}</h1><section id=\"summary\"><p>{} requests in {:.2}s: {:.1} req/s, \
         {} ok, {} errors ({:.2}%){}.<br>strategy {}, protection {}, model {}, seed {}{}</p>{}</section>",
        escape(&report.target.method),
        escape(&report.target.path),
        report.requests,
        report.duration_s,
        report.rps,
        report.ok,
        report.errors,
        report.error_share * 100.0,
        if report.retries > 0 {
            format!(", {} retries", report.retries)
        } else {
            String::new()
        },
        escape(&report.strategy),
        escape(&report.protection),
        escape(&match report.model.kind {
            "open" => format!(
                "open {}, {} arrivals (max {} in flight)",
                report.model.rate_text(),
                report.model.arrivals.unwrap_or("constant"),
                report.model.concurrency
            ),
            _ => format!("closed, {} workers", report.model.concurrency),
        }),
        report.seed,
        report
            .model
            .schedule_digest
            .as_ref()
            .map_or(String::new(), |d| format!(", schedule {}", escape(d))),
        if report.interrupted {
            "<p class=\"fail\">Interrupted: the figures cover only the part that ran.</p>"
        } else {
            ""
        }
    );

    // Overall latency, corrected and uncorrected.
    page.push_str(
        "<section id=\"latency\"><h2>Latency of successful requests (ms)</h2><table><tr><th></th>\
         <th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>",
    );
    percentile_row(
        &mut page,
        "corrected (from the intended send time)",
        &report.latency.corrected,
    );
    percentile_row(
        &mut page,
        "uncorrected (from the actual send)",
        &report.latency.uncorrected,
    );
    page.push_str("</table>");
    if report.model.kind == "closed" {
        page.push_str("<p class=\"note\">Closed model: both are the same.</p>");
    }
    page.push_str("</section>");

    // Errors by kind.
    page.push_str("<section id=\"errors\"><h2>Errors by kind</h2><table><tr>");
    for kind in report.errors_by_kind.keys() {
        let _ = write!(page, "<th>{kind}</th>");
    }
    page.push_str("</tr><tr>");
    for n in report.errors_by_kind.values() {
        let _ = write!(page, "<td>{n}</td>");
    }
    page.push_str("</tr></table></section>");

    // Instances.
    page.push_str(
        "<section id=\"instances\"><h2>Instances</h2><table><tr><th class=\"l\">instance</th>\
         <th class=\"l\">address</th><th>share</th><th>expected</th><th>requests</th><th>ok</th>\
         <th>errors</th><th>p50 ms</th><th>p99 ms</th><th class=\"l\">breaker</th><th>present at end</th></tr>",
    );
    for (k, i) in report.instances.iter().enumerate() {
        let errors: u64 = i.errors.values().sum();
        let _ = write!(
            page,
            "<tr><td class=\"l\">{} {}</td><td class=\"l\">{}</td><td>{:.1}%</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{} {}</td><td>{}</td></tr>",
            swatch_box(instance_color(k)),
            escape(&i.id),
            escape(&i.address),
            i.share * 100.0,
            i.expected_share
                .map_or("-".into(), |e| format!("{:.1}%", e * 100.0)),
            i.requests,
            i.ok,
            errors,
            i.latency.text(i.latency.p50),
            i.latency.text(i.latency.p99),
            swatch_box(state_color(i.breaker)),
            i.breaker.name(),
            if i.present_at_end { "yes" } else { "no" }
        );
    }
    page.push_str("</table></section>");

    // Fairness.
    page.push_str("<section id=\"fairness\"><h2>Fairness</h2><p>");
    match (report.fairness.jain, report.fairness.max_share_deviation) {
        (Some(j), Some(dev)) => {
            let _ = write!(
                page,
                "Jain {:.4}, max/min {}, largest share deviation {:.2} pp",
                j,
                report
                    .fairness
                    .max_min_ratio
                    .map_or("-".to_string(), |r| format!("{r:.3}")),
                dev * 100.0
            );
        }
        _ => page.push_str("not measured: no attempt reached an instance that counts"),
    }
    page.push_str("</p>");
    if !report.fairness.excluded.is_empty() {
        let _ = write!(
            page,
            "<p class=\"note\">Left out (killed on purpose): {}</p>",
            escape(&report.fairness.excluded.join(", "))
        );
    }
    if let Some(note) = &report.fairness.note {
        let _ = write!(page, "<p class=\"note\">{}</p>", escape(note));
    }
    page.push_str("</section>");

    // Charts.
    let partial_note = partial.map_or(String::new(), |p| {
        format!(
            "<p class=\"note\">The last tick ({:.0} ms of {:.0} ms, from {:.2}s) is left out of the \
             charts: it is partial.</p>",
            (duration_ms - p.t_ms).max(0.0),
            report.tick_ms,
            p.t_ms / 1000.0
        )
    });
    let mid = |t: f64| t + report.tick_ms / 2.0;

    let p50: Vec<(f64, f64)> = series.iter().map(|p| (mid(p.t_ms), p.p50_ms)).collect();
    let p99: Vec<(f64, f64)> = series.iter().map(|p| (mid(p.t_ms), p.p99_ms)).collect();
    let max_latency = p99.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut chart = LineChart::new("chart-latency", &axis, max_latency, "latency (ms)");
    chart.line(&axis, &p50, P50_STYLE, "p50");
    chart.line(&axis, &p99, P99_STYLE, "p99");
    let _ = write!(
        page,
        "<section id=\"chart-latency-section\" class=\"chart\"><h2>Latency per tick ({:.0} ms)</h2>{}{}</section>",
        report.tick_ms,
        legend(&[
            (swatch_line(false), "p50".into()),
            (swatch_line(true), "p99".into())
        ]),
        chart.finish(&axis, &marks)
    );

    let rps: Vec<(f64, f64)> = series.iter().map(|p| (mid(p.t_ms), p.rps)).collect();
    let eps: Vec<(f64, f64)> = series
        .iter()
        .map(|p| (mid(p.t_ms), f64::from(p.errors) / (report.tick_ms / 1000.0)))
        .collect();
    let max_rps = rps.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut chart = LineChart::new("chart-throughput", &axis, max_rps, "per second");
    chart.line(&axis, &rps, P50_STYLE, "requests/s");
    chart.line(&axis, &eps, P99_STYLE, "errors/s");
    let _ = write!(
        page,
        "<section id=\"chart-throughput-section\" class=\"chart\"><h2>Throughput</h2>{}{}</section>",
        legend(&[
            (swatch_line(false), "requests/s".into()),
            (swatch_line(true), "errors/s".into())
        ]),
        chart.finish(&axis, &marks)
    );

    let mut chart = LineChart::new("chart-share", &axis, 100.0, "share of attempts (%)");
    let mut items = Vec::new();
    for (k, inst) in report.instances.iter().enumerate() {
        let points: Vec<(f64, f64)> = series
            .iter()
            .map(|p| {
                let total: u32 = p.per_instance.iter().sum();
                let mine = p.per_instance.get(k).copied().unwrap_or(0);
                (
                    mid(p.t_ms),
                    100.0 * f64::from(mine) / f64::from(total.max(1)),
                )
            })
            .collect();
        let style = format!(r#"stroke="{}" stroke-width="1.8""#, instance_color(k));
        chart.line(&axis, &points, &style, &inst.id);
        items.push((swatch_box(instance_color(k)), inst.id.clone()));
    }
    let _ = write!(
        page,
        "<section id=\"chart-share-section\" class=\"chart\"><h2>Share of attempts per instance</h2>{}{}</section>",
        legend(&items),
        chart.finish(&axis, &marks)
    );

    let _ = write!(
        page,
        "<section id=\"chart-breaker-section\" class=\"chart\"><h2>Breaker state per instance</h2>{}{}{partial_note}</section>",
        legend(&[
            (swatch_box(state_color(State::Closed)), "closed".into()),
            (swatch_box(state_color(State::HalfOpen)), "half-open".into()),
            (swatch_box(state_color(State::Open)), "open (or throttling)".into()),
        ]),
        breaker_lanes(report, &axis, &marks)
    );

    resilience(&mut page, report);
    assertions(&mut page, report);
    timeline(&mut page, report);
    page.push_str("<p id=\"render-status\" class=\"note\">rendered without script</p>");
    page.push_str(SCRIPT_END);
    page.push_str("</body></html>\n");
    page
}

fn breaker_lanes(report: &Report, axis: &TimeAxis, marks: &[Marker]) -> String {
    let lane = 22.0;
    let bottom = TOP + lane * report.instances.len().max(1) as f64;
    let height = bottom + BOTTOM;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="chart-breaker" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">"#
    );
    axis.draw(&mut svg, TOP, bottom);
    for (k, inst) in report.instances.iter().enumerate() {
        let y = TOP + lane * k as f64 + 3.0;
        // The end of the id tells instances apart (orders-2, :41002).
        let chars: Vec<char> = inst.id.chars().collect();
        let short: String = chars[chars.len().saturating_sub(16)..].iter().collect();
        let _ = write!(
            svg,
            r#"<rect x="2" y="{:.1}" width="10" height="10" fill="{}"/><text x="16" y="{:.1}" font-size="11">{}</text>"#,
            y + 3.0,
            instance_color(k),
            y + 12.0,
            escape(&short)
        );
        let mut state = State::Closed;
        let mut since = 0.0;
        let mut segments = Vec::new();
        for e in report
            .timeline
            .iter()
            .filter(|e| e.instance == inst.id && (e.kind == "breaker" || e.kind == "throttle"))
        {
            if let Some(next) = e.state {
                segments.push((since, e.t_ms, state));
                state = next;
                since = e.t_ms;
            }
        }
        segments.push((since, axis.end_ms, state));
        for (from, to, s) in segments {
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="16" fill="{}"><title>{} {} {:.3}–{:.3}s</title></rect>"#,
                axis.x(from),
                (axis.x(to) - axis.x(from)).max(0.5),
                state_color(s),
                escape(&inst.id),
                s.name(),
                from / 1000.0,
                to / 1000.0
            );
        }
    }
    draw_markers(&mut svg, axis, marks, bottom);
    svg.push_str("</svg>");
    svg
}

fn resilience(page: &mut String, report: &Report) {
    page.push_str("<section id=\"resilience\"><h2>Resilience</h2>");
    if report.resilience.is_empty() {
        page.push_str("<p class=\"note\">No fault was injected.</p></section>");
        return;
    }
    page.push_str(
        "<table><tr><th class=\"l\">fault</th><th class=\"l\">instance</th><th>at</th>\
         <th>breaker opened after</th><th>requests sent while dead</th><th>breaker closed after</th>\
         <th>first success after</th><th>recovered after</th><th class=\"l\">note</th></tr>",
    );
    for r in &report.resilience {
        let opened = if r.kind == "restore" {
            "-".to_string()
        } else {
            r.breaker_opened_after_ms
                .map_or("never opened".to_string(), |v| format!("{v:.0} ms"))
        };
        let recovered = if r.kind == "restore" {
            r.recovered_after_ms
                .map_or("not by the end".to_string(), |v| format!("{v:.0} ms"))
        } else {
            "-".to_string()
        };
        let _ = write!(
            page,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.3}s</td><td>{opened}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{recovered}</td><td class=\"l\">{}</td></tr>",
            escape(&r.fault),
            escape(&r.instance),
            r.at_ms / 1000.0,
            r.requests_to_dead.map_or("-".to_string(), |n| n.to_string()),
            ms(r.breaker_closed_after_ms),
            ms(r.first_success_after_ms),
            escape(r.why_errors_differ.as_deref().unwrap_or(""))
        );
    }
    page.push_str("</table></section>");
}

fn assertions(page: &mut String, report: &Report) {
    page.push_str("<section id=\"assertions\"><h2>Assertions</h2>");
    if report.assertions.is_empty() {
        page.push_str("<p class=\"note\">None given (--assert).</p></section>");
        return;
    }
    page.push_str(
        "<table><tr><th class=\"l\">result</th><th class=\"l\">assertion</th><th>actual</th></tr>",
    );
    for a in &report.assertions {
        let _ = write!(
            page,
            "<tr><td class=\"l {}\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            if a.passed { "pass" } else { "fail" },
            if a.passed { "pass" } else { "FAIL" },
            escape(&a.assertion),
            escape(&a.actual_text())
        );
    }
    page.push_str("</table></section>");
}

fn timeline(page: &mut String, report: &Report) {
    let _ = write!(
        page,
        "<section id=\"timeline\"><h2>Timeline</h2><p class=\"note\">{} events in {} entries: \
         repeated events of one kind for one instance are one entry with a count.</p>",
        report.timeline_events,
        report.timeline.len()
    );
    page.push_str(
        "<table><tr><th>when</th><th class=\"l\">instance</th><th class=\"l\">event</th>\
         <th>count</th><th class=\"l\">detail</th></tr>",
    );
    for e in &report.timeline {
        timeline_row(page, e);
    }
    page.push_str("</table></section>");
}

fn timeline_row(page: &mut String, e: &TimelineEntry) {
    let what = match e.state {
        Some(s) if e.kind == "breaker" || e.kind == "throttle" => {
            format!("{} {} → {}", swatch_box(state_color(s)), e.kind, s.name())
        }
        _ => escape(e.kind),
    };
    let _ = write!(
        page,
        "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{what}</td><td>{}</td><td class=\"l\">{}</td></tr>",
        escape(&e.when()),
        escape(&e.instance),
        e.count,
        escape(&e.detail)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ticks_are_round_and_at_most_about_ten() {
        for (end_ms, step_ms) in [(900.0, 100.0), (5_000.0, 500.0), (12_000.0, 2_000.0)] {
            assert_eq!(TimeAxis { end_ms }.step_ms(), step_ms, "{end_ms}");
        }
        assert_eq!(nice_step(100.0), 50.0);
        assert_eq!(nice_step(3.2), 1.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}
