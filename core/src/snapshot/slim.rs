//! Slim per-kind types for the kinds that dominate a cluster's object count: pods, the
//! workloads that carry a pod template, and Services.
//!
//! The k8s-openapi structs hold every optional field inline: a `Pod` is 2.4 KB before any of its
//! contents, a `Container` 2.3 KB, a `Volume` 3.3 KB, an `EnvVar` 360 B. A pod as an API server
//! serves it (one container, the `kube-api-access-*` volume, a few env vars) costs 8-10 KB in
//! those types even after trimming. These types keep only what the checks read, with the same
//! field names and JSON shape, so:
//!
//! - the watch caches decode LIST pages and watch events straight into them (fields no check
//!   reads are skipped by the deserializer, never allocated);
//! - the manifests loader decodes into the same types, so `audit` and the operator judge the
//!   same objects;
//! - checks read `pod.spec.containers`, `c.security_context`, `v.host_path` exactly as with
//!   k8s-openapi.
//!
//! What a check reads and these types lack does not compile; what they keep and no check reads
//! is documented on each field. The trim test (`tests/trim.rs`, `checks::testing::run_scoped`)
//! runs every check's fixtures through these types and through the untrimmed ones.
//!
//! Serialization writes `apiVersion` and `kind` first, like k8s-openapi, then the kept fields.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// Implements `k8s_openapi::Resource` (constants taken from the full type), `Metadata` (so
/// kube's `Resource` follows) and a `Serialize` that writes `apiVersion`, `kind`, `metadata`,
/// `spec` and, for kinds that keep one (`status` argument), `status`.
macro_rules! slim_resource {
    ($ty:ident, $full:ty $(, $status:ident)?) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = <$full as k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = <$full as k8s_openapi::Resource>::GROUP;
            const KIND: &'static str = <$full as k8s_openapi::Resource>::KIND;
            const VERSION: &'static str = <$full as k8s_openapi::Resource>::VERSION;
            const URL_PATH_SEGMENT: &'static str =
                <$full as k8s_openapi::Resource>::URL_PATH_SEGMENT;
            type Scope = <$full as k8s_openapi::Resource>::Scope;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                map.serialize_entry(
                    "apiVersion",
                    <$full as k8s_openapi::Resource>::API_VERSION,
                )?;
                map.serialize_entry("kind", <$full as k8s_openapi::Resource>::KIND)?;
                map.serialize_entry("metadata", &self.metadata)?;
                map.serialize_entry("spec", &self.spec)?;
                $( if let Some(status) = &self.$status {
                    map.serialize_entry("status", status)?;
                } )?
                map.end()
            }
        }
    };
}

/// A pod template: the pods' labels and spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// The pods' metadata: labels only (`ObjectMeta` is 360 bytes before any of its contents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The pods' spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
}

/// The metadata of a pod template: its labels (what PodDisruptionBudgets and policies select).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateMetadata {
    /// `labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// The parts of a pod spec the checks read: containers, volumes, host namespaces, security
/// context, service account and node. Tolerations, affinity, DNS, scheduling and the rest are
/// not kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `containers`.
    #[serde(default)]
    pub containers: Vec<Container>,
    /// `initContainers` (restartable sidecars included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    /// `ephemeralContainers` (debug containers), read with the container fields only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<Vec<Container>>,
    /// `volumes`, with only the sources checks judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// `hostNetwork`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    /// `hostPID`.
    #[serde(default, rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    /// `hostIPC`.
    #[serde(default, rename = "hostIPC", skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    /// `hostUsers` (user namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    /// The pod-level security context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    /// `serviceAccountName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// `serviceAccount` (deprecated alias of `serviceAccountName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// `automountServiceAccountToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    /// `nodeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

/// The parts of a container the checks read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `name`.
    pub name: String,
    /// `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `command` (control-plane static pods are judged by their flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `args`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// `env`, name, value and reference only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// `resources`: which requests and limits are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// `securityContext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// `restartPolicy` (an init container with `Always` is a sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
}

/// The pod-level security context: the user settings containers inherit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// `runAsUser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// `runAsNonRoot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
}

/// A container's security context: privilege, escalation, user and added capabilities (the
/// k8s-openapi struct is 384 bytes; this one 48).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// `privileged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `allowPrivilegeEscalation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    /// `runAsUser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    /// `runAsNonRoot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// `capabilities` (the added ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
}

