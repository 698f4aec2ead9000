//! Witnessed checkpoints: after each snapshot the writer puts a small signed record of the new
//! chain head (cluster, policy, sequence, manifest digest, time) into a second, separately
//! configured store, the **witness**, one object per sequence. Whoever can delete snapshots from
//! the evidence store cannot also rewrite the witness (it has its own bucket or prefix and its
//! own credentials), so `evidence verify --checkpoint` can tell snapshots deleted at the head,
//! at the start or as a whole chain from retention.
//!
//! Witness layout: `<witness prefix>/<cluster>/<policy>/checkpoints/<sequence, 20 digits>.json`,
//! written create-only. A checkpoint records the writer's retention, so verification knows
//! which checkpointed snapshots must still be in the store: every one taken at or after
//! `now - retention` (retention at the last write deleted only older ones).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::manifest::signing_bytes_of;
use super::signing::{PublicKey, SigningKey};
use super::store::{Retention, Store};
use super::verify::{ChainReport, Problem, VerifyOptions, VerifyReport};
use super::{Error, Result, canonical};
use soc2_core::crd::parse_duration;

/// Format identifier of a checkpoint.
pub const FORMAT: &str = "soc2-operator.checkpoint/v1";

/// Largest checkpoint object read (bytes); bigger objects are reported, not parsed.
pub const MAX_BYTES: u64 = 64 * 1024;

/// One witnessed chain head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// [`FORMAT`].
    pub format: String,
    /// Cluster.
    pub cluster: String,
    /// Policy.
    pub policy: String,
    /// Sequence of the snapshot.
    pub sequence: u64,
    /// Key of its manifest in the evidence store.
    pub manifest_key: String,
    /// SHA-256 of its manifest bytes.
    pub digest: String,
    /// Snapshot time (RFC 3339 UTC).
    pub time: String,
    /// The writer's clock when the checkpoint was written.
    pub written_at: String,
    /// The writer's retention (`400d`), when it prunes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
    /// Base64 ed25519 public key, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// `sha256:<hex>` of the public key, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// Base64 signature over the canonical checkpoint without `signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The witness key of a checkpoint.
pub fn key(cluster: &str, policy: &str, sequence: u64) -> String {
    format!("{cluster}/{policy}/checkpoints/{sequence:020}.json")
}

impl Checkpoint {
    /// Signs (sets the key fields and the signature).
    pub fn sign(&mut self, key: &SigningKey) -> Result<()> {
        let public = key.public();
        self.signature = None;
        self.public_key = Some(public.to_base64());
        self.key_fingerprint = Some(public.fingerprint());
        let value = serde_json::to_value(&*self).map_err(|source| Error::Serialize {
            what: "checkpoint".into(),
            source,
        })?;
        self.signature = Some(key.sign(&signing_bytes_of(value)));
        Ok(())
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        canonical::to_vec(self, "checkpoint")
    }

    /// Parses a checkpoint; `what` names it in errors.
    pub fn parse(what: &str, bytes: &[u8]) -> Result<Self> {
        let c: Self = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            key: what.to_string(),
            message: format!("not a checkpoint: {e}"),
        })?;
        if c.format != FORMAT {
            return Err(Error::Manifest {
                key: what.to_string(),
                message: format!("checkpoint format {:?}, expected {FORMAT}", c.format),
            });
        }
        Ok(c)
    }

    /// Checks the signature against `pinned` (or, without one, the embedded key). `Err` says
    /// why the checkpoint cannot be trusted.
    pub fn check_signature(&self, pinned: Option<&PublicKey>) -> Result<(), String> {
        let Some(sig) = &self.signature else {
            return match pinned {
                Some(_) => Err("checkpoint is not signed but a public key was given".into()),
                None => Ok(()),
            };
        };
        let embedded = self
            .public_key
            .as_deref()
            .and_then(|k| PublicKey::from_base64(k).ok());
        let Some(key) = pinned.copied().or(embedded) else {
            return Err("signed, but no usable public key".into());
        };
        if self.key_fingerprint.as_deref() != Some(key.fingerprint().as_str()) {
            return Err(format!(
                "signed by key {}, expected {}",
                self.key_fingerprint.as_deref().unwrap_or("(none)"),
                key.fingerprint()
            ));
        }
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        if key.verify(&signing_bytes_of(value), sig) {
            Ok(())
        } else {
            Err("checkpoint signature does not verify".into())
        }
    }
}

