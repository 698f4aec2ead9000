//! Schema helpers and small types shared by both resources.

use jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Pattern for expiry fields: an RFC 3339 timestamp or a plain date (`2026-12-31`, meaning the
/// end of that day in UTC).
pub const RFC3339_OR_DATE: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$";

/// Parses an expiry as written in a spec. A plain date expires at the end of that day (UTC).
pub fn parse_expiry(s: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts);
    }
    match s.parse::<jiff::civil::Date>() {
        Ok(d) => d
            .tomorrow()
            .and_then(|next| next.to_zoned(jiff::tz::TimeZone::UTC))
            .map(|z| z.timestamp())
            .map_err(|e| format!("{s:?} is not a valid date: {e}")),
        Err(_) => Err(format!(
            "{s:?} is neither an RFC 3339 timestamp nor a YYYY-MM-DD date"
        )),
    }
}

/// Pattern for durations such as `90s`, `15m`, `1h30m`, `400d`.
pub const DURATION: &str = r"^([0-9]+(s|m|h|d))+$";

/// Parses a duration written as `90s`, `15m`, `1h30m` or `400d` (a day is 24 hours).
pub fn parse_duration(s: &str) -> Result<jiff::SignedDuration, String> {
    let bad = || format!("{s:?} is not a duration like 90s, 15m, 1h30m or 30d");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(jiff::SignedDuration::from_secs(total))
}

/// Schema for free-form parameter objects: structural (`type: object`) while keeping whatever
/// keys the check defines.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// A status condition following the Kubernetes API conventions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready` or `Compliant`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word that says why.
    pub reason: String,
    /// Human readable details; names the spec field at fault when there is one.
    #[serde(default)]
    pub message: String,
    /// The `.metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
}

impl Condition {
    /// Builds a condition, keeping `lastTransitionTime` from `previous` when the status did not
    /// change (the API convention: the time moves only on a transition).
    pub fn new(
        type_: &str,
        ok: bool,
        reason: &str,
        message: impl Into<String>,
        generation: Option<i64>,
        now: Timestamp,
        previous: &[Condition],
    ) -> Self {
        let status = if ok { "True" } else { "False" }.to_string();
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        Self {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_dates_and_timestamps() {
        assert_eq!(
            parse_expiry("2026-01-31").unwrap(),
            "2026-02-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_expiry("2026-01-31T12:00:00+02:00").unwrap(),
            "2026-01-31T10:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(parse_expiry("31/01/2026").is_err());
        assert!(parse_expiry("2026-02-30").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("400d").unwrap().as_secs(), 400 * 86_400);
        for bad in ["", "10", "h", "1w", "0s", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transition_time_moves_only_on_change() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let first = Condition::new("Ready", true, "Valid", "", Some(1), t0, &[]);
        let same = Condition::new(
            "Ready",
            true,
            "Valid",
            "",
            Some(2),
            t1,
            std::slice::from_ref(&first),
        );
        assert_eq!(same.last_transition_time, first.last_transition_time);
        let flipped = Condition::new("Ready", false, "Invalid", "x", Some(3), t1, &[same]);
        assert_eq!(flipped.last_transition_time, "2026-01-02T00:00:00Z");
    }
}
