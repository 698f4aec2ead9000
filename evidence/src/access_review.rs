//! The quarterly access review (SOC 2 CC6.2/CC6.3), read from a verified evidence chain.
//!
//! Every snapshot holds `access-review.json`: the access matrix (who holds which role, where,
//! through which binding, and each role's effective rules) and the ServiceAccounts workloads run
//! as. [`build`] verifies the chain with [`verify::verify`] and keeps the verified bytes of that
//! document, so what the review shows is what verification hashed. From them it writes:
//!
//! - every subject of the snapshot at `at` (default: the newest) with its effective permissions;
//! - what changed since the snapshot at `previous` (default: 92 days before `at`): subjects
//!   added and removed, permissions gained and lost;
//! - ServiceAccounts that look dormant: bound to at least one existing role, and no workload
//!   ran as them in any snapshot of the last `dormant_days` days (see `docs/access-review.md`
//!   for exactly what that means and what it cannot see).
//!
//! It reads only the store; it never reads Secrets (the snapshots hold none).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::bundle::ACCESS_REVIEW;
use crate::keyring::Keyring;
use crate::verify::{self, ChainReport, Limits, VerifyOptions};
use crate::{Error, PublicKey, Result, Store, rfc3339};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// What to review.
#[derive(Clone, Debug)]
pub struct AccessReviewOptions {
    /// The cluster (required when the store holds several).
    pub cluster: Option<String>,
    /// The evidence policy (required when the cluster has several chains).
    pub policy: Option<String>,
    /// Review the newest snapshot at or before this time (default: the newest).
    pub at: Option<Timestamp>,
    /// Compare with the newest snapshot at or before this time (default: 92 days before the
    /// reviewed snapshot).
    pub previous: Option<Timestamp>,
    /// A bound ServiceAccount nothing ran as for this many days is dormant.
    pub dormant_days: u32,
    /// Pinned public key.
    pub public_key: Option<PublicKey>,
    /// Pinned keyring.
    pub keyring: Option<Keyring>,
    /// Size caps.
    pub limits: Limits,
    /// The current time.
    pub now: Timestamp,
}

/// The review.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessReview {
    /// Cluster.
    pub cluster: String,
    /// Evidence policy.
    pub policy: String,
    /// When the review was generated.
    pub generated_at: String,
    /// The store.
    pub store: String,
    /// Whether the chain verified (digests, signatures, links). A review of evidence that
    /// does not verify says so and the CLI exits 1.
    pub verified: bool,
    /// `evidence` (a verified store) or `manifests` (a quick look: nothing verified, no
    /// history).
    pub source: &'static str,
    /// What verification trusted.
    pub trust: String,
    /// Integrity problems, when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The reviewed snapshot.
    pub snapshot: SnapshotRef,
    /// Every subject with its access.
    pub subjects: Vec<Subject>,
    /// Changes since the previous review's snapshot.
    pub changes: Changes,
    /// ServiceAccounts that look dormant.
    pub dormant: Dormancy,
}

/// A snapshot of the chain.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRef {
    /// Snapshot time.
    pub time: String,
    /// Manifest key in the store.
    pub key: String,
    /// Combined digest of its documents.
    pub digest: String,
}

/// One subject and its access.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (ServiceAccounts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `human` (User, Group) or `service` (ServiceAccount, or a `system:serviceaccount:` user).
    pub class: &'static str,
    /// One of Kubernetes' own identities (`system:*` users and groups, `kube-system`
    /// ServiceAccounts).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub built_in: bool,
    /// `Role@where via Binding`, one per grant.
    pub grants: Vec<String>,
    /// Effective permissions, one line each: `where: verbs on what`.
    pub permissions: Vec<String>,
}

