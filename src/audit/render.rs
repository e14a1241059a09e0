//! The report for people and spreadsheets: a text table, CSV (one row per termination,
//! then one per reactivation) and a self-contained HTML page (inline CSS and SVG, no
//! scripts, nothing fetched).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::not_revoked::Reactivation;
use super::percentile::Percentiles;
use super::report::{Report, Stuck, Timeline};

/// Times as the JSON has them (RFC 3339, UTC, as many fraction digits as needed).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A duration in seconds, for people: `0.042s`, `12.5s`, `14m 3s`, `2h 5m`, `3d 4h`.
pub fn human(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let s = seconds.abs();
    if s < 60.0 {
        let text = format!("{s:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return format!("{sign}{text}s");
    }
    let total = s.round() as u64;
    let (d, h, m, sec) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| match small {
        0 => format!("{big}{big_unit}"),
        _ => format!("{big}{big_unit} {small}{small_unit}"),
    };
    let text = if d > 0 {
        pair(d, "d", h, "h")
    } else if h > 0 {
        pair(h, "h", m, "m")
    } else {
        pair(m, "m", sec, "s")
    };
    format!("{sign}{text}")
}

fn opt_human(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), human)
}

fn stuck_text(t: &[Stuck]) -> String {
    let parts: Vec<String> = t.iter().map(Stuck::describe).collect();
    parts.join("; ")
}

/// The human summary printed by `audit deprovision` (the default format).
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.counts;
    let _ = writeln!(
        out,
        "Deprovision report {} .. {}{}  (SLA {})",
        report.window.since.format("%Y-%m-%d %H:%M:%SZ"),
        report.window.until.format("%Y-%m-%d %H:%M:%SZ"),
        report
            .source
            .as_deref()
            .map_or(String::new(), |s| format!("  source {s}")),
        human(report.sla_seconds)
    );
    let _ = writeln!(
        out,
        "\nterminations {}   completed {}   pending {}   failed {}   scheduled {}   breaches {}\
         \nstale {}   ignored {}   superseded {}   held {}   not revoked {}   reactivations {}",
        c.terminations,
        c.completed,
        c.pending,
        c.failed,
        c.scheduled,
        c.breaches,
        c.stale,
        c.ignored,
        c.superseded,
        c.held,
        c.not_revoked,
        c.reactivations
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "LATENCY", "COUNT", "P50", "P90", "P95", "P99", "MAX"
    );
    let row = |out: &mut String, name: &str, p: &Percentiles| {
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
            name,
            p.count,
            opt_human(p.p50),
            opt_human(p.p90),
            opt_human(p.p95),
            opt_human(p.p99),
            opt_human(p.max)
        );
    };
    row(
        &mut out,
        "receipt → revoked",
        &report.latency_seconds.receipt_to_revoked,
    );
    row(
        &mut out,
        "effective → revoked",
        &report.latency_seconds.effective_to_revoked,
    );
    for (name, stats) in &report.targets {
        let label = format!("target {name}");
        row(&mut out, &label, &stats.latency);
    }
    let _ = writeln!(out, "\nSLA BREACHES ({})", report.breaches.len());
    if report.breaches.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for b in &report.breaches {
        let _ = writeln!(
            out,
            "  {:<20} {:<10} {:<34} {:>10}  {}",
            b.employee_id.as_deref().unwrap_or("-"),
            b.source,
            b.event_id,
            human(b.latency_seconds),
            b.status.as_str()
        );
    }
    let _ = writeln!(out, "\nINCOMPLETE ({})", report.incomplete.len());
    if report.incomplete.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for i in &report.incomplete {
        let _ = writeln!(
            out,
            "  {:<20} {:<10} {:<34} {:<8} age {:>9}  {}",
            i.employee_id.as_deref().unwrap_or("-"),
            i.source,
            i.event_id,
            i.status.as_str(),
            human(i.age_seconds),
            stuck_text(&i.stuck_at)
        );
    }
    table_not_revoked(&mut out, report);
    table_reactivations(&mut out, &report.reactivations);
    if !report.scheduled.is_empty() {
        let _ = writeln!(out, "\nSCHEDULED, NOT DUE YET ({})", report.scheduled.len());
        for s in &report.scheduled {
            let _ = writeln!(
                out,
                "  {:<20} {:<10} {:<34} due {}",
                s.employee_id,
                s.source,
                s.event_id,
                time(s.due_at)
            );
        }
    }
    out
}

