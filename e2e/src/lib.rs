#![forbid(unsafe_code)]
//! Harness for the end-to-end suite: runs the `soc2-operator` binary against the API server in
//! `KUBECONFIG`, as a ServiceAccount bound to the least-privilege roles in `config/rbac/`.
//!
//! Everything a run creates carries a unique suffix and is deleted by [`Harness::cleanup`].
//! Nothing here runs unless the `e2e` feature is on (see `tests/`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::{Client, Discovery};
use serde_json::{Value, json};

/// Field manager of the suite's own writes.
pub const MANAGER: &str = "soc2-e2e";

/// Boxed error for tests.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// Result for tests.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The repository root (this crate lives in `e2e/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// A running operator and what the suite created for it.
pub struct Harness {
    /// Admin client (the suite's own identity, from KUBECONFIG).
    pub admin: Client,
    /// Unique suffix of this run.
    pub id: String,
    /// Namespace of the operator (Lease, ServiceAccount).
    pub namespace: String,
    /// Metrics address of the operator.
    pub metrics: String,
    child: Option<tokio::process::Child>,
    cluster_objects: Vec<(ApiResource, String)>,
    _dir: tempfile::TempDir,
}

/// Splits a multi-document YAML file into JSON values.
pub fn yaml_docs(text: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Server-side applies an object given as JSON; returns its API resource and name.
pub async fn apply(
    client: &Client,
    discovery: &Discovery,
    obj: &Value,
) -> Result<(ApiResource, Scope, String)> {
    let api_version = obj["apiVersion"].as_str().ok_or("apiVersion")?;
    let kind = obj["kind"].as_str().ok_or("kind")?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery
        .resolve_gvk(&gvk)
        .ok_or_else(|| format!("{api_version} {kind} not served"))?;
    let name = obj["metadata"]["name"].as_str().ok_or("name")?.to_string();
    let api: Api<DynamicObject> = match (&caps.scope, obj["metadata"]["namespace"].as_str()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
        (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
        (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
    };
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await?;
    Ok((ar, caps.scope.clone(), name))
}

impl Harness {
    /// Installs CRDs and RBAC, mints a token for the operator's ServiceAccount, writes a
    /// kubeconfig with it, and starts the operator binary with `args`.
    pub async fn start(extra_args: &[&str]) -> Result<Self> {
        let admin = Client::try_default().await?;
        let id = format!("{:x}", jiff::Timestamp::now().as_millisecond() % 0xff_ffff);
        let namespace = format!("soc2-e2e-{id}");
        let dir = tempfile::tempdir()?;
        let mut cluster_objects = Vec::new();

        // CRDs.
        let discovery = Discovery::new(admin.clone()).run().await?;
        for entry in std::fs::read_dir(repo_root().join("crds"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                for doc in yaml_docs(&std::fs::read_to_string(&path)?)? {
                    apply(&admin, &discovery, &doc).await?;
                }
            }
        }
        // CRDs need a moment to be served.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let discovery = Discovery::new(admin.clone()).run().await?;

        // Namespace, ServiceAccount and least-privilege RBAC.
        let ns: Api<Namespace> = Api::all(admin.clone());
        ns.patch(&namespace, &PatchParams::apply(MANAGER).force(), &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"soc2-e2e": id}},
        }))).await?;
        let rbac_dir = repo_root().join("config/rbac");
        let mut roles = vec!["clusterrole.yaml", "role.yaml"];
        if extra_args.contains(&"--enforcement") {
            roles.push("clusterrole-enforcement.yaml");
        }
        for file in roles {
            for mut doc in yaml_docs(&std::fs::read_to_string(rbac_dir.join(file))?)? {
                let base = doc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let name = format!("{base}-{id}");
                doc["metadata"]["name"] = json!(name);
                let kind = doc["kind"].as_str().unwrap_or_default().to_string();
                if kind == "Role" {
                    doc["metadata"]["namespace"] = json!(namespace);
                }
                let (ar, scope, _) = apply(&admin, &discovery, &doc).await?;
                if scope == Scope::Cluster {
                    cluster_objects.push((ar, name.clone()));
                }
                let binding_kind = if kind == "Role" {
                    "RoleBinding"
                } else {
                    "ClusterRoleBinding"
                };
                let mut binding = json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind,
                    "metadata": {"name": name},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                    "subjects": [{"kind": "ServiceAccount", "name": "soc2-operator", "namespace": namespace}],
                });
                if kind == "Role" {
                    binding["metadata"]["namespace"] = json!(namespace);
                }
                let (ar, scope, _) = apply(&admin, &discovery, &binding).await?;
                if scope == Scope::Cluster {
                    cluster_objects.push((ar, name));
                }
            }
        }
        let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), &namespace);
        sas.patch("soc2-operator", &PatchParams::apply(MANAGER).force(), &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "soc2-operator", "namespace": namespace},
        }))).await?;

        // A token for that ServiceAccount (TokenRequest), and a kubeconfig using only it.
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let token = sas
            .create_token_request("soc2-operator", &PostParams::default(), &request)
            .await?
            .status
            .and_then(|s| s.token)
            .ok_or("no token")?;
        let kubeconfig = operator_kubeconfig(&token)?;
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, serde_json::to_vec(&kubeconfig)?)?;

        // The operator binary.
        let bin = std::env::var("SOC2_OPERATOR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target/debug/soc2-operator"));
        let port = 18080 + (jiff::Timestamp::now().as_millisecond() % 1000) as u16;
        let metrics = format!("127.0.0.1:{port}");
        let mut args = vec![
            "run".to_string(),
            "--namespace".into(),
            namespace.clone(),
            "--lease-name".into(),
            format!("soc2-operator-{id}"),
            "--metrics-addr".into(),
            metrics.clone(),
        ];
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let child = tokio::process::Command::new(&bin)
            .args(&args)
            .env("KUBECONFIG", &path)
            .env("POD_NAME", format!("e2e-{id}"))
            .env("RUST_LOG", "info,soc2_operator=debug")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "{}: {e} (build it first: cargo build -p soc2-operator)",
                    bin.display()
                )
            })?;
        let harness = Self {
            admin,
            id,
            namespace,
            metrics,
            child: Some(child),
            cluster_objects,
            _dir: dir,
        };
        harness.wait_ready(Duration::from_secs(120)).await?;
        Ok(harness)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok((200, _)) = http_get(&self.metrics, "/readyz").await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err("operator not ready in time".into())
    }

    /// The operator's `/metrics` text.
    pub async fn metrics(&self) -> Result<String> {
        Ok(http_get(&self.metrics, "/metrics").await?.1)
    }

    /// Stops the operator (SIGTERM through `kill`) and deletes what the run created.
    pub async fn cleanup(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = tokio::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let _ = child.kill().await;
        }
        for (ar, name) in self.cluster_objects.drain(..) {
            let api: Api<DynamicObject> = Api::all_with(self.admin.clone(), &ar);
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
        let ns: Api<Namespace> = Api::all(self.admin.clone());
        let _ = ns.delete(&self.namespace, &DeleteParams::default()).await;
        Ok(())
    }
}

/// A kubeconfig for the current cluster that authenticates with `token` only.
fn operator_kubeconfig(token: &str) -> Result<Value> {
    let config = Kubeconfig::read()?;
    let context_name = config.current_context.clone().ok_or("no current context")?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.clone())
        .ok_or("current context not found")?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.clone())
        .ok_or("cluster not found")?;
    Ok(json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {
            "server": cluster.server,
            "certificate-authority-data": cluster.certificate_authority_data,
            "certificate-authority": cluster.certificate_authority,
            "insecure-skip-tls-verify": cluster.insecure_skip_tls_verify,
        }}],
        "users": [{"name": "soc2-operator", "user": {"token": token}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "soc2-operator"}}],
        "current-context": "e2e",
    }))
}

/// A tiny HTTP/1.1 GET (no client dependency needed for two endpoints).
pub async fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let code = buf.get(9..12).ok_or("short response")?.parse()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Polls `f` until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