impl Subject {
    /// `Kind name` or `ServiceAccount ns/name`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// What changed between two snapshots.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// The snapshot compared with; `None` when the chain has none at or before `since`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<SnapshotRef>,
    /// The time the previous snapshot was looked for.
    pub since: String,
    /// Subjects present now and not then.
    pub added: Vec<String>,
    /// Subjects present then and not now.
    pub removed: Vec<String>,
    /// Subjects present in both whose access changed.
    pub changed: Vec<SubjectChange>,
}

/// A subject whose access changed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectChange {
    /// The subject (`Kind name`).
    pub subject: String,
    /// Permissions it holds now and did not.
    pub gained: Vec<String>,
    /// Permissions it held and no longer does.
    pub lost: Vec<String>,
    /// Grants added (a new binding can give no new permission).
    pub grants_added: Vec<String>,
    /// Grants removed.
    pub grants_removed: Vec<String>,
}

/// The dormant-account section.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dormancy {
    /// The threshold in days.
    pub days: u32,
    /// Start of the window: `days` before the reviewed snapshot.
    pub window_start: String,
    /// The oldest snapshot that records which ServiceAccounts workloads run as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_from: Option<String>,
    /// Whether that history reaches back to the window start. When false, the accounts are
    /// only known to be unused since `historyFrom`.
    pub complete: bool,
    /// Snapshots looked at.
    pub snapshots: usize,
    /// The accounts.
    pub accounts: Vec<DormantAccount>,
}

/// A bound ServiceAccount that no workload ran as in the window.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DormantAccount {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The roles it holds (`Role@where`).
    pub roles: Vec<String>,
    /// The newest snapshot in which a workload ran as it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

/// `access-review.json` as read back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    #[serde(default)]
    roles: BTreeMap<String, Vec<Rule>>,
    #[serde(default)]
    subjects: Vec<DocSubject>,
    /// Absent in snapshots written before it was recorded.
    #[serde(default)]
    service_account_use: Option<Vec<Use>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
    #[serde(default)]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocSubject {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    grants: Vec<DocGrant>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocGrant {
    #[serde(default)]
    namespace: Option<String>,
    role: String,
    binding: String,
}

#[derive(Deserialize)]
struct Use {
    namespace: String,
    name: String,
}

/// One verified snapshot's access review.
struct Point {
    time: Timestamp,
    key: String,
    digest: String,
    doc: Doc,
}

/// Builds the review from the store. Errors name what is missing (no chain, several chains,
/// no snapshot at `at`).
///
/// Only the snapshots the review needs are verified and held in memory: from the previous
/// review's snapshot (or the dormancy window's start, whichever is earlier) to `at`. The range
/// is first computed from `at` (or now); when the newest snapshot is older than that, or the
/// snapshot at or before `previous` lies before the range, the chain is verified once more
/// from its start.
pub async fn build(store: &Store, options: &AccessReviewOptions) -> Result<AccessReview> {
    let mut from = Some(needed_from(options.at.unwrap_or(options.now), options));
    loop {
        let verify_options = VerifyOptions {
            cluster: options.cluster.clone(),
            policy: options.policy.clone(),
            from,
            to: options.at,
            public_key: options.public_key,
            keyring: options.keyring.clone(),
            limits: options.limits,
            keep: Some(ACCESS_REVIEW.to_string()),
            also_keep: Vec::new(),
            now: options.now,
            timestamps: Default::default(),
            object_lock: Default::default(),
        };
        let verified = verify::verify(store, &verify_options).await?;
        let chain = match verified.chains.as_slice() {
            [] if from.is_some() => {
                from = None;
                continue;
            }
            [] => {
                return Err(Error::Invalid(format!(
                    "no evidence in {store}{}",
                    options
                        .at
                        .map(|t| format!(" at or before {}", rfc3339(t)))
                        .unwrap_or_default()
                )));
            }
            [one] => one,
            many => {
                let names: Vec<String> = many
                    .iter()
                    .map(|c| format!("{}/{}", c.cluster, c.policy))
                    .collect();
                return Err(Error::Invalid(format!(
                    "the store holds several chains ({}): choose one with --cluster and --policy",
                    names.join(", ")
                )));
            }
        };
        if let Some(f) = from
            && needs_more(chain, f, options)
        {
            from = None;
            continue;
        }
        let trust = verified.trust.line();
        return review(chain, store.to_string(), trust, options);
    }
}

