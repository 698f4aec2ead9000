//! `evidence verify`: checks every digest, signature, chain link and sequence number of the
//! chains in a store, and reports gaps against the schedule.
//!
//! Breaks (exit 1) name the object at fault: a document whose digest or size differs, a missing
//! or unexpected object, a bad or missing signature, a manifest whose `previous` or `sequence`
//! does not follow the one before it (a snapshot deleted, reordered or altered), a manifest
//! whose time does not match its folder (renamed folders), and incomplete snapshots (documents
//! without a manifest: a crashed or interrupted write). Gaps are reported, not breaks. The oldest
//! manifest examined is the anchor; when it is not the genesis (sequence 0), earlier snapshots
//! were removed by retention (or lie before `--from`), and the report says so.
//!
//! Trust: with a pinned [`Keyring`] (or `public_key`), every manifest must be signed by a key of
//! the ring valid at the manifest's time, checked with the pinned key. Without one, signatures
//! are checked only against the key embedded in each manifest, and [`Trust`] (in every output)
//! says the result is not pinned. Reads are bounded ([`Limits`], checked from the listing before
//! reading), a file store reads regular files only, each object is read once, and a store error
//! in one chain is that chain's problem, not the end of the run.

use std::collections::HashSet;

use jiff::Timestamp;
use serde::Serialize;

use super::chain::{self, SnapshotListing};
use super::keyring::{Keyring, TrustedKey};
use super::layout::MANIFEST;
use super::manifest::{self, Manifest};
use super::schedule::{Gap, Schedule};
use super::signing::PublicKey;
use super::store::{Read, Retention, Store};
use super::timestamp::{self, TimestampOptions};
use super::{Result, canonical, rfc3339, sha256_hex};

/// Default cap on a manifest's size (16 MiB).
pub const DEFAULT_MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Default cap on a document's size (256 MiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// Size caps on what verification reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest read ([`DEFAULT_MAX_MANIFEST_BYTES`]).
    pub max_manifest_bytes: u64,
    /// Largest document read ([`DEFAULT_MAX_DOCUMENT_BYTES`]).
    pub max_document_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: DEFAULT_MAX_MANIFEST_BYTES,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

/// What the verification trusted, stated in every output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trust {
    /// Whether signatures were checked against pinned keys.
    pub pinned: bool,
    /// The keyring or key file, when pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The pinned keys (fingerprints and windows).
    pub keys: Vec<TrustedKey>,
    /// What was verified, in one sentence.
    pub statement: String,
}

impl Trust {
    fn of(ring: Option<&Keyring>) -> Self {
        match ring {
            Some(r) => Self {
                pinned: true,
                source: Some(r.source.clone()),
                keys: r.keys.clone(),
                statement: format!(
                    "pinned: every manifest must be signed by a key of {} valid at its time, checked with the pinned key; document digests and sizes, chain links, sequence numbers and folder names were checked against the bytes read",
                    r.source
                ),
            },
            None => Self {
                pinned: false,
                source: None,
                keys: Vec::new(),
                statement: "NOT PINNED (--insecure-no-pin): signatures were checked only against the keys embedded in the manifests and unsigned manifests were accepted, so anyone able to write the store could have re-signed or stripped them; digests, chain links, sequence numbers and folder names were checked".into(),
            },
        }
    }

    /// One line for text outputs.
    pub fn line(&self) -> String {
        if self.pinned {
            let fps: Vec<&str> = self.keys.iter().map(|k| k.fingerprint.as_str()).collect();
            format!("trust: {} (keys: {})", self.statement, fps.join(", "))
        } else {
            format!("trust: {}", self.statement)
        }
    }
}

