//! Incremental evaluation equals the full pass: random sequences of object changes (edits,
//! copies, deletions) over a small synthetic cluster, control edits and clock moves, with both
//! evaluations compared exactly after every step.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::Incremental;
use crate::checks::catalog;
use crate::crd::Soc2Control;
use crate::engine::evaluate;
use crate::snapshot::kind_id::{KindVisitor, Slot, SnapshotObject};
use crate::snapshot::{ClusterSnapshot, DynKind, KindId, ObjectChange, Objects, trim};

/// The kinds the test changes: those the expensive checks read, plus optional ones.
const KINDS: [KindId; 14] = [
    KindId::Pod,
    KindId::Deployment,
    KindId::RoleBinding,
    KindId::ClusterRoleBinding,
    KindId::Role,
    KindId::Namespace,
    KindId::NetworkPolicy,
    KindId::ConfigMap,
    KindId::ServiceAccount,
    KindId::Ingress,
    KindId::PodDisruptionBudget,
    KindId::VeleroSchedule,
    KindId::Dyn(DynKind::TrivyVulnerabilityReport),
    KindId::Dyn(DynKind::PrometheusRule),
];

/// A small cluster with every kind the checks read.
fn cluster() -> Objects {
    let mut o = crate::synth::generate(300, 11);
    crate::synth::add_ecosystem(&mut o, 12, 11);
    o
}

/// Two controls with every catalog check: one over all namespaces but `kube-system`, one
/// scoped by a namespace label selector (so Namespace changes matter through the scope).
fn make_controls(excluded: &str) -> Vec<Soc2Control> {
    let checks: Vec<Value> = catalog().ids().map(|id| json!({"check": id})).collect();
    [
        json!({"excludedNamespaces": ["kube-system", excluded]}),
        json!({"namespaceSelector": {"matchLabels": {"pod-security.kubernetes.io/enforce": "baseline"}}}),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, scope)| {
        serde_json::from_value(json!({
            "apiVersion": "soc2.evidence.dev/v1alpha1", "kind": "Soc2Control",
            "metadata": {"name": format!("all-{i}"), "generation": 1},
            "spec": {"controlId": "CC6.1", "criteria": "Security", "title": "every check",
                     "scope": scope, "checks": checks}
        }))
        .expect("control parses")
    })
    .collect()
}

/// What one step does to the object it picks.
#[derive(Clone, Copy, Debug)]
enum Action {
    Edit,
    Copy,
    Delete,
}

/// Makes the change of one step from the current objects (the object at `pick` of `kind`).
struct MakeChange {
    kind: KindId,
    action: Action,
    pick: usize,
    flip: u8,
}

impl KindVisitor for MakeChange {
    type Out = Option<ObjectChange>;
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) -> Option<ObjectChange> {
        let list: &Vec<Arc<K>> = match slot {
            Slot::Always(l) => l,
            Slot::Optional(Some(l)) => l,
            Slot::Optional(None) => return None,
        };
        let obj = list.get(self.pick % list.len().max(1))?;
        if let Action::Delete = self.action {
            return Some(ObjectChange::remove(obj.as_ref()));
        }
        let mut v = serde_json::to_value(obj.as_ref()).ok()?;
        if let Action::Copy = self.action {
            let name = format!("{}-c{}", v["metadata"]["name"].as_str()?, self.flip);
            v["metadata"]["name"] = json!(name);
        }
        edit(self.kind, &mut v, self.flip);
        let mut edited: K = serde_json::from_value(v).ok()?;
        trim(&mut edited);
        Some(ObjectChange::upsert(Arc::new(edited)))
    }
}

/// The reference model's update: drop any object with the same key, append the new one (the
/// full snapshot sorts). Independent of the snapshot's binary-search path.
struct ModelApply(ObjectChange);

impl KindVisitor for ModelApply {
    type Out = ();
    fn visit<K: SnapshotObject>(self, slot: Slot<'_, K>) {
        let list = match slot {
            Slot::Always(l) => l,
            Slot::Optional(l) => l.get_or_insert_default(),
        };
        let key = |o: &K| (o.meta().namespace.clone(), o.meta().name.clone());
        match self.0 {
            ObjectChange::Upsert(obj) => {
                let obj = obj.downcast::<K>().expect("kind type");
                let k = key(&obj);
                list.retain(|o| key(o) != k);
                list.push(obj);
            }
            ObjectChange::Remove { namespace, name } => {
                list.retain(|o| key(o) != (namespace.clone(), Some(name.clone())));
            }
        }
    }
}