/// A quick look without evidence: the review of one `access-review.json` built straight from
/// manifests (`source` names them). Nothing is verified and there is no history, so the review
/// says `verified: false`, lists no changes, and its dormant accounts are only those no
/// workload in these manifests runs as.
pub fn from_document(
    bytes: &[u8],
    source: &str,
    time: Timestamp,
    dormant_days: u32,
    now: Timestamp,
) -> Result<AccessReview> {
    let doc: Doc = serde_json::from_slice(bytes)
        .map_err(|e| Error::Invalid(format!("{ACCESS_REVIEW} does not parse: {e}")))?;
    let point = Point {
        time,
        key: source.to_string(),
        digest: crate::sha256_hex(bytes),
        doc,
    };
    let points = [point];
    let current = &points[0];
    Ok(AccessReview {
        cluster: "(manifests)".into(),
        policy: "-".into(),
        generated_at: rfc3339(now),
        store: source.to_string(),
        verified: false,
        source: "manifests",
        trust: format!("not evidence: read from the manifests {source}; nothing was verified"),
        problems: Vec::new(),
        snapshot: snapshot_ref(current),
        subjects: subjects(&current.doc),
        changes: Changes {
            since: rfc3339(seconds_before(time, 92)),
            ..Changes::default()
        },
        dormant: dormancy(&points, current, dormant_days),
    })
}

/// The earliest snapshot time a review of the snapshot at `reviewed` reads: a week before the
/// previous review's time (so the snapshot at or before it is normally in range) or the
/// dormancy window's start, whichever is earlier.
fn needed_from(reviewed: Timestamp, options: &AccessReviewOptions) -> Timestamp {
    let since = options
        .previous
        .unwrap_or_else(|| seconds_before(reviewed, 92));
    seconds_before(since, 7).min(seconds_before(reviewed, options.dormant_days))
}

/// Whether a chain verified from `from` lacks snapshots the review needs: the newest one is
/// older than the range was computed for, or nothing is at or before the previous review's
/// time while the first snapshot read is not the chain's first.
fn needs_more(chain: &ChainReport, from: Timestamp, options: &AccessReviewOptions) -> bool {
    let Some(newest) = chain.entries.iter().map(|e| e.time).max() else {
        return true;
    };
    if needed_from(newest, options) < from {
        return true;
    }
    let since = options
        .previous
        .unwrap_or_else(|| seconds_before(newest, 92));
    let first = chain.entries.iter().min_by_key(|e| e.time);
    !chain.entries.iter().any(|e| e.time <= since) && first.is_some_and(|e| e.sequence > 0)
}

