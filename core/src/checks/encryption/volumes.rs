//! `encryption.volumes`: StorageClasses and PersistentVolumes use storage that encrypts at
//! rest, judged by provisioner (or CSI driver) and, where encryption is opt-in, a parameter.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::PersistentVolume;
use k8s_openapi::api::storage::v1::StorageClass;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The check.
pub(super) struct EncryptedVolumes;

/// A provisioner (or CSI driver) that encrypts at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EncryptedProvisioner {
    /// StorageClass `provisioner` / PV `csi.driver`, e.g. `ebs.csi.aws.com`; in-tree volumes
    /// go by their in-tree name, e.g. `kubernetes.io/aws-ebs`.
    pub provisioner: String,
    /// When encryption is opt-in: the StorageClass parameter (or CSI volume attribute) that
    /// turns it on. Values compare case-insensitively. Default: none (encrypted by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_parameter: Option<RequiredParameter>,
}

/// A `key: value` a StorageClass must carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequiredParameter {
    /// Parameter name, e.g. `encrypted`.
    pub key: String,
    /// Required value, e.g. `"true"`.
    pub value: String,
}

/// Parameters of `encryption.volumes`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EncryptedVolumesParams {
    /// Provisioners that encrypt at rest. Default: `ebs.csi.aws.com` and
    /// `kubernetes.io/aws-ebs` with `encrypted: "true"`; `pd.csi.storage.gke.io`,
    /// `kubernetes.io/gce-pd`, `filestore.csi.storage.gke.io`, `disk.csi.azure.com`,
    /// `kubernetes.io/azure-disk`, `file.csi.azure.com` and `kubernetes.io/azure-file`
    /// (encrypted by the platform by default). Setting the list replaces the default; EFS and
    /// other services whose encryption is set outside Kubernetes can be added here.
    pub encrypted_provisioners: Vec<EncryptedProvisioner>,
    /// StorageClasses accepted as encrypted whatever their provisioner (e.g. on self-managed
    /// encrypted disks), and the PVs of those classes. Default: none.
    pub allowed_storage_classes: Vec<String>,
}

impl Default for EncryptedVolumesParams {
    fn default() -> Self {
        let opt_in = |p: &str| EncryptedProvisioner {
            provisioner: p.to_string(),
            require_parameter: Some(RequiredParameter {
                key: "encrypted".to_string(),
                value: "true".to_string(),
            }),
        };
        let always = |p: &str| EncryptedProvisioner {
            provisioner: p.to_string(),
            require_parameter: None,
        };
        Self {
            encrypted_provisioners: vec![
                opt_in("ebs.csi.aws.com"),
                opt_in("kubernetes.io/aws-ebs"),
                always("pd.csi.storage.gke.io"),
                always("kubernetes.io/gce-pd"),
                always("filestore.csi.storage.gke.io"),
                always("disk.csi.azure.com"),
                always("kubernetes.io/azure-disk"),
                always("file.csi.azure.com"),
                always("kubernetes.io/azure-file"),
            ],
            allowed_storage_classes: Vec::new(),
        }
    }
}

static NO_PARAMS: BTreeMap<String, String> = BTreeMap::new();

impl EncryptedVolumesParams {
    /// Why storage from `provisioner` with `parameters` is not known to be encrypted, or
    /// `None` when it is.
    fn unencrypted(
        &self,
        provisioner: &str,
        parameters: &BTreeMap<String, String>,
        parameters_name: &str,
    ) -> Option<String> {
        let mut entries = self
            .encrypted_provisioners
            .iter()
            .filter(|e| e.provisioner == provisioner)
            .peekable();
        entries.peek()?;
        let mut why = None;
        for entry in entries {
            let Some(req) = &entry.require_parameter else {
                return None;
            };
            match parameters.get(&req.key) {
                Some(v) if v.eq_ignore_ascii_case(&req.value) => return None,
                Some(v) => {
                    why.get_or_insert(format!(
                        "`{provisioner}` with {parameters_name}.{} set to `{v}` instead of `{}`",
                        req.key, req.value
                    ));
                }
                None => {
                    why.get_or_insert(format!(
                        "`{provisioner}` without {parameters_name}.{}: \"{}\"",
                        req.key, req.value
                    ));
                }
            }
        }
        why
    }

    fn listed(&self, provisioner: &str) -> bool {
        self.encrypted_provisioners
            .iter()
            .any(|e| e.provisioner == provisioner)
    }

    /// Why a StorageClass is not encrypted, or `None` when it is.
    fn class_problem(&self, sc: &StorageClass) -> Option<String> {
        let name = sc.metadata.name.as_deref().unwrap_or("");
        if self.allowed_storage_classes.iter().any(|a| a == name) {
            return None;
        }
        if !self.listed(&sc.provisioner) {
            return Some(format!(
                "provisioner `{}` is not on the encrypted list",
                sc.provisioner
            ));
        }
        self.unencrypted(
            &sc.provisioner,
            sc.parameters.as_ref().unwrap_or(&NO_PARAMS),
            "parameters",
        )
        .map(|why| format!("it uses {why}"))
    }

