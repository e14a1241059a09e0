//! The HTML page: self-contained (inline CSS and SVG, no scripts), the JSON's numbers.

use std::fmt::Write as _;

use super::chart::svg_chart;
use super::not_revoked::Reactivation;
use super::percentile::Percentiles;
use super::report::Report;
use super::{human, opt_human, opt_time, stuck_text, time};

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A complete, self-contained HTML page with the same numbers as the JSON. Each total
/// carries `data-count="<key>"` and each percentile `data-latency="<name>.<p>"` with the
/// exact seconds in `data-seconds`, so a script can check them against the JSON.
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    head(&mut out, report);
    summary(&mut out, report);
    latency(&mut out, report);
    out.push_str("<h2>Distribution</h2>");
    out.push_str(&svg_chart(report));
    breaches(&mut out, report);
    incomplete(&mut out, report);
    not_revoked(&mut out, report);
    reactivations(&mut out, &report.reactivations);
    per_target(&mut out, report);
    scheduled(&mut out, report);
    out.push_str(r#"<p class="muted">The SLA clock starts at receipt (for a scheduled termination: at its due time) and stops when the last target is revoked. Machine-readable: <code>provisiond audit deprovision --format json</code>.</p></body></html>"#);
    out.push('\n');
    out
}

fn head(out: &mut String, report: &Report) {
    out.push_str(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>provisiond deprovision report</title><style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;max-width:70rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}.num{text-align:right}.bad{color:#c0392b;font-weight:600}.ok{color:#1e8449;font-weight:600}
.totals td{font-size:1.3rem;text-align:center}.muted{color:#666}code{font-size:.85rem}
</style></head><body>"#,
    );
    let _ = write!(
        out,
        r#"<h1>Deprovision report</h1><p class="muted">Window <time data-window="since">{}</time> to <time data-window="until">{}</time>{} · SLA <span data-sla-seconds="{}">{}</span> · generated <time>{}</time> by provisiond. Percentiles are exact (nearest rank over every termination), not estimated.</p>"#,
        escape(&time(report.window.since)),
        escape(&time(report.window.until)),
        report
            .source
            .as_deref()
            .map_or(String::new(), |s| format!(" · source {}", escape(s))),
        report.sla_seconds,
        escape(&human(report.sla_seconds)),
        escape(&time(report.generated_at)),
    );
}

fn summary(out: &mut String, report: &Report) {
    let c = &report.counts;
    // `not_revoked` covers pending and failed too: stale, ignored or superseded, the
    // leaver may still have access, so the page cannot call the window clean.
    let verdict = if c.breaches == 0 && c.not_revoked == 0 {
        r#"<p class="ok">Every termination in the window was completed within the SLA.</p>"#
            .to_owned()
    } else {
        format!(
            r#"<p class="bad">{} SLA breach(es), {} termination(s) not revoked everywhere.</p>"#,
            c.breaches, c.not_revoked
        )
    };
    out.push_str("<h2>Summary</h2>");
    out.push_str(&verdict);
    let totals = [
        ("terminations", c.terminations),
        ("completed", c.completed),
        ("pending", c.pending),
        ("failed", c.failed),
        ("scheduled", c.scheduled),
        ("breaches", c.breaches),
        ("stale", c.stale),
        ("ignored", c.ignored),
        ("superseded", c.superseded),
        ("held", c.held),
        ("not_revoked", c.not_revoked),
        ("reactivations", c.reactivations),
    ];
    out.push_str(r#"<table class="totals"><tr>"#);
    for (key, _) in totals {
        let _ = write!(out, "<th>{}</th>", key.replace('_', " "));
    }
    out.push_str("</tr><tr>");
    for (key, value) in totals {
        let _ = write!(out, r#"<td data-count="{key}">{value}</td>"#);
    }
    out.push_str("</tr></table>");
}

fn latency(out: &mut String, report: &Report) {
    out.push_str(r#"<h2>Latency</h2><table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>"#);
    percentiles(
        out,
        "receipt_to_revoked",
        "receipt → revoked (all targets)",
        &report.latency_seconds.receipt_to_revoked,
    );
    percentiles(
        out,
        "effective_to_revoked",
        "effective / occurred → revoked",
        &report.latency_seconds.effective_to_revoked,
    );
    for (name, stats) in &report.targets {
        let key = format!("targets.{name}");
        percentiles(
            out,
            &escape(&key),
            &format!("target {name}: receipt → revoked"),
            &stats.latency,
        );
    }
    out.push_str("</table>");
}

fn percentiles(out: &mut String, key: &str, label: &str, p: &Percentiles) {
    let cell = |name: &str, v: Option<f64>| {
        let value = v.map_or(String::new(), |v| v.to_string());
        format!(
            r#"<td data-latency="{key}.{name}" data-seconds="{value}">{}</td>"#,
            escape(&opt_human(v))
        )
    };
    let _ = write!(
        out,
        r#"<tr><th scope="row">{}</th><td data-latency="{key}.count">{}</td>{}{}{}{}{}</tr>"#,
        escape(label),
        p.count,
        cell("p50", p.p50),
        cell("p90", p.p90),
        cell("p95", p.p95),
        cell("p99", p.p99),
        cell("max", p.max)
    );
}

/// The cells every list starts with: employee, source, event.
fn who(employee_id: Option<&str>, source: &str, event_id: &str) -> String {
    format!(
        "<td>{}</td><td>{}</td><td><code>{}</code></td>",
        escape(employee_id.unwrap_or("-")),
        escape(source),
        escape(event_id)
    )
}

fn header_cells(out: &mut String, columns: &[&str]) {
    for column in columns {
        let _ = write!(out, "<th>{column}</th>");
    }
}

/// A list whose table is left out when it is empty (`None.` instead).
fn list(out: &mut String, id: Option<&str>, title: &str, columns: &[&str], rows: &[String]) {
    let _ = write!(out, "<h2>{title} ({})</h2>", rows.len());
    if rows.is_empty() {
        out.push_str("<p>None.</p>");
        return;
    }
    match id {
        Some(id) => {
            let _ = write!(out, r#"<table id="{id}"><tr>"#);
        }
        None => out.push_str("<table><tr>"),
    }
    header_cells(out, columns);
    out.push_str("</tr>");
    for row in rows {
        out.push_str(row);
    }
    out.push_str("</table>");
}

/// A section's table, always present (an empty one says so in a row without
/// `data-event-id`), so that a script can count its rows.
fn section(out: &mut String, id: &str, title: &str, columns: &[&str], rows: &[String]) {
    let _ = write!(out, "<h2>{title} ({})</h2>", rows.len());
    let _ = write!(out, r#"<table id="{id}"><thead><tr>"#);
    header_cells(out, columns);
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            r#"<tr><td colspan="{}">None.</td></tr>"#,
            columns.len()
        );
    }
    for row in rows {
        out.push_str(row);
    }
    out.push_str("</tbody></table>");
}

fn breaches(out: &mut String, report: &Report) {
    let rows: Vec<String> = report
        .breaches
        .iter()
        .map(|b| {
            format!(
                r#"<tr>{}<td class="num" data-seconds="{}">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                who(b.employee_id.as_deref(), &b.source, &b.event_id),
                b.latency_seconds,
                escape(&human(b.latency_seconds)),
                b.status.as_str(),
                escape(&time(b.clock_started_at)),
                escape(&opt_time(b.completed_at)),
            )
        })
        .collect();
    let columns = [
        "employee",
        "source",
        "event",
        "latency",
        "status",
        "clock started",
        "completed",
    ];
    list(out, Some("breaches"), "SLA breaches", &columns, &rows);
}

fn incomplete(out: &mut String, report: &Report) {
    let rows: Vec<String> = report
        .incomplete
        .iter()
        .map(|i| {
            format!(
                r#"<tr>{}<td class="bad">{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                who(i.employee_id.as_deref(), &i.source, &i.event_id),
                i.status.as_str(),
                escape(&time(i.clock_started_at)),
                escape(&human(i.age_seconds)),
                escape(&stuck_text(&i.stuck_at)),
            )
        })
        .collect();
    let columns = [
        "employee",
        "source",
        "event",
        "status",
        "clock started",
        "age",
        "stuck at",
    ];
    let title = "Incomplete terminations";
    list(out, Some("incomplete"), title, &columns, &rows);
}

fn not_revoked(out: &mut String, report: &Report) {
    let rows: Vec<String> = report
        .not_revoked
        .iter()
        .map(|n| {
            format!(
                r#"<tr data-event-id="{}" data-reason="{}">{}<td class="bad">{}</td><td>{}</td><td>{}</td><td class="num" data-seconds="{}">{}</td><td>{}</td></tr>"#,
                escape(&n.event_id),
                n.reason.as_str(),
                who(n.employee_id.as_deref(), &n.source, &n.event_id),
                n.reason.as_str(),
                n.status.as_str(),
                escape(&time(n.clock_started_at)),
                n.age_seconds,
                escape(&human(n.age_seconds)),
                escape(&n.detail),
            )
        })
        .collect();
    let columns = [
        "employee",
        "source",
        "event",
        "reason",
        "status",
        "clock started",
        "age",
        "detail",
    ];
    section(out, "not-revoked", "Not revoked", &columns, &rows);
}

fn reactivations(out: &mut String, reactivations: &[Reactivation]) {
    let rows: Vec<String> = reactivations
        .iter()
        .map(|r| {
            format!(
                r#"<tr data-event-id="{}">{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>"#,
                escape(&r.event_id),
                who(r.employee_id.as_deref(), &r.source, &r.event_id),
                escape(r.kind.as_deref().unwrap_or("-")),
                escape(&r.trigger),
                escape(&opt_time(r.occurred_at)),
                escape(&time(r.received_at)),
                escape(&opt_time(r.processed_at)),
                escape(r.previous_termination_event_id.as_deref().unwrap_or("-")),
            )
        })
        .collect();
    let columns = [
        "employee",
        "source",
        "event",
        "kind",
        "trigger",
        "occurred",
        "received",
        "processed",
        "after termination",
    ];
    section(out, "reactivations", "Reactivations", &columns, &rows);
}

fn per_target(out: &mut String, report: &Report) {
    out.push_str("<h2>Per target</h2><table><tr><th>target</th><th>revoked</th><th>pending</th><th>failed</th><th>superseded</th><th>p50</th><th>p99</th><th>max</th></tr>");
    for (name, stats) in &report.targets {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(name),
            stats.latency.count,
            stats.pending,
            stats.failed,
            stats.superseded,
            escape(&opt_human(stats.latency.p50)),
            escape(&opt_human(stats.latency.p99)),
            escape(&opt_human(stats.latency.max)),
        );
    }
    out.push_str("</table>");
}

/// Listed only when there are some.
fn scheduled(out: &mut String, report: &Report) {
    if report.scheduled.is_empty() {
        return;
    }
    let rows: Vec<String> = report
        .scheduled
        .iter()
        .map(|s| {
            format!(
                "<tr>{}<td>{}</td><td>{}</td></tr>",
                who(Some(&s.employee_id), &s.source, &s.event_id),
                escape(&time(s.effective_at)),
                escape(&time(s.due_at)),
            )
        })
        .collect();
    let columns = ["employee", "source", "event", "effective", "due"];
    list(out, None, "Scheduled, not due yet", &columns, &rows);
}
