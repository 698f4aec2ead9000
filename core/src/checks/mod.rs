//! The check catalog: every check has a stable id, a default Trust Services Criteria mapping, a
//! severity, typed parameters with defaults, and a pure evaluate function over a snapshot.
//!
//! This module owns the [`Check`] trait, the [`catalog`], and the types checks return. It does
//! not apply exceptions or attestations (that is the [engine](crate::engine)'s job) and does no
//! I/O.

pub mod access;
pub mod availability;
pub mod backup;
pub mod change;
pub mod data;
pub mod encryption;
pub mod logging;
pub mod network;
pub mod rbac;
pub mod tls;
pub mod tls_certificates;
pub mod vulnerability;
pub mod workload;

mod context;
mod params;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub use context::{Ctx, ScopeFilter};
pub use params::ParamError;

use crate::snapshot::KindId;
pub use crate::snapshot::ResourceRef;

/// How bad a failing check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Hygiene.
    Low,
    /// Weakens a control.
    Medium,
    /// Defeats a control.
    High,
    /// Direct path to compromise.
    Critical,
}

/// What a check is, independent of any cluster.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckMeta {
    /// Stable catalog id, e.g. `network.default-deny`.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// What fails the check.
    pub description: &'static str,
    /// Default Trust Services Criteria, e.g. `["CC6.1", "CC6.6"]`.
    pub criteria: &'static [&'static str],
    /// Severity of a finding.
    pub severity: Severity,
    /// Whether `Enforce` can remediate findings of this check.
    pub remediable: bool,
    /// Whether `Enforce` can refuse new violations at admission.
    pub admission: bool,
}

/// What a check's outcome depends on besides its parameters and its control (scope, name,
/// attestations): the snapshot kinds it reads and whether it reads the evaluation time.
///
/// The incremental evaluator ([`crate::engine::Incremental`]) re-runs a check only when one of
/// these changed, so the declaration must be complete: every check fixture also runs with each
/// undeclared kind emptied and replaced by other objects, and (without `clock`) at another
/// time, and must give the same outcome (`checks::testing`). A control whose scope has a
/// namespace label selector also reads `Namespace` through the scope; the evaluator adds that.
#[derive(Clone, Copy, Debug)]
pub struct Reads {
    /// The snapshot kinds read (directly, through the index or through
    /// [`ClusterSnapshot::workloads`](crate::snapshot::ClusterSnapshot::workloads)).
    pub kinds: &'static [KindId],
    /// Whether the outcome depends on `Ctx::now` (ages, expiry, deadlines).
    pub clock: bool,
    /// Whether the outcome depends on `Ctx::activity` (the audit-event aggregates, which change
    /// with every batch received): such checks are re-run at every evaluation.
    pub activity: bool,
}

impl Reads {
    /// Reads these kinds and not the clock.
    pub const fn kinds(kinds: &'static [KindId]) -> Self {
        Self {
            kinds,
            clock: false,
            activity: false,
        }
    }

    /// Also reads the clock.
    pub const fn and_clock(self) -> Self {
        Self {
            clock: true,
            ..self
        }
    }

    /// Also reads the audit-event activity (and the clock: its windows and staleness are
    /// judged against `now`).
    pub const fn and_activity(self) -> Self {
        Self {
            clock: true,
            activity: true,
            ..self
        }
    }

    /// Whether `kind` is declared.
    pub fn reads(&self, kind: KindId) -> bool {
        self.kinds.contains(&kind)
    }
}

/// [`Reads`] of a check that judges workloads through
/// [`ClusterSnapshot::workloads`](crate::snapshot::ClusterSnapshot::workloads) (Deployments,
/// StatefulSets, DaemonSets, CronJobs, ReplicaSets, Jobs and Pods), plus the `extra` kinds it
/// reads besides: `workload_reads![KindId::PodDisruptionBudget]`.
#[macro_export]
#[doc(hidden)]
macro_rules! workload_reads {
    ($($extra:expr),* $(,)?) => {
        $crate::checks::Reads::kinds(&[
            $crate::snapshot::KindId::Deployment,
            $crate::snapshot::KindId::StatefulSet,
            $crate::snapshot::KindId::DaemonSet,
            $crate::snapshot::KindId::CronJob,
            $crate::snapshot::KindId::ReplicaSet,
            $crate::snapshot::KindId::Job,
            $crate::snapshot::KindId::Pod,
            $($extra,)*
        ])
    };
}

/// One thing wrong with one resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The resource at fault.
    pub resource: ResourceRef,
    /// What is wrong and what to change.
    pub message: String,
}