/// Added capabilities (dropping is not judged).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
}

/// A container's requests and limits: which resources are set, not the quantities (no check
/// judges a quantity; each map of k8s-openapi costs a 540-byte B-tree node).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    /// `requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceNames>,
    /// `limits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceNames>,
}

/// The names of a `requests` or `limits` map (`cpu`, `memory`, ...). Reads any map; writes each
/// name with an empty quantity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceNames(Vec<String>);

impl ResourceNames {
    /// Whether `name` is set.
    pub fn contains_key(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }
}

impl<'de> Deserialize<'de> for ResourceNames {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = ResourceNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of resource names to quantities")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some((name, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    names.push(name);
                }
                Ok(ResourceNames(names))
            }
        }
        d.deserialize_map(Names)
    }
}

impl Serialize for ResourceNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for name in &self.0 {
            map.serialize_entry(name, "")?;
        }
        map.end()
    }
}

/// An environment variable: its name, literal value, or where the value comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// `name`.
    pub name: String,
    /// `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `valueFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<Box<core::EnvVarSource>>,
}

/// A volume: its name and the sources checks judge (host paths, Secrets, claims). Projected,
/// ConfigMap, downward-API and emptyDir volumes keep only their name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// `name`.
    pub name: String,
    /// `hostPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<core::HostPathVolumeSource>,
    /// `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Box<core::SecretVolumeSource>>,
    /// `persistentVolumeClaim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<core::PersistentVolumeClaimVolumeSource>,
}

/// A pod's status: its phase only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `phase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// A Pod.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Pod {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<PodSpec>,
    /// Status (the phase).
    #[serde(default)]
    pub status: Option<PodStatus>,
}
slim_resource!(Pod, core::Pod, status);

/// The spec of a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `template`.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// A Deployment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Deployment {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: DeploymentSpec,
}
slim_resource!(Deployment, k8s_openapi::api::apps::v1::Deployment);

/// The spec of a StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetSpec {
    /// `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `template`.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// A StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct StatefulSet {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: StatefulSetSpec,
}
slim_resource!(StatefulSet, k8s_openapi::api::apps::v1::StatefulSet);

/// The spec of a DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetSpec {
    /// `template`.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// A DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct DaemonSet {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: DaemonSetSpec,
    /// Status (scheduled and ready counts).
    #[serde(default)]
    pub status: Option<k8s_openapi::api::apps::v1::DaemonSetStatus>,
}
slim_resource!(DaemonSet, k8s_openapi::api::apps::v1::DaemonSet, status);

/// The spec of a ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    /// `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplateSpec>,
}

/// A ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ReplicaSet {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: ReplicaSetSpec,
}
slim_resource!(ReplicaSet, k8s_openapi::api::apps::v1::ReplicaSet);

/// The spec of a Job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// `template`.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// A Job.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Job {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<JobSpec>,
}
slim_resource!(Job, k8s_openapi::api::batch::v1::Job);

/// A CronJob's template for its Jobs (their spec; the Jobs' own labels are not read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSpec {
    /// The Jobs' spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<JobSpec>,
}

/// The spec of a CronJob.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    /// `schedule`.
    #[serde(default)]
    pub schedule: String,
    /// `suspend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// `jobTemplate`.
    #[serde(default)]
    pub job_template: JobTemplateSpec,
}

/// A CronJob.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct CronJob {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: CronJobSpec,
}
slim_resource!(CronJob, k8s_openapi::api::batch::v1::CronJob);

/// The parts of a Service's spec `network.restricted-exposure` reads. Selectors, cluster IPs,
/// IP families, session affinity and the rest are not kept (`ServiceSpec` is 800 bytes inline
/// in k8s-openapi before any of its contents).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `type`: ClusterIP, NodePort, LoadBalancer or ExternalName.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `ports`, with the node port only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ServicePort>>,
    /// `externalIPs`.
    #[serde(
        default,
        rename = "externalIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_ips: Option<Vec<String>>,
}

/// A Service port: the node port it opens, if any.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// `nodePort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

/// A Service.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Service {
    /// Metadata (annotations kept: internal load-balancer annotations).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Spec.
    #[serde(default)]
    pub spec: Option<ServiceSpec>,
}
slim_resource!(Service, core::Service);
