//! Prometheus metrics (`soc2_…`): one registry, label families, and a drop guard that times a
//! reconcile. This module owns the metric definitions; the HTTP endpoint is in [`crate::http`].

use std::time::Instant;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use soc2_core::engine::ControlResult;
use soc2_core::engine::aging::Aging;

/// Severity label values of `soc2_findings_overdue`, always all four (0 when none).
const SEVERITIES: [&str; 4] = ["Critical", "High", "Medium", "Low"];

/// Every metric of the operator.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `soc2_control_compliant{control_id,criteria,name}`: 1 when compliant, else 0.
    pub control_compliant: IntGaugeVec,
    /// `soc2_control_failing_resources{control_id,name,check}`.
    pub control_failing: IntGaugeVec,
    /// `soc2_evaluation_duration_seconds`: time to evaluate one control.
    pub evaluation_duration: Histogram,
    /// `soc2_reconcile_duration_seconds`: time of one reconcile, API calls included.
    pub reconcile_duration: Histogram,
    /// `soc2_reconcile_errors_total{reason,step}`.
    pub reconcile_errors: IntCounterVec,
    /// `soc2_watch_cache_objects{kind}`.
    pub watch_cache_objects: IntGaugeVec,
    /// `soc2_evidence_snapshots_total{policy,result}` (written by the evidence engine).
    pub evidence_snapshots: IntCounterVec,
    /// `soc2_evidence_last_success_timestamp_seconds{policy}`.
    pub evidence_last_success: IntGaugeVec,
    /// `soc2_is_leader`: 1 while this replica holds the lease.
    pub is_leader: prometheus::IntGauge,
    /// `soc2_findings_overdue{control,severity}`: failing findings past their remediation SLA.
    pub findings_overdue: IntGaugeVec,
    /// `soc2_finding_oldest_age_seconds{control}`: age of the oldest failing finding (0: none).
    pub finding_oldest_age: IntGaugeVec,
    /// `soc2_evidence_chain_sequence{policy}`: sequence of the newest snapshot written.
    pub evidence_chain_sequence: IntGaugeVec,
    /// `soc2_evidence_chain_head_info{policy,digest}`: 1 for the current head's manifest digest
    /// (Prometheus history keeps the earlier ones: a witness of its own).
    pub evidence_chain_head: IntGaugeVec,
    /// `soc2_evidence_errors_total{policy,reason}`: failures by `Error::metric_label`
    /// (`untrusted_head`, `witness`, `store`, …).
    pub evidence_errors: IntCounterVec,
}