/// Edits that matter to the checks, by kind (paths that do not exist are left alone), plus a
/// label every check ignores.
fn edit(kind: KindId, v: &mut Value, flip: u8) {
    let set = |v: &mut Value, path: &str, value: Value| {
        if let Some(slot) = v.pointer_mut(path) {
            *slot = value;
        }
    };
    let containers = match kind {
        KindId::Pod => Some("/spec/containers/0"),
        KindId::Deployment => Some("/spec/template/spec/containers/0"),
        _ => None,
    };
    match (kind, flip % 5) {
        (_, 0) => {
            v["metadata"]["labels"]["incr.test/flip"] = json!(flip.to_string());
        }
        (KindId::Pod | KindId::Deployment, f) => {
            // Half of the edited pods become bare pods (no owner), which the workload checks
            // judge on their own.
            if kind == KindId::Pod
                && flip & 0x10 != 0
                && let Some(meta) = v["metadata"].as_object_mut()
            {
                meta.remove("ownerReferences");
            }
            let c = containers.unwrap_or_default();
            match f {
                1 => set(v, &format!("{c}/image"), json!("nginx:latest")),
                2 => set(
                    v,
                    &format!("{c}/image"),
                    json!("registry.example.com/t/x:1.0.0"),
                ),
                3 => set(
                    v,
                    &format!("{c}/securityContext"),
                    json!({"privileged": true}),
                ),
                _ => set(v, "/spec/replicas", json!(1)),
            }
        }
        (KindId::RoleBinding | KindId::ClusterRoleBinding, f) => match f {
            1 => set(
                v,
                "/roleRef",
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}),
            ),
            2 => set(
                v,
                "/subjects",
                json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:anonymous"}]),
            ),
            3 => set(
                v,
                "/subjects",
                json!([{"kind": "ServiceAccount", "name": "ghost", "namespace": "team-1-app-00001"}]),
            ),
            _ => set(
                v,
                "/roleRef",
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "team-0-reader"}),
            ),
        },
        (KindId::Role, f) => set(
            v,
            "/rules/0/verbs",
            json!(if f % 2 == 0 { vec!["*"] } else { vec!["get"] }),
        ),
        (KindId::Namespace, f) => {
            let labels = &mut v["metadata"]["labels"];
            match f {
                1 => labels["pod-security.kubernetes.io/enforce"] = json!("privileged"),
                2 => labels["pod-security.kubernetes.io/enforce"] = json!("baseline"),
                3 => labels["data.soc2.evidence.dev/classification"] = json!("restricted"),
                _ => {
                    if let Some(m) = labels.as_object_mut() {
                        m.remove("pod-security.kubernetes.io/enforce");
                    }
                }
            }
        }
        (KindId::NetworkPolicy, f) => match f {
            1 => set(v, "/spec/podSelector", json!({"matchLabels": {"app": "x"}})),
            2 => set(v, "/spec/podSelector", json!({})),
            3 => set(v, "/spec/policyTypes", json!(["Egress"])),
            _ => set(v, "/spec/policyTypes", json!(["Ingress"])),
        },
        (KindId::ConfigMap, f) => {
            v["data"] = if f % 2 == 1 {
                json!({"DB_PASSWORD": "hunter2hunter2hunter2"})
            } else {
                json!({})
            };
        }
        (KindId::ServiceAccount, f) => v["automountServiceAccountToken"] = json!(f % 2 == 1),
        (KindId::Ingress, f) => {
            if f % 2 == 1 {
                set(v, "/spec/tls", json!([]));
            } else {
                v["spec"]["tls"] = json!([{"hosts": ["a.example.com"], "secretName": "a-tls"}]);
            }
        }
        (KindId::PodDisruptionBudget, _) => set(v, "/spec/minAvailable", json!(0)),
        (KindId::VeleroSchedule, f) => set(
            v,
            "/spec/template/includedNamespaces",
            json!(if f % 2 == 1 { vec!["*"] } else { vec![] }),
        ),
        (_, f) => {
            v["metadata"]["labels"]["incr.test/other"] = json!(f.to_string());
        }
    }
}

