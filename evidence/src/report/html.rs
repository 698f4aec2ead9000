//! Self-contained HTML rendering of the period report: one file, inline CSS, an inline SVG
//! timeline per control, no scripts and no external assets.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::{
    ControlPeriod, EFFECTIVENESS_COLUMNS, PeriodReport, effectiveness_cells, human_duration,
    integrity_word, is_compliant, percent, share_text, trust_text,
};

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d2330}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d6dbe4}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border:1px solid #d6dbe4;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f5f9}td.n{text-align:right}.ok{color:#0a7a3d;font-weight:600}.bad{color:#b3261e;font-weight:600}\
.muted{color:#5f6b7a}.legend span{display:inline-block;margin-right:1rem}.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}";

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 16.0;

/// Renders the report as one HTML document.
pub fn render(r: &PeriodReport) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>SOC 2 Type II period report {} to {}</title><style>{CSS}</style></head><body>",
        esc(&r.from),
        esc(&r.to)
    );
    let _ = write!(
        o,
        "<h1>SOC 2 Type II period report</h1><p>Period <b>{}</b> to <b>{}</b>. Generated {} by soc2-operator {} from <code>{}</code>.</p>",
        esc(&r.from),
        esc(&r.to),
        esc(&r.generated_at),
        esc(&r.operator_version),
        esc(&r.store)
    );
    let _ = write!(
        o,
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#2e9e5b\"></i>compliant</span><span><i class=\"sw\" style=\"background:#d93b30\"></i>non-compliant</span><span><i class=\"sw\" style=\"background:#9aa3af\"></i>not applicable / error</span><span><i class=\"sw\" style=\"background:#f1f3f6;border:1px solid #c3c9d3\"></i>no evidence</span></p>"
    );
    let _ = write!(
        o,
        "<p class=\"{}\">{}</p>",
        if r.trust.pinned { "muted" } else { "bad" },
        esc(&trust_text(&r.trust))
    );
    if r.clusters.is_empty() {
        o.push_str("<p>No evidence found for the period.</p>");
    } else {
        o.push_str("<p>Operating effectiveness over every cluster: ");
        let parts: Vec<String> = EFFECTIVENESS_COLUMNS
            .iter()
            .zip(effectiveness_cells(&r.effectiveness))
            .map(|(k, v)| format!("{} <b>{}</b>", esc(k), esc(&v)))
            .collect();
        o.push_str(&parts.join(" · "));
        o.push_str("</p>");
    }
    let from: Option<Timestamp> = r.from.parse().ok();
    let to: Option<Timestamp> = r.to.parse().ok();
    for c in &r.clusters {
        let _ = write!(
            o,
            "<h2>Cluster <code>{}</code> · policy <code>{}</code></h2>",
            esc(&c.cluster),
            esc(&c.policy)
        );
        let i = &c.integrity;
        let _ = write!(
            o,
            "<p>Integrity: <span class=\"{}\">{}</span> · {} signed snapshot(s)",
            if i.verified && i.pinned { "ok" } else { "bad" },
            integrity_word(i),
            i.signed
        );
        for fp in &i.key_fingerprints {
            let _ = write!(o, " · key <code>{}</code>", esc(fp));
        }
        o.push_str("</p>");
        if let Some(a) = &i.anchor {
            let _ = write!(o, "<p class=\"muted\">Chain anchor: {}</p>", esc(a));
        }
        for line in i.assurance_lines() {
            let _ = write!(o, "<p class=\"muted\">{}</p>", esc(&line));
        }
        if !i.problems.is_empty() {
            o.push_str("<ul class=\"bad\">");
            for p in &i.problems {
                let _ = write!(o, "<li>{}</li>", esc(p));
            }
            o.push_str("</ul>");
        }
        let k = &c.completeness;
        let _ = write!(
            o,
            "<p>Evidence completeness: <b>{}</b> of {} expected snapshots ({}) on schedule {}; {} gap(s), {} incomplete, {} rejected.</p>",
            k.present,
            k.expected,
            percent(k.ratio),
            esc(&k.schedule),
            k.gaps.len(),
            k.incomplete,
            k.rejected
        );
        if k.not_live > 0 {
            let _ = write!(
                o,
                "<p>{} verified snapshot(s) not read from a live cluster: not counted.</p>",
                k.not_live
            );
        }
        for change in &k.schedule_changes {
            let _ = write!(o, "<p>Schedule: {}</p>", esc(change));
        }
        if !k.gaps.is_empty() {
            o.push_str("<ul>");
            for g in &k.gaps {
                let _ = write!(
                    o,
                    "<li>{} slot(s) missed from {} to {}</li>",
                    g.missed,
                    esc(&g.from),
                    esc(&g.to)
                );
            }
            o.push_str("</ul>");
        }
        o.push_str("<table><tr><th>Control</th><th>Criteria</th><th>Evaluations</th><th>Compliant</th><th>Longest non-compliant</th><th>At period end</th><th>Timeline</th></tr>");
        for ctl in &c.controls {
            let window = ctl.longest_non_compliant.as_ref().map_or_else(
                || "—".to_string(),
                |w| {
                    format!(
                        "{}<br><span class=\"muted\">{} → {}{}</span>",
                        human_duration(w.seconds),
                        esc(&w.from),
                        esc(&w.to),
                        if w.open { " (open)" } else { "" }
                    )
                },
            );
            let _ = write!(
                o,
                "<tr><td><b>{}</b> {}<br><span class=\"muted\">{}</span></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                esc(&ctl.control_id),
                esc(&ctl.title),
                esc(&ctl.name),
                esc(&ctl.criteria),
                if ctl.not_evaluated > 0 {
                    format!("{} ({} not evaluated)", ctl.evaluations, ctl.not_evaluated)
                } else {
                    ctl.evaluations.to_string()
                },
                esc(&share_text(ctl)),
                window,
                if is_compliant(&ctl.state_at_end) {
                    "ok"
                } else {
                    "bad"
                },
                esc(&ctl.state_at_end),
                timeline(ctl, from, to)
            );
        }
        o.push_str("</table>");
        o.push_str("<h3>Operating effectiveness</h3><table><tr><th>Control</th>");
        for h in EFFECTIVENESS_COLUMNS {
            let _ = write!(o, "<th>{}</th>", esc(h));
        }
        o.push_str("<th>Open findings over time</th></tr>");
        for ctl in &c.controls {
            let _ = write!(o, "<tr><td><b>{}</b></td>", esc(&ctl.control_id));
            if ctl.evaluations == 0 {
                let _ = write!(
                    o,
                    "<td colspan=\"{}\" class=\"muted\">not evaluated in the period</td><td></td></tr>",
                    EFFECTIVENESS_COLUMNS.len()
                );
                continue;
            }
            for cell in effectiveness_cells(&ctl.effectiveness) {
                let _ = write!(o, "<td class=\"n\">{}</td>", esc(&cell));
            }
            let _ = write!(o, "<td>{}</td></tr>", open_chart(ctl, from, to));
        }
        o.push_str("<tr><td><b>All controls</b></td>");
        for cell in effectiveness_cells(&c.effectiveness) {
            let _ = write!(o, "<td class=\"n\"><b>{}</b></td>", esc(&cell));
        }
        o.push_str("<td></td></tr></table>");
        if let Some(a) = &c.activity {
            o.push_str("<h3>Security events from the audit stream</h3><ul>");
            let mut nested = false;
            for line in super::activity::lines(a) {
                match line.strip_prefix("  ") {
                    Some(item) => {
                        if !nested {
                            o.push_str("<ul>");
                            nested = true;
                        }
                        let _ = write!(o, "<li>{}</li>", esc(item));
                    }
                    None => {
                        if nested {
                            o.push_str("</ul>");
                            nested = false;
                        }
                        let _ = write!(o, "<li>{}</li>", esc(&line));
                    }
                }
            }
            if nested {
                o.push_str("</ul>");
            }
            o.push_str("</ul>");
        }
        let attestations: Vec<_> = c
            .controls
            .iter()
            .flat_map(|ctl| ctl.attestations.iter().map(move |a| (ctl, a)))
            .collect();
        if !attestations.is_empty() {
            o.push_str("<h3>Attestations</h3><table><tr><th>Control</th><th>Check</th><th>Statement</th><th>Attested by</th><th>Expires</th><th>Seen</th><th>Applied in</th><th>In force at end</th></tr>");
            for (ctl, a) in attestations {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    esc(&ctl.control_id),
                    esc(&a.check),
                    esc(&a.statement),
                    esc(&a.attested_by),
                    esc(&a.expires),
                    esc(&a.first_seen),
                    esc(&a.last_seen),
                    a.applied_in,
                    if a.in_force_at_end {
                        "yes"
                    } else {
                        "no (expired)"
                    }
                );
            }
            o.push_str("</table>");
        }
        let exceptions: Vec<_> = c
            .controls
            .iter()
            .flat_map(|ctl| ctl.exceptions.iter().map(move |e| (ctl, e)))
            .collect();
        if !exceptions.is_empty() {
            o.push_str("<h3>Exceptions</h3><table><tr><th>Control</th><th>Check</th><th>Reason</th><th>Approved by</th><th>Expires</th><th>Seen</th><th>Findings covered</th></tr>");
            for (ctl, e) in exceptions {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{} → {}</td><td class=\"n\">{}</td></tr>",
                    esc(&ctl.control_id),
                    esc(e.check.as_deref().unwrap_or("all")),
                    esc(&match &e.ticket {
                        Some(t) => format!("{} (ticket {t})", e.reason),
                        None => e.reason.clone(),
                    }),
                    esc(&e.approved_by),
                    esc(&e.expires),
                    if e.expired_at_end { " (expired)" } else { "" },
                    esc(&e.first_seen),
                    esc(&e.last_seen),
                    e.findings_covered
                );
            }
            o.push_str("</table>");
        }
    }
    o.push_str("</body></html>\n");
    o
}