fn review(
    chain: &ChainReport,
    store: String,
    trust: String,
    options: &AccessReviewOptions,
) -> Result<AccessReview> {
    // The bytes verification hashed; entries that failed verification are left out.
    let mut points: Vec<Point> = Vec::new();
    for entry in &chain.entries {
        let Some(bytes) = entry.kept.as_ref().filter(|_| entry.ok) else {
            continue;
        };
        let doc: Doc = serde_json::from_slice(bytes).map_err(|e| {
            Error::Invalid(format!(
                "{}: {ACCESS_REVIEW} does not parse: {e}",
                entry.key
            ))
        })?;
        points.push(Point {
            time: entry.time,
            key: entry.key.clone(),
            digest: entry.digest.clone(),
            doc,
        });
    }
    points.sort_by_key(|p| p.time);
    let Some(current_index) = points.len().checked_sub(1) else {
        return Err(Error::Invalid(format!(
            "{}/{}: no verified snapshot with {ACCESS_REVIEW}{} (is evidence.include.accessReview off?)",
            chain.cluster,
            chain.policy,
            options
                .at
                .map(|t| format!(" at or before {}", rfc3339(t)))
                .unwrap_or_default()
        )));
    };
    let current = &points[current_index];
    let now_subjects = subjects(&current.doc);

    let since = options
        .previous
        .unwrap_or_else(|| seconds_before(current.time, 92));
    let previous = points
        .iter()
        .rev()
        .find(|p| p.time <= since && p.time < current.time);
    let changes = match previous {
        Some(p) => diff(
            &subjects(&p.doc),
            &now_subjects,
            Some(snapshot_ref(p)),
            since,
        ),
        None => Changes {
            since: rfc3339(since),
            ..Changes::default()
        },
    };

    let dormant = dormancy(&points, current, options.dormant_days);
    let problems: Vec<String> = chain
        .problems
        .iter()
        .map(|p| format!("{} [{}] {}", p.key, p.kind, p.message))
        .collect();
    Ok(AccessReview {
        cluster: chain.cluster.clone(),
        policy: chain.policy.clone(),
        generated_at: rfc3339(options.now),
        store,
        verified: chain.ok(),
        source: "evidence",
        trust,
        problems,
        snapshot: snapshot_ref(current),
        subjects: now_subjects,
        changes,
        dormant,
    })
}

fn seconds_before(t: Timestamp, days: u32) -> Timestamp {
    Timestamp::from_second(t.as_second().saturating_sub(i64::from(days) * DAY))
        .unwrap_or(Timestamp::MIN)
}

fn snapshot_ref(p: &Point) -> SnapshotRef {
    SnapshotRef {
        time: rfc3339(p.time),
        key: p.key.clone(),
        digest: p.digest.clone(),
    }
}