fn table_not_revoked(out: &mut String, report: &Report) {
    let _ = writeln!(out, "\nNOT REVOKED ({})", report.not_revoked.len());
    if report.not_revoked.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for n in &report.not_revoked {
        let _ = writeln!(
            out,
            "  {:<20} {:<10} {:<34} {:<18} age {:>9}  {}",
            n.employee_id.as_deref().unwrap_or("-"),
            n.source,
            n.event_id,
            n.reason.as_str(),
            human(n.age_seconds),
            n.detail
        );
    }
}

fn table_reactivations(out: &mut String, reactivations: &[Reactivation]) {
    let _ = writeln!(out, "\nREACTIVATIONS ({})", reactivations.len());
    if reactivations.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for r in reactivations {
        let _ = writeln!(
            out,
            "  {:<20} {:<10} {:<34} {:<8} received {}  after termination {}",
            r.employee_id.as_deref().unwrap_or("-"),
            r.source,
            r.event_id,
            r.kind.as_deref().unwrap_or("-"),
            time(r.received_at),
            r.previous_termination_event_id.as_deref().unwrap_or("-")
        );
    }
}

/// The fixed CSV columns; then `revoked_at:<target>` per target, then `stuck_at`, then
/// [`CSV_TRAILING_COLUMNS`].
pub const CSV_COLUMNS: [&str; 17] = [
    "source",
    "employee_id",
    "event_id",
    "trigger",
    "status",
    "occurred_at",
    "effective_at",
    "received_at",
    "due_at",
    "clock_started_at",
    "published_at",
    "processed_at",
    "completed_at",
    "receipt_to_revoked_seconds",
    "effective_to_revoked_seconds",
    "age_seconds",
    "breach",
];

/// The last columns, added after the others so that existing readers keep their places:
/// why a termination did not revoke everything (empty once completed), and what the row
/// is (`termination` or `reactivation`).
pub const CSV_TRAILING_COLUMNS: [&str; 2] = ["not_revoked_reason", "record"];

/// One row per termination, then one per reactivation (RFC 4180: CRLF line ends, quotes
/// where needed).
pub fn csv(report: &Report) -> String {
    let targets: BTreeSet<&str> = report
        .terminations
        .iter()
        .flat_map(|t| t.targets.iter().map(|r| r.target.as_str()))
        .collect();
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.extend(targets.iter().map(|t| format!("revoked_at:{t}")));
    header.push("stuck_at".to_owned());
    header.extend(CSV_TRAILING_COLUMNS.iter().map(|c| (*c).to_owned()));
    let mut out = String::new();
    push_record(&mut out, &header);
    for t in &report.terminations {
        let mut fields = timeline_fields(t);
        for target in &targets {
            let revoked = t.targets.iter().find(|r| r.target == *target);
            fields.push(opt_time(revoked.and_then(|r| r.revoked_at)));
        }
        fields.push(stuck_text(&t.stuck_at));
        let reason = t.not_revoked_reason.map(|r| r.as_str());
        fields.push(reason.unwrap_or_default().to_owned());
        fields.push("termination".to_owned());
        push_record(&mut out, &fields);
    }
    for r in &report.reactivations {
        push_record(&mut out, &reactivation_fields(r, header.len()));
    }
    out
}