/// What to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Only this cluster (default: every cluster in the store).
    pub cluster: Option<String>,
    /// Only this policy (default: every policy).
    pub policy: Option<String>,
    /// Only snapshots at or after this time.
    pub from: Option<Timestamp>,
    /// Only snapshots at or before this time.
    pub to: Option<Timestamp>,
    /// The expected signing key (a one-key keyring, merged into `keyring`); when set,
    /// unsigned manifests and other keys are breaks.
    pub public_key: Option<PublicKey>,
    /// Pinned keys with validity windows; when set, unsigned manifests and other keys are
    /// breaks. Neither this nor `public_key`: not pinned, and [`Trust`] says so.
    pub keyring: Option<Keyring>,
    /// Size caps.
    pub limits: Limits,
    /// Keep the verified bytes of this document in each [`Entry`] (the report parses them, so
    /// that what it reports is what was verified).
    pub keep: Option<String>,
    /// Also keep the verified bytes of these documents, when a snapshot has them (in
    /// [`Entry::also_kept`]; the report reads `activity.json` this way).
    pub also_keep: Vec<String>,
    /// The current time (for the gap since the last snapshot).
    pub now: Timestamp,
    /// RFC 3161 time stamp checks.
    pub timestamps: TimestampOptions,
    /// S3 Object Lock retention checks.
    pub object_lock: ObjectLockOptions,
}

/// What verify asks of each object's S3 Object Lock retention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectLockOptions {
    /// Read each object's retention (a HEAD per object; S3 stores only) and report it.
    pub report: bool,
    /// An object without retention is an `object-lock` break (implies `report`).
    pub required: bool,
    /// With `required`: retention must last at least this long after the snapshot time.
    pub min_duration: Option<jiff::SignedDuration>,
}

impl VerifyOptions {
    /// Everything in the store, as of `now`.
    pub fn all(now: Timestamp) -> Self {
        Self {
            cluster: None,
            policy: None,
            from: None,
            to: None,
            public_key: None,
            keyring: None,
            limits: Limits::default(),
            keep: None,
            also_keep: Vec::new(),
            now,
            timestamps: TimestampOptions::default(),
            object_lock: ObjectLockOptions::default(),
        }
    }

    /// The effective pinned keyring: `keyring` plus `public_key`.
    pub fn pinned(&self) -> Option<Keyring> {
        match (&self.keyring, self.public_key) {
            (Some(r), None) => Some(r.clone()),
            (Some(r), Some(k)) => {
                let mut r = r.clone();
                r.add(k, "pinned public key");
                Some(r)
            }
            (None, Some(k)) => Some(Keyring::single(k, "--public-key")),
            (None, None) => None,
        }
    }
}

/// A break in a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The object (or folder) at fault.
    pub key: String,
    /// `digest`, `size`, `missing-document`, `unexpected-object`, `signature`, `unsigned`,
    /// `chain`, `sequence`, `time`, `manifest`, `incomplete`, `layout`, `too-large`,
    /// `not-regular`, `changed`, `store`, `timestamp` or `object-lock`.
    pub kind: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Where verification of a chain starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    /// Manifest key of the oldest snapshot examined.
    pub key: String,
    /// Its sequence number.
    pub sequence: u64,
    /// Whether it is the first snapshot ever written (sequence 0, no previous).
    pub genesis: bool,
    /// Why the chain is trusted from here.
    pub note: String,
}

/// A run of missed slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GapFinding {
    /// The manifest after the gap (or the last one, for an open gap).
    pub key: String,
    /// The missed slots.
    #[serde(flatten)]
    pub gap: Gap,
    /// Whether the manifest recorded it (`false`: found only by comparing with the schedule).
    pub recorded: bool,
    /// True for the gap between the last snapshot and now (or `--to`).
    pub open: bool,
}