/// Writes a checkpoint to the witness, create-only. An existing identical object is success
/// (a retried write).
pub async fn put(witness: &Store, checkpoint: &Checkpoint) -> Result<String> {
    let k = key(&checkpoint.cluster, &checkpoint.policy, checkpoint.sequence);
    let bytes = checkpoint.to_bytes()?;
    match witness.put_create(&k, bytes.clone()).await {
        Ok(()) => Ok(k),
        Err(Error::AlreadyExists { .. })
            if witness.get_opt(&k).await?.as_deref() == Some(&bytes[..]) =>
        {
            Ok(k)
        }
        Err(e) => Err(e),
    }
}

/// Where checkpoints come from: one file, or a witness store.
#[derive(Debug)]
pub enum Source {
    /// One checkpoint file (for example the newest, kept by the auditor).
    File(std::path::PathBuf),
    /// A witness store: every checkpoint of every chain.
    Store(Store),
}

/// Checkpoints read, with the objects that could not be used.
#[derive(Debug, Default)]
pub struct Loaded {
    /// By `(cluster, policy)`, by sequence.
    pub chains: BTreeMap<(String, String), BTreeMap<u64, Checkpoint>>,
    /// Objects that are not checkpoints (too big or unreadable): `(key, message)`.
    pub unreadable: Vec<(String, String)>,
    /// From an S3 witness: each checkpoint's Object Lock retention, by witness key (`None`
    /// inside: the checkpoint has none). `None`: not read (a file, or a store without it).
    pub retention: Option<BTreeMap<String, Option<Retention>>>,
}

/// Reads checkpoints.
pub async fn load(source: &Source) -> Result<Loaded> {
    let mut out = Loaded::default();
    let add = |what: &str, bytes: &[u8], out: &mut Loaded| match Checkpoint::parse(what, bytes) {
        Ok(c) => {
            out.chains
                .entry((c.cluster.clone(), c.policy.clone()))
                .or_default()
                .insert(c.sequence, c);
        }
        Err(e) => out.unreadable.push((what.to_string(), e.to_string())),
    };
    match source {
        Source::File(path) => {
            let what = path.display().to_string();
            let len = std::fs::metadata(path)
                .map_err(|source| Error::Io {
                    context: format!("reading the checkpoint {what}"),
                    source,
                })?
                .len();
            if len > MAX_BYTES {
                return Err(Error::Invalid(format!(
                    "checkpoint {what}: {len} bytes, more than {MAX_BYTES}"
                )));
            }
            let bytes = std::fs::read(path).map_err(|source| Error::Io {
                context: format!("reading the checkpoint {what}"),
                source,
            })?;
            let c = Checkpoint::parse(&what, &bytes)?;
            out.chains
                .entry((c.cluster.clone(), c.policy.clone()))
                .or_default()
                .insert(c.sequence, c);
        }
        Source::Store(store) => {
            for o in store.list("").await? {
                let parts: Vec<&str> = o.key.split('/').collect();
                if !matches!(parts.as_slice(), [_, _, "checkpoints", f] if f.ends_with(".json")) {
                    continue;
                }
                if o.size > MAX_BYTES {
                    out.unreadable.push((
                        o.key.clone(),
                        format!("{} bytes, more than {MAX_BYTES}", o.size),
                    ));
                    continue;
                }
                let bytes = store.get(&o.key).await?;
                add(&o.key, &bytes, &mut out);
                if store.reports_retention() {
                    match store.retention(&o.key).await {
                        Ok(r) => {
                            out.retention
                                .get_or_insert_with(BTreeMap::new)
                                .insert(o.key.clone(), r);
                        }
                        Err(e) => out.unreadable.push((o.key.clone(), e.to_string())),
                    }
                }
            }
        }
    }
    Ok(out)
}

