//! Object key layout of the evidence store:
//! `<prefix>/<cluster>/<policy>/YYYY/MM/DD/<YYYYMMDDTHHMMSSZ>-<short digest>/<document>`.
//!
//! Keys here are relative to the store's prefix ([`super::Store`] adds it). Folder names sort
//! chronologically; the short digest (12 hex digits of the documents' combined digest) keeps two
//! snapshots in the same second apart when their content differs.

use jiff::{Timestamp, tz::TimeZone};

use super::{Error, Result};

/// The manifest's file name; a snapshot is complete only when this object exists.
pub const MANIFEST: &str = "manifest.json";

/// Checks that a cluster or policy name is a DNS-style label usable as one key component.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {name:?} must be lowercase letters, digits, '-' and '.'"
        )))
    }
}

/// `<cluster>/<policy>`: the folder holding one chain.
pub fn chain_prefix(cluster: &str, policy: &str) -> String {
    format!("{cluster}/{policy}")
}

/// The folder of a snapshot taken at `time` whose documents digest to `digest`.
pub fn snapshot_folder(cluster: &str, policy: &str, time: Timestamp, digest: &str) -> String {
    let z = time.to_zoned(TimeZone::UTC);
    format!(
        "{}/{}/{}-{}",
        chain_prefix(cluster, policy),
        z.strftime("%Y/%m/%d"),
        z.strftime("%Y%m%dT%H%M%SZ"),
        &digest[..digest.len().min(12)]
    )
}

/// A snapshot folder's parts, parsed back from its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// Cluster name.
    pub cluster: String,
    /// Policy name.
    pub policy: String,
    /// The time in the folder name.
    pub time: Timestamp,
    /// The short digest in the folder name.
    pub digest: String,
}

/// Parses `<cluster>/<policy>/YYYY/MM/DD/<time>-<digest>`; `None` for anything else.
pub fn parse_folder(folder: &str) -> Option<Folder> {
    let parts: Vec<&str> = folder.split('/').collect();
    let [cluster, policy, y, m, d, leaf] = parts.as_slice() else {
        return None;
    };
    let (time, digest) = leaf.split_once('-')?;
    let civil = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", time).ok()?;
    let time = civil.to_zoned(TimeZone::UTC).ok()?.timestamp();
    let z = time.to_zoned(TimeZone::UTC);
    if z.strftime("%Y/%m/%d").to_string() != format!("{y}/{m}/{d}") {
        return None;
    }
    Some(Folder {
        cluster: cluster.to_string(),
        policy: policy.to_string(),
        time,
        digest: digest.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_round_trip() {
        let t: Timestamp = "2026-06-15T12:34:56Z".parse().unwrap();
        let f = snapshot_folder("prod", "hourly", t, "0123456789abcdef");
        assert_eq!(f, "prod/hourly/2026/06/15/20260615T123456Z-0123456789ab");
        let p = parse_folder(&f).unwrap();
        assert_eq!(
            (p.cluster.as_str(), p.policy.as_str(), p.time),
            ("prod", "hourly", t)
        );
        assert!(parse_folder("prod/hourly/2026/06/16/20260615T123456Z-01").is_none());
        assert!(check_name("cluster", "Prod").is_err());
        assert!(check_name("cluster", "prod-eu.1").is_ok());
    }
}