/// A snapshot that was examined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Manifest key.
    pub key: String,
    /// Folder key.
    pub folder: String,
    /// Snapshot time.
    pub time: Timestamp,
    /// Sequence number.
    pub sequence: u64,
    /// SHA-256 of the manifest.
    pub digest: String,
    /// The TSA time of a verified `manifest.tsr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Each object's S3 Object Lock retention, when read (`retention: null`: none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retention: Vec<ObjectRetention>,
    /// Whether every check of this snapshot passed.
    pub ok: bool,
    /// The verified bytes of the document named by [`VerifyOptions::keep`], when its digest
    /// matched (not serialized).
    #[serde(skip)]
    pub kept: Option<Vec<u8>>,
    /// The verified bytes of the documents named by [`VerifyOptions::also_keep`] that this
    /// snapshot has and whose digest matched (not serialized).
    #[serde(skip)]
    pub also_kept: std::collections::BTreeMap<String, Vec<u8>>,
    /// Whether the manifest records a live cluster as its source (see
    /// [`crate::Provenance::is_live`]); only those count toward completeness.
    #[serde(skip)]
    pub live: bool,
    /// The schedule the manifest records (not serialized).
    #[serde(skip)]
    pub schedule: crate::schedule::ScheduleSpec,
}

/// The Object Lock retention of one object of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRetention {
    /// Object name in the snapshot folder.
    pub name: String,
    /// Its retention, `None` when the object has none.
    pub retention: Option<Retention>,
}

/// Object Lock retention over a chain's objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockSummary {
    /// Objects whose retention was read.
    pub objects: usize,
    /// Of which carry retention.
    pub retained: usize,
    /// Modes seen.
    pub modes: Vec<String>,
    /// The earliest retain-until date seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earliest_until: Option<Timestamp>,
    /// The latest retain-until date seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_until: Option<Timestamp>,
}

/// The verification of one chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// Cluster.
    pub cluster: String,
    /// Policy.
    pub policy: String,
    /// Complete snapshots examined.
    pub snapshots: usize,
    /// Of which signed with a valid signature.
    pub signed: usize,
    /// Of which carry a verified RFC 3161 time stamp.
    pub timestamped: usize,
    /// Subjects of the TSA certificates seen, in order of first use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tsas: Vec<String>,
    /// S3 Object Lock retention of the chain's objects, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<LockSummary>,
    /// Key fingerprints seen, in order of first use.
    pub key_fingerprints: Vec<String>,
    /// The schedule of the newest manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<super::schedule::ScheduleSpec>,
    /// Where the chain is anchored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
    /// Manifest key of the newest snapshot examined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Breaks.
    pub problems: Vec<Problem>,
    /// Gaps against the schedule.
    pub gaps: Vec<GapFinding>,
    /// Every complete snapshot examined, oldest first.
    pub entries: Vec<Entry>,
}

impl ChainReport {
    /// Whether the chain has no break.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The verification of a store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// The store URL.
    pub store: String,
    /// What was trusted.
    pub trust: Trust,
    /// One per chain.
    pub chains: Vec<ChainReport>,
}

impl VerifyReport {
    /// Whether every chain is free of breaks.
    pub fn ok(&self) -> bool {
        self.chains.iter().all(ChainReport::ok)
    }

