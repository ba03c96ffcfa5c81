//! Charts drawn on the server as SVG: no script, nothing fetched, readable without a browser's
//! JavaScript. Every label is escaped.

use std::fmt::Write as _;

use aimos_core::calibration::Bin;

/// Escapes text for SVG and HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Dollars as the dashboard shows them: six decimals (the ledger's smallest costs are a
/// millionth of a dollar), the sign before the dollar sign.
pub fn usd(value: f64) -> String {
    if value < 0.0 { format!("-${:.6}", -value) } else { format!("${value:.6}") }
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// Spend against the smart-only counterfactual per period, oldest on the left: two bars a
/// period, with a tooltip each. `periods` is (label, spend, counterfactual), newest first.
pub fn spend(title: &str, periods: &[(String, f64, f64)]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" class="chart">"#,
        escape(title)
    );
    let _ = write!(svg, "<title>{}</title>", escape(title));
    let top = periods.iter().map(|p| p.1.max(p.2)).fold(0.0, f64::max);
    let plot_h = HEIGHT - BOTTOM - TOP;
    let scale = if top > 0.0 { plot_h / top } else { 0.0 };
    // Axis and the top value.
    let _ = write!(
        svg,
        r#"<line x1="{LEFT}" y1="{y}" x2="{WIDTH}" y2="{y}" class="axis"/><text x="{tx}" y="{ty}" class="label" text-anchor="end">{top_label}</text><text x="{tx}" y="{y}" class="label" text-anchor="end">$0</text>"#,
        y = HEIGHT - BOTTOM,
        tx = LEFT - 6.0,
        ty = TOP + 8.0,
        top_label = usd(top),
    );
    let n = periods.len().max(1) as f64;
    let slot = (WIDTH - LEFT) / n;
    let bar = (slot * 0.38).min(24.0);
    let label_every = ((n / 8.0).ceil() as usize).max(1);
    for (i, (label, cost, counterfactual)) in periods.iter().rev().enumerate() {
        let x = LEFT + slot * i as f64 + slot / 2.0;
        for (offset, value, class, what) in [
            (-bar, *cost, "spend", "spent"),
            (0.0, *counterfactual, "counterfactual", "smart model alone"),
        ] {
            let h = value * scale;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{h:.1}" class="{class}"><title>{}: {what} ${value:.6}</title></rect>"#,
                x + offset,
                HEIGHT - BOTTOM - h,
                escape(label),
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{}" class="label" text-anchor="middle">{}</text>"#,
                HEIGHT - 10.0,
                escape(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A reliability diagram: predicted probability against observed frequency per bin, for the
/// stated confidence and, when fitted, the calibrated one; the diagonal is perfect.
pub fn reliability(title: &str, stated: &[Bin], calibrated: Option<&[Bin]>) -> String {
    const SIZE: f64 = 280.0;
    const PAD: f64 = 36.0;
    let span = SIZE - 2.0 * PAD;
    let at =
        |p: f64, o: f64| (PAD + p.clamp(0.0, 1.0) * span, SIZE - PAD - o.clamp(0.0, 1.0) * span);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {SIZE} {SIZE}" role="img" aria-label="{t}" class="chart square"><title>{t}</title>"#,
        t = escape(title)
    );
    let (x0, y0) = at(0.0, 0.0);
    let (x1, y1) = at(1.0, 1.0);
    let _ = write!(
        svg,
        r#"<rect x="{x0}" y="{y1}" width="{span}" height="{span}" class="frame"/><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" class="diagonal"/><text x="{x0}" y="{ty}" class="label" text-anchor="middle">0</text><text x="{x1}" y="{ty}" class="label" text-anchor="middle">1</text><text x="{tx}" y="{y1t}" class="label" text-anchor="end">1</text><text x="{mx}" y="{ly}" class="label" text-anchor="middle">predicted</text><text x="12" y="{my}" class="label" text-anchor="middle" transform="rotate(-90 12 {my})">observed</text>"#,
        mx = SIZE / 2.0,
        ly = SIZE - 8.0,
        ty = y0 + 13.0,
        tx = x0 - 4.0,
        y1t = y1 + 4.0,
        my = SIZE / 2.0,
    );
    for (bins, class, what) in
        [(Some(stated), "stated", "stated"), (calibrated, "calibrated", "calibrated")]
    {
        let Some(bins) = bins else { continue };
        let points: Vec<String> = bins
            .iter()
            .map(|b| {
                let (x, y) = at(b.mean_predicted, b.observed);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(svg, r#"<polyline points="{}" class="{class}"/>"#, points.join(" "));
        for b in bins {
            let (x, y) = at(b.mean_predicted, b.observed);
            let r = 3.0 + (b.count as f64).sqrt().min(6.0);
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}" class="{class}"><title>{what} {:.1}–{:.1}: {} outcomes, predicted {:.2}, observed {:.2}</title></circle>"#,
                b.low, b.high, b.count, b.mean_predicted, b.observed
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = spend("<b>", &[("<script>".into(), 1.0, 2.0)]);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn dollars_keep_small_costs_and_put_the_sign_first() {
        assert_eq!(usd(0.0000123), "$0.000012");
        assert_eq!(usd(-0.0000123), "-$0.000012");
        assert_eq!(usd(12.5), "$12.500000");
    }

    #[test]
    fn the_largest_value_fills_the_plot() {
        let svg = spend("t", &[("a".into(), 0.5, 1.0), ("b".into(), 0.25, 0.5)]);
        let full = HEIGHT - BOTTOM - TOP;
        assert!(svg.contains(&format!(r#"height="{full:.1}""#)), "{svg}");
    }
}
