//! A uniform view of everything that runs pods, so workload checks are written once.

use std::collections::BTreeMap;

use super::slim::{PodSpec, TemplateMetadata};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::trim::{POD_CONTROLLERS, controlled_by};
use super::{Objects, ResourceRef};

/// A workload and its pod template.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, `ReplicaSet`, `Job` or `Pod`.
    pub kind: &'static str,
    /// The workload's own metadata.
    pub meta: &'a ObjectMeta,
    /// The pod template's labels (the pod's own for a bare Pod).
    pub template_labels: &'a BTreeMap<String, String>,
    /// The pod spec.
    pub spec: &'a PodSpec,
    /// Desired replicas where the kind has them.
    pub replicas: Option<i32>,
}

impl Workload<'_> {
    /// Reference for findings.
    pub fn resource(&self) -> ResourceRef {
        ResourceRef::new(
            self.kind,
            self.meta.namespace.as_deref(),
            self.meta.name.as_deref().unwrap_or(""),
        )
    }

    /// Namespace ("" for none).
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or("")
    }

    /// The workload's labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        self.meta.labels.as_ref().unwrap_or(&EMPTY)
    }
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

fn labels(meta: Option<&TemplateMetadata>) -> &BTreeMap<String, String> {
    meta.and_then(|m| m.labels.as_ref()).unwrap_or(&EMPTY)
}

pub(super) fn iter(objects: &Objects) -> impl Iterator<Item = Workload<'_>> {
    let deployments = objects.deployments.iter().filter_map(|d| {
        let spec = &d.spec;
        Some(Workload {
            kind: "Deployment",
            meta: &d.metadata,
            template_labels: labels(spec.template.metadata.as_ref()),
            spec: spec.template.spec.as_ref()?,
            replicas: Some(spec.replicas.unwrap_or(1)),
        })
    });
    let statefulsets = objects.statefulsets.iter().filter_map(|d| {
        let spec = &d.spec;
        Some(Workload {
            kind: "StatefulSet",
            meta: &d.metadata,
            template_labels: labels(spec.template.metadata.as_ref()),
            spec: spec.template.spec.as_ref()?,
            replicas: Some(spec.replicas.unwrap_or(1)),
        })
    });
    let daemonsets = objects.daemonsets.iter().filter_map(|d| {
        let spec = &d.spec;
        Some(Workload {
            kind: "DaemonSet",
            meta: &d.metadata,
            template_labels: labels(spec.template.metadata.as_ref()),
            spec: spec.template.spec.as_ref()?,
            replicas: None,
        })
    });
    let cronjobs = objects.cronjobs.iter().filter_map(|c| {
        let job = c.spec.job_template.spec.as_ref()?;
        Some(Workload {
            kind: "CronJob",
            meta: &c.metadata,
            template_labels: labels(job.template.metadata.as_ref()),
            spec: job.template.spec.as_ref()?,
            replicas: None,
        })
    });
    let replicasets = objects
        .replicasets
        .iter()
        .filter(|r| !controlled_by(&r.metadata, &["Deployment"]))
        .filter_map(|r| {
            let spec = &r.spec;
            Some(Workload {
                kind: "ReplicaSet",
                meta: &r.metadata,
                template_labels: labels(spec.template.as_ref()?.metadata.as_ref()),
                spec: spec.template.as_ref()?.spec.as_ref()?,
                replicas: Some(spec.replicas.unwrap_or(1)),
            })
        });
    let jobs = objects
        .jobs
        .iter()
        .filter(|j| !controlled_by(&j.metadata, &["CronJob"]))
        .filter_map(|j| {
            let spec = j.spec.as_ref()?;
            Some(Workload {
                kind: "Job",
                meta: &j.metadata,
                template_labels: labels(spec.template.metadata.as_ref()),
                spec: spec.template.spec.as_ref()?,
                replicas: None,
            })
        });
    let pods = objects
        .pods
        .iter()
        .filter(|p| !controlled_by(&p.metadata, &POD_CONTROLLERS))
        .filter_map(|p| {
            Some(Workload {
                kind: "Pod",
                meta: &p.metadata,
                template_labels: p.metadata.labels.as_ref().unwrap_or(&EMPTY),
                spec: p.spec.as_ref()?,
                replicas: None,
            })
        });
    deployments
        .chain(statefulsets)
        .chain(daemonsets)
        .chain(cronjobs)
        .chain(replicasets)
        .chain(jobs)
        .chain(pods)
}
