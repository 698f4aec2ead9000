//! Checks of the `backup` domain, over Velero (`velero.io/v1`): every namespace is covered by a
//! backup schedule (`backup.schedule-coverage`), backups succeed (`backup.recent-success`) and
//! restores are tested (`backup.restore-tested`).
//!
//! Velero objects are read as dynamic objects; when the cluster does not serve the API the
//! checks are `NotApplicable`. Velero objects live in Velero's own namespace and describe the
//! whole cluster, so the control's namespace scope selects which namespaces must be covered,
//! never which Velero objects count.

mod recent_success;
mod restore_tested;
mod schedule_coverage;

use std::borrow::Cow;

use jiff::{SignedDuration, Timestamp};
use kube::core::DynamicObject;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::Catalog;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(schedule_coverage::ScheduleCoverage);
    catalog.add(recent_success::RecentSuccess);
    catalog.add(restore_tested::RestoreTested);
}

/// Why the Velero checks cannot run.
pub const VELERO_ABSENT: &str = "Velero API (velero.io/v1) is not served by this cluster";

/// The label Velero puts on backups a Schedule created.
pub const SCHEDULE_NAME_LABEL: &str = "velero.io/schedule-name";

/// The phase of a Backup or Restore that finished without errors.
pub const COMPLETED: &str = "Completed";

/// `status.phase` of a Velero object.
fn phase(obj: &DynamicObject) -> Option<&str> {
    obj.data.pointer("/status/phase").and_then(Value::as_str)
}

/// `status.completionTimestamp` of a Velero object, when it is `Completed` and the timestamp
/// parses.
fn completed_at(obj: &DynamicObject) -> Option<Timestamp> {
    if phase(obj) != Some(COMPLETED) {
        return None;
    }
    obj.data
        .pointer("/status/completionTimestamp")
        .and_then(Value::as_str)?
        .parse()
        .ok()
}

/// `ns/name` of a Velero object, for messages.
fn display_name(obj: &DynamicObject) -> String {
    format!(
        "{}/{}",
        obj.metadata.namespace.as_deref().unwrap_or(""),
        obj.metadata.name.as_deref().unwrap_or("")
    )
}

/// The earliest time that still counts as within `window` before `now`.
fn cutoff(now: Timestamp, window: SignedDuration) -> Timestamp {
    now.checked_sub(window).unwrap_or(Timestamp::MIN)
}

/// Defines a duration parameter (`90s`, `15m`, `1h30m`, `30d`) parsed with
/// [`crate::crd::parse_duration`] when the parameters are parsed, so a bad value is refused by
/// validation with a message naming the field.
macro_rules! duration_param {
    ($name:ident, $field:literal) => {
        #[doc = concat!("The `", $field, "` duration (e.g. `25h`, `90d`).")]
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name {
            text: String,
            duration: jiff::SignedDuration,
        }

        impl $name {
            /// The parsed duration.
            pub fn duration(&self) -> jiff::SignedDuration {
                self.duration
            }
            /// As written.
            pub fn as_str(&self) -> &str {
                &self.text
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                match crate::crd::parse_duration(&text) {
                    Ok(duration) => Ok(Self { text, duration }),
                    Err(e) => Err(format!("params.{}: {e}", $field)),
                }
            }
        }

        impl From<$name> for String {
            fn from(d: $name) -> String {
                d.text
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                super::duration_schema_name()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                super::duration_schema(generator)
            }
        }
    };
}
pub(crate) use duration_param;

fn duration_schema_name() -> Cow<'static, str> {
    "Duration".into()
}

fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": crate::crd::DURATION})
}

#[cfg(test)]
mod test_support {
    /// Declares the Velero CRD so an empty snapshot still serves velero.io/v1.
    pub const VELERO_SERVED: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: backups.velero.io}
spec: {group: velero.io}
---
"#;

    /// A Velero Backup (or Restore, by `kind`) with a phase and completion time.
    pub fn finished(kind: &str, name: &str, phase: &str, completed: &str, labels: &str) -> String {
        format!(
            r#"
apiVersion: velero.io/v1
kind: {kind}
metadata: {{name: {name}, namespace: velero, labels: {{{labels}}}}}
spec: {{}}
status: {{phase: {phase}, completionTimestamp: "{completed}"}}
---
"#
        )
    }
}
