//! Rendering evaluations and the catalog for people (tables, colour on a terminal) and
//! machines (JSON, YAML).

use std::io::{IsTerminal, Write};

use clap::ValueEnum;

use super::{EXIT_OK, input_error};
use soc2_core::checks::catalog;
use soc2_core::engine::{Evaluation, Status};
use soc2_core::snapshot::manifests::NotEvaluated;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

struct Style {
    on: bool,
}

impl Style {
    fn detect() -> Self {
        Self {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn status(&self, s: Status) -> String {
        let code = match s {
            Status::Compliant | Status::Attested => "32",
            Status::NonCompliant | Status::Error => "31",
            Status::NotApplicable => "33",
        };
        self.paint(code, s.as_str())
    }
}

/// Prints an evaluation, with the objects of a manifests folder that could not be evaluated.
pub(super) fn print_evaluation(
    e: &Evaluation,
    not_evaluated: &[NotEvaluated],
    format: Format,
) -> Result<(), String> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Audit<'a> {
        #[serde(flatten)]
        evaluation: &'a Evaluation,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        not_evaluated: &'a [NotEvaluated],
    }
    let audit = Audit {
        evaluation: e,
        not_evaluated,
    };
    let mut out = std::io::stdout().lock();
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&audit).map_err(|e| e.to_string())? + "\n",
        Format::Yaml => serde_saphyr::to_string(&audit).map_err(|e| e.to_string())?,
        Format::Table => render_table(e, &Style::detect()) + &render_not_evaluated(not_evaluated),
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

fn render_not_evaluated(list: &[NotEvaluated]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\n{} object(s) not evaluated (the rest of the folder was):\n",
        list.len()
    );
    for n in list {
        let name = match &n.namespace {
            Some(ns) => format!("{ns}/{}", n.name),
            None => n.name.clone(),
        };
        s.push_str(&format!(
            "  {} (document {}): {} {}: {}\n",
            n.file, n.document, n.kind, name, n.reason
        ));
    }
    s
}

fn render_table(e: &Evaluation, style: &Style) -> String {
    let mut s = String::new();
    let mut current = None;
    for c in &e.controls {
        if current != Some(c.criteria) {
            current = Some(c.criteria);
            s.push_str(&format!("\n{}\n", style.paint("1", c.criteria.as_str())));
        }
        s.push_str(&format!(
            "  {:<8} {:<14} {}  ({})\n",
            c.control_id,
            style.status(c.status),
            c.title,
            c.name
        ));
        for check in &c.checks {
            let detail = match check.status {
                Status::Compliant => format!("{} checked", check.resources_checked),
                Status::NonCompliant => format!(
                    "{} failing of {} checked",
                    check.findings.len(),
                    check.resources_checked
                ),
                _ => check.reason.clone(),
            };
            let excepted = if check.excepted.is_empty() {
                String::new()
            } else {
                format!(", {} excepted", check.excepted.len())
            };
            s.push_str(&format!(
                "      {:<36} {:<14} {}{}\n",
                check.check,
                style.status(check.status),
                detail,
                excepted
            ));
            for f in &check.findings {
                s.push_str(&format!(
                    "        - {}: {}\n",
                    style.paint("1", &f.resource.to_string()),
                    f.message
                ));
            }
        }
        for ex in c.exceptions.iter().filter(|x| x.expired) {
            s.push_str(&format!(
                "      ! exception #{} (approved by {}) expired {}: no longer applies\n",
                ex.index, ex.approved_by, ex.expires
            ));
        }
        for a in c.attestations.iter().filter(|a| a.expired) {
            s.push_str(&format!(
                "      ! attestation for {} by {} expired {}: no longer counts\n",
                a.check, a.attested_by, a.expires
            ));
        }
    }
    let failing = e.controls.iter().filter(|c| !c.compliant()).count();
    s.push_str(&format!(
        "\n{} controls, {} passing, {} failing ({} objects, evaluated {})\n",
        e.controls.len(),
        e.controls.len() - failing,
        failing,
        e.objects,
        e.evaluated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ));
    s
}

/// Prints the catalog.
pub(super) fn print_catalog(format: Format) -> u8 {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        #[serde(flatten)]
        meta: soc2_core::checks::CheckMeta,
        default_params: serde_json::Value,
    }
    let entries: Vec<Entry> = catalog()
        .iter()
        .map(|c| Entry {
            meta: c.meta(),
            default_params: c.default_params(),
        })
        .collect();
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&entries)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_saphyr::to_string(&entries).map_err(|e| e.to_string()),
        Format::Table => {
            let mut s = String::new();
            for e in &entries {
                s.push_str(&format!(
                    "{:<36} {:<22} {:<9} {}\n",
                    e.meta.id,
                    e.meta.criteria.join(" "),
                    format!("{:?}", e.meta.severity),
                    e.meta.title
                ));
            }
            Ok(s)
        }
    };
    match text {
        Ok(t) => {
            print!("{t}");
            EXIT_OK
        }
        Err(e) => input_error(e),
    }
}