impl Finding {
    /// Builds a finding.
    pub fn new(resource: ResourceRef, message: impl Into<String>) -> Self {
        Self {
            resource,
            message: message.into(),
        }
    }
}

/// What evaluating a check on a snapshot gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The check ran: it looked at `checked` resources and found these problems.
    Evaluated {
        /// Resources examined.
        checked: usize,
        /// Problems found (empty when compliant).
        findings: Vec<Finding>,
    },
    /// The check cannot apply here (e.g. the Velero API is not served).
    NotApplicable {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// An evaluated outcome.
    pub fn evaluated(checked: usize, findings: Vec<Finding>) -> Self {
        Outcome::Evaluated { checked, findings }
    }

    /// A not-applicable outcome.
    pub fn not_applicable(reason: impl Into<String>) -> Self {
        Outcome::NotApplicable {
            reason: reason.into(),
        }
    }
}

/// A catalog check. Implementations are pure: same snapshot and params, same outcome.
pub trait Check: Send + Sync + 'static {
    /// Typed parameters; `Default` gives the documented defaults. Unknown keys are refused.
    type Params: DeserializeOwned + Serialize + Default + schemars::JsonSchema;
    /// What the check is.
    fn meta(&self) -> CheckMeta;
    /// What the outcome depends on (see [`Reads`]); must be complete.
    fn reads(&self) -> Reads;
    /// Evaluates the check.
    fn evaluate(&self, ctx: &Ctx<'_>, params: &Self::Params) -> Outcome;
}

/// A check with its parameter type erased, as the catalog holds it.
pub trait AnyCheck: Send + Sync {
    /// What the check is.
    fn meta(&self) -> CheckMeta;
    /// What the outcome depends on.
    fn reads(&self) -> Reads;
    /// Checks the parameters without evaluating.
    fn validate(&self, params: Option<&serde_json::Value>) -> Result<(), ParamError>;
    /// Parses the parameters and evaluates.
    fn run(&self, ctx: &Ctx<'_>, params: Option<&serde_json::Value>)
    -> Result<Outcome, ParamError>;
    /// The parameter defaults, as JSON.
    fn default_params(&self) -> serde_json::Value;
    /// The parameters' JSON schema.
    fn params_schema(&self) -> serde_json::Value;
}

impl<C: Check> AnyCheck for C {
    fn meta(&self) -> CheckMeta {
        Check::meta(self)
    }
    fn reads(&self) -> Reads {
        Check::reads(self)
    }
    fn validate(&self, params: Option<&serde_json::Value>) -> Result<(), ParamError> {
        params::parse::<C::Params>(params).map(|_| ())
    }
    fn run(
        &self,
        ctx: &Ctx<'_>,
        params: Option<&serde_json::Value>,
    ) -> Result<Outcome, ParamError> {
        let p = params::parse::<C::Params>(params)?;
        Ok(self.evaluate(ctx, &p))
    }
    fn default_params(&self) -> serde_json::Value {
        serde_json::to_value(C::Params::default()).unwrap_or_default()
    }
    fn params_schema(&self) -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(C::Params)).unwrap_or_default()
    }
}

/// Every check, by id.
pub struct Catalog {
    checks: BTreeMap<&'static str, Box<dyn AnyCheck>>,
}

impl Catalog {
    fn add(&mut self, check: impl AnyCheck + 'static) {
        let id = check.meta().id;
        let previous = self.checks.insert(id, Box::new(check));
        assert!(previous.is_none(), "check id {id} registered twice");
    }

    /// A check by id.
    pub fn get(&self, id: &str) -> Option<&dyn AnyCheck> {
        self.checks.get(id).map(Box::as_ref)
    }

    /// Every check, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = &dyn AnyCheck> {
        self.checks.values().map(Box::as_ref)
    }

    /// Every id, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.checks.keys().copied()
    }
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let mut c = Catalog {
        checks: BTreeMap::new(),
    };
    access::register(&mut c);
    availability::register(&mut c);
    backup::register(&mut c);
    change::register(&mut c);
    data::register(&mut c);
    encryption::register(&mut c);
    logging::register(&mut c);
    network::register(&mut c);
    rbac::register(&mut c);
    tls::register(&mut c);
    tls_certificates::register(&mut c);
    vulnerability::register(&mut c);
    workload::register(&mut c);
    c
});

/// The catalog of every check.
pub fn catalog() -> &'static Catalog {
    &CATALOG
}

#[cfg(test)]
pub(crate) mod testing;
