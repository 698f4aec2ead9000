//! The Kubernetes types a snapshot holds, in one place, so code driven by
//! `for_each_core_kind!` can `use crate::snapshot::kinds::*`.
//!
//! Pods, the workloads with a pod template and Services are the slim types of [`super::slim`]; every
//! other kind is the k8s-openapi type, trimmed ([`super::trim`]).

pub use k8s_openapi::api::{
    admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
    core::v1::{
        ConfigMap, Namespace, Node, PersistentVolume, PersistentVolumeClaim, ServiceAccount,
    },
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    storage::v1::StorageClass,
};

pub use super::slim::{CronJob, DaemonSet, Deployment, Job, Pod, ReplicaSet, Service, StatefulSet};
