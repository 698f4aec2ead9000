//! Markdown rendering of the period report (for tickets, wikis and pull requests).

use std::fmt::Write as _;

use super::{
    EFFECTIVENESS_COLUMNS, PeriodReport, effectiveness_cells, human_duration, integrity_word,
    percent, share_text, trust_text,
};

/// Renders the report as Markdown.
pub fn render(r: &PeriodReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# SOC 2 Type II period report\n");
    let _ = writeln!(
        o,
        "Period **{}** to **{}** · generated {} by soc2-operator {} from `{}`\n",
        r.from, r.to, r.generated_at, r.operator_version, r.store
    );
    let _ = writeln!(o, "{}\n", md(&trust_text(&r.trust)));
    let _ = writeln!(
        o,
        "Operating effectiveness over every cluster: {}\n",
        EFFECTIVENESS_COLUMNS
            .iter()
            .zip(effectiveness_cells(&r.effectiveness))
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    if r.clusters.is_empty() {
        let _ = writeln!(o, "_No evidence found for the period._");
    }
    for c in &r.clusters {
        let _ = writeln!(o, "## Cluster `{}` · policy `{}`\n", c.cluster, c.policy);
        let i = &c.integrity;
        let _ = writeln!(
            o,
            "- Integrity: **{}** ({} signed snapshot(s); keys: {})",
            integrity_word(i),
            i.signed,
            if i.key_fingerprints.is_empty() {
                "none".to_string()
            } else {
                i.key_fingerprints.join(", ")
            }
        );
        if let Some(a) = &i.anchor {
            let _ = writeln!(o, "- Chain anchor: {a}");
        }
        for line in i.assurance_lines() {
            let _ = writeln!(o, "- {}", md(&line));
        }
        for p in &i.problems {
            let _ = writeln!(o, "  - break: {}", md(p));
        }
        let k = &c.completeness;
        let _ = writeln!(
            o,
            "- Completeness: {} of {} expected snapshots ({}), schedule {}, {} gap(s), {} incomplete, {} rejected",
            k.present,
            k.expected,
            percent(k.ratio),
            k.schedule,
            k.gaps.len(),
            k.incomplete,
            k.rejected
        );
        if k.not_live > 0 {
            let _ = writeln!(
                o,
                "  - {} verified snapshot(s) not read from a live cluster: not counted",
                k.not_live
            );
        }
        for change in &k.schedule_changes {
            let _ = writeln!(o, "  - schedule: {}", md(change));
        }
        for g in &k.gaps {
            let _ = writeln!(
                o,
                "  - gap: {} slot(s) missed from {} to {}",
                g.missed, g.from, g.to
            );
        }
        let _ = writeln!(
            o,
            "\n| Control | Criteria | Title | Evaluations | Compliant | Longest non-compliant | At period end |"
        );
        let _ = writeln!(o, "|---|---|---|---:|---:|---|---|");
        for ctl in &c.controls {
            let window = ctl.longest_non_compliant.as_ref().map_or_else(
                || "—".to_string(),
                |w| {
                    format!(
                        "{} ({} → {}{})",
                        human_duration(w.seconds),
                        w.from,
                        w.to,
                        if w.open { ", open" } else { "" }
                    )
                },
            );
            let _ = writeln!(
                o,
                "| {} ({}) | {} | {} | {} | {} | {} | {} |",
                md(&ctl.control_id),
                md(&ctl.name),
                md(&ctl.criteria),
                md(&ctl.title),
                if ctl.not_evaluated > 0 {
                    format!("{} ({} not evaluated)", ctl.evaluations, ctl.not_evaluated)
                } else {
                    ctl.evaluations.to_string()
                },
                share_text(ctl),
                window,
                md(&ctl.state_at_end)
            );
        }
        let _ = writeln!(o, "\n### Operating effectiveness\n");
        let _ = writeln!(o, "| Control | {} |", EFFECTIVENESS_COLUMNS.join(" | "));
        let _ = writeln!(o, "|---|{}", "---:|".repeat(EFFECTIVENESS_COLUMNS.len()));
        for ctl in &c.controls {
            let cells = if ctl.evaluations == 0 {
                vec!["not evaluated".to_string(); EFFECTIVENESS_COLUMNS.len()]
            } else {
                effectiveness_cells(&ctl.effectiveness).to_vec()
            };
            let _ = writeln!(o, "| {} | {} |", md(&ctl.control_id), cells.join(" | "));
        }
        let _ = writeln!(
            o,
            "| **All controls** | {} |",
            effectiveness_cells(&c.effectiveness).join(" | ")
        );
        let attestations: Vec<_> = c
            .controls
            .iter()
            .flat_map(|ctl| ctl.attestations.iter().map(move |a| (ctl, a)))
            .collect();
        if !attestations.is_empty() {
            let _ = writeln!(o, "\n### Attestations\n");
            let _ = writeln!(
                o,
                "| Control | Check | Statement | Attested by | Expires | Seen | Applied in | In force at end |"
            );
            let _ = writeln!(o, "|---|---|---|---|---|---|---:|---|");
            for (ctl, a) in attestations {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} → {} | {} | {} |",
                    md(&ctl.control_id),
                    md(&a.check),
                    md(&a.statement),
                    md(&a.attested_by),
                    md(&a.expires),
                    a.first_seen,
                    a.last_seen,
                    a.applied_in,
                    if a.in_force_at_end {
                        "yes"
                    } else {
                        "no (expired)"
                    }
                );
            }
        }
        let exceptions: Vec<_> = c
            .controls
            .iter()
            .flat_map(|ctl| ctl.exceptions.iter().map(move |e| (ctl, e)))
            .collect();
        if !exceptions.is_empty() {
            let _ = writeln!(o, "\n### Exceptions\n");
            let _ = writeln!(
                o,
                "| Control | Check | Reason | Approved by | Expires | Seen | Findings covered |"
            );
            let _ = writeln!(o, "|---|---|---|---|---|---|---:|");
            for (ctl, e) in exceptions {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {}{} | {} → {} | {} |",
                    md(&ctl.control_id),
                    md(e.check.as_deref().unwrap_or("all")),
                    md(&match &e.ticket {
                        Some(t) => format!("{} (ticket {t})", e.reason),
                        None => e.reason.clone(),
                    }),
                    md(&e.approved_by),
                    md(&e.expires),
                    if e.expired_at_end { " (expired)" } else { "" },
                    e.first_seen,
                    e.last_seen,
                    e.findings_covered
                );
            }
        }
        if let Some(a) = &c.activity {
            let _ = writeln!(o, "\n### Security events from the audit stream\n");
            for line in super::activity::lines(a) {
                match line.strip_prefix("  ") {
                    Some(item) => {
                        let _ = writeln!(o, "  - {}", md(item));
                    }
                    None => {
                        let _ = writeln!(o, "- {}", md(&line));
                    }
                }
            }
        }
        let _ = writeln!(o);
    }
    o
}

/// Escapes table-breaking characters.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
