//! When snapshots are due: a 5-field cron schedule (UTC) or a fixed interval, and the gaps
//! between two snapshots.
//!
//! Interval slots are aligned to the Unix epoch (a `1h` interval is due on every full hour), so
//! the writer, `verify` and `report` agree on the slots without shared state. A snapshot covers
//! the latest slot at or before its time; every slot strictly between two consecutive
//! snapshots' covered slots was missed. Gaps are recorded, never backfilled.

use std::str::FromStr as _;

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Error, Result, rfc3339};
use soc2_core::crd::{EvidencePolicySpec, parse_duration};

/// Upper bound on slots enumerated between two times (guards against a 1s interval over a
/// year).
const MAX_SLOTS: usize = 1_000_000;

/// A snapshot schedule.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Every `interval`, aligned to the Unix epoch.
    Interval(SignedDuration),
    /// A cron expression evaluated in UTC.
    Cron(Box<croner::Cron>),
}

/// The schedule as written into manifests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Cron expression (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Interval, e.g. `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// A run of missed slots between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// The first missed slot (RFC 3339).
    pub from: String,
    /// The slot that was covered again, i.e. the end of the gap (RFC 3339).
    pub to: String,
    /// How many slots were missed.
    pub missed: u64,
}

impl Schedule {
    /// The schedule of a policy (exactly one of `schedule` and `interval`).
    pub fn from_spec(spec: &EvidencePolicySpec) -> Result<Self> {
        Self::parse(spec.schedule.as_deref(), spec.interval.as_deref())
    }

    /// Parses a cron expression or an interval (exactly one).
    pub fn parse(cron: Option<&str>, interval: Option<&str>) -> Result<Self> {
        match (cron, interval) {
            (Some(c), None) => croner::Cron::from_str(c)
                .map(|c| Schedule::Cron(Box::new(c)))
                .map_err(|e| Error::Schedule(format!("spec.schedule {c:?}: {e}"))),
            (None, Some(i)) => {
                let d = parse_duration(i)
                    .map_err(|e| Error::Schedule(format!("spec.interval: {e}")))?;
                Ok(Schedule::Interval(d))
            }
            _ => Err(Error::Schedule(
                "set exactly one of spec.schedule and spec.interval".into(),
            )),
        }
    }

    /// Reads the schedule a manifest recorded.
    pub fn from_manifest(spec: &ScheduleSpec) -> Result<Self> {
        Self::parse(spec.cron.as_deref(), spec.interval.as_deref())
    }

    /// The form written into manifests.
    pub fn spec(&self) -> ScheduleSpec {
        match self {
            Schedule::Interval(d) => ScheduleSpec {
                cron: None,
                interval: Some(format_duration(*d)),
            },
            Schedule::Cron(c) => ScheduleSpec {
                cron: Some(c.pattern.to_string()),
                interval: None,
            },
        }
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Interval(d) => {
                let step = d.as_secs().max(1);
                let s = t.as_second();
                let next = (s.div_euclid(step) + 1) * step;
                Timestamp::from_second(next).ok()
            }
            Schedule::Cron(c) => {
                let z = t.to_zoned(TimeZone::UTC);
                c.find_next_occurrence(&z, false)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// The latest slot at or before `t` (the slot a snapshot taken at `t` covers).
    pub fn slot_of(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Interval(d) => {
                let step = d.as_secs().max(1);
                Timestamp::from_second(t.as_second().div_euclid(step) * step).ok()
            }
            Schedule::Cron(c) => {
                let z = t.to_zoned(TimeZone::UTC);
                c.find_previous_occurrence(&z, true)
                    .ok()
                    .map(|z| z.timestamp())
            }
        }
    }

    /// Slots `s` with `from <= s < to`, at most [`MAX_SLOTS`].
    pub fn slots(&self, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let Some(mut s) = self.slot_of(from) else {
            return out;
        };
        if s < from {
            match self.next_after(s) {
                Some(n) => s = n,
                None => return out,
            }
        }
        while s < to && out.len() < MAX_SLOTS {
            out.push(s);
            match self.next_after(s) {
                Some(n) if n > s => s = n,
                _ => break,
            }
        }
        out
    }

    /// The slots missed between a snapshot at `previous` and one at `current`: every slot after
    /// the one `previous` covers and before the one `current` covers. Empty when on time.
    pub fn gaps_between(&self, previous: Timestamp, current: Timestamp) -> Vec<Gap> {
        let (Some(a), Some(b)) = (self.slot_of(previous), self.slot_of(current)) else {
            return Vec::new();
        };
        if b <= a {
            return Vec::new();
        }
        let Some(first_missed) = self.next_after(a) else {
            return Vec::new();
        };
        if first_missed >= b {
            return Vec::new();
        }
        let missed = self.slots(first_missed, b).len() as u64;
        vec![Gap {
            from: rfc3339(first_missed),
            to: rfc3339(b),
            missed,
        }]
    }
}

/// Formats a duration in the largest whole unit (`3600s` → `1h`).
pub fn format_duration(d: SignedDuration) -> String {
    let s = d.as_secs();
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn interval_slots_are_epoch_aligned() {
        let s = Schedule::parse(None, Some("1h")).unwrap();
        assert_eq!(
            s.next_after(t("2026-06-15T10:20:00Z")),
            Some(t("2026-06-15T11:00:00Z"))
        );
        assert_eq!(
            s.next_after(t("2026-06-15T11:00:00Z")),
            Some(t("2026-06-15T12:00:00Z"))
        );
        assert_eq!(s.spec().interval.as_deref(), Some("1h"));
        assert_eq!(
            s.slots(t("2026-06-15T00:00:00Z"), t("2026-06-16T00:00:00Z"))
                .len(),
            24
        );
    }

    #[test]
    fn cron_slots() {
        let s = Schedule::parse(Some("0 */6 * * *"), None).unwrap();
        assert_eq!(
            s.next_after(t("2026-06-15T10:20:00Z")),
            Some(t("2026-06-15T12:00:00Z"))
        );
        assert_eq!(
            s.slot_of(t("2026-06-15T10:20:00Z")),
            Some(t("2026-06-15T06:00:00Z"))
        );
        assert_eq!(
            s.slots(t("2026-06-15T00:00:00Z"), t("2026-06-16T00:00:00Z"))
                .len(),
            4
        );
        assert!(Schedule::parse(Some("not cron"), None).is_err());
        assert!(Schedule::parse(None, None).is_err());
    }

    #[test]
    fn gaps_count_missed_slots_only() {
        let s = Schedule::parse(None, Some("1h")).unwrap();
        assert!(
            s.gaps_between(t("2026-06-15T10:00:05Z"), t("2026-06-15T11:00:07Z"))
                .is_empty()
        );
        assert_eq!(
            s.gaps_between(t("2026-06-15T10:00:05Z"), t("2026-06-15T13:00:02Z")),
            vec![Gap {
                from: "2026-06-15T11:00:00Z".into(),
                to: "2026-06-15T13:00:00Z".into(),
                missed: 2
            }]
        );
    }
}
