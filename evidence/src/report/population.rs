//! Populations and samples for operating-effectiveness testing: every item of a period with
//! its evidence references (snapshot manifest keys and manifest SHA-256 digests), as CSV, and a
//! reproducible random sample of them.
//!
//! - `findings`: every finding followed by the period report (see [`super::effectiveness`]),
//!   with the snapshots that show it open and closed.
//! - `exceptions`: every exception recorded in the period, with the first and last snapshot
//!   showing it.
//! - `changes`: every object created, modified or deleted between two consecutive verified
//!   snapshots of a chain in the period, per their `inventory.json`: modified means a different
//!   `resourceVersion` when both snapshots record one, otherwise a different digest. The first
//!   snapshot of the period is the baseline (changes before it are not listed).
//!
//! The sample: SplitMix64 seeded with the seed, then a partial Fisher–Yates shuffle of the row
//! numbers with unbiased bounded draws; the sample is listed in population order. The same
//! population and seed give the same sample on every machine and version that keeps this
//! algorithm ([`SAMPLER`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::{PeriodReport, ReportOptions, SnapshotRef};
use crate::Result;
use crate::bundle::INVENTORY;
use crate::rfc3339;
use crate::store::Store;
use crate::verify::{self, VerifyOptions};

/// The sampling algorithm, named in every sample's header.
pub const SAMPLER: &str = "splitmix64-fisher-yates/v1";

/// Which population.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Findings.
    Findings,
    /// Object changes.
    Changes,
    /// Exceptions.
    Exceptions,
}

impl Kind {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Findings => "findings",
            Kind::Changes => "changes",
            Kind::Exceptions => "exceptions",
        }
    }
}

/// One item of a population.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The CSV fields, in the population's header order.
    pub fields: Vec<String>,
    /// A one-line description (for the sample).
    pub summary: String,
    /// The snapshots that evidence it, labelled (`opened`, `closed`, ...); `None`: no such
    /// snapshot in the period (for example still open at its end).
    pub evidence: Vec<(&'static str, Option<SnapshotRef>)>,
}

/// A population.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Population {
    /// Which.
    pub kind: Kind,
    /// Column names.
    pub header: Vec<&'static str>,
    /// Items, in a fixed order.
    pub items: Vec<Item>,
}