    /// Human-readable summary, one line per finding.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.trust.line());
        out.push('\n');
        if self.chains.is_empty() {
            out.push_str(&format!("no evidence chains found in {}\n", self.store));
        }
        for c in &self.chains {
            let status = if c.ok() { "OK" } else { "BROKEN" };
            out.push_str(&format!(
                "{status} {}/{}: {} snapshot(s), {} signed, {} problem(s), {} gap(s)\n",
                c.cluster,
                c.policy,
                c.snapshots,
                c.signed,
                c.problems.len(),
                c.gaps.len()
            ));
            if let Some(a) = &c.anchor {
                out.push_str(&format!(
                    "  anchor: {} (sequence {}): {}\n",
                    a.key, a.sequence, a.note
                ));
            }
            if let Some(h) = &c.head {
                out.push_str(&format!("  head: {h}\n"));
            }
            if c.timestamped > 0 {
                out.push_str(&format!(
                    "  time stamps: {} of {} snapshot(s), TSA {}\n",
                    c.timestamped,
                    c.snapshots,
                    c.tsas.join(", ")
                ));
            }
            if let Some(l) = &c.object_lock {
                let until = match (l.earliest_until, l.latest_until) {
                    (Some(a), Some(b)) if a == b => format!(", retained until {}", rfc3339(a)),
                    (Some(a), Some(b)) => {
                        format!(", retained until {} to {}", rfc3339(a), rfc3339(b))
                    }
                    _ => String::new(),
                };
                let modes = if l.modes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", l.modes.join(", "))
                };
                out.push_str(&format!(
                    "  object lock: {} of {} object(s) retained{modes}{until}\n",
                    l.retained, l.objects
                ));
            }
            for fp in &c.key_fingerprints {
                out.push_str(&format!("  signing key: {fp}\n"));
            }
            for p in &c.problems {
                out.push_str(&format!("  BREAK [{}] {}: {}\n", p.kind, p.key, p.message));
            }
            for g in &c.gaps {
                let how = match (g.open, g.recorded) {
                    (true, _) => "open, no snapshot since",
                    (false, true) => "recorded",
                    (false, false) => "not recorded in the manifest",
                };
                out.push_str(&format!(
                    "  GAP {} slot(s) missed from {} to {} before {} ({how})\n",
                    g.gap.missed, g.gap.from, g.gap.to, g.key
                ));
            }
        }
        out
    }
}

/// Verifies the chains of a store.
pub async fn verify(store: &Store, options: &VerifyOptions) -> Result<VerifyReport> {
    let pinned = options.pinned();
    let mut report = VerifyReport {
        store: store.to_string(),
        trust: Trust::of(pinned.as_ref()),
        chains: Vec::new(),
    };
    for (cluster, policy) in chain::chains(store).await? {
        if options.cluster.as_ref().is_some_and(|c| *c != cluster)
            || options.policy.as_ref().is_some_and(|p| *p != policy)
        {
            continue;
        }
        // A store error in one chain is that chain's break; the others are still verified.
        let chain = match verify_chain(store, &cluster, &policy, options).await {
            Ok(c) => c,
            Err(e) => ChainReport {
                problems: vec![Problem {
                    key: super::layout::chain_prefix(&cluster, &policy),
                    kind: "store",
                    message: format!("the chain could not be read: {e}"),
                }],
                cluster,
                policy,
                ..Default::default()
            },
        };
        report.chains.push(chain);
    }
    Ok(report)
}

/// The snapshot before the current one, as far as linking is concerned.
struct Prev {
    key: String,
    digest: String,
    sequence: u64,
    time: Timestamp,
}

