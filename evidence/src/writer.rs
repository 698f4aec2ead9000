//! The writer: appends snapshots to a chain in the store. The same API serves the operator
//! and `soc2-operator evidence snapshot`.
//!
//! `open` finds the chain head in the store. `write` builds the bundle, writes each document
//! create-only, then the signed manifest linking to the head, retrying each object with
//! exponential backoff. A failure is returned to the caller (for status and metrics) and leaves
//! the head unchanged, so the next successful write links to the last good snapshot and records
//! the missed slots as gaps. `prune` applies the retention.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::bundle::Bundle;
use super::chain::{self, Head};
use super::checkpoint::{self, Checkpoint};
use super::keyed::InventoryKey;
use super::layout::{self, MANIFEST};
use super::manifest::{self, DocumentEntry, Manifest};
use super::provenance::Provenance;
use super::schedule::format_duration;
use super::schedule::{Gap, Schedule};
use super::signing::SigningKey;
use super::store::Store;
use super::timestamp::{self, Timestamper};
use super::{Error, Result, rfc3339, sha256_hex};
use soc2_core::activity::Activity;
use soc2_core::crd::{
    EvidenceFormat, EvidenceInclude, EvidencePolicySpec, SnapshotRef, parse_duration,
};
use soc2_core::engine::Evaluation;
use soc2_core::snapshot::ClusterSnapshot;

/// Retries of one object write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What a writer needs besides the store.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Cluster name (first key component).
    pub cluster: String,
    /// EvidencePolicy name.
    pub policy: String,
    /// When snapshots are due.
    pub schedule: Schedule,
    /// Signs manifests when set.
    pub signing_key: Option<SigningKey>,
    /// Write retries.
    pub retry: RetryPolicy,
    /// Optional documents.
    pub include: EvidenceInclude,
    /// Whole snapshots older than this are deleted by [`Writer::prune`].
    pub retention: Option<SignedDuration>,
    /// Also write `assessment-results.oscal.json` (the policy's `OSCAL` format).
    pub oscal: bool,
}

impl WriterConfig {
    /// The configuration of an EvidencePolicy.
    pub fn from_policy(
        cluster: &str,
        policy: &str,
        spec: &EvidencePolicySpec,
        signing_key: Option<SigningKey>,
    ) -> Result<Self> {
        let retention = spec
            .retention
            .as_deref()
            .map(|r| parse_duration(r).map_err(|e| Error::Schedule(format!("spec.retention: {e}"))))
            .transpose()?;
        if retention.is_some() && spec.storage.object_lock.is_some() {
            return Err(Error::Invalid(RETENTION_WITH_LOCK.into()));
        }
        Ok(Self {
            cluster: cluster.to_string(),
            policy: policy.to_string(),
            schedule: Schedule::from_spec(spec)?,
            signing_key,
            retry: RetryPolicy::default(),
            include: spec.include.clone(),
            retention,
            oscal: spec.formats.contains(&EvidenceFormat::OSCAL),
        })
    }
}

/// Why pruning and Object Lock do not go together.
pub const RETENTION_WITH_LOCK: &str = "spec.retention: cannot be set with spec.storage.objectLock: the operator must not delete locked evidence (the bucket's lifecycle rules expire it once its retention ends)";

/// A snapshot that was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// Time, manifest key and manifest digest (as status shows it).
    pub snapshot: SnapshotRef,
    /// Sequence number in the chain.
    pub sequence: u64,
    /// Gaps recorded in this manifest.
    pub gaps: Vec<Gap>,
    /// Bytes written (documents and manifest).
    pub bytes: u64,
    /// Why no time stamp token was stored, when time stamping is on and failed (the snapshot
    /// is complete without it).
    pub timestamp_error: Option<String>,
    /// The checkpoint written to the witness (its key there), when a witness is configured.
    pub checkpoint: Option<String>,
    /// Why the checkpoint could not be written (the snapshot itself was written).
    pub witness_error: Option<String>,
    /// With Object Lock: the retain-until date every object of the snapshot carries.
    pub retain_until: Option<Timestamp>,
}

/// What retention removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Folders of removed snapshots (complete or not).
    pub folders: Vec<String>,
    /// The oldest complete snapshot kept: the new anchor of the chain.
    pub anchor: Option<String>,
}