    /// Why a PV without a known StorageClass is not encrypted, or `None` when it is.
    fn source_problem(&self, pv: &PersistentVolume) -> Option<String> {
        let Some(spec) = pv.spec.as_ref() else {
            return Some("it has no spec".to_string());
        };
        let (source, attributes) = if let Some(csi) = &spec.csi {
            (
                csi.driver.as_str(),
                csi.volume_attributes.as_ref().unwrap_or(&NO_PARAMS),
            )
        } else if spec.aws_elastic_block_store.is_some() {
            ("kubernetes.io/aws-ebs", &NO_PARAMS)
        } else if spec.gce_persistent_disk.is_some() {
            ("kubernetes.io/gce-pd", &NO_PARAMS)
        } else if spec.azure_disk.is_some() {
            ("kubernetes.io/azure-disk", &NO_PARAMS)
        } else if spec.azure_file.is_some() {
            ("kubernetes.io/azure-file", &NO_PARAMS)
        } else if spec.host_path.is_some() {
            ("hostPath", &NO_PARAMS)
        } else if spec.local.is_some() {
            ("local", &NO_PARAMS)
        } else if spec.nfs.is_some() {
            ("nfs", &NO_PARAMS)
        } else {
            ("an unrecognised volume source", &NO_PARAMS)
        };
        if !self.listed(source) {
            return Some(format!(
                "its volume source `{source}` is not on the encrypted list"
            ));
        }
        self.unencrypted(source, attributes, "csi.volumeAttributes")
            .map(|why| format!("it uses {why}"))
    }
}

/// Whether a PV concerns the control: unbound, or claimed from an in-scope namespace.
fn pv_in_scope(ctx: &Ctx<'_>, pv: &PersistentVolume) -> bool {
    pv.spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .and_then(|c| c.namespace.as_deref())
        .is_none_or(|ns| ctx.in_scope(ns))
}