/// Verifies one chain.
pub async fn verify_chain(
    store: &Store,
    cluster: &str,
    policy: &str,
    options: &VerifyOptions,
) -> Result<ChainReport> {
    let listings = chain::list_snapshots(store, cluster, policy).await?;
    let pinned = options.pinned();
    let mut report = ChainReport {
        cluster: cluster.to_string(),
        policy: policy.to_string(),
        ..Default::default()
    };
    let in_range = |l: &SnapshotListing| {
        l.info.as_ref().is_some_and(|i| {
            options.from.is_none_or(|f| i.time >= f) && options.to.is_none_or(|t| i.time <= t)
        })
    };
    let lock = options.object_lock;
    if lock.required && !store.reports_retention() {
        report.problems.push(Problem {
            key: super::layout::chain_prefix(cluster, policy),
            kind: "object-lock",
            message: format!(
                "Object Lock retention is required but {store} is not an S3 store: no object can be shown to be retained"
            ),
        });
    } else if (lock.report || lock.required) && store.reports_retention() {
        report.object_lock = Some(LockSummary::default());
    }
    // The complete snapshot just before the range links the first one in it.
    let mut prev: Option<Prev> = None;
    if options.from.is_some()
        && let Some(before) = listings.iter().rfind(|l| {
            l.complete()
                && l.info
                    .as_ref()
                    .is_some_and(|i| options.from.is_some_and(|f| i.time < f))
        })
    {
        let key = before.manifest_key();
        if let Ok(Read::Bytes(bytes)) =
            read_listed(store, before, MANIFEST, options.limits.max_manifest_bytes).await
            && let Ok(m) = Manifest::parse(&key, &bytes)
        {
            prev = m.time.parse().ok().map(|time| Prev {
                key: key.clone(),
                digest: sha256_hex(&bytes),
                sequence: m.sequence,
                time,
            });
        }
    }
    let mut schedule: Option<Schedule> = None;
    for l in &listings {
        if l.info.is_none() {
            for o in &l.objects {
                report.problems.push(Problem {
                    key: join(&l.folder, &o.key),
                    kind: "layout",
                    message: "object outside any snapshot folder (expected <cluster>/<policy>/YYYY/MM/DD/<time>-<digest>/)".into(),
                });
            }
            continue;
        }
        if !in_range(l) {
            continue;
        }
        if !l.complete() {
            report.problems.push(Problem {
                key: l.folder.clone(),
                kind: "incomplete",
                message: format!(
                    "incomplete snapshot: {} object(s) without {MANIFEST} (interrupted write); not evidence",
                    l.objects.len()
                ),
            });
            continue;
        }
        let entry = verify_snapshot(
            store,
            l,
            &mut prev,
            &mut schedule,
            options,
            pinned.as_ref(),
            &mut report,
        )
        .await?;
        if let Some(e) = entry {
            report.entries.push(e);
        }
    }
    report.snapshots = report.entries.len();
    report.head = report.entries.last().map(|e| e.key.clone());
    // The open gap since the last snapshot.
    if let (Some(p), Some(s)) = (&prev, &schedule) {
        let end = options.to.map_or(options.now, |t| t.min(options.now));
        for gap in s.gaps_between(p.time, end) {
            report.gaps.push(GapFinding {
                key: p.key.clone(),
                gap,
                recorded: false,
                open: true,
            });
        }
    }
    report.schedule = schedule.map(|s| s.spec());
    Ok(report)
}

fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

/// Reads object `name` of a listed folder once, bounded by `max` and by the listed size, and
/// pinned to the listed entity tag when the store gives one.
async fn read_listed(store: &Store, l: &SnapshotListing, name: &str, max: u64) -> Result<Read> {
    let listed = l.objects.iter().find(|o| o.key == name);
    if let Some(o) = listed
        && o.size > max
    {
        return Ok(Read::TooLarge(o.size));
    }
    let e_tag = listed.and_then(|o| o.e_tag.as_deref());
    store.read_checked(&join(&l.folder, name), max, e_tag).await
}

/// A read that gave no bytes, as a problem (`None` for bytes).
fn read_problem(read: Read, max: u64) -> std::result::Result<Vec<u8>, (&'static str, String)> {
    match read {
        Read::Bytes(b) => Ok(b),
        Read::Missing => Err((
            "missing-document",
            "listed in the manifest but not in the store".into(),
        )),
        Read::NotRegular(what) => Err((
            "not-regular",
            format!("{what}, not a regular file: not read"),
        )),
        Read::TooLarge(size) => Err((
            "too-large",
            format!("{size} bytes, more than the cap of {max} bytes: not read"),
        )),
        Read::Changed => Err((
            "changed",
            "the object changed between listing and reading".into(),
        )),
    }
}