/// The writer distrusts the store: it extends a head only when the head's manifest verifies
/// against its own key. A head planted by someone with write access to the store (unsigned, or
/// signed by another key) is refused, so the writer never signs a link to it.
async fn check_head(store: &Store, head: &Head, key: &SigningKey) -> Result<()> {
    let bytes = store.get(&head.key).await?;
    if manifest::verify_stored(&bytes, &key.public()) {
        return Ok(());
    }
    let err = Error::UntrustedHead {
        key: head.key.clone(),
        message: format!(
            "its manifest is not signed by this writer's key {} (unsigned, signed by another key or altered); remove the planted snapshot or start a new chain",
            key.public().fingerprint()
        ),
    };
    tracing::error!(error = %err, "untrusted evidence chain head");
    Err(err)
}

/// Appends snapshots to one chain.
#[derive(Debug)]
pub struct Writer {
    store: Store,
    config: WriterConfig,
    head: Option<Head>,
    timestamper: Option<Timestamper>,
    provenance: Option<Provenance>,
    witness: Option<Store>,
}

impl Writer {
    /// Opens the chain `<cluster>/<policy>` and finds its head in the store.
    pub async fn open(store: Store, config: WriterConfig) -> Result<Self> {
        layout::check_name("cluster", &config.cluster)?;
        layout::check_name("policy", &config.policy)?;
        if config.retention.is_some() && store.object_lock().is_some() {
            return Err(Error::Invalid(RETENTION_WITH_LOCK.into()));
        }
        let head = chain::find_head(&store, &config.cluster, &config.policy).await?;
        if let (Some(h), Some(key)) = (&head, &config.signing_key) {
            check_head(&store, h, key).await?;
        }
        Ok(Self {
            store,
            config,
            head,
            timestamper: None,
            provenance: None,
            witness: None,
        })
    }

    /// Asks `tsa` for an RFC 3161 token over every manifest written from now on.
    pub fn with_timestamper(mut self, tsa: Option<Timestamper>) -> Self {
        self.timestamper = tsa;
        self
    }

    /// Records where the following snapshots come from (in every manifest). Without it the
    /// manifests carry no provenance and never count toward a period's completeness.
    pub fn set_provenance(&mut self, provenance: Provenance) {
        self.provenance = Some(provenance);
    }

    /// After each snapshot, writes a signed checkpoint of the new head to `witness`.
    pub fn set_witness(&mut self, witness: Store) {
        self.witness = Some(witness);
    }