/// An inline SVG bar over the period: each evaluation colours the span until the next one.
fn timeline(ctl: &ControlPeriod, from: Option<Timestamp>, to: Option<Timestamp>) -> String {
    let (Some(from), Some(to)) = (from, to) else {
        return String::new();
    };
    let span = to.duration_since(from).as_secs_f64().max(1.0);
    let x =
        |t: Timestamp| ((t.duration_since(from).as_secs_f64() / span) * WIDTH).clamp(0.0, WIDTH);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"timeline of {}\"><rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#f1f3f6\"/>",
        esc(&ctl.control_id)
    );
    let points: Vec<(Timestamp, &str)> = ctl
        .timeline
        .iter()
        .filter_map(|p| p.time.parse().ok().map(|t| (t, p.status.as_str())))
        .collect();
    for (i, (t, status)) in points.iter().enumerate() {
        let end = points.get(i + 1).map_or(to, |(n, _)| *n);
        let (x0, x1) = (x(*t), x(end));
        let color = match *status {
            "Compliant" | "Attested" => "#2e9e5b",
            "NonCompliant" => "#d93b30",
            _ => "#9aa3af",
        };
        let _ = write!(
            svg,
            "<rect x=\"{x0:.2}\" y=\"0\" width=\"{:.2}\" height=\"{HEIGHT}\" fill=\"{color}\"><title>{} {}</title></rect>",
            (x1 - x0).max(0.5),
            esc(&rfc(*t)),
            esc(status)
        );
    }
    svg.push_str("</svg>");
    svg
}

