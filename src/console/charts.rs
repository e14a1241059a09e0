//! Small bar charts as inline SVG, drawn on the server: no chart library, no script.
//! Colours come from the stylesheet (classes `bar`, `bar breach`, `axis`, `sla`), so the
//! content security policy needs no inline style. Each bar has a `<title>` (a tooltip,
//! and what a screen reader reads), and the chart as a whole is labelled by `id`'s text.

use std::fmt::Write;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 14.0;

/// One bar: its label on the x axis, its value, and the part of it drawn as flagged
/// (breaches of the SLA, errors), over it in the flagged colour.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub flagged: f64,
    /// What the tooltip says about this bar.
    pub title: String,
}

/// `<svg>` with one bar per entry, labelled by the element whose id is `labelled_by`.
/// Every `label_every`-th x label is written (long series stay legible).
pub fn bars(labelled_by: &str, bars: &[Bar], label_every: usize) -> String {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let scale_max = nice_ceiling(max);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / bars.len().max(1) as f64;
    let bar_w = (slot * 0.75).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}" xmlns="http://www.w3.org/2000/svg">"#,
        id = escape(labelled_by)
    );
    let base = TOP + plot_h;
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{base}" x2="{x2}" y2="{base}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}"/>"#,
        x2 = WIDTH - 8.0
    );
    let _ = write!(
        svg,
        r#"<text x="{x}" y="{y}" text-anchor="end">{max}</text><text x="{x}" y="{base}" text-anchor="end">0</text>"#,
        x = LEFT - 6.0,
        y = TOP + 10.0,
        max = number(scale_max)
    );
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let height = |v: f64| {
            if scale_max > 0.0 {
                v / scale_max * plot_h
            } else {
                0.0
            }
        };
        let h = height(bar.value);
        let _ = write!(
            svg,
            r#"<g><title>{title}</title><rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}"/>"#,
            title = escape(&bar.title),
            y = base - h,
        );
        if bar.flagged > 0.0 {
            let f = height(bar.flagged.min(bar.value));
            let _ = write!(
                svg,
                r#"<rect class="bar breach" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{f:.1}"/>"#,
                y = base - f,
            );
        }
        svg.push_str("</g>");
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{cx:.1}" y="{y}" text-anchor="middle">{label}</text>"#,
                cx = x + bar_w / 2.0,
                y = base + 16.0,
                label = escape(&bar.label),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `value` (0 stays 0).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 0.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Text made safe inside SVG markup (it is inserted into the page unescaped).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_one_bar_per_value_and_escapes_its_text() {
        let bars_in = [
            Bar {
                label: "a<b".into(),
                value: 3.0,
                flagged: 1.0,
                title: "3 \"x\"".into(),
            },
            Bar {
                label: "c".into(),
                value: 0.0,
                flagged: 0.0,
                title: "0".into(),
            },
        ];
        let svg = bars("chart-1", &bars_in, 1);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert_eq!(svg.matches(r#"class="bar breach""#).count(), 1);
        assert!(svg.contains("a&lt;b") && svg.contains("3 &quot;x&quot;"));
        assert!(!svg.contains("a<b"));
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(0.0), 0.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
    }
}