fn problem(report: &mut ChainReport, key: &str, kind: &'static str, message: String) {
    report.problems.push(Problem {
        key: key.to_string(),
        kind,
        message,
    });
}

/// Compares the verified chains with the witnessed checkpoints and adds a break for every
/// checkpointed snapshot that must still be in the store but is not (`deleted`: at the head, at
/// the start, in between, or the whole chain), that is there with another digest (`witness`),
/// and for checkpoints that do not verify (`witness`).
pub fn check(report: &mut VerifyReport, loaded: &Loaded, options: &VerifyOptions) {
    for (what, message) in &loaded.unreadable {
        // Attribute to the chain named by the key when possible.
        let mut parts = what.split('/');
        let (c, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let chain = chain_mut(report, c, p);
        problem(chain, what, "witness", message.clone());
    }
    for ((cluster, policy), checkpoints) in &loaded.chains {
        if options.cluster.as_ref().is_some_and(|c| c != cluster)
            || options.policy.as_ref().is_some_and(|p| p != policy)
        {
            continue;
        }
        check_chain(
            report,
            cluster,
            policy,
            checkpoints,
            loaded.retention.as_ref(),
            options,
        );
    }
}

fn chain_mut<'a>(report: &'a mut VerifyReport, cluster: &str, policy: &str) -> &'a mut ChainReport {
    let i = match report
        .chains
        .iter()
        .position(|c| c.cluster == cluster && c.policy == policy)
    {
        Some(i) => i,
        None => {
            report.chains.push(ChainReport {
                cluster: cluster.to_string(),
                policy: policy.to_string(),
                ..Default::default()
            });
            report.chains.len() - 1
        }
    };
    &mut report.chains[i]
}