const CHART_HEIGHT: f64 = 48.0;

/// An inline SVG step chart of the control's open findings at each evaluation over the period.
fn open_chart(ctl: &ControlPeriod, from: Option<Timestamp>, to: Option<Timestamp>) -> String {
    let (Some(from), Some(to)) = (from, to) else {
        return String::new();
    };
    let points: Vec<(Timestamp, usize)> = ctl
        .timeline
        .iter()
        .filter_map(|p| p.time.parse().ok().map(|t| (t, p.open)))
        .collect();
    let max = points.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let span = to.duration_since(from).as_secs_f64().max(1.0);
    let x =
        |t: Timestamp| ((t.duration_since(from).as_secs_f64() / span) * WIDTH).clamp(0.0, WIDTH);
    let top = 10.0;
    let y = |n: usize| CHART_HEIGHT - (n as f64 / max as f64) * (CHART_HEIGHT - top);
    let mut path = String::new();
    for (i, (t, n)) in points.iter().enumerate() {
        let end = points.get(i + 1).map_or(to, |(next, _)| *next);
        if i == 0 {
            let _ = write!(path, "M{:.2} {:.2}", x(*t), y(*n));
        } else {
            let _ = write!(path, "V{:.2}", y(*n));
        }
        let _ = write!(path, "H{:.2}", x(end));
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{CHART_HEIGHT}\" viewBox=\"0 0 {WIDTH} {CHART_HEIGHT}\" role=\"img\" aria-label=\"open findings of {} over the period, at most {max}\"><rect width=\"{WIDTH}\" height=\"{CHART_HEIGHT}\" fill=\"#f7f8fa\"/><line x1=\"0\" y1=\"{CHART_HEIGHT}\" x2=\"{WIDTH}\" y2=\"{CHART_HEIGHT}\" stroke=\"#c3c9d3\"/>",
        esc(&ctl.control_id)
    );
    if !path.is_empty() {
        let _ = write!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"#b3261e\" stroke-width=\"1.5\"/>"
        );
    }
    for (t, n) in &points {
        let _ = write!(
            svg,
            "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"1.5\" fill=\"#b3261e\"><title>{} open at {}</title></circle>",
            x(*t),
            y(*n),
            n,
            esc(&rfc(*t))
        );
    }
    let _ = write!(
        svg,
        "<text x=\"2\" y=\"9\" font-size=\"9\" fill=\"#5f6b7a\">max {max}</text></svg>"
    );
    svg
}

fn rfc(t: Timestamp) -> String {
    crate::rfc3339(t)
}

/// HTML escaping for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
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