    /// The newest complete snapshot this writer links to.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &WriterConfig {
        &self.config
    }

    /// Builds and writes a snapshot of `evaluation` over `snapshot`, taken at `now`.
    pub async fn write(
        &mut self,
        evaluation: &Evaluation,
        snapshot: &ClusterSnapshot,
        now: Timestamp,
    ) -> Result<Written> {
        self.write_with_activity(evaluation, snapshot, None, now)
            .await
    }

    /// [`Writer::write`], adding `activity.json` when `activity` is given (the operator's
    /// audit-event intake runs).
    pub async fn write_with_activity(
        &mut self,
        evaluation: &Evaluation,
        snapshot: &ClusterSnapshot,
        activity: Option<&Activity>,
        now: Timestamp,
    ) -> Result<Written> {
        let inventory_key = self
            .config
            .signing_key
            .as_ref()
            .map(InventoryKey::from_signing_key);
        let mut bundle = Bundle::build_keyed(
            evaluation,
            snapshot,
            &self.config.include,
            inventory_key.as_ref(),
        )?;
        if let Some(a) = activity {
            bundle.add_activity(a, now)?;
        }
        if self.config.oscal {
            bundle.add_oscal(evaluation, &self.config.cluster, &self.config.policy);
        }
        self.write_bundle(&bundle, now).await
    }

    /// Writes prepared documents as a snapshot taken at `now` (whole seconds are kept).
    pub async fn write_bundle(&mut self, bundle: &Bundle, now: Timestamp) -> Result<Written> {
        let now = Timestamp::from_second(now.as_second())
            .map_err(|e| Error::Invalid(format!("snapshot time: {e}")))?;
        if let Some(head) = &self.head
            && now <= head.time
        {
            return Err(Error::Invalid(format!(
                "snapshot time {} is not after the chain head {} ({})",
                rfc3339(now),
                rfc3339(head.time),
                head.key
            )));
        }
        // With Object Lock, a client whose puts carry retention from now (the write time).
        let store = self.store.for_write(Timestamp::now())?;
        let folder = layout::snapshot_folder(
            &self.config.cluster,
            &self.config.policy,
            now,
            &bundle.content_digest(),
        );
        let mut bytes = 0u64;
        let mut documents = Vec::with_capacity(bundle.documents.len());
        let mut written: Vec<String> = Vec::with_capacity(bundle.documents.len() + 1);
        for doc in &bundle.documents {
            let key = format!("{folder}/{}", doc.name);
            if let Err(e) = self.put(&store, &key, &doc.bytes).await {
                self.discard(&written).await;
                return Err(e);
            }
            written.push(key);
            bytes += doc.bytes.len() as u64;
            documents.push(DocumentEntry {
                name: doc.name.clone(),
                sha256: doc.sha256(),
                size: doc.bytes.len() as u64,
            });
        }
        let gaps = match &self.head {
            Some(h) => self.config.schedule.gaps_between(h.time, now),
            None => Vec::new(),
        };
        let mut manifest = Manifest {
            format: manifest::FORMAT.to_string(),
            sequence: self.head.as_ref().map_or(Ok(0), chain::next_sequence)?,
            previous: self.head.as_ref().map(|h| h.digest.clone()),
            cluster: self.config.cluster.clone(),
            policy: self.config.policy.clone(),
            operator_version: env!("CARGO_PKG_VERSION").to_string(),
            schedule: self.config.schedule.spec(),
            time: rfc3339(now),
            documents,
            gaps: gaps.clone(),
            provenance: self.provenance.clone().map(|mut p| {
                p.written_at = rfc3339(Timestamp::now());
                p
            }),
            public_key: None,
            key_fingerprint: None,
            signature: None,
        };
        if let Some(key) = &self.config.signing_key {
            manifest.sign(key)?;
        }
        let manifest_bytes = manifest.to_bytes()?;
        let manifest_key = format!("{folder}/{MANIFEST}");
        // Last: only now does the snapshot become complete.
        if let Err(e) = self.put(&store, &manifest_key, &manifest_bytes).await {
            self.discard(&written).await;
            return Err(e);
        }
        bytes += manifest_bytes.len() as u64;
        let digest = sha256_hex(&manifest_bytes);
        self.head = Some(Head {
            key: manifest_key.clone(),
            digest: digest.clone(),
            sequence: manifest.sequence,
            time: now,
        });
        // After the manifest: the token covers the manifest's digest.
        let mut timestamp_error = None;
        if let Some(tsa) = &self.timestamper {
            match self.timestamp(&store, tsa, &folder, &manifest_bytes).await {
                Ok(n) => bytes += n,
                Err(e) => {
                    tracing::warn!(key = %manifest_key, error = %e, "no time stamp for the manifest");
                    timestamp_error = Some(e.to_string());
                }
            }
        }
        tracing::info!(key = %manifest_key, sequence = manifest.sequence, gaps = gaps.len(), "evidence snapshot written");
        let (checkpoint, witness_error) = match self
            .checkpoint(&manifest_key, &digest, &manifest)
            .await
        {
            Ok(k) => (k, None),
            Err(e) => {
                tracing::warn!(key = %manifest_key, error = %e, "could not write the checkpoint to the witness");
                (None, Some(e.to_string()))
            }
        };
        Ok(Written {
            snapshot: SnapshotRef {
                time: rfc3339(now),
                key: manifest_key,
                digest,
            },
            sequence: manifest.sequence,
            gaps,
            bytes,
            timestamp_error,
            checkpoint,
            witness_error,
            retain_until: store.retain_until(),
        })
    }

    /// Writes the checkpoint of a new head to the witness (when configured), with retries.
    async fn checkpoint(
        &self,
        manifest_key: &str,
        digest: &str,
        manifest: &Manifest,
    ) -> Result<Option<String>> {
        let Some(witness) = &self.witness else {
            return Ok(None);
        };
        let witness = witness.for_write(Timestamp::now())?;
        let mut cp = Checkpoint {
            format: checkpoint::FORMAT.into(),
            cluster: manifest.cluster.clone(),
            policy: manifest.policy.clone(),
            sequence: manifest.sequence,
            manifest_key: manifest_key.to_string(),
            digest: digest.to_string(),
            time: manifest.time.clone(),
            written_at: rfc3339(Timestamp::now()),
            retention: self.config.retention.map(format_duration),
            public_key: None,
            key_fingerprint: None,
            signature: None,
        };
        if let Some(key) = &self.config.signing_key {
            cp.sign(key)?;
        }
        let policy = self.config.retry;
        let attempts = policy.attempts.max(1);
        let mut n = 1;
        loop {
            match checkpoint::put(&witness, &cp).await {
                Ok(k) => return Ok(Some(k)),
                Err(e @ Error::Store { .. }) if n < attempts => {
                    tracing::warn!(attempt = n, error = %e, "witness write failed");
                    tokio::time::sleep(policy.backoff(n)).await;
                    n += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Gets a token for the stored manifest bytes (retried like object writes) and stores it
    /// as [`timestamp::TOKEN`]; returns its size.
    async fn timestamp(
        &self,
        store: &Store,
        tsa: &Timestamper,
        folder: &str,
        manifest: &[u8],
    ) -> Result<u64> {
        let policy = self.config.retry;
        let attempts = policy.attempts.max(1);
        let mut n = 1;
        let token = loop {
            match tsa.stamp(manifest).await {
                Ok(t) => break t,
                Err(e) if n < attempts => {
                    tracing::warn!(url = tsa.url(), attempt = n, error = %e, "time stamping failed");
                    tokio::time::sleep(policy.backoff(n)).await;
                    n += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.put(store, &format!("{folder}/{}", timestamp::TOKEN), &token)
            .await?;
        Ok(token.len() as u64)
    }

    /// Best effort, once: removes the documents of a snapshot whose write failed, so that no
    /// incomplete folder is left behind when the store allows it. What cannot be removed stays
    /// and `verify` reports it as an incomplete snapshot.
    async fn discard(&self, keys: &[String]) {
        for key in keys {
            if let Err(e) = self.store.delete(key).await {
                tracing::warn!(key, error = %e, "could not remove a document of a failed snapshot");
            }
        }
    }

    /// Create-only put with retries. A retry that finds the object already there with the
    /// same bytes (an earlier attempt landed but its answer was lost) counts as success.
    async fn put(&self, store: &Store, key: &str, bytes: &[u8]) -> Result<()> {
        let policy = self.config.retry;
        let attempts = policy.attempts.max(1);
        let mut last = None;
        for n in 1..=attempts {
            match store.put_create(key, bytes.to_vec()).await {
                Ok(()) => return Ok(()),
                Err(Error::AlreadyExists { .. }) if n > 1 => {
                    if store.get_opt(key).await?.as_deref() == Some(bytes) {
                        return Ok(());
                    }
                    return Err(Error::AlreadyExists {
                        key: key.to_string(),
                    });
                }
                Err(e @ Error::Store { .. }) => {
                    tracing::warn!(key, attempt = n, attempts, error = %e, "evidence write failed");
                    last = Some(e);
                    if n < attempts {
                        tokio::time::sleep(policy.backoff(n)).await;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::RetriesExhausted {
            key: key.to_string(),
            attempts,
            source: Box::new(last.unwrap_or_else(|| Error::Invalid("no attempt made".into()))),
        })
    }

    /// Deletes whole snapshots older than the retention (measured from `now`). The newest
    /// complete snapshot is always kept. Each manifest is deleted before its documents, so a
    /// partially deleted snapshot never looks complete.
    pub async fn prune(&self, now: Timestamp) -> Result<Pruned> {
        let Some(retention) = self.config.retention else {
            return Ok(Pruned::default());
        };
        if self.store.object_lock().is_some() {
            return Err(Error::Invalid(
                "retention (pruning) is refused on a store with objectLock: locked evidence is never deleted by the writer".into(),
            ));
        }
        let cutoff = now
            .checked_sub(retention)
            .map_err(|e| Error::Invalid(format!("retention: {e}")))?;
        let listings =
            chain::list_snapshots(&self.store, &self.config.cluster, &self.config.policy).await?;
        let newest_complete = listings
            .iter()
            .rposition(|l| l.complete() && l.info.is_some());
        let mut pruned = Pruned::default();
        for (i, l) in listings.iter().enumerate() {
            let Some(info) = &l.info else { continue };
            if info.time >= cutoff || Some(i) == newest_complete {
                if pruned.anchor.is_none() && l.complete() {
                    pruned.anchor = Some(l.manifest_key());
                }
                continue;
            }
            if l.complete() {
                self.store.delete(&l.manifest_key()).await?;
            }
            for o in l.objects.iter().filter(|o| o.key != MANIFEST) {
                self.store
                    .delete(&format!("{}/{}", l.folder, o.key))
                    .await?;
            }
            pruned.folders.push(l.folder.clone());
        }
        if !pruned.folders.is_empty() {
            tracing::info!(deleted = pruned.folders.len(), anchor = ?pruned.anchor, "evidence retention applied");
        }
        Ok(pruned)
    }
}