/// A reactivation in the termination columns that apply to it; the others empty.
fn reactivation_fields(r: &Reactivation, width: usize) -> Vec<String> {
    let mut fields = vec![String::new(); width];
    let mut set = |column: &str, value: String| {
        if let Some(i) = CSV_COLUMNS.iter().position(|c| *c == column) {
            fields[i] = value;
        }
    };
    set("source", r.source.clone());
    set("employee_id", r.employee_id.clone().unwrap_or_default());
    set("event_id", r.event_id.clone());
    set("trigger", r.trigger.clone());
    set("status", "reactivated".to_owned());
    set("occurred_at", opt_time(r.occurred_at));
    set("received_at", time(r.received_at));
    set("processed_at", opt_time(r.processed_at));
    fields[width - 1] = "reactivation".to_owned();
    fields
}

fn timeline_fields(t: &Timeline) -> Vec<String> {
    vec![
        t.source.clone(),
        t.employee_id.clone().unwrap_or_default(),
        t.event_id.clone(),
        t.trigger.clone(),
        t.status.as_str().to_owned(),
        opt_time(t.occurred_at),
        opt_time(t.effective_at),
        time(t.received_at),
        opt_time(t.due_at),
        time(t.clock_started_at),
        opt_time(t.published_at),
        opt_time(t.processed_at),
        opt_time(t.completed_at),
        opt_num(t.receipt_to_revoked_seconds),
        opt_num(t.effective_to_revoked_seconds),
        opt_num(t.age_seconds),
        t.breach.to_string(),
    ]
}

fn push_record(out: &mut String, fields: &[String]) {
    let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&quoted.join(","));
    out.push_str("\r\n");
}

fn csv_field(field: &str) -> String {
    // A cell a spreadsheet would run as a formula (sender-controlled ids, target errors)
    // is kept as text; numbers such as a negative latency stay numbers.
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && field.parse::<f64>().is_err() {
        return csv_field(&format!("'{field}"));
    }
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

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

/// Upper bounds (seconds) of the chart's latency buckets; the last bucket is open.
const BUCKETS: [(f64, &str); 9] = [
    (0.1, "≤ 100 ms"),
    (1.0, "≤ 1 s"),
    (10.0, "≤ 10 s"),
    (60.0, "≤ 1 min"),
    (300.0, "≤ 5 min"),
    (900.0, "≤ 15 min"),
    (3600.0, "≤ 1 h"),
    (14_400.0, "≤ 4 h"),
    (86_400.0, "≤ 1 day"),
];

/// How many completed terminations fall in each bucket (the last: over a day).
pub fn distribution(report: &Report) -> Vec<(String, usize)> {
    let mut counts = vec![0_usize; BUCKETS.len() + 1];
    for t in &report.terminations {
        if let Some(latency) = t.receipt_to_revoked_seconds {
            let index = BUCKETS
                .iter()
                .position(|(upper, _)| latency <= *upper)
                .unwrap_or(BUCKETS.len());
            counts[index] += 1;
        }
    }
    let mut labels: Vec<String> = BUCKETS.iter().map(|(_, l)| (*l).to_owned()).collect();
    labels.push("> 1 day".to_owned());
    labels.into_iter().zip(counts).collect()
}

fn svg_chart(report: &Report) -> String {
    let buckets = distribution(report);
    let (width, height, left, bottom, top) = (760.0, 260.0, 40.0, 50.0, 20.0);
    let plot_h = height - bottom - top;
    let slot = (width - left - 10.0) / buckets.len() as f64;
    let max = buckets.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let sla = report.sla_seconds;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="chart-title"><title id="chart-title">Receipt to revoked latency distribution of completed terminations</title>"#
    );
    let axis_y = height - bottom;
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
        width - 10.0
    );
    for (n, (label, count)) in buckets.iter().enumerate() {
        let x = left + n as f64 * slot + slot * 0.15;
        let w = slot * 0.7;
        let h = (*count as f64 / max) * plot_h;
        let y = axis_y - h;
        // Buckets entirely above the SLA are drawn red.
        let lower = if n == 0 { 0.0 } else { BUCKETS[n - 1].0 };
        let over = lower >= sla;
        let fill = if over { "#c0392b" } else { "#2e86c1" };
        let _ = write!(
            svg,
            r#"<rect class="bar" data-bucket="{}" data-count="{count}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"><title>{}: {count}</title></rect>"#,
            escape(label),
            escape(label)
        );
        let cx = x + w / 2.0;
        let _ = write!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">{count}</text>"#,
            y - 4.0
        );
        let _ = write!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            axis_y + 16.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{left}" y="{:.1}" font-size="11">receipt → revoked (red: entirely over the SLA of {})</text></svg>"#,
        height - 8.0,
        escape(&human(sla))
    );
    svg
}

