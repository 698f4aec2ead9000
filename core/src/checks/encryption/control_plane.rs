//! The kube-apiserver as a snapshot shows it: its static (mirror) pods in `kube-system` and the
//! flags they run with. Shared by `encryption.secrets-at-rest` and `logging.audit-log`.
//!
//! On a managed control plane (EKS, GKE, AKS, ...) no such pod is visible; checks then report
//! one finding on the synthetic [`control_plane_ref`] that only an attestation can satisfy.

use std::collections::BTreeMap;

use crate::snapshot::slim::{Container, Pod};

use crate::checks::{Finding, ResourceRef};
use crate::snapshot::ClusterSnapshot;

/// Namespace of the control-plane static pods.
const CONTROL_PLANE_NAMESPACE: &str = "kube-system";
/// kubeadm's label on the API server's static pod.
const COMPONENT_LABEL: &str = "component";
/// The API server's component name, container name and binary name.
const API_SERVER: &str = "kube-apiserver";

/// One API server pod and its parsed command-line flags.
#[derive(Debug)]
pub(crate) struct ApiServer<'a> {
    /// The pod.
    pub pod: &'a Pod,
    flags: BTreeMap<String, String>,
}

impl ApiServer<'_> {
    /// Reference for findings.
    pub fn resource(&self) -> ResourceRef {
        ResourceRef::new(
            "Pod",
            self.pod.metadata.namespace.as_deref(),
            self.pod.metadata.name.as_deref().unwrap_or(""),
        )
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or("")
    }

    /// The value of `--name` when it is set to something non-empty.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Whether a pod is a kube-apiserver static pod.
fn is_api_server(pod: &Pod) -> bool {
    let labelled = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(COMPONENT_LABEL))
        .is_some_and(|c| c == API_SERVER);
    let named = pod
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with("kube-apiserver-"));
    labelled || named
}

/// The command line of a container, split into words. Elements holding spaces (a
/// `sh -c "kube-apiserver --a=b ..."` wrapper) are split on whitespace.
fn words(c: &Container) -> Vec<&str> {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .flat_map(|w| w.split_whitespace())
        .collect()
}

/// The API server container: the one named `kube-apiserver`, else the one running the
/// `kube-apiserver` binary, else the first.
fn api_server_container(pod: &Pod) -> Option<&Container> {
    let containers = &pod.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == API_SERVER)
        .or_else(|| {
            containers.iter().find(|c| {
                words(c)
                    .iter()
                    .any(|w| w.rsplit('/').next() == Some(API_SERVER))
            })
        })
        .or_else(|| containers.first())
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Parses `--flag=value`, `--flag value` and bare `--flag` (value "") forms; `-` is a value
/// (stdout, as in `--audit-log-path -`). The last occurrence of a flag wins, as in the API
/// server's flag library.
pub(crate) fn parse_flags<'w>(
    words: impl IntoIterator<Item = &'w str>,
) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::new();
    let mut words = words.into_iter().peekable();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--").filter(|f| !f.is_empty()) else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value),
            None => match words.next_if(|next| *next == "-" || !next.starts_with('-')) {
                Some(value) => (flag, value),
                None => (flag, ""),
            },
        };
        flags.insert(name.to_string(), unquote(value).to_string());
    }
    flags
}

/// Every kube-apiserver pod in the snapshot with its flags, sorted by name. Namespace scope
/// does not apply: the control plane is always in scope.
pub(crate) fn api_servers(snapshot: &ClusterSnapshot) -> Vec<ApiServer<'_>> {
    snapshot
        .index()
        .pods_in(CONTROL_PLANE_NAMESPACE)
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| is_api_server(p))
        .map(|pod| ApiServer {
            pod,
            flags: api_server_container(pod)
                .map(|c| parse_flags(words(c)))
                .unwrap_or_default(),
        })
        .collect()
}

/// The synthetic resource standing for a control plane the snapshot cannot see.
pub(crate) fn control_plane_ref() -> ResourceRef {
    ResourceRef::new("Cluster", None, "control-plane")
}

/// The one finding a control-plane check gives when no API server pod is visible.
pub(crate) fn not_observable(check_id: &str, what: &str) -> Finding {
    Finding::new(
        control_plane_ref(),
        format!(
            "the kube-apiserver is not observable (no kube-apiserver pod in kube-system, as on a \
             managed control plane), so {what} cannot be verified; add an entry to \
             spec.attestations with check: {check_id}, the provider's evidence, attestedBy and \
             expires"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::snapshot;

    #[test]
    fn parses_both_flag_forms() {
        let flags = parse_flags([
            "kube-apiserver",
            "--advertise-address=10.0.0.1",
            "--encryption-provider-config",
            "/etc/kubernetes/enc.yaml",
            "--allow-privileged",
            "--audit-log-path=",
            "--audit-webhook-config-file",
            "-",
            "--v=2",
            "--v",
            "4",
            "-",
            "--profiling",
        ]);
        assert_eq!(flags["advertise-address"], "10.0.0.1");
        assert_eq!(
            flags["encryption-provider-config"],
            "/etc/kubernetes/enc.yaml"
        );
        assert_eq!(flags["allow-privileged"], "");
        assert_eq!(flags["audit-log-path"], "");
        assert_eq!(flags["audit-webhook-config-file"], "-");
        assert_eq!(flags["v"], "4");
        assert_eq!(flags["profiling"], "");
    }

    #[test]
    fn finds_api_servers_and_reads_command_and_args() {
        let snap = snapshot(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver-cp1, namespace: kube-system}\n\
             spec: {containers: [{name: kube-apiserver, image: k, command: [kube-apiserver, --a=1], args: [--b, '2']}]}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: apiserver, namespace: kube-system, labels: {component: kube-apiserver}}\n\
             spec: {containers: [{name: sidecar, image: s}, {name: main, image: k, command: [sh, -c, \"/usr/bin/kube-apiserver --c='x y' --d=4\"]}]}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver-fake, namespace: default}\n\
             spec: {containers: [{name: kube-apiserver, image: k}]}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: coredns, namespace: kube-system, labels: {component: dns}}\n\
             spec: {containers: [{name: dns, image: k}]}\n",
        );
        let servers = api_servers(&snap);
        let names: Vec<&str> = servers.iter().map(ApiServer::name).collect();
        assert_eq!(names, vec!["apiserver", "kube-apiserver-cp1"]);
        assert_eq!(servers[1].flag("a"), Some("1"));
        assert_eq!(servers[1].flag("b"), Some("2"));
        assert_eq!(servers[0].flag("d"), Some("4"));
        assert_eq!(servers[0].flag("missing"), None);
        assert_eq!(
            servers[1].resource().to_string(),
            "Pod/kube-system/kube-apiserver-cp1"
        );
    }

    #[test]
    fn synthetic_finding_names_the_check() {
        let f = not_observable("encryption.secrets-at-rest", "etcd encryption");
        assert_eq!(f.resource.to_string(), "Cluster/control-plane");
        assert!(f.message.contains("check: encryption.secrets-at-rest"));
    }
}
