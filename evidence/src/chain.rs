//! Reading chains back from a store: which chains exist, the snapshot folders of one chain
//! (complete or not) and its head.
//!
//! A folder is complete only when its `manifest.json` exists; folders with documents but no
//! manifest are what a crash mid-write leaves and are never taken as the head.

use jiff::Timestamp;

use super::layout::{self, Folder, MANIFEST};
use super::store::{Listed, Store};
use super::{Manifest, Result, sha256_hex};

/// The objects of one snapshot folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotListing {
    /// Folder key relative to the store prefix.
    pub folder: String,
    /// The folder's parsed name (`None` when it does not follow the layout).
    pub info: Option<Folder>,
    /// Objects in the folder: names relative to it, with sizes.
    pub objects: Vec<Listed>,
}

impl SnapshotListing {
    /// Whether the manifest exists.
    pub fn complete(&self) -> bool {
        self.objects.iter().any(|o| o.key == MANIFEST)
    }

    /// The manifest's key.
    pub fn manifest_key(&self) -> String {
        format!("{}/{MANIFEST}", self.folder)
    }
}

/// The newest complete snapshot of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Key of its manifest.
    pub key: String,
    /// SHA-256 of the manifest bytes.
    pub digest: String,
    /// Its sequence number.
    pub sequence: u64,
    /// Its time.
    pub time: Timestamp,
}

/// The sequence number after `head`'s; an error (not an overflow) after `u64::MAX`.
pub fn next_sequence(head: &Head) -> Result<u64> {
    head.sequence
        .checked_add(1)
        .ok_or_else(|| super::Error::Manifest {
            key: head.key.clone(),
            message: format!("sequence {} cannot be followed", head.sequence),
        })
}

/// Every `(cluster, policy)` chain in the store.
pub async fn chains(store: &Store) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for cluster in store.folders("").await? {
        for policy in store.folders(&cluster).await? {
            out.push((cluster.clone(), policy));
        }
    }
    Ok(out)
}

/// The snapshot folders of one chain, oldest first.
pub async fn list_snapshots(
    store: &Store,
    cluster: &str,
    policy: &str,
) -> Result<Vec<SnapshotListing>> {
    let prefix = layout::chain_prefix(cluster, policy);
    let mut out: Vec<SnapshotListing> = Vec::new();
    for obj in store.list(&prefix).await? {
        let (folder, name) = obj.key.rsplit_once('/').unwrap_or(("", obj.key.as_str()));
        let entry = Listed {
            key: name.to_string(),
            size: obj.size,
            e_tag: obj.e_tag.clone(),
        };
        match out.last_mut() {
            Some(last) if last.folder == folder => last.objects.push(entry),
            _ => out.push(SnapshotListing {
                folder: folder.to_string(),
                info: layout::parse_folder(folder),
                objects: vec![entry],
            }),
        }
    }
    out.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(out)
}

/// Finds the head: the newest folder with a manifest. Incomplete folders are skipped.
pub async fn find_head(store: &Store, cluster: &str, policy: &str) -> Result<Option<Head>> {
    let listings = list_snapshots(store, cluster, policy).await?;
    for l in listings.iter().rev() {
        if !l.complete() || l.info.is_none() {
            continue;
        }
        let key = l.manifest_key();
        let bytes = store.get(&key).await?;
        let manifest = Manifest::parse(&key, &bytes)?;
        let time = manifest
            .time
            .parse::<Timestamp>()
            .map_err(|e| super::Error::Manifest {
                key: key.clone(),
                message: format!("time {:?}: {e}", manifest.time),
            })?;
        return Ok(Some(Head {
            digest: sha256_hex(&bytes),
            key,
            sequence: manifest.sequence,
            time,
        }));
    }
    Ok(None)
}