fn html_percentiles(out: &mut String, key: &str, label: &str, p: &Percentiles) {
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

/// A complete, self-contained HTML page with the same numbers as the JSON. Each total
/// carries `data-count="<key>"` and each percentile `data-latency="<name>.<p>"` with the
/// exact seconds in `data-seconds`, so a script can check them against the JSON.
pub fn html(report: &Report) -> String {
    let c = &report.counts;
    let mut out = String::new();
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

    out.push_str(r#"<h2>Latency</h2><table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>"#);
    html_percentiles(
        &mut out,
        "receipt_to_revoked",
        "receipt → revoked (all targets)",
        &report.latency_seconds.receipt_to_revoked,
    );
    html_percentiles(
        &mut out,
        "effective_to_revoked",
        "effective / occurred → revoked",
        &report.latency_seconds.effective_to_revoked,
    );
    for (name, stats) in &report.targets {
        let key = format!("targets.{name}");
        html_percentiles(
            &mut out,
            &escape(&key),
            &format!("target {name}: receipt → revoked"),
            &stats.latency,
        );
    }
    out.push_str("</table>");
    out.push_str("<h2>Distribution</h2>");
    out.push_str(&svg_chart(report));

    let _ = write!(out, "<h2>SLA breaches ({})</h2>", report.breaches.len());
    if report.breaches.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str(r#"<table id="breaches"><tr><th>employee</th><th>source</th><th>event</th><th>latency</th><th>status</th><th>clock started</th><th>completed</th></tr>"#);
        for b in &report.breaches {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class="num" data-seconds="{}">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(b.employee_id.as_deref().unwrap_or("-")),
                escape(&b.source),
                escape(&b.event_id),
                b.latency_seconds,
                escape(&human(b.latency_seconds)),
                b.status.as_str(),
                escape(&time(b.clock_started_at)),
                escape(&opt_time(b.completed_at)),
            );
        }
        out.push_str("</table>");
    }

    let _ = write!(
        out,
        "<h2>Incomplete terminations ({})</h2>",
        report.incomplete.len()
    );
    if report.incomplete.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str(r#"<table id="incomplete"><tr><th>employee</th><th>source</th><th>event</th><th>status</th><th>clock started</th><th>age</th><th>stuck at</th></tr>"#);
        for i in &report.incomplete {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class="bad">{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                escape(i.employee_id.as_deref().unwrap_or("-")),
                escape(&i.source),
                escape(&i.event_id),
                i.status.as_str(),
                escape(&time(i.clock_started_at)),
                escape(&human(i.age_seconds)),
                escape(&stuck_text(&i.stuck_at)),
            );
        }
        out.push_str("</table>");
    }

    html_not_revoked(&mut out, report);
    html_reactivations(&mut out, &report.reactivations);

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

    if !report.scheduled.is_empty() {
        let _ = write!(
            out,
            "<h2>Scheduled, not due yet ({})</h2><table><tr><th>employee</th><th>source</th><th>event</th><th>effective</th><th>due</th></tr>",
            report.scheduled.len()
        );
        for s in &report.scheduled {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&s.employee_id),
                escape(&s.source),
                escape(&s.event_id),
                escape(&time(s.effective_at)),
                escape(&time(s.due_at)),
            );
        }
        out.push_str("</table>");
    }
    out.push_str(r#"<p class="muted">The SLA clock starts at receipt (for a scheduled termination: at its due time) and stops when the last target is revoked. Machine-readable: <code>provisiond audit deprovision --format json</code>.</p></body></html>"#);
    out.push('\n');
    out
}