fn push_ref(fields: &mut Vec<String>, r: Option<&SnapshotRef>) {
    fields.push(r.map(|r| r.time.clone()).unwrap_or_default());
    fields.push(r.map(|r| r.key.clone()).unwrap_or_default());
    fields.push(r.map(|r| r.digest.clone()).unwrap_or_default());
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Every finding of the report's period.
pub fn findings(r: &PeriodReport) -> Population {
    let header = vec![
        "cluster",
        "policy",
        "control",
        "control_id",
        "finding_id",
        "check",
        "severity",
        "resource",
        "message",
        "opened_in_period",
        "opened_at",
        "opened_snapshot",
        "opened_manifest_sha256",
        "closed_at",
        "closed_snapshot",
        "closed_manifest_sha256",
        "last_seen_at",
        "last_seen_snapshot",
        "last_seen_manifest_sha256",
        "remediation_seconds",
        "age_at_end_seconds",
        "paused_seconds",
        "sla_seconds",
        "within_sla",
        "overdue_at_end",
    ];
    let mut items = Vec::new();
    for c in &r.clusters {
        for ctl in &c.controls {
            for f in &ctl.findings {
                let mut fields = vec![
                    c.cluster.clone(),
                    c.policy.clone(),
                    f.control.clone(),
                    f.control_id.clone(),
                    f.id.clone(),
                    f.check.clone(),
                    f.severity.clone(),
                    f.resource.clone(),
                    f.message.clone(),
                    f.opened_in_period.to_string(),
                ];
                push_ref(&mut fields, Some(&f.opened));
                push_ref(&mut fields, f.closed.as_ref());
                push_ref(&mut fields, Some(&f.last_seen));
                fields.extend([
                    opt(f.remediation_seconds),
                    opt(f.age_at_end_seconds),
                    f.paused_seconds.to_string(),
                    opt(f.sla_seconds),
                    opt(f.within_sla),
                    f.overdue_at_end.to_string(),
                ]);
                items.push(Item {
                    fields,
                    summary: format!(
                        "finding {} {} {} ({}) on {}: {}",
                        f.id, f.control_id, f.check, f.severity, f.resource, f.message
                    ),
                    evidence: vec![
                        (
                            if f.opened_in_period {
                                "opened"
                            } else {
                                "open at period start"
                            },
                            Some(f.opened.clone()),
                        ),
                        ("last seen", Some(f.last_seen.clone())),
                        ("closed", f.closed.clone()),
                    ],
                });
            }
        }
    }
    Population {
        kind: Kind::Findings,
        header,
        items,
    }
}

/// Every exception of the report's period.
pub fn exceptions(r: &PeriodReport) -> Population {
    let header = vec![
        "cluster",
        "policy",
        "control",
        "control_id",
        "check",
        "reason",
        "approved_by",
        "ticket",
        "expires",
        "expired_at_end",
        "findings_covered",
        "first_seen_at",
        "first_seen_snapshot",
        "first_seen_manifest_sha256",
        "last_seen_at",
        "last_seen_snapshot",
        "last_seen_manifest_sha256",
    ];
    let mut items = Vec::new();
    for c in &r.clusters {
        for ctl in &c.controls {
            for e in &ctl.exceptions {
                let mut fields = vec![
                    c.cluster.clone(),
                    c.policy.clone(),
                    ctl.name.clone(),
                    ctl.control_id.clone(),
                    e.check.clone().unwrap_or_else(|| "*".into()),
                    e.reason.clone(),
                    e.approved_by.clone(),
                    e.ticket.clone().unwrap_or_default(),
                    e.expires.clone(),
                    e.expired_at_end.to_string(),
                    e.findings_covered.to_string(),
                ];
                push_ref(&mut fields, Some(&e.first_snapshot));
                push_ref(&mut fields, Some(&e.last_snapshot));
                items.push(Item {
                    fields,
                    summary: format!(
                        "exception {} {} approved by {} until {}: {}",
                        ctl.control_id,
                        e.check.as_deref().unwrap_or("*"),
                        e.approved_by,
                        e.expires,
                        e.reason
                    ),
                    evidence: vec![
                        ("first seen", Some(e.first_snapshot.clone())),
                        ("last seen", Some(e.last_snapshot.clone())),
                    ],
                });
            }
        }
    }
    Population {
        kind: Kind::Exceptions,
        header,
        items,
    }
}

#[derive(Deserialize)]
struct InventoryDoc {
    #[serde(default)]
    items: Vec<InventoryLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryLine {
    #[serde(default)]
    api_version: String,
    kind: String,
    #[serde(default)]
    namespace: Option<String>,
    name: String,
    #[serde(default)]
    resource_version: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

type ObjectKey = (String, String, String, String);
type ObjectState = (Option<String>, Option<String>);

/// Every object change between consecutive verified snapshots of each chain in the period,
/// from their `inventory.json` (read through verification, like `results.json` for the report:
/// the bytes whose digest matched the manifest). Snapshots without an inventory (the policy's
/// `include.inventory` off) are skipped and named in `skipped`.
pub async fn changes(store: &Store, options: &ReportOptions) -> Result<(Population, Vec<String>)> {
    let verify_options = VerifyOptions {
        cluster: options.cluster.clone(),
        policy: options.policy.clone(),
        from: Some(options.from),
        to: Some(options.to),
        public_key: options.public_key,
        keyring: options.keyring.clone(),
        limits: options.limits,
        keep: Some(INVENTORY.to_string()),
        also_keep: Vec::new(),
        now: options.now,
        timestamps: options.timestamps.clone(),
        object_lock: options.object_lock,
    };
    let verified = verify::verify(store, &verify_options).await?;
    let header = vec![
        "cluster",
        "policy",
        "change",
        "api_version",
        "kind",
        "namespace",
        "name",
        "resource_version_before",
        "resource_version_after",
        "digest_before",
        "digest_after",
        "before_at",
        "before_snapshot",
        "before_manifest_sha256",
        "after_at",
        "after_snapshot",
        "after_manifest_sha256",
    ];
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for chain in &verified.chains {
        let mut prev: Option<(SnapshotRef, BTreeMap<ObjectKey, ObjectState>)> = None;
        for entry in &chain.entries {
            let parsed = entry
                .kept
                .as_deref()
                .filter(|_| entry.ok)
                .and_then(|b| serde_json::from_slice::<InventoryDoc>(b).ok());
            let Some(doc) = parsed else {
                skipped.push(entry.key.clone());
                continue;
            };
            let here = SnapshotRef {
                time: rfc3339(entry.time),
                key: entry.key.clone(),
                digest: entry.digest.clone(),
            };
            let now: BTreeMap<ObjectKey, ObjectState> = doc
                .items
                .into_iter()
                .map(|i| {
                    (
                        (
                            i.api_version,
                            i.kind,
                            i.namespace.unwrap_or_default(),
                            i.name,
                        ),
                        (i.resource_version, i.digest),
                    )
                })
                .collect();
            if let Some((before, old)) = &prev {
                let keys: std::collections::BTreeSet<&ObjectKey> =
                    old.keys().chain(now.keys()).collect();
                for k in keys {
                    let (a, b) = (old.get(k), now.get(k));
                    let change = match (a, b) {
                        (None, Some(_)) => "created",
                        (Some(_), None) => "deleted",
                        (Some((rv_a, d_a)), Some((rv_b, d_b))) => {
                            let differs = match (rv_a, rv_b) {
                                (Some(x), Some(y)) => x != y,
                                _ => d_a != d_b,
                            };
                            if !differs {
                                continue;
                            }
                            "modified"
                        }
                        (None, None) => continue,
                    };
                    let mut fields = vec![
                        chain.cluster.clone(),
                        chain.policy.clone(),
                        change.to_string(),
                        k.0.clone(),
                        k.1.clone(),
                        k.2.clone(),
                        k.3.clone(),
                        opt(a.and_then(|x| x.0.clone())),
                        opt(b.and_then(|x| x.0.clone())),
                        opt(a.and_then(|x| x.1.clone())),
                        opt(b.and_then(|x| x.1.clone())),
                    ];
                    push_ref(&mut fields, Some(before));
                    push_ref(&mut fields, Some(&here));
                    let ns = if k.2.is_empty() {
                        String::new()
                    } else {
                        format!("{}/", k.2)
                    };
                    items.push(Item {
                        fields,
                        summary: format!("{change} {} {ns}{} ({})", k.1, k.3, k.0),
                        evidence: vec![
                            ("before", Some(before.clone())),
                            ("after", Some(here.clone())),
                        ],
                    });
                }
            }
            prev = Some((here, now));
        }
    }
    Ok((
        Population {
            kind: Kind::Changes,
            header,
            items,
        },
        skipped,
    ))
}

/// One CSV field (RFC 4180 quoting).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_line(out: &mut String, fields: impl IntoIterator<Item = String>) {
    let line: Vec<String> = fields.into_iter().map(|f| csv_field(&f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

impl Population {
    /// The population as CSV (header line, CRLF line ends).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        csv_line(&mut out, self.header.iter().map(|h| h.to_string()));
        for i in &self.items {
            csv_line(&mut out, i.fields.iter().cloned());
        }
        out
    }

    /// The rows (0-based) of a sample of `n` items drawn with `seed`, in population order.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<usize> {
        sample_indices(self.items.len(), n, seed)
    }

    /// A sample as CSV: the population's columns preceded by `population_row` (1-based).
    pub fn sample_csv(&self, rows: &[usize]) -> String {
        let mut out = String::new();
        csv_line(
            &mut out,
            std::iter::once("population_row".to_string())
                .chain(self.header.iter().map(|h| h.to_string())),
        );
        for &r in rows {
            if let Some(i) = self.items.get(r) {
                csv_line(
                    &mut out,
                    std::iter::once((r + 1).to_string()).chain(i.fields.iter().cloned()),
                );
            }
        }
        out
    }

    /// A sample as text: for each item, the snapshots that evidence it.
    pub fn sample_text(&self, rows: &[usize], seed: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Sample of {} from a population of {} {} (seed {seed}, {SAMPLER}).",
            rows.len(),
            self.items.len(),
            self.kind.name()
        );
        for (n, &r) in rows.iter().enumerate() {
            let Some(i) = self.items.get(r) else { continue };
            let _ = writeln!(out, "\n{}. [population row {}] {}", n + 1, r + 1, i.summary);
            for (label, at) in &i.evidence {
                match at {
                    Some(s) => {
                        let _ = writeln!(
                            out,
                            "   {label}: {} snapshot {} (manifest sha256 {})",
                            s.time, s.key, s.digest
                        );
                    }
                    None => {
                        let _ = writeln!(out, "   {label}: none in the period");
                    }
                }
            }
        }
        out
    }
}

/// SplitMix64 (Steele, Lea and Flood): a small, well-known, seedable generator.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`), without modulo bias (rejection).
    pub fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % bound;
            }
        }
    }
}

/// `n` distinct indices of `0..len` (all when `n >= len`), drawn with `seed`, sorted.
pub fn sample_indices(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..len).collect();
    let n = n.min(len);
    let mut rng = SplitMix64::new(seed);
    for i in 0..n {
        let j = i + rng.below((len - i) as u64) as usize;
        rows.swap(i, j);
    }
    rows.truncate(n);
    rows.sort_unstable();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_values() {
        // Reference output of SplitMix64 seeded with 1234567 (from the published C code).
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn same_seed_same_sample_other_seed_other_sample() {
        let a = sample_indices(1000, 25, 42);
        assert_eq!(a, sample_indices(1000, 25, 42));
        assert_eq!(a.len(), 25);
        let distinct: std::collections::BTreeSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 25);
        assert!(a.iter().all(|&i| i < 1000));
        assert_ne!(a, sample_indices(1000, 25, 43));
        assert_eq!(sample_indices(3, 10, 7), vec![0, 1, 2]);
        assert!(sample_indices(0, 5, 7).is_empty());
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nthen"), "\"say \"\"hi\"\"\nthen\"");
    }
}