impl Check for EncryptedVolumes {
    type Params = EncryptedVolumesParams;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "encryption.volumes",
            title: "Volumes are encrypted at rest",
            description: "A StorageClass fails when its provisioner is not on the encrypted list \
                or lacks the parameter that turns encryption on; a PersistentVolume (unbound, or \
                claimed from an in-scope namespace) fails when its StorageClass is not encrypted \
                or, without a StorageClass, its volume source is not on the list.",
            criteria: &["CC6.7", "C1.1"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        Reads::kinds(&[
            crate::snapshot::KindId::StorageClass,
            crate::snapshot::KindId::PersistentVolume,
        ])
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &EncryptedVolumesParams) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        let mut class_problems: HashMap<&str, Option<String>> = HashMap::new();
        for sc in &ctx.snapshot.storage_classes {
            checked += 1;
            let name = sc.metadata.name.as_deref().unwrap_or("");
            let problem = params.class_problem(sc);
            if let Some(why) = &problem {
                findings.push(Finding::new(
                    ResourceRef::new("StorageClass", None, name),
                    format!(
                        "StorageClass `{name}` does not encrypt volumes at rest: {why}; use an \
                         encrypting provisioner or parameters (e.g. encrypted: \"true\" for \
                         ebs.csi.aws.com), or list it in params.allowedStorageClasses once \
                         encryption is shown otherwise"
                    ),
                ));
            }
            class_problems.insert(name, problem);
        }
        for pv in ctx.snapshot.persistent_volumes.iter() {
            if !pv_in_scope(ctx, pv) {
                continue;
            }
            checked += 1;
            let name = pv.metadata.name.as_deref().unwrap_or("");
            let class = pv
                .spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref())
                .filter(|c| !c.is_empty());
            let problem = match class {
                Some(c) if params.allowed_storage_classes.iter().any(|a| a == c) => None,
                Some(c) => match class_problems.get(c) {
                    Some(None) => None,
                    Some(Some(_)) => Some(format!("its StorageClass `{c}` is not encrypted")),
                    None => params
                        .source_problem(pv)
                        .map(|why| format!("its StorageClass `{c}` does not exist and {why}")),
                },
                None => params.source_problem(pv),
            };
            if let Some(why) = problem {
                findings.push(Finding::new(
                    ResourceRef::new("PersistentVolume", None, name),
                    format!(
                        "PersistentVolume `{name}` is not known to be encrypted at rest: {why}; \
                         move its data to a volume of an encrypted StorageClass"
                    ),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::checks::testing::{checked, failing, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "encryption.volumes";

    fn sc(name: &str, provisioner: &str, parameters: &str) -> String {
        format!(
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: {name}}}\nprovisioner: {provisioner}\nparameters: {parameters}\n---\n"
        )
    }

    fn pv(name: &str, class: &str, claim_ns: Option<&str>, source: &str) -> String {
        let claim = claim_ns
            .map(|ns| format!(", claimRef: {{namespace: {ns}, name: data}}"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec: {{storageClassName: '{class}', capacity: {{storage: 1Gi}}, accessModes: [ReadWriteOnce]{claim}, {source}}}\n---\n"
        )
    }

    const EBS: &str = "csi: {driver: ebs.csi.aws.com, volumeHandle: vol-1}";

    #[test]
    fn encrypted_classes_and_volumes_pass() {
        let yaml = [
            sc("gp3", "ebs.csi.aws.com", "{type: gp3, encrypted: \"true\"}"),
            sc("pd", "pd.csi.storage.gke.io", "{}"),
            sc("azure", "disk.csi.azure.com", "{skuName: Premium_LRS}"),
            pv("pv-1", "gp3", Some("app"), EBS),
            pv(
                "pv-2",
                "",
                None,
                "csi: {driver: pd.csi.storage.gke.io, volumeHandle: d}",
            ),
        ]
        .concat();
        assert_eq!(run(ID, "", &yaml), Outcome::evaluated(5, vec![]));
    }

    #[test]
    fn unencrypted_classes_and_volumes_fail() {
        let yaml = [
            sc("gp2", "ebs.csi.aws.com", "{type: gp2}"),
            sc("disabled", "ebs.csi.aws.com", "{encrypted: \"false\"}"),
            sc("local", "kubernetes.io/no-provisioner", "{}"),
            sc("gp3", "ebs.csi.aws.com", "{encrypted: \"TRUE\"}"),
            pv("pv-gp2", "gp2", Some("app"), EBS),
            pv("pv-gp3", "gp3", Some("app"), EBS),
            pv("pv-host", "", None, "hostPath: {path: /data}"),
            pv("pv-nfs", "missing", None, "nfs: {server: nfs, path: /}"),
            pv(
                "pv-static-ebs",
                "",
                None,
                "csi: {driver: ebs.csi.aws.com, volumeHandle: vol-2}",
            ),
        ]
        .concat();
        let out = run(ID, "", &yaml);
        assert_eq!(
            failing(&out),
            vec![
                "StorageClass/disabled",
                "StorageClass/gp2",
                "StorageClass/local",
                "PersistentVolume/pv-gp2",
                "PersistentVolume/pv-host",
                "PersistentVolume/pv-nfs",
                "PersistentVolume/pv-static-ebs",
            ]
        );
        assert_eq!(checked(&out), 9);
        let Outcome::Evaluated { findings, .. } = out else {
            unreachable!()
        };
        let message = |r: &str| {
            findings
                .iter()
                .find(|f| f.resource.to_string() == r)
                .map(|f| f.message.clone())
                .unwrap_or_default()
        };
        assert!(message("StorageClass/gp2").contains("without parameters.encrypted"));
        assert!(message("StorageClass/disabled").contains("set to `false`"));
        assert!(message("StorageClass/local").contains("not on the encrypted list"));
        assert!(message("PersistentVolume/pv-gp2").contains("StorageClass `gp2`"));
        assert!(message("PersistentVolume/pv-nfs").contains("does not exist"));
    }

    #[test]
    fn allowed_storage_classes_param() {
        let yaml = [
            sc("local", "kubernetes.io/no-provisioner", "{}"),
            pv("pv-1", "local", Some("app"), "local: {path: /mnt}"),
        ]
        .concat();
        assert_eq!(failing(&run(ID, "", &yaml)).len(), 2);
        let out = run(ID, "allowedStorageClasses: [local]", &yaml);
        assert_eq!(out, Outcome::evaluated(2, vec![]));
    }

    #[test]
    fn encrypted_provisioners_param_replaces_the_list() {
        let yaml = [
            sc("efs", "efs.csi.aws.com", "{}"),
            sc("ceph", "rbd.csi.ceph.com", "{encrypted: \"true\"}"),
            sc("pd", "pd.csi.storage.gke.io", "{}"),
        ]
        .concat();
        let params = "encryptedProvisioners:\n- provisioner: efs.csi.aws.com\n- provisioner: rbd.csi.ceph.com\n  requireParameter: {key: encrypted, value: \"true\"}\n";
        let out = run(ID, params, &yaml);
        assert_eq!(failing(&out), vec!["StorageClass/pd"]);
    }

    #[test]
    fn pvs_claimed_from_out_of_scope_namespaces_are_skipped() {
        let yaml = [
            pv("pv-app", "", Some("app"), "hostPath: {path: /a}"),
            pv("pv-sys", "", Some("kube-system"), "hostPath: {path: /b}"),
            pv("pv-free", "", None, "hostPath: {path: /c}"),
        ]
        .concat();
        let out = run_scoped(
            ID,
            "",
            &yaml,
            &ScopeFilter::all().excluding(["kube-system"]),
        );
        assert_eq!(
            failing(&out),
            vec!["PersistentVolume/pv-app", "PersistentVolume/pv-free"]
        );
        assert_eq!(checked(&out), 2);
    }

    #[test]
    fn unknown_param_is_refused() {
        let check = catalog().get(ID).expect("registered");
        assert!(check.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(
            check
                .validate(Some(
                    &json!({"encryptedProvisioners": [{"provisioner": "x", "bogus": 1}]})
                ))
                .is_err()
        );
        assert!(
            check
                .validate(Some(&json!({"encryptedProvisioners": [{"requireParameter": {"key": "k", "value": "v"}}]})))
                .is_err(),
            "provisioner is required"
        );
    }
}
