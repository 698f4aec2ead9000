//! Checks of the `workload` domain: what pods may do on a node (`workload.privileged`), whether
//! namespaces enforce a Pod Security Standard (`workload.pod-security-admission`) and where
//! images come from (`workload.trusted-images`).
//!
//! This module also owns [`containers`], the uniform view of every container of a pod spec
//! that the `data` and `availability` domains reuse. It does not remediate or write admission
//! policies; the controller does that from the checks' metadata.

mod image;
mod privileged;
mod psa;
mod trusted_images;

#[cfg(test)]
mod scale_tests;

use crate::snapshot::slim::{EnvVar, PodSpec, ResourceRequirements, SecurityContext};

use super::Catalog;

pub use image::ImageRef;

/// Adds this domain's checks to the catalog.
pub(super) fn register(catalog: &mut Catalog) {
    catalog.add(privileged::Privileged);
    catalog.add(psa::PodSecurityAdmission);
    catalog.add(trusted_images::TrustedImages);
}

/// Which list of the pod spec a container comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    /// `spec.containers`.
    Container,
    /// `spec.initContainers` (including restartable sidecars).
    Init,
    /// `spec.ephemeralContainers` (debug containers; only on Pods).
    Ephemeral,
}

impl ContainerKind {
    /// How messages name it: `container`, `initContainer` or `ephemeralContainer`.
    pub fn label(self) -> &'static str {
        match self {
            ContainerKind::Container => "container",
            ContainerKind::Init => "initContainer",
            ContainerKind::Ephemeral => "ephemeralContainer",
        }
    }
}

/// The fields the checks read from any kind of container.
#[derive(Clone, Copy, Debug)]
pub struct ContainerView<'a> {
    /// Which list it is in.
    pub kind: ContainerKind,
    /// Container name.
    pub name: &'a str,
    /// Image reference as written.
    pub image: Option<&'a str>,
    /// Container-level security context.
    pub security_context: Option<&'a SecurityContext>,
    /// Environment variables.
    pub env: &'a [EnvVar],
    /// Requests and limits.
    pub resources: Option<&'a ResourceRequirements>,
}

impl ContainerView<'_> {
    /// `container `app``, as messages name it.
    pub fn describe(&self) -> String {
        format!("{} `{}`", self.kind.label(), self.name)
    }
}

/// Every container of a pod spec: init containers first, then containers, then ephemeral
/// containers.
pub fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| ContainerView {
            kind: ContainerKind::Init,
            name: &c.name,
            image: c.image.as_deref(),
            security_context: c.security_context.as_ref(),
            env: c.env.as_deref().unwrap_or(&[]),
            resources: c.resources.as_ref(),
        });
    let main = spec.containers.iter().map(|c| ContainerView {
        kind: ContainerKind::Container,
        name: &c.name,
        image: c.image.as_deref(),
        security_context: c.security_context.as_ref(),
        env: c.env.as_deref().unwrap_or(&[]),
        resources: c.resources.as_ref(),
    });
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| ContainerView {
            kind: ContainerKind::Ephemeral,
            name: &c.name,
            image: c.image.as_deref(),
            security_context: c.security_context.as_ref(),
            env: c.env.as_deref().unwrap_or(&[]),
            resources: c.resources.as_ref(),
        });
    init.chain(main).chain(ephemeral)
}

/// Joins a finding's problems into one message.
pub(in crate::checks) fn join_problems(problems: &[String]) -> String {
    problems.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::snapshot;

    #[test]
    fn containers_lists_init_main_and_ephemeral() {
        let snap = snapshot(
            r#"
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  initContainers: [{name: i, image: busybox}]
  containers: [{name: c, image: nginx}]
  ephemeralContainers: [{name: e, image: debug}]
"#,
        );
        let w = snap.workloads().next().expect("one workload");
        let names: Vec<String> = containers(w.spec).map(|c| c.describe()).collect();
        assert_eq!(
            names,
            [
                "initContainer `i`",
                "container `c`",
                "ephemeralContainer `e`"
            ]
        );
    }

    #[test]
    fn defaults_round_trip_and_schemas_render() {
        // The checks of the workload, data, availability, change and backup domains.
        let ids = [
            "workload.privileged",
            "workload.pod-security-admission",
            "workload.trusted-images",
            "data.credentials-in-plain-config",
            "data.classification",
            "availability.redundancy",
            "availability.resources",
            "change.gitops-managed",
            "change.gitops-reconciled",
            "monitoring.alerting",
            "backup.schedule-coverage",
            "backup.recent-success",
            "backup.restore-tested",
        ];
        for id in ids {
            let c = crate::checks::catalog().get(id).expect(id);
            let defaults = c.default_params();
            assert!(defaults.is_object(), "{id}: {defaults}");
            assert!(c.validate(Some(&defaults)).is_ok(), "{id}: {defaults}");
            let schema = c.params_schema();
            assert!(schema["properties"].is_object(), "{id}: {schema}");
        }
    }
}