/// Checks one complete snapshot; returns its entry unless the manifest is unreadable.
async fn verify_snapshot(
    store: &Store,
    l: &SnapshotListing,
    prev: &mut Option<Prev>,
    schedule: &mut Option<Schedule>,
    options: &VerifyOptions,
    pinned: Option<&Keyring>,
    report: &mut ChainReport,
) -> Result<Option<Entry>> {
    let key = l.manifest_key();
    let problems_before = report.problems.len();
    let problem = |report: &mut ChainReport, key: &str, kind: &'static str, message: String| {
        report.problems.push(Problem {
            key: key.to_string(),
            kind,
            message,
        })
    };
    let max = options.limits.max_manifest_bytes;
    let read = match read_listed(store, l, MANIFEST, max).await {
        Ok(r) => read_problem(r, max),
        Err(e) => Err(("store", e.to_string())),
    };
    let parsed = match read {
        Ok(bytes) => Manifest::parse(&key, &bytes)
            .map(|m| (bytes, m))
            .map_err(|e| ("manifest", e.to_string())),
        Err(p) => Err(p),
    };
    let (bytes, manifest) = match parsed {
        Ok(v) => v,
        Err((kind, message)) => {
            problem(report, &key, kind, message);
            // Nothing links past an unreadable manifest.
            *prev = None;
            return Ok(None);
        }
    };
    let digest = sha256_hex(&bytes);
    // The signature covers the canonical form and the chain the stored bytes: they must be
    // the same bytes, or a manifest could carry content the signature does not cover.
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if canonical::value_to_vec(&v) == bytes => {}
        _ => problem(
            report,
            &key,
            "manifest",
            "not in canonical form: the stored bytes are not exactly what was signed".into(),
        ),
    }
    let Some(info) = &l.info else { return Ok(None) };
    let time: Option<Timestamp> = manifest.time.parse().ok();
    match time {
        Some(t) if t == info.time => {}
        _ => problem(
            report,
            &key,
            "time",
            format!(
                "manifest time {} does not match its folder ({}): the snapshot was moved or renamed",
                manifest.time,
                rfc3339(info.time)
            ),
        ),
    }
    let time = time.unwrap_or(info.time);
    if manifest.cluster != report.cluster || manifest.policy != report.policy {
        problem(
            report,
            &key,
            "manifest",
            format!(
                "manifest names {}/{} but is stored under {}/{}",
                manifest.cluster, manifest.policy, report.cluster, report.policy
            ),
        );
    }
    // The folder name carries the documents' combined digest (see `Bundle::content_digest`).
    let mut lines = String::new();
    for d in &manifest.documents {
        lines.push_str(&d.name);
        lines.push(' ');
        lines.push_str(&d.sha256);
        lines.push('\n');
    }
    let combined = sha256_hex(lines.as_bytes());
    if info.digest.is_empty() || !combined.starts_with(&info.digest) {
        problem(
            report,
            &key,
            "layout",
            format!(
                "the folder name's digest {:?} does not match the documents' combined digest {}",
                info.digest,
                &combined[..12]
            ),
        );
    }
    // Documents.
    let mut kept = None;
    let mut also_kept = std::collections::BTreeMap::new();
    let max_doc = options.limits.max_document_bytes;
    for d in &manifest.documents {
        let doc_key = join(&l.folder, &d.name);
        if d.name == MANIFEST || d.name.contains('/') {
            problem(
                report,
                &key,
                "manifest",
                format!("invalid document name {:?}", d.name),
            );
            continue;
        }
        let read = match read_listed(store, l, &d.name, max_doc).await {
            Ok(r) => read_problem(r, max_doc),
            Err(e) => Err(("store", e.to_string())),
        };
        match read {
            Err((kind, message)) => problem(report, &doc_key, kind, message),
            Ok(b) => {
                if b.len() as u64 != d.size {
                    problem(
                        report,
                        &doc_key,
                        "size",
                        format!("{} bytes, the manifest says {}", b.len(), d.size),
                    );
                }
                let actual = sha256_hex(&b);
                if actual != d.sha256 {
                    problem(
                        report,
                        &doc_key,
                        "digest",
                        format!("sha256 {actual}, the manifest says {}", d.sha256),
                    );
                } else if options.keep.as_deref() == Some(d.name.as_str()) {
                    kept = Some(b);
                } else if options.also_keep.contains(&d.name) {
                    also_kept.insert(d.name.clone(), b);
                }
            }
        }
    }
    let names: HashSet<&str> = manifest.documents.iter().map(|d| d.name.as_str()).collect();
    for o in &l.objects {
        if o.key != MANIFEST && o.key != timestamp::TOKEN && !names.contains(o.key.as_str()) {
            problem(
                report,
                &join(&l.folder, &o.key),
                "unexpected-object",
                "in the snapshot folder but not listed in its manifest".into(),
            );
        }
    }
    // Signature.
    match (&manifest.signature, pinned) {
        (None, Some(_)) => problem(
            report,
            &key,
            "unsigned",
            "manifest is not signed but the verification is pinned to a keyring".into(),
        ),
        (None, None) => {}
        (Some(_), Some(ring)) => {
            let fingerprint = manifest.key_fingerprint.as_deref().unwrap_or("(none)");
            match ring.key_for(fingerprint, time) {
                Err(message) => problem(report, &key, "signature", message),
                Ok(k) => {
                    if !manifest::verify_stored(&bytes, &k) {
                        problem(
                            report,
                            &key,
                            "signature",
                            "signature does not verify with the pinned key".into(),
                        );
                    } else {
                        report.signed += 1;
                        if !report.key_fingerprints.contains(&k.fingerprint()) {
                            report.key_fingerprints.push(k.fingerprint());
                        }
                    }
                }
            }
        }
        (Some(_), None) => {
            let embedded = manifest
                .public_key
                .as_deref()
                .and_then(|k| PublicKey::from_base64(k).ok());
            match embedded {
                None => problem(
                    report,
                    &key,
                    "signature",
                    "signed, but no usable public key".into(),
                ),
                Some(k) => {
                    if manifest.key_fingerprint.as_deref() != Some(k.fingerprint().as_str()) {
                        problem(
                            report,
                            &key,
                            "signature",
                            format!(
                                "signed by key {}, but the embedded key is {}",
                                manifest.key_fingerprint.as_deref().unwrap_or("(none)"),
                                k.fingerprint()
                            ),
                        );
                    } else if !manifest::verify_stored(&bytes, &k) {
                        problem(
                            report,
                            &key,
                            "signature",
                            "signature does not verify".into(),
                        );
                    } else {
                        report.signed += 1;
                        if !report.key_fingerprints.contains(&k.fingerprint()) {
                            report.key_fingerprints.push(k.fingerprint());
                        }
                    }
                }
            }
        }
    }
    // RFC 3161 time stamp.
    let token = if l.objects.iter().any(|o| o.key == timestamp::TOKEN) {
        store.get_opt(&join(&l.folder, timestamp::TOKEN)).await?
    } else {
        None
    };
    let stamped =
        match timestamp::check_snapshot(token.as_deref(), &bytes, time, &options.timestamps) {
            Ok(Some(info)) => {
                report.timestamped += 1;
                if !report.tsas.contains(&info.tsa) {
                    report.tsas.push(info.tsa.clone());
                }
                Some(info.gen_time)
            }
            Ok(None) => None,
            Err(message) => {
                problem(
                    report,
                    &join(&l.folder, timestamp::TOKEN),
                    "timestamp",
                    message,
                );
                None
            }
        };
    // S3 Object Lock retention of every object of the snapshot.
    let mut retention = Vec::new();
    if report.object_lock.is_some() {
        for o in &l.objects {
            let object_key = join(&l.folder, &o.key);
            let r = match store.retention(&object_key).await {
                Ok(r) => r,
                Err(e) => {
                    problem(report, &object_key, "store", e.to_string());
                    continue;
                }
            };
            if let Some(summary) = report.object_lock.as_mut() {
                summary.objects += 1;
                if let Some(r) = &r {
                    summary.retained += 1;
                    if !summary.modes.contains(&r.mode) {
                        summary.modes.push(r.mode.clone());
                    }
                    summary.earliest_until = Some(
                        summary
                            .earliest_until
                            .map_or(r.retain_until, |t| t.min(r.retain_until)),
                    );
                    summary.latest_until = Some(
                        summary
                            .latest_until
                            .map_or(r.retain_until, |t| t.max(r.retain_until)),
                    );
                }
            }
            if options.object_lock.required {
                match &r {
                    None => problem(
                        report,
                        &object_key,
                        "object-lock",
                        "no Object Lock retention: the object can be deleted or overwritten".into(),
                    ),
                    Some(r) => {
                        let min = options.object_lock.min_duration.unwrap_or_default();
                        if let Ok(needed) = time.checked_add(min)
                            && r.retain_until < needed
                        {
                            problem(
                                report,
                                &object_key,
                                "object-lock",
                                format!(
                                    "{} retention until {} ends before the snapshot time plus {} ({})",
                                    r.mode,
                                    rfc3339(r.retain_until),
                                    super::schedule::format_duration(min),
                                    rfc3339(needed)
                                ),
                            );
                        }
                    }
                }
            }
            retention.push(ObjectRetention {
                name: o.key.clone(),
                retention: r,
            });
        }
    }
    // Schedule and chain.
    let this_schedule = Schedule::from_manifest(&manifest.schedule).ok();
    if this_schedule.is_none() {
        problem(report, &key, "manifest", "unreadable schedule".into());
    }
    match prev.as_ref() {
        Some(p) => {
            if manifest.previous.as_deref() != Some(p.digest.as_str()) {
                problem(
                    report,
                    &key,
                    "chain",
                    format!(
                        "previous is {}, but the snapshot before it ({}) has digest {}: a snapshot was deleted, reordered or altered",
                        manifest.previous.as_deref().unwrap_or("null"),
                        p.key,
                        p.digest
                    ),
                );
            }
            if p.sequence.checked_add(1) != Some(manifest.sequence) {
                problem(
                    report,
                    &key,
                    "sequence",
                    format!(
                        "sequence {} follows {} ({})",
                        manifest.sequence, p.sequence, p.key
                    ),
                );
            }
            if let Some(s) = &this_schedule {
                let expected = s.gaps_between(p.time, time);
                for g in &manifest.gaps {
                    report.gaps.push(GapFinding {
                        key: key.clone(),
                        gap: g.clone(),
                        recorded: true,
                        open: false,
                    });
                }
                if manifest.gaps.is_empty() {
                    for gap in expected {
                        report.gaps.push(GapFinding {
                            key: key.clone(),
                            gap,
                            recorded: false,
                            open: false,
                        });
                    }
                }
            }
        }
        None => {
            let genesis = manifest.sequence == 0 && manifest.previous.is_none();
            let note = if genesis {
                "first snapshot of the chain".to_string()
            } else if report.entries.is_empty() {
                format!(
                    "oldest snapshot kept; the {} before it were removed by retention or lie before --from (previous digest {} is not checked)",
                    manifest.sequence,
                    manifest.previous.as_deref().unwrap_or("null")
                )
            } else {
                "verification restarts here after an unreadable manifest".to_string()
            };
            if report.anchor.is_none() {
                report.anchor = Some(Anchor {
                    key: key.clone(),
                    sequence: manifest.sequence,
                    genesis,
                    note,
                });
            }
            for g in &manifest.gaps {
                report.gaps.push(GapFinding {
                    key: key.clone(),
                    gap: g.clone(),
                    recorded: true,
                    open: false,
                });
            }
        }
    }
    if let Some(s) = this_schedule {
        *schedule = Some(s);
    }
    *prev = Some(Prev {
        key: key.clone(),
        digest: digest.clone(),
        sequence: manifest.sequence,
        time,
    });
    Ok(Some(Entry {
        key,
        folder: l.folder.clone(),
        time,
        sequence: manifest.sequence,
        digest,
        timestamp: stamped,
        retention,
        ok: report.problems.len() == problems_before,
        kept,
        also_kept,
        live: manifest
            .provenance
            .as_ref()
            .is_some_and(crate::Provenance::is_live),
        schedule: manifest.schedule.clone(),
    }))
}
