//! `workload.trusted-images`: images come from allowed registries and are pinned.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ImageRef, containers, join_problems};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, Severity};

/// Flags workloads with images outside the allowed registries, images that are not pinned
/// (`:latest` or no tag, and no digest: always), and, when `requireDigest` is set, images
/// without a digest. One finding per workload.
pub struct TrustedImages;

/// Parameters of `workload.trusted-images`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Allowed registries: each entry is a registry host (`ghcr.io`, `registry.local:5000`) or
    /// a `host/path` prefix (`ghcr.io/acme`, matched at a `/` boundary). Images without a
    /// registry host are `docker.io/library/...` or `docker.io/<org>/...`. Default empty: any
    /// registry is allowed.
    pub allowed_registries: Vec<String>,
    /// Require every image to be pinned by digest (`image@sha256:...`). Default `false`.
    pub require_digest: bool,
}

#[allow(clippy::derivable_impls)] // Written out so the defaults are documented in one place.
impl Default for Params {
    fn default() -> Self {
        Self {
            allowed_registries: Vec::new(),
            require_digest: false,
        }
    }
}

impl Check for TrustedImages {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "workload.trusted-images",
            title: "Images come from trusted registries and are pinned",
            description: "A workload fails when a container image is outside the allowed \
                          registries, uses `:latest` or no tag without a digest, or has no \
                          digest when digests are required.",
            criteria: &["CC6.8", "CC8.1"],
            severity: Severity::High,
            remediable: false,
            admission: true,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !ctx.in_scope(w.namespace()) {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            for c in containers(w.spec) {
                let who = c.describe();
                let Some(image) = c.image.and_then(ImageRef::parse) else {
                    problems.push(format!("{who} has no image; set an image reference"));
                    continue;
                };
                let written = c.image.unwrap_or_default();
                if !params.allowed_registries.is_empty()
                    && !params
                        .allowed_registries
                        .iter()
                        .any(|r| image.matches_registry(r))
                {
                    problems.push(format!(
                        "{who} image `{written}` is from {}, outside the allowed registries; use \
                         an image from one of: {}",
                        image.full_name(),
                        params.allowed_registries.join(", ")
                    ));
                }
                if image.is_unpinned() {
                    let what = if image.tag.is_some() {
                        "uses the `latest` tag"
                    } else {
                        "has no tag"
                    };
                    problems.push(format!(
                        "{who} image `{written}` {what}; pin a version tag or a digest \
                         (@sha256:...)"
                    ));
                } else if params.require_digest && image.digest.is_none() {
                    problems.push(format!(
                        "{who} image `{written}` is not pinned by digest; reference it as \
                         image@sha256:..."
                    ));
                }
            }
            if !problems.is_empty() {
                findings.push(Finding::new(w.resource(), join_problems(&problems)));
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

    const ID: &str = "workload.trusted-images";

    fn pod(ns: &str, name: &str, images: &[&str]) -> String {
        let containers: String = images
            .iter()
            .enumerate()
            .map(|(i, img)| format!("\n  - {{name: c{i}, image: \"{img}\"}}"))
            .collect();
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  \
             containers:{containers}\n---\n"
        )
    }

    fn message(o: &Outcome) -> String {
        match o {
            Outcome::Evaluated { findings, .. } => findings[0].message.clone(),
            Outcome::NotApplicable { reason } => panic!("{reason}"),
        }
    }

    #[test]
    fn pinned_images_pass_by_default() {
        let y = pod("a", "p", &["nginx:1.27", "ghcr.io/acme/api@sha256:abc"]);
        let o = run(ID, "", &y);
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 1);
    }

    #[test]
    fn latest_and_untagged_always_fail() {
        let y = pod("a", "latest", &["nginx:latest"])
            + &pod("a", "untagged", &["localhost:5000/app"])
            + &pod("a", "ok", &["nginx:1"]);
        let o = run(ID, "", &y);
        assert_eq!(failing(&o), ["Pod/a/latest", "Pod/a/untagged"]);
        let o = run(ID, "", &pod("a", "untagged", &["localhost:5000/app"]));
        assert!(message(&o).contains("has no tag"), "{}", message(&o));
    }

    #[test]
    fn registry_allowlist() {
        let params = "allowedRegistries: [ghcr.io/acme, registry.internal:5000]";
        let y = pod(
            "a",
            "ok",
            &["ghcr.io/acme/api:1", "registry.internal:5000/x:2"],
        ) + &pod("a", "hub", &["nginx:1"])
            + &pod("a", "lookalike", &["ghcr.io/acme-evil/api:1"]);
        let o = run(ID, params, &y);
        assert_eq!(failing(&o), ["Pod/a/hub", "Pod/a/lookalike"]);
        let o = run(ID, params, &pod("a", "hub", &["nginx:1"]));
        assert!(message(&o).contains("docker.io/library/nginx"));
        // Docker Hub official images match a docker.io/library entry.
        let o = run(ID, "allowedRegistries: [docker.io/library]", &y);
        assert_eq!(failing(&o), ["Pod/a/lookalike", "Pod/a/ok"]);
    }

    #[test]
    fn require_digest() {
        let y = pod("a", "tagged", &["ghcr.io/acme/api:1"])
            + &pod("a", "digest", &["ghcr.io/acme/api:1@sha256:abc"]);
        assert!(failing(&run(ID, "", &y)).is_empty());
        let o = run(ID, "requireDigest: true", &y);
        assert_eq!(failing(&o), ["Pod/a/tagged"]);
        assert!(message(&o).contains("not pinned by digest"));
    }

    #[test]
    fn init_containers_are_checked() {
        let y = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: a}
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          initContainers: [{name: fetch, image: "busybox"}]
          containers: [{name: run, image: "ghcr.io/acme/job:3"}]
"#;
        let o = run(ID, "", y);
        assert_eq!(failing(&o), ["CronJob/a/nightly"]);
        assert!(message(&o).contains("initContainer `fetch`"));
    }

    #[test]
    fn params_are_validated() {
        let c = catalog().get(ID).expect("registered");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(c.validate(Some(&json!({"requireDigest": "yes"}))).is_err());
    }

    #[test]
    fn scope_is_respected() {
        let y = pod("a", "bad", &["nginx"]) + &pod("b", "ok", &["nginx:1"]);
        let o = run_scoped(ID, "", &y, &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 1);
    }
}