/// Whether a subject is a service identity, and its ServiceAccount `(namespace, name)`.
fn service_account(s: &DocSubject) -> Option<(String, String)> {
    match s.kind.as_str() {
        "ServiceAccount" => Some((s.namespace.clone().unwrap_or_default(), s.name.clone())),
        "User" => {
            let rest = s.name.strip_prefix("system:serviceaccount:")?;
            let (ns, name) = rest.split_once(':')?;
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

fn built_in(s: &DocSubject) -> bool {
    match service_account(s) {
        Some((ns, _)) => ns == "kube-system",
        None => {
            s.name.starts_with("system:")
                && !matches!(
                    s.name.as_str(),
                    "system:anonymous" | "system:authenticated" | "system:unauthenticated"
                )
        }
    }
}

fn grant_line(g: &DocGrant, missing: bool) -> String {
    let place = match &g.namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "cluster".to_string(),
    };
    let note = if missing {
        " (role missing: grants nothing)"
    } else {
        ""
    };
    format!("{}@{place} via {}{note}", g.role, g.binding)
}

fn permission_line(place: Option<&str>, r: &Rule) -> String {
    let place = match place {
        Some(ns) => format!("namespace {ns}"),
        None => "cluster".to_string(),
    };
    let verbs = r.verbs.join(",");
    let mut what: Vec<String> = Vec::new();
    for g in if r.api_groups.is_empty() {
        vec![String::new()]
    } else {
        r.api_groups.clone()
    } {
        for res in &r.resources {
            what.push(if g.is_empty() {
                res.clone()
            } else {
                format!("{g}/{res}")
            });
        }
    }
    for url in &r.non_resource_urls {
        what.push(format!("URL {url}"));
    }
    let mut line = format!("{place}: {verbs} on {}", what.join(", "));
    if !r.resource_names.is_empty() {
        line.push_str(&format!(" (names: {})", r.resource_names.join(", ")));
    }
    line
}

fn subjects(doc: &Doc) -> Vec<Subject> {
    doc.subjects
        .iter()
        .map(|s| {
            let mut permissions = BTreeSet::new();
            for g in &s.grants {
                for r in doc.roles.get(&g.role).into_iter().flatten() {
                    permissions.insert(permission_line(g.namespace.as_deref(), r));
                }
            }
            Subject {
                kind: s.kind.clone(),
                name: s.name.clone(),
                namespace: s.namespace.clone(),
                class: if service_account(s).is_some() {
                    "service"
                } else {
                    "human"
                },
                built_in: built_in(s),
                grants: s
                    .grants
                    .iter()
                    .map(|g| grant_line(g, !doc.roles.contains_key(&g.role)))
                    .collect(),
                permissions: permissions.into_iter().collect(),
            }
        })
        .collect()
}

fn diff(
    before: &[Subject],
    after: &[Subject],
    previous: Option<SnapshotRef>,
    since: Timestamp,
) -> Changes {
    let index = |v: &[Subject]| -> BTreeMap<String, Subject> {
        v.iter().map(|s| (s.label(), s.clone())).collect()
    };
    let (b, a) = (index(before), index(after));
    let minus = |x: &[String], y: &[String]| -> Vec<String> {
        let y: BTreeSet<&String> = y.iter().collect();
        x.iter().filter(|s| !y.contains(s)).cloned().collect()
    };
    let mut changes = Changes {
        previous,
        since: rfc3339(since),
        ..Changes::default()
    };
    for (label, now) in &a {
        match b.get(label) {
            None => changes.added.push(label.clone()),
            Some(then) => {
                let change = SubjectChange {
                    subject: label.clone(),
                    gained: minus(&now.permissions, &then.permissions),
                    lost: minus(&then.permissions, &now.permissions),
                    grants_added: minus(&now.grants, &then.grants),
                    grants_removed: minus(&then.grants, &now.grants),
                };
                if !(change.gained.is_empty()
                    && change.lost.is_empty()
                    && change.grants_added.is_empty()
                    && change.grants_removed.is_empty())
                {
                    changes.changed.push(change);
                }
            }
        }
    }
    changes.removed = b.keys().filter(|l| !a.contains_key(*l)).cloned().collect();
    changes
}

fn dormancy(points: &[Point], current: &Point, days: u32) -> Dormancy {
    let window_start = seconds_before(current.time, days);
    // Snapshots that record workload service accounts, up to the reviewed one.
    let history: Vec<(&Timestamp, BTreeSet<(&str, &str)>)> = points
        .iter()
        .filter(|p| p.time <= current.time)
        .filter_map(|p| {
            let used = p.doc.service_account_use.as_ref()?;
            Some((
                &p.time,
                used.iter()
                    .map(|u| (u.namespace.as_str(), u.name.as_str()))
                    .collect(),
            ))
        })
        .collect();
    let history_from = history.first().map(|(t, _)| **t);
    let mut accounts = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &current.doc.subjects {
        let Some((ns, name)) = service_account(s) else {
            continue;
        };
        let roles: BTreeSet<String> = s
            .grants
            .iter()
            .filter(|g| current.doc.roles.contains_key(&g.role))
            .map(|g| match &g.namespace {
                Some(n) => format!("{}@namespace {n}", g.role),
                None => format!("{}@cluster", g.role),
            })
            .collect();
        // Bound to no existing role: nothing to review (rbac.orphaned-subjects covers
        // bindings to accounts that do not exist).
        if roles.is_empty() || !seen.insert((ns.clone(), name.clone())) {
            continue;
        }
        let last_used = history
            .iter()
            .rev()
            .find(|(_, used)| used.contains(&(ns.as_str(), name.as_str())))
            .map(|(t, _)| **t);
        if last_used.is_some_and(|t| t >= window_start) {
            continue;
        }
        accounts.push(DormantAccount {
            namespace: ns,
            name,
            roles: roles.into_iter().collect(),
            last_used: last_used.map(rfc3339),
        });
    }
    accounts.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Dormancy {
        days,
        window_start: rfc3339(window_start),
        history_from: history_from.map(rfc3339),
        complete: history_from.is_some_and(|t| t <= window_start),
        snapshots: history.iter().filter(|(t, _)| **t >= window_start).count(),
        accounts,
    }
}

/// `lastUsed`, or since when the snapshots read show no use.
fn last_used(a: &DormantAccount, d: &Dormancy) -> String {
    match (&a.last_used, &d.history_from) {
        (Some(t), _) => t.clone(),
        (None, Some(from)) => format!("not seen since {from}"),
        (None, None) => "no history".to_string(),
    }
}

/// Human-readable text.
pub fn to_text(r: &AccessReview) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "Access review of {}/{} at snapshot {} ({})",
        r.cluster, r.policy, r.snapshot.time, r.snapshot.key
    ));
    line(format!(
        "Evidence: {} — {}",
        if r.source == "manifests" {
            "none"
        } else if r.verified {
            "verified"
        } else {
            "DOES NOT VERIFY"
        },
        r.trust
    ));
    for p in &r.problems {
        line(format!("  BREAK {p}"));
    }
    for (class, title) in [("human", "Human subjects"), ("service", "Service subjects")] {
        let list: Vec<&Subject> = r.subjects.iter().filter(|s| s.class == class).collect();
        line(String::new());
        line(format!("{title} ({})", list.len()));
        for s in list {
            let tag = if s.built_in { " [Kubernetes]" } else { "" };
            line(format!("  {}{tag}", s.label()));
            for g in &s.grants {
                line(format!("    grant {g}"));
            }
            for p in &s.permissions {
                line(format!("    {p}"));
            }
        }
    }
    line(String::new());
    let c = &r.changes;
    match &c.previous {
        Some(p) => line(format!(
            "Changes since {} (snapshot {}, {})",
            c.since, p.time, p.key
        )),
        None => line(format!(
            "Changes: no snapshot at or before {} to compare with",
            c.since
        )),
    }
    for s in &c.added {
        line(format!("  + {s}"));
    }
    for s in &c.removed {
        line(format!("  - {s}"));
    }
    for ch in &c.changed {
        line(format!("  ~ {}", ch.subject));
        for p in &ch.gained {
            line(format!("      gained {p}"));
        }
        for p in &ch.lost {
            line(format!("      lost   {p}"));
        }
        for g in &ch.grants_added {
            line(format!("      grant added   {g}"));
        }
        for g in &ch.grants_removed {
            line(format!("      grant removed {g}"));
        }
    }
    if c.previous.is_some() && c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty() {
        line("  (none)".into());
    }
    line(String::new());
    let d = &r.dormant;
    line(format!(
        "Dormant ServiceAccounts: bound to a role, no workload ran as them since {} ({} days, {} snapshot(s))",
        d.window_start, d.days, d.snapshots
    ));
    if !d.complete {
        line(format!(
            "  note: the evidence records workload accounts only from {}: these are unused since then, not for {} days",
            d.history_from.as_deref().unwrap_or("(never)"),
            d.days
        ));
    }
    for a in &d.accounts {
        line(format!(
            "  {}/{}: {} (last used: {})",
            a.namespace,
            a.name,
            a.roles.join(", "),
            last_used(a, d)
        ));
    }
    if d.accounts.is_empty() {
        line("  (none)".into());
    }
    out
}