const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric in a fresh registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str| {
            let h = Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        Self {
            control_compliant: gauge(
                "soc2_control_compliant",
                "1 when the control is compliant, 0 otherwise",
                &["control_id", "criteria", "name"],
            ),
            control_failing: gauge(
                "soc2_control_failing_resources",
                "Resources failing a check of a control (exceptions applied)",
                &["control_id", "name", "check"],
            ),
            evaluation_duration: histogram(
                "soc2_evaluation_duration_seconds",
                "Time to evaluate one control against the snapshot",
            ),
            reconcile_duration: histogram(
                "soc2_reconcile_duration_seconds",
                "Time of one reconcile of a control, API writes included",
            ),
            reconcile_errors: counter(
                "soc2_reconcile_errors_total",
                "Failed reconcile steps by reason and step (decode, finalizer, enforce, relax, status, event, other)",
                &["reason", "step"],
            ),
            watch_cache_objects: gauge(
                "soc2_watch_cache_objects",
                "Objects held in the watch caches, by kind",
                &["kind"],
            ),
            evidence_snapshots: counter(
                "soc2_evidence_snapshots_total",
                "Evidence snapshots attempted, by policy and result (success, failure)",
                &["policy", "result"],
            ),
            evidence_last_success: gauge(
                "soc2_evidence_last_success_timestamp_seconds",
                "Unix time of the last evidence snapshot written, by policy",
                &["policy"],
            ),
            evidence_chain_sequence: gauge(
                "soc2_evidence_chain_sequence",
                "Sequence number of the newest evidence snapshot written, by policy",
                &["policy"],
            ),
            evidence_chain_head: gauge(
                "soc2_evidence_chain_head_info",
                "1 for the manifest digest of the newest evidence snapshot written, by policy",
                &["policy", "digest"],
            ),
            evidence_errors: counter(
                "soc2_evidence_errors_total",
                "Evidence failures by policy and reason (untrusted_head, witness, store, ...)",
                &["policy", "reason"],
            ),
            is_leader: {
                let g = prometheus::IntGauge::new(
                    "soc2_is_leader",
                    "1 while this replica holds the leader lease",
                )
                .expect("valid metric");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            findings_overdue: gauge(
                "soc2_findings_overdue",
                "Failing findings of a control past their remediation SLA, by severity",
                &["control", "severity"],
            ),
            finding_oldest_age: gauge(
                "soc2_finding_oldest_age_seconds",
                "Age of a control's oldest failing finding (time under an exception not counted)",
                &["control"],
            ),
            registry,
        }
    }

    /// The registry, for extra collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records a control's result.
    pub fn record_result(&self, r: &ControlResult) {
        self.control_compliant
            .with_label_values(&[&r.control_id, r.criteria.as_str(), &r.name])
            .set(i64::from(r.compliant()));
        for c in &r.checks {
            self.control_failing
                .with_label_values(&[&r.control_id, &r.name, &c.check])
                .set(c.findings.len() as i64);
        }
    }

    /// Forgets a deleted control's series.
    pub fn forget_control(&self, control_id: &str, criteria: &str, name: &str, checks: &[String]) {
        let _ = self
            .control_compliant
            .remove_label_values(&[control_id, criteria, name]);
        for c in checks {
            let _ = self
                .control_failing
                .remove_label_values(&[control_id, name, c]);
        }
    }

    /// Records a control's finding ages (`control` is its `metadata.name`).
    pub fn record_aging(&self, control: &str, aging: &Aging<'_>) {
        let by = aging.overdue_by_severity();
        for sev in SEVERITIES {
            self.findings_overdue
                .with_label_values(&[control, sev])
                .set(by.get(sev).copied().unwrap_or(0) as i64);
        }
        self.finding_oldest_age
            .with_label_values(&[control])
            .set(aging.oldest().map_or(0, |d| d.as_secs()));
    }

    /// Forgets a deleted control's aging series.
    pub fn forget_aging(&self, control: &str) {
        for sev in SEVERITIES {
            let _ = self.findings_overdue.remove_label_values(&[control, sev]);
        }
        let _ = self.finding_oldest_age.remove_label_values(&[control]);
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failure(&self, e: &crate::Error) {
        self.reconcile_errors
            .with_label_values(&[e.metric_label(), e.step_label()])
            .inc();
    }

    /// Starts timing a reconcile; the time is recorded when the guard drops.
    pub fn time_reconcile(&self) -> DurationGuard {
        DurationGuard {
            histogram: self.reconcile_duration.clone(),
            start: Instant::now(),
        }
    }

    /// Starts timing an evaluation.
    pub fn time_evaluation(&self) -> DurationGuard {
        DurationGuard {
            histogram: self.evaluation_duration.clone(),
            start: Instant::now(),
        }
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "could not encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Observes the elapsed time into a histogram when dropped.
pub struct DurationGuard {
    histogram: prometheus::Histogram,
    start: Instant,
}

impl Drop for DurationGuard {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exposed_with_its_labels() {
        let m = Metrics::new();
        m.control_compliant
            .with_label_values(&["CC6.1", "Security", "cc6-1"])
            .set(1);
        m.control_failing
            .with_label_values(&["CC6.1", "cc6-1", "network.default-deny"])
            .set(3);
        m.reconcile_failure(&crate::Error::Invalid("x".into()));
        m.reconcile_failure(&crate::Step::Status.error(crate::Error::Invalid("x".into())));
        m.watch_cache_objects.with_label_values(&["Pod"]).set(42);
        m.evidence_snapshots
            .with_label_values(&["daily", "success"])
            .inc();
        m.evidence_last_success
            .with_label_values(&["daily"])
            .set(1_700_000_000);
        drop(m.time_reconcile());
        drop(m.time_evaluation());
        let text = m.render();
        for needle in [
            r#"soc2_control_compliant{control_id="CC6.1",criteria="Security",name="cc6-1"} 1"#,
            r#"soc2_control_failing_resources{check="network.default-deny",control_id="CC6.1",name="cc6-1"} 3"#,
            r#"soc2_reconcile_errors_total{reason="invalid",step="other"} 1"#,
            r#"soc2_reconcile_errors_total{reason="invalid",step="status"} 1"#,
            r#"soc2_watch_cache_objects{kind="Pod"} 42"#,
            r#"soc2_evidence_snapshots_total{policy="daily",result="success"} 1"#,
            r#"soc2_evidence_last_success_timestamp_seconds{policy="daily"} 1700000000"#,
            "soc2_reconcile_duration_seconds_count 1",
            "soc2_evaluation_duration_seconds_count 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    #[test]
    fn aging_series_are_recorded_and_forgotten() {
        let m = Metrics::new();
        m.record_aging("cc6-1", &Aging::default());
        let text = m.render();
        for needle in [
            r#"soc2_findings_overdue{control="cc6-1",severity="Critical"} 0"#,
            r#"soc2_findings_overdue{control="cc6-1",severity="Low"} 0"#,
            r#"soc2_finding_oldest_age_seconds{control="cc6-1"} 0"#,
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        m.forget_aging("cc6-1");
        assert!(!m.render().contains("cc6-1"));
    }

    #[test]
    fn forgetting_a_control_removes_its_series() {
        let m = Metrics::new();
        m.control_compliant
            .with_label_values(&["A1.2", "Availability", "a1-2"])
            .set(0);
        m.control_failing
            .with_label_values(&["A1.2", "a1-2", "backup.recent-success"])
            .set(1);
        m.forget_control(
            "A1.2",
            "Availability",
            "a1-2",
            &["backup.recent-success".to_string()],
        );
        let text = m.render();
        assert!(!text.contains("a1-2"), "{text}");
    }
}
