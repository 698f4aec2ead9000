//! End-to-end: the operator against a real API server. Compiled only with `--features e2e`:
//!
//! ```sh
//! cargo build -p soc2-operator
//! KUBECONFIG=~/.kube/config cargo test -p soc2-e2e --features e2e -- --test-threads 1
//! ```
#![cfg(feature = "e2e")]

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use soc2_e2e::{Harness, MANAGER, Result, eventually};

const WAIT: Duration = Duration::from_secs(60);

fn controls_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("soc2.evidence.dev", "v1alpha1", "Soc2Control"),
        "soc2controls",
    )
}

async fn apply_control(h: &Harness, name: &str, spec: Value) -> Result<()> {
    let api: Api<DynamicObject> = Api::all_with(h.admin.clone(), &controls_ar());
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(json!({
            "apiVersion": "soc2.evidence.dev/v1alpha1", "kind": "Soc2Control",
            "metadata": {"name": name}, "spec": spec,
        })),
    )
    .await?;
    Ok(())
}

async fn status(h: &Harness, name: &str) -> Option<Value> {
    let api: Api<DynamicObject> = Api::all_with(h.admin.clone(), &controls_ar());
    api.get_opt(name).await.ok()??.data.get("status").cloned()
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

async fn delete_control(h: &Harness, name: &str) {
    let api: Api<DynamicObject> = Api::all_with(h.admin.clone(), &controls_ar());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

async fn seed_namespace(h: &Harness, suffix: &str) -> Result<String> {
    let name = format!("soc2-e2e-{}-{suffix}", h.id);
    let ns: Api<Namespace> = Api::all(h.admin.clone());
    ns.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"soc2-e2e-seed": h.id}},
        })),
    )
    .await?;
    Ok(name)
}

#[tokio::test]
async fn audit_status_events_metrics_and_recovery() -> Result<()> {
    let h = Harness::start(&[]).await?;
    let result = async {
        // Invalid spec: Ready=False naming the field; no crash loop.
        let bad = format!("e2e-invalid-{}", h.id);
        apply_control(&h, &bad, json!({
            "controlId": "CC6.1", "criteria": "Security", "title": "bad",
            "checks": [{"check": "network.default-deny"}, {"check": "no.such-check"}],
        })).await?;
        let msg = eventually(WAIT, "Ready=False on the invalid control", || async {
            let s = status(&h, &bad).await?;
            let ready = condition(&s, "Ready")?;
            (ready["status"] == "False").then(|| ready["message"].as_str().unwrap_or("").to_string())
        }).await?;
        assert!(msg.contains("spec.checks[1].check"), "{msg}");

        // A violation in a fresh namespace: no default-deny NetworkPolicy.
        let ns = seed_namespace(&h, "netpol").await?;
        let ctl = format!("e2e-netpol-{}", h.id);
        apply_control(&h, &ctl, json!({
            "controlId": "CC6.1", "criteria": "Security", "title": "default deny",
            "checks": [{"check": "network.default-deny"}],
            "scope": {"namespaceSelector": {"matchLabels": {"soc2-e2e-seed": h.id}}},
        })).await?;
        eventually(WAIT, "NonCompliant naming the namespace", || async {
            let s = status(&h, &ctl).await?;
            let hit = s["findings"].as_array()?.iter().any(|f| f["resource"].as_str().is_some_and(|r| r.contains(&ns)));
            (s["compliant"] == false && hit).then_some(())
        }).await?;
        let events: Api<Event> = Api::namespaced(h.admin.clone(), "default");
        eventually(WAIT, "a NonCompliant event", || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            list.items.iter().any(|e| e.reason.as_deref() == Some("NonCompliant")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(ctl.as_str())).then_some(())
        }).await?;
        let metrics = h.metrics().await?;
        assert!(metrics.contains(&format!("soc2_control_compliant{{control_id=\"CC6.1\",criteria=\"Security\",name=\"{ctl}\"}} 0")), "{metrics}");

        // Fix it: status recovers without any restart.
        let nps: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), &ns);
        nps.patch("default-deny", &PatchParams::apply(MANAGER).force(), &Patch::Apply(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }))).await?;
        let started = std::time::Instant::now();
        eventually(WAIT, "Compliant after the fix", || async {
            let s = status(&h, &ctl).await?;
            (s["compliant"] == true).then_some(())
        }).await?;
        println!("fix -> Compliant status in {:.2?}", started.elapsed());

        // The lease is held by this operator.
        let leases: Api<Lease> = Api::namespaced(h.admin.clone(), &h.namespace);
        let lease = leases.get(&format!("soc2-operator-{}", h.id)).await?;
        assert_eq!(lease.spec.and_then(|s| s.holder_identity), Some(format!("e2e-{}", h.id)));

        delete_control(&h, &bad).await;
        delete_control(&h, &ctl).await;
        let _ = Api::<Namespace>::all(h.admin.clone()).delete(&ns, &DeleteParams::default()).await;
        Ok::<_, soc2_e2e::Error>(())
    }
    .await;
    h.cleanup().await?;
    result
}

#[tokio::test]
async fn enforce_remediates_and_undoes() -> Result<()> {
    let h = Harness::start(&["--enforcement"]).await?;
    let result = async {
        let ns = seed_namespace(&h, "enforce").await?;
        let ctl = format!("e2e-enforce-{}", h.id);
        let spec = |mode: &str| {
            json!({
                "controlId": "CC6.1", "criteria": "Security", "title": "default deny",
                "checks": [{"check": "network.default-deny"}],
                "scope": {"namespaceSelector": {"matchLabels": {"soc2-e2e-seed": h.id}}},
                "enforcement": mode,
            })
        };
        apply_control(&h, &ctl, spec("Enforce")).await?;
        let nps: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), &ns);
        let np = eventually(WAIT, "soc2-default-deny created", || async {
            nps.get_opt("soc2-default-deny").await.ok()?
        })
        .await?;
        let owner = &np.metadata.owner_references.unwrap_or_default()[0];
        assert_eq!(owner.kind, "Soc2Control");
        assert_eq!(owner.name, ctl);
        assert_eq!(
            np.metadata.labels.unwrap_or_default()["soc2.evidence.dev/managed-by"],
            "soc2-operator"
        );
        eventually(WAIT, "Compliant after remediation", || async {
            (status(&h, &ctl).await?["compliant"] == true).then_some(())
        })
        .await?;

        // Back to Audit: the remediation is undone.
        apply_control(&h, &ctl, spec("Audit")).await?;
        eventually(WAIT, "soc2-default-deny deleted", || async {
            nps.get_opt("soc2-default-deny")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await?;

        delete_control(&h, &ctl).await;
        let _ = Api::<Namespace>::all(h.admin.clone())
            .delete(&ns, &DeleteParams::default())
            .await;
        Ok::<_, soc2_e2e::Error>(())
    }
    .await;
    h.cleanup().await?;
    result
}