/// A section's table, always present (an empty one says so in a row without
/// `data-event-id`), so that a script can count its rows.
fn html_section(out: &mut String, id: &str, title: &str, columns: &[&str], rows: &[String]) {
    let _ = write!(out, "<h2>{title} ({})</h2>", rows.len());
    let _ = write!(out, r#"<table id="{id}"><thead><tr>"#);
    for column in columns {
        let _ = write!(out, "<th>{column}</th>");
    }
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

fn html_not_revoked(out: &mut String, report: &Report) {
    let rows: Vec<String> = report
        .not_revoked
        .iter()
        .map(|n| {
            format!(
                r#"<tr data-event-id="{}" data-reason="{}"><td>{}</td><td>{}</td><td><code>{}</code></td><td class="bad">{}</td><td>{}</td><td>{}</td><td class="num" data-seconds="{}">{}</td><td>{}</td></tr>"#,
                escape(&n.event_id),
                n.reason.as_str(),
                escape(n.employee_id.as_deref().unwrap_or("-")),
                escape(&n.source),
                escape(&n.event_id),
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
    html_section(out, "not-revoked", "Not revoked", &columns, &rows);
}

fn html_reactivations(out: &mut String, reactivations: &[Reactivation]) {
    let rows: Vec<String> = reactivations
        .iter()
        .map(|r| {
            format!(
                r#"<tr data-event-id="{}"><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>"#,
                escape(&r.event_id),
                escape(r.employee_id.as_deref().unwrap_or("-")),
                escape(&r.source),
                escape(&r.event_id),
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
    html_section(out, "reactivations", "Reactivations", &columns, &rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::fixture;

    #[test]
    fn audit_csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-12.5"), "-12.5");
    }

    #[test]
    fn audit_html_escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    /// RFC 4180, as a spreadsheet reads it.
    fn rows(text: &str) -> Vec<Vec<String>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let records = reader.records().map(|r| r.expect("valid CSV"));
        records
            .map(|r| r.iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn audit_csv_appends_the_reason_and_the_record_and_lists_reactivations_last() {
        let report = fixture::report();
        let text = csv(&report);
        let rows = rows(&text);
        let header = &rows[0];
        assert_eq!(
            &header[..CSV_COLUMNS.len()],
            &CSV_COLUMNS[..],
            "columns in place"
        );
        let tail: Vec<&str> = header[header.len() - 3..]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(tail, ["stuck_at", "not_revoked_reason", "record"]);
        assert_eq!(
            rows.len(),
            1 + 4 + 1,
            "header, terminations, the reactivation"
        );
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (reason, record, status) = (
            column("not_revoked_reason"),
            column("record"),
            column("status"),
        );
        let cells: Vec<(&str, &str, &str)> = rows[1..]
            .iter()
            .map(|r| (r[status].as_str(), r[reason].as_str(), r[record].as_str()))
            .collect();
        assert_eq!(
            cells,
            [
                ("completed", "", "termination"),
                ("stale", "stale", "termination"),
                ("failed", "dead_lettered", "termination"),
                ("superseded", "superseded", "termination"),
                ("reactivated", "", "reactivation"),
            ]
        );
        assert_eq!(rows[2][column("employee_id")], r#"<b>stale, "one"</b>"#);
        let rehire = &rows[5];
        assert_eq!(rehire.len(), header.len());
        for (name, value) in [
            ("source", "hris"),
            ("employee_id", "back"),
            ("event_id", "ev_rehire"),
            ("trigger", "webhook"),
            ("occurred_at", "2026-03-01T12:30:00Z"),
            ("received_at", "2026-03-01T12:30:01Z"),
            ("processed_at", "2026-03-01T12:30:02Z"),
            ("completed_at", ""),
            ("clock_started_at", ""),
            ("breach", ""),
            ("stuck_at", ""),
        ] {
            assert_eq!(rehire[column(name)], value, "{name}");
        }
    }

    #[test]
    fn audit_the_table_has_not_revoked_and_reactivations_sections() {
        let text = table(&fixture::report());
        assert!(text.contains("terminations 4   completed 1"), "{text}");
        assert!(text.contains("not revoked 3   reactivations 1"), "{text}");
        let section = text.split("NOT REVOKED (3)\n").nth(1).unwrap();
        let lines: Vec<&str> = section.lines().take(3).collect();
        assert!(
            lines[0].contains("ev_stale") && lines[0].contains("stale"),
            "{text}"
        );
        assert!(lines[0].contains("older than the employee's re-activation"));
        assert!(lines[1].contains("ev_dead") && lines[1].contains("dead_lettered"));
        assert!(lines[2].contains("ev_back") && lines[2].contains("rehired since"));
        let section = text.split("REACTIVATIONS (1)\n").nth(1).unwrap();
        assert!(section.contains("ev_rehire") && section.contains("after termination ev_back"));
    }

    #[test]
    fn audit_html_lists_not_revoked_and_reactivations_escaped() {
        let page = html(&fixture::report());
        for (key, value) in [("not_revoked", 3), ("reactivations", 1), ("stale", 1)] {
            let cell = format!(r#"<td data-count="{key}">{value}</td>"#);
            assert!(page.contains(&cell), "{cell}");
        }
        let section = |id: &str| {
            let start = page.find(&format!(r#"<table id="{id}">"#)).unwrap();
            let end = start + page[start..].find("</table>").unwrap();
            page[start..end].to_owned()
        };
        let not_revoked = section("not-revoked");
        assert_eq!(not_revoked.matches("<tr data-event-id=").count(), 3);
        assert!(not_revoked.contains(r#"data-event-id="ev_stale" data-reason="stale""#));
        assert!(not_revoked.contains("&lt;b&gt;stale, &quot;one&quot;&lt;/b&gt;"));
        assert!(not_revoked.contains("employee&#39;s re-activation"));
        assert!(!not_revoked.contains("<b>"), "escaped");
        let reactivations = section("reactivations");
        assert!(reactivations.contains(r#"<tr data-event-id="ev_rehire">"#));
        assert!(page.contains(r#"class="bad">3 SLA breach(es), 3 termination(s)"#));
    }

    #[test]
    fn audit_empty_sections_keep_their_table() {
        let mut report = fixture::report();
        report.not_revoked.clear();
        report.reactivations.clear();
        let page = html(&report);
        assert!(page.contains(r#"<table id="not-revoked">"#));
        assert!(page.contains(r#"<table id="reactivations">"#));
        assert!(!page.contains("<tr data-event-id="));
        let text = table(&report);
        assert!(text.contains("NOT REVOKED (0)\n  none"), "{text}");
        assert!(text.contains("REACTIVATIONS (0)\n  none"), "{text}");
    }

    #[test]
    fn audit_human_durations() {
        assert_eq!(human(0.042), "0.042s");
        assert_eq!(human(12.5), "12.5s");
        assert_eq!(human(2.0), "2s");
        assert_eq!(human(843.0), "14m 3s");
        assert_eq!(human(7500.0), "2h 5m");
        assert_eq!(human(273_600.0), "3d 4h");
        assert_eq!(human(-30.0), "-30s");
        assert_eq!(human(900.0), "15m");
        assert_eq!(human(3600.0), "1h");
        assert_eq!(human(86_400.0), "1d");
    }
}
