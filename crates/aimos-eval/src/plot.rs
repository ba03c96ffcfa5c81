//! The report's plots as SVG, drawn by hand: quality against cost with the Pareto front,
//! tokens sent to the smart model against the context's size, and latency per strategy.

use std::fmt::Write as _;
use std::path::Path;

use aimos_core::Strategy;

use crate::SuiteError;
use crate::report::Report;
use crate::runner::ResultRow;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

fn colour(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Cheap => "#1b9e77",
        Strategy::Smart => "#d95f02",
        Strategy::Consult => "#7570b3",
        Strategy::Cascade => "#e7298a",
        Strategy::Brief => "#a6761d",
        _ => "#66a61e",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A plot area mapping data to the canvas, with axes drawn on creation.
struct Canvas {
    svg: String,
    x: (f64, f64),
    y: (f64, f64),
}

impl Canvas {
    fn new(title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> Canvas {
        let pad = |(lo, hi): (f64, f64)| if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
        let mut c = Canvas { svg: String::new(), x: pad(x), y: pad(y) };
        let _ = write!(
            c.svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>
"#,
            (LEFT + WIDTH - RIGHT) / 2.0,
            escape(title)
        );
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
        let _ =
            writeln!(c.svg, r##"<path d="M{x0} {y1} V{y0} H{x1}" fill="none" stroke="#333"/>"##);
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let (xv, yv) = (c.x.0 + f * (c.x.1 - c.x.0), c.y.0 + f * (c.y.1 - c.y.0));
            let (px, py) = (c.px(xv), c.py(yv));
            let _ = writeln!(
                c.svg,
                r##"<line x1="{px}" y1="{y0}" x2="{px}" y2="{}" stroke="#333"/><text x="{px}" y="{}" text-anchor="middle">{}</text>"##,
                y0 + 5.0,
                y0 + 20.0,
                tick(xv)
            );
            // A plot without a y label has rows, not values, on that axis.
            if !y_label.is_empty() {
                let _ = writeln!(
                    c.svg,
                    r##"<line x1="{}" y1="{py}" x2="{x0}" y2="{py}" stroke="#333"/><line x1="{x0}" y1="{py}" x2="{x1}" y2="{py}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                    x0 - 5.0,
                    x0 - 8.0,
                    py + 4.0,
                    tick(yv)
                );
            }
        }
        let _ = writeln!(
            c.svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            HEIGHT - 18.0,
            escape(x_label)
        );
        let _ = writeln!(
            c.svg,
            r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>"#,
            (y0 + y1) / 2.0,
            (y0 + y1) / 2.0,
            escape(y_label)
        );
        c
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (HEIGHT - TOP - BOTTOM)
    }

    fn point(&mut self, x: f64, y: f64, fill: &str, r: f64) {
        let _ = writeln!(
            self.svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}" fill-opacity="0.75"/>"#,
            self.px(x),
            self.py(y)
        );
    }

    fn legend(&mut self, entries: &[(String, &str)]) {
        for (i, (name, fill)) in entries.iter().enumerate() {
            let y = TOP + 10.0 + 20.0 * i as f64;
            let x = WIDTH - RIGHT + 20.0;
            let _ = writeln!(
                self.svg,
                r#"<circle cx="{x}" cy="{y}" r="5" fill="{fill}"/><text x="{}" y="{}">{}</text>"#,
                x + 10.0,
                y + 4.0,
                escape(name)
            );
        }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{:.0}", v)
    } else if a >= 1.0 {
        format!("{:.1}", v)
    } else if a >= 0.01 {
        format!("{:.2}", v)
    } else {
        format!("{:.1e}", v)
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if lo.is_finite() { (lo.min(0.0), hi * 1.05) } else { (0.0, 1.0) }
}

/// Pass rate against cost per task, one point per strategy, the Pareto front joined.
pub fn quality_cost(report: &Report) -> String {
    let x = range(report.strategies.iter().map(|s| s.cost_per_task_usd));
    let mut c = Canvas::new("Quality against cost", "dollars per task", "pass rate", x, (0.0, 1.0));
    let mut front: Vec<(f64, f64)> = report
        .strategies
        .iter()
        .map(|s| (s.cost_per_task_usd, s.pass_rate))
        .filter(|&(cost, rate)| {
            !report.strategies.iter().any(|o| {
                o.cost_per_task_usd <= cost
                    && o.pass_rate >= rate
                    && (o.cost_per_task_usd < cost || o.pass_rate > rate)
            })
        })
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    if front.len() > 1 {
        let path: Vec<String> =
            front.iter().map(|&(x, y)| format!("{:.1},{:.1}", c.px(x), c.py(y))).collect();
        let _ = writeln!(
            c.svg,
            r##"<polyline points="{}" fill="none" stroke="#999" stroke-dasharray="4 3"/>"##,
            path.join(" ")
        );
    }
    for s in &report.strategies {
        let (px, lo, hi) = (c.px(s.cost_per_task_usd), c.py(s.interval.0), c.py(s.interval.1));
        let _ = writeln!(
            c.svg,
            r#"<line x1="{px:.1}" y1="{lo:.1}" x2="{px:.1}" y2="{hi:.1}" stroke="{}"/>"#,
            colour(s.strategy)
        );
        c.point(s.cost_per_task_usd, s.pass_rate, colour(s.strategy), 6.0);
    }
    let entries: Vec<(String, &str)> = report
        .strategies
        .iter()
        .map(|s| (format!("{} {:.0}%", s.strategy, 100.0 * s.pass_rate), colour(s.strategy)))
        .collect();
    c.legend(&entries);
    c.finish()
}

/// Prompt tokens sent to the smart model against the task's context size, per run.
pub fn smart_tokens(rows: &[ResultRow], strategies: &[Strategy]) -> String {
    let x = range(rows.iter().map(|r| r.context_tokens as f64));
    let y = range(rows.iter().map(|r| r.smart_prompt_tokens as f64));
    let mut c = Canvas::new(
        "Tokens sent to the smart model",
        "tokens of context",
        "smart-model prompt tokens",
        x,
        y,
    );
    for r in rows {
        c.point(r.context_tokens as f64, r.smart_prompt_tokens as f64, colour(r.strategy), 4.0);
    }
    let entries: Vec<(String, &str)> =
        strategies.iter().map(|s| (s.to_string(), colour(*s))).collect();
    c.legend(&entries);
    c.finish()
}

/// Each run's latency, one row per strategy, with its median marked.
pub fn latency(rows: &[ResultRow], strategies: &[Strategy]) -> String {
    let x = range(rows.iter().map(|r| r.latency_ms / 1000.0));
    let n = strategies.len().max(1) as f64;
    let mut c = Canvas::new("Latency", "seconds per task", "", x, (0.0, n));
    for (i, s) in strategies.iter().enumerate() {
        let row_y = i as f64 + 0.5;
        let latencies: Vec<f64> =
            rows.iter().filter(|r| r.strategy == *s).map(|r| r.latency_ms / 1000.0).collect();
        for (j, l) in latencies.iter().enumerate() {
            // A little vertical jitter, fixed by position, so equal times stay visible.
            let jitter = ((j * 7919) % 21) as f64 / 21.0 * 0.4 - 0.2;
            c.point(*l, row_y + jitter, colour(*s), 3.5);
        }
        let median = crate::report::quantile(&latencies, 0.5);
        let (px, py) = (c.px(median), c.py(row_y));
        let _ = writeln!(
            c.svg,
            r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            py - 14.0,
            py + 14.0,
            LEFT - 8.0,
            py + 4.0,
            s
        );
    }
    c.finish()
}

/// The plots' file names, without extension.
pub const PLOTS: [&str; 3] = ["quality-cost", "smart-tokens", "latency"];

/// Writes the three plots into `out` as SVG, and as PNG where `rsvg-convert` (Debian's
/// `librsvg2-bin`) is installed; returns whether the PNGs were written.
pub fn write(
    report: &Report,
    rows: &[ResultRow],
    strategies: &[Strategy],
    out: &Path,
) -> Result<bool, SuiteError> {
    let io = |source| SuiteError::Io { path: out.display().to_string(), source };
    let drawn = [quality_cost(report), smart_tokens(rows, strategies), latency(rows, strategies)];
    let mut png = true;
    for (name, svg) in PLOTS.iter().zip(drawn) {
        let svg_path = out.join(format!("{name}.svg"));
        std::fs::write(&svg_path, svg).map_err(io)?;
        png = png
            && std::process::Command::new("rsvg-convert")
                .args(["--zoom", "2", "-o"])
                .arg(out.join(format!("{name}.png")))
                .arg(&svg_path)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
    }
    Ok(png)
}