/// One step of a sequence.
#[derive(Clone, Debug)]
enum Step {
    Change {
        kind: usize,
        action: u8,
        pick: usize,
        flip: u8,
    },
    /// Moves the clock forward by this many hours.
    Time(u16),
    /// Changes the first control's spec (which namespace it excludes).
    Control(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..KINDS.len(), 0u8..3, any::<u16>(), any::<u8>()).prop_map(|(kind, action, pick, flip)| Step::Change {
            kind,
            action,
            pick: usize::from(pick),
            flip
        }),
        1 => (1u16..2000).prop_map(Step::Time),
        1 => any::<u8>().prop_map(Step::Control),
    ]
}

/// Runs a sequence; after every step the incremental evaluation of the incrementally kept
/// snapshot must equal the full evaluation of a snapshot built from scratch.
fn check_sequence(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut model = cluster();
    let mut snapshot = ClusterSnapshot::new(model.clone());
    let incremental = Incremental::new();
    let mut now = crate::checks::testing::now();
    let mut controls = make_controls("none");
    prop_assert_eq!(
        incremental.evaluate(&controls, &snapshot, None, now),
        evaluate(&controls, &snapshot, now)
    );
    for (i, s) in steps.iter().enumerate() {
        match *s {
            Step::Change {
                kind,
                action,
                pick,
                flip,
            } => {
                let kind = KINDS[kind];
                let action = [Action::Edit, Action::Copy, Action::Delete][usize::from(action)];
                let make = MakeChange {
                    kind,
                    action,
                    pick,
                    flip,
                };
                let Some(change) = model.visit_kind(kind, make) else {
                    continue;
                };
                snapshot.apply(kind, change.clone()).expect("kind type");
                model.visit_kind(kind, ModelApply(change));
            }
            Step::Time(hours) => {
                now = now
                    .checked_add(jiff::SignedDuration::from_hours(i64::from(hours)))
                    .expect("time in range");
            }
            Step::Control(n) => {
                controls = make_controls(&format!("team-{}-app-{:05}", n % 8, n % 8))
            }
        }
        let fresh = ClusterSnapshot::new(model.clone());
        prop_assert!(
            snapshot.objects() == fresh.objects(),
            "step {i} ({s:?}): the updated snapshot differs from a fresh one"
        );
        let full = evaluate(&controls, &fresh, now);
        let incr = incremental.evaluate(&controls, &snapshot, None, now);
        prop_assert!(incr == full, "step {i} ({s:?}): incremental != full");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_full_after_random_changes(steps in prop::collection::vec(step(), 1..12)) {
        check_sequence(&steps)?;
    }
}

#[test]
fn unchanged_kinds_reuse_outcomes_and_changed_ones_rerun() {
    let objects = cluster();
    let mut snapshot = ClusterSnapshot::new(objects.clone());
    let controls = make_controls("none");
    let incremental = Incremental::new();
    let now = crate::checks::testing::now();
    incremental.evaluate(&controls, &snapshot, None, now);
    let (ran_first, reused_first) = incremental.counts();
    assert_eq!(reused_first, 0);
    // Nothing changed, same time: nothing runs again.
    incremental.evaluate(&controls, &snapshot, None, now);
    assert_eq!(incremental.counts(), (ran_first, ran_first));
    // Nothing changed, later: only the clock readers run again.
    let now = now
        .checked_add(jiff::SignedDuration::from_hours(1))
        .expect("time");
    incremental.evaluate(&controls, &snapshot, None, now);
    let clock_readers = catalog().iter().filter(|c| c.reads().clock).count() as u64;
    let (ran, reused) = incremental.counts();
    assert_eq!(ran - ran_first, 2 * clock_readers);
    assert_eq!(reused - ran_first, ran_first - 2 * clock_readers);
    // One RoleBinding changed, same time: the checks that read RoleBindings run again.
    let rb = objects.role_bindings[0].as_ref().clone();
    snapshot
        .apply(KindId::RoleBinding, ObjectChange::upsert(Arc::new(rb)))
        .expect("kind type");
    incremental.evaluate(&controls, &snapshot, None, now);
    let rbac_readers = catalog()
        .iter()
        .filter(|c| c.reads().reads(KindId::RoleBinding))
        .count() as u64;
    assert_eq!(incremental.counts().0 - ran, 2 * rbac_readers);
    assert_eq!(
        incremental.evaluate(&controls, &snapshot, None, now),
        evaluate(&controls, &snapshot, now)
    );
}