fn check_chain(
    report: &mut VerifyReport,
    cluster: &str,
    policy: &str,
    checkpoints: &BTreeMap<u64, Checkpoint>,
    retention: Option<&BTreeMap<String, Option<Retention>>>,
    options: &VerifyOptions,
) {
    let chain = chain_mut(report, cluster, policy);
    let wkey = |seq: u64| format!("witness:{}", key(cluster, policy, seq));
    // Only checkpoints that verify are evidence.
    let mut trusted: Vec<(&Checkpoint, Timestamp)> = Vec::new();
    for c in checkpoints.values() {
        if let Err(e) = c.check_signature(options.public_key.as_ref()) {
            problem(chain, &wkey(c.sequence), "witness", e);
            continue;
        }
        match c.time.parse::<Timestamp>() {
            Ok(t) => trusted.push((c, t)),
            Err(e) => problem(
                chain,
                &wkey(c.sequence),
                "witness",
                format!("time {:?}: {e}", c.time),
            ),
        }
    }
    // With --require-object-lock, the witness's checkpoints must be locked too.
    if let (Some(retention), true) = (retention, options.object_lock.required) {
        let min = options.object_lock.min_duration.unwrap_or_default();
        for (c, time) in &trusted {
            let k = key(cluster, policy, c.sequence);
            match retention.get(&k) {
                Some(Some(r)) => {
                    if let Ok(needed) = time.checked_add(min)
                        && r.retain_until < needed
                    {
                        problem(
                            chain,
                            &wkey(c.sequence),
                            "object-lock",
                            format!(
                                "{} retention until {} ends before the snapshot time plus the required retention",
                                r.mode, r.retain_until
                            ),
                        );
                    }
                }
                _ => problem(
                    chain,
                    &wkey(c.sequence),
                    "object-lock",
                    "the checkpoint has no Object Lock retention in the witness".into(),
                ),
            }
        }
    }
    let Some((newest, _)) = trusted.last() else {
        return;
    };
    // The retention in force at the last write bounds what may have been pruned.
    let cutoff = newest
        .retention
        .as_deref()
        .and_then(|r| parse_duration(r).ok())
        .and_then(|r: SignedDuration| options.now.checked_sub(r).ok());
    let head_seq = chain.entries.last().map(|e| e.sequence);
    let first_seq = chain.entries.first().map(|e| e.sequence);
    let entries: BTreeMap<u64, (String, String)> = chain
        .entries
        .iter()
        .map(|e| (e.sequence, (e.digest.clone(), e.key.clone())))
        .collect();
    let mut missing: Vec<u64> = Vec::new();
    for (c, time) in &trusted {
        if options.from.is_some_and(|f| *time < f) || options.to.is_some_and(|t| *time > t) {
            continue;
        }
        if cutoff.is_some_and(|cut| *time < cut) {
            continue;
        }
        match entries.get(&c.sequence) {
            Some((digest, k)) if *digest != c.digest => problem(
                chain,
                k,
                "witness",
                format!(
                    "sequence {} has manifest digest {digest}, the witness recorded {} at {}: the snapshot was replaced",
                    c.sequence, c.digest, c.time
                ),
            ),
            Some(_) => {}
            None => missing.push(c.sequence),
        }
    }
    let wholly = chain.entries.is_empty();
    for seq in missing {
        let c = &checkpoints[&seq];
        let position = if wholly {
            "the whole chain is gone from the store".to_string()
        } else if head_seq.is_some_and(|h| seq > h) {
            format!(
                "after the store's newest snapshot (sequence {}): the newest snapshot(s) were deleted",
                head_seq.unwrap_or_default()
            )
        } else if first_seq.is_some_and(|f| seq < f) {
            format!(
                "before the store's oldest snapshot (sequence {}) but inside the retention{}: the oldest snapshot(s) were deleted",
                first_seq.unwrap_or_default(),
                newest
                    .retention
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        } else {
            "between two snapshots that are present".to_string()
        };
        problem(
            chain,
            &c.manifest_key,
            "deleted",
            format!(
                "the witness saw sequence {seq} (manifest sha256 {}, {}), but it is not in the store; {position}",
                c.digest, c.time
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(seq: u64) -> Checkpoint {
        Checkpoint {
            format: FORMAT.into(),
            cluster: "prod".into(),
            policy: "hourly".into(),
            sequence: seq,
            manifest_key: format!("prod/hourly/{seq}/manifest.json"),
            digest: format!("{seq:064}"),
            time: "2026-06-15T10:00:00Z".into(),
            written_at: "2026-06-15T10:00:01Z".into(),
            retention: None,
            public_key: None,
            key_fingerprint: None,
            signature: None,
        }
    }

    #[test]
    fn signatures_bind_every_field() {
        let sk = SigningKey::generate().unwrap();
        let mut c = cp(3);
        c.sign(&sk).unwrap();
        let pinned = sk.public();
        assert_eq!(c.check_signature(Some(&pinned)), Ok(()));
        let bytes = c.to_bytes().unwrap();
        assert_eq!(Checkpoint::parse("x", &bytes).unwrap(), c);
        let mut forged = c.clone();
        forged.sequence = 2;
        assert!(forged.check_signature(Some(&pinned)).is_err());
        let other = SigningKey::generate().unwrap().public();
        assert!(c.check_signature(Some(&other)).is_err());
        assert!(cp(1).check_signature(Some(&pinned)).is_err());
        assert_eq!(
            key("prod", "hourly", 7),
            "prod/hourly/checkpoints/00000000000000000007.json"
        );
    }
}
