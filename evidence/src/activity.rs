//! `activity.json`: the audit-event aggregates of a snapshot (issue 13). For each of the last
//! [`EVIDENCE_HOURS`] UTC hours: request counts, 401s by user and source IP, 403s, humans by
//! authenticator, requests by user, and the privileged actions (who, what, when, audit ID);
//! plus the binding ledger (who was bound, when their last binding disappeared) and when events
//! were last received. Never a raw event, never a request or response body; user names are
//! hashed by the intake when a salt is configured (`hashed: true`), and the salt is never
//! written.
//!
//! The hours overlap between snapshots (a bucket keeps filling until its hour is over); the
//! period report takes each hour from the newest snapshot holding it. The writer signs and
//! chains this document like the others; [`read_head_ledger`] restores the binding ledger from
//! the chain head when the operator starts.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::bundle::{ACTIVITY, Document};
use super::manifest::Manifest;
use super::store::Store;
use super::{Error, Result, canonical, sha256_hex};
use soc2_core::activity::{Activity, BindingLedger, HourBucket, hour_start};

/// Format tag of the document.
pub const FORMAT: &str = "soc2-activity/v1";

/// Hours each snapshot records, the current one included: a day plus overlap, so daily or
/// denser schedules leave no hour out.
pub const EVIDENCE_HOURS: u32 = 26;

/// The document as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityDoc {
    /// [`FORMAT`].
    pub format: String,
    /// Start of the first hour covered.
    pub from_hour: Timestamp,
    /// Start of the last hour covered (the one holding the snapshot time).
    pub to_hour: Timestamp,
    /// Whether user names are hashed (`sha256:<hex>` of salt and name).
    #[serde(default)]
    pub hashed: bool,
    /// Whether the intake has an OIDC prefix (without one no human counts as OIDC).
    #[serde(default)]
    pub oidc_configured: bool,
    /// When the first batch was received.
    #[serde(default)]
    pub first_received: Option<Timestamp>,
    /// When the last batch was received.
    #[serde(default)]
    pub last_received: Option<Timestamp>,
    /// The newest event time.
    #[serde(default)]
    pub last_event: Option<Timestamp>,
    /// Events ignored because not at a final stage.
    #[serde(default)]
    pub skipped_stages: u64,
    /// The hours that had events, oldest first.
    #[serde(default)]
    pub hours: Vec<HourDoc>,
    /// Subjects bound and removals.
    #[serde(default)]
    pub bindings: BindingLedger,
}

/// One hour's aggregates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourDoc {
    /// Start of the hour (UTC).
    pub start: Timestamp,
    /// The aggregates.
    #[serde(flatten)]
    pub bucket: HourBucket,
}

impl ActivityDoc {
    /// The document of `activity` for a snapshot taken at `now`.
    pub fn of(activity: &Activity, now: Timestamp) -> Self {
        let to = hour_start(now);
        let from = to - i64::from(EVIDENCE_HOURS - 1) * 3600;
        let ts = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
        Self {
            format: FORMAT.into(),
            from_hour: ts(from),
            to_hour: ts(to),
            hashed: activity.hashed,
            oidc_configured: activity.oidc_configured,
            first_received: activity.first_received,
            last_received: activity.last_received,
            last_event: activity.last_event,
            skipped_stages: activity.skipped_stages,
            hours: activity
                .window(now, EVIDENCE_HOURS)
                .map(|(h, b)| HourDoc {
                    start: ts(h),
                    bucket: b.clone(),
                })
                .collect(),
            bindings: activity.bindings.clone(),
        }
    }

    /// The activity this document records (no salt: names stay as written).
    pub fn to_activity(&self) -> Activity {
        Activity {
            hours: self
                .hours
                .iter()
                .map(|h| (h.start.as_second(), h.bucket.clone()))
                .collect(),
            skipped_stages: self.skipped_stages,
            first_received: self.first_received,
            last_received: self.last_received,
            last_event: self.last_event,
            oidc_configured: self.oidc_configured,
            hashed: self.hashed,
            bindings: self.bindings.clone(),
            salt: None,
        }
    }

    /// Parses the document.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|source| Error::Serialize {
            what: ACTIVITY.into(),
            source,
        })
    }
}

/// `activity.json` for a snapshot taken at `now`.
pub fn document(activity: &Activity, now: Timestamp) -> Result<Document> {
    Ok(Document {
        name: ACTIVITY.into(),
        bytes: canonical::to_vec(&ActivityDoc::of(activity, now), ACTIVITY)?,
    })
}

/// The binding ledger recorded by the snapshot whose manifest is at `manifest_key`, when it
/// has an `activity.json` whose digest matches its manifest entry. The caller checks the
/// manifest's signature (the writer does so for its head when it opens).
pub async fn read_head_ledger(store: &Store, manifest_key: &str) -> Result<Option<BindingLedger>> {
    let bytes = store.get(manifest_key).await?;
    let manifest = Manifest::parse(manifest_key, &bytes)?;
    let Some(entry) = manifest.documents.iter().find(|d| d.name == ACTIVITY) else {
        return Ok(None);
    };
    let folder = manifest_key.rsplit_once('/').map_or("", |(f, _)| f);
    let doc_key = format!("{folder}/{ACTIVITY}");
    let doc = store.get(&doc_key).await?;
    let actual = sha256_hex(&doc);
    if actual != entry.sha256 {
        return Err(Error::Invalid(format!(
            "{doc_key}: sha256 {actual}, the manifest says {}",
            entry.sha256
        )));
    }
    Ok(Some(ActivityDoc::parse(&doc)?.bindings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_keeps_the_last_hours_and_round_trips() {
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        let mut a = Activity::default();
        for (h, n) in [
            ("2026-06-13T09:00:00Z", 1),
            ("2026-06-14T11:00:00Z", 2),
            ("2026-06-15T12:00:00Z", 3),
        ] {
            a.hours.entry(hour_start(t(h))).or_default().requests = n;
        }
        a.received(t("2026-06-15T12:10:00Z"));
        a.salt = Some(soc2_core::activity::Salt::new("never-written"));
        let now = t("2026-06-15T12:30:00Z");
        let d = document(&a, now).expect("document");
        let text = String::from_utf8(d.bytes.clone()).expect("utf-8");
        assert!(!text.contains("never-written"), "{text}");
        let parsed = ActivityDoc::parse(&d.bytes).expect("parses");
        assert_eq!(parsed.from_hour, t("2026-06-14T11:00:00Z"));
        assert_eq!(
            parsed.hours.len(),
            2,
            "the hour two days before is left out"
        );
        let back = parsed.to_activity();
        assert_eq!(
            back.hours[&hour_start(t("2026-06-15T12:00:00Z"))].requests,
            3
        );
        assert_eq!(back.last_received, a.last_received);
        assert!(text.contains("\"requests\":3"), "{text}");
    }
}