/// Markdown.
pub fn to_markdown(r: &AccessReview) -> String {
    let mut out = format!(
        "# Access review: {}/{}\n\n- Snapshot: {} (`{}`, digest `{}`)\n- Evidence: {} — {}\n- Generated: {}\n",
        r.cluster,
        r.policy,
        r.snapshot.time,
        r.snapshot.key,
        r.snapshot.digest,
        if r.source == "manifests" {
            "none"
        } else if r.verified {
            "verified"
        } else {
            "**does not verify**"
        },
        r.trust,
        r.generated_at
    );
    for p in &r.problems {
        out.push_str(&format!("- Break: {}\n", md(p)));
    }
    out.push_str(
        "\n## Subjects\n\n| Class | Subject | Grants | Permissions |\n|---|---|---|---|\n",
    );
    for s in &r.subjects {
        out.push_str(&format!(
            "| {}{} | {} | {} | {} |\n",
            s.class,
            if s.built_in { " (Kubernetes)" } else { "" },
            md(&s.label()),
            md(&s.grants.join("<br>")),
            md(&s.permissions.join("<br>"))
        ));
    }
    let c = &r.changes;
    out.push_str(&match &c.previous {
        Some(p) => format!(
            "\n## Changes since {}\n\nCompared with snapshot {} (`{}`).\n\n",
            c.since, p.time, p.key
        ),
        None => format!(
            "\n## Changes\n\nNo snapshot at or before {} to compare with.\n\n",
            c.since
        ),
    });
    for s in &c.added {
        out.push_str(&format!("- Added: {}\n", md(s)));
    }
    for s in &c.removed {
        out.push_str(&format!("- Removed: {}\n", md(s)));
    }
    for ch in &c.changed {
        out.push_str(&format!("- Changed: {}\n", md(&ch.subject)));
        for p in &ch.gained {
            out.push_str(&format!("  - gained {}\n", md(p)));
        }
        for p in &ch.lost {
            out.push_str(&format!("  - lost {}\n", md(p)));
        }
        for g in &ch.grants_added {
            out.push_str(&format!("  - grant added {}\n", md(g)));
        }
        for g in &ch.grants_removed {
            out.push_str(&format!("  - grant removed {}\n", md(g)));
        }
    }
    let d = &r.dormant;
    out.push_str(&format!(
        "\n## Dormant ServiceAccounts\n\nBound to a role; no workload ran as them since {} ({} days, {} snapshot(s)).{}\n\n",
        d.window_start,
        d.days,
        d.snapshots,
        if d.complete {
            String::new()
        } else {
            format!(
                " The evidence records workload accounts only from {}: these are unused since then.",
                d.history_from.as_deref().unwrap_or("(never)")
            )
        }
    ));
    for a in &d.accounts {
        out.push_str(&format!(
            "- {}/{}: {} (last used: {})\n",
            md(&a.namespace),
            md(&a.name),
            md(&a.roles.join(", ")),
            last_used(a, d)
        ));
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// CSV, one row per fact: `record,kind,namespace,name,detail`. Records: `grant` and
/// `permission` (current access), `added`, `removed`, `gained`, `lost`, `dormant`.
pub fn to_csv(r: &AccessReview) -> String {
    let mut out = String::from("record,kind,namespace,name,detail\n");
    let mut row = |record: &str, kind: &str, ns: &str, name: &str, detail: &str| {
        out.push_str(
            &[record, kind, ns, name, detail]
                .iter()
                .map(|f| csv(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    };
    for s in &r.subjects {
        let ns = s.namespace.as_deref().unwrap_or("");
        for g in &s.grants {
            row("grant", &s.kind, ns, &s.name, g);
        }
        for p in &s.permissions {
            row("permission", &s.kind, ns, &s.name, p);
        }
    }
    for s in &r.changes.added {
        row("added", "", "", s, "");
    }
    for s in &r.changes.removed {
        row("removed", "", "", s, "");
    }
    for c in &r.changes.changed {
        for p in &c.gained {
            row("gained", "", "", &c.subject, p);
        }
        for p in &c.lost {
            row("lost", "", "", &c.subject, p);
        }
    }
    for a in &r.dormant.accounts {
        row(
            "dormant",
            "ServiceAccount",
            &a.namespace,
            &a.name,
            &format!(
                "{} (last used: {})",
                a.roles.join(", "),
                last_used(a, &r.dormant)
            ),
        );
    }
    out
}

fn csv(f: &str) -> String {
    // Cells starting with a formula character are prefixed so spreadsheets do not run them.
    let f = if f.starts_with(['=', '+', '-', '@']) {
        format!("'{f}")
    } else {
        f.to_string()
    };
    if f.contains([',', '"', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}
