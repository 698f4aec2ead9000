//! Shared helpers of the evidence tests: a manifests fixture with a planted Secret, evaluation,
//! writer configuration, and a moto S3 server on loopback.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use jiff::Timestamp;
use soc2_core::crd::EvidenceInclude;
use soc2_core::engine::{self, Evaluation};
use soc2_core::snapshot::{ClusterSnapshot, manifests};
use soc2_evidence::{RetryPolicy, Schedule, SigningKey, Store, WriterConfig};

/// A value that must never reach the store.
pub const PLANTED: &str = "pl4nted-Secr3t-value-6d1e0c";

/// Snapshot times of the five-hour chains the local-store tests write (a few seconds past
/// each hour, as a scheduler would).
pub const TIMES: [&str; 5] = [
    "2026-06-15T10:00:05Z",
    "2026-06-15T11:00:03Z",
    "2026-06-15T12:00:04Z",
    "2026-06-15T13:00:02Z",
    "2026-06-15T14:00:09Z",
];

pub fn t(s: &str) -> Timestamp {
    s.parse().expect("valid time")
}

/// Writes a small cluster: a namespace, a Secret holding [`PLANTED`], a pod that reads it
/// through `secretKeyRef` and `envFrom`, a ConfigMap and a Service.
pub fn write_fixture(dir: &Path) -> PathBuf {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(PLANTED);
    std::fs::write(
        m.join("cluster.yaml"),
        format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: shop, resourceVersion: "10", labels: {{team: web}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db-credentials, namespace: shop, resourceVersion: "11"}}
type: Opaque
data:
  password: {b64}
stringData:
  token: {PLANTED}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-1, namespace: shop, resourceVersion: "12"}}
spec:
  containers:
  - name: web
    image: registry.example/web:1.0
    env:
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {{name: db-credentials, key: password}}
    envFrom:
    - secretRef: {{name: db-credentials}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop, resourceVersion: "13"}}
data: {{mode: production}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: shop, resourceVersion: "14"}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80}}]
"#
        ),
    )
    .unwrap();
    m
}

/// Loads the fixture and evaluates the baseline at `now`.
pub fn evaluate(manifests_dir: &Path, now: Timestamp) -> (ClusterSnapshot, Evaluation) {
    let report = manifests::load(manifests_dir).expect("fixture loads");
    let snapshot = ClusterSnapshot::new(report.objects);
    let controls = soc2_operator::cli::baseline_controls().expect("baseline parses");
    let evaluation = engine::evaluate(&controls, &snapshot, now);
    (snapshot, evaluation)
}

/// The provenance of a snapshot read from a (pretend) live cluster.
pub fn live() -> soc2_evidence::Provenance {
    soc2_evidence::Provenance::live(
        Some("0d7f6a4e-kube-system".into()),
        Some("https://127.0.0.1:6443".into()),
        "test",
    )
}

/// A writer configuration with an hourly schedule and fast retries.
pub fn config(cluster: &str, policy: &str, key: Option<SigningKey>) -> WriterConfig {
    WriterConfig {
        cluster: cluster.into(),
        policy: policy.into(),
        schedule: Schedule::parse(None, Some("1h")).unwrap(),
        signing_key: key,
        retry: RetryPolicy {
            attempts: 3,
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        include: EvidenceInclude::default(),
        retention: None,
        oscal: false,
    }
}

/// Fails when any object in the store contains the planted value (plain or base64).
pub async fn assert_no_planted(store: &Store) {
    let e = &base64::engine::general_purpose::STANDARD;
    let needles = [
        PLANTED.to_string(),
        e.encode(PLANTED),
        e.encode(PLANTED).trim_end_matches('=').to_string(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(PLANTED),
    ];
    let objects = store.list("").await.expect("list");
    assert!(!objects.is_empty(), "the store is empty");
    for o in objects {
        let bytes = store.get(&o.key).await.expect("get");
        let text = String::from_utf8_lossy(&bytes);
        for n in &needles {
            assert!(
                !text.contains(n.as_str()),
                "{} contains the planted secret ({n})",
                o.key
            );
        }
    }
}

/// A moto S3 server on a free loopback port, killed on drop.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
    bin: PathBuf,
}

/// Where the moto server is: `SOC2_MOTO_SERVER`, or `<workspace>/.tools/venv/bin/moto_server`.
pub fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SOC2_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for candidate in [".tools/venv/bin/moto_server", ".tools/bin/moto_server"] {
        let p = root.join(candidate);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "moto_server not found (set SOC2_MOTO_SERVER or run scripts/install-tools.sh, which \
         installs it into {}/.tools/venv); the S3 tests need a real S3-compatible server",
        root.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts moto on a free port and creates `bucket`.
    pub fn start(bucket: &str) -> Self {
        let mut m = Moto {
            child: None,
            port: free_port(),
            bin: moto_binary(),
        };
        m.spawn();
        m.create_bucket(bucket);
        m
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {}: {e} (run scripts/install-tools.sh)",
                    self.bin.display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.request("GET", "/moto-api/").is_some_and(|s| s == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A plain HTTP request; returns the status code.
    fn request(&self, method: &str, path: &str) -> Option<u16> {
        self.request_with(method, path, "")
    }

    /// A plain HTTP request with extra header lines (each ending in `\r\n`).
    fn request_with(&self, method: &str, path: &str, headers: &str) -> Option<u16> {
        use std::io::{Read as _, Write as _};
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).ok()?;
        let head = String::from_utf8_lossy(&buf[..n]);
        head.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn create_bucket(&self, bucket: &str) {
        assert_eq!(
            self.request("PUT", &format!("/{bucket}")),
            Some(200),
            "creating bucket {bucket}"
        );
    }

    /// Creates `bucket` with S3 Object Lock enabled (and so versioning), as
    /// `CreateBucket` with `x-amz-bucket-object-lock-enabled: true` does on S3.
    pub fn create_locked_bucket(&self, bucket: &str) {
        assert_eq!(
            self.request_with(
                "PUT",
                &format!("/{bucket}"),
                "x-amz-bucket-object-lock-enabled: true\r\n"
            ),
            Some(200),
            "creating bucket {bucket} with Object Lock"
        );
    }

    /// The storage spec of `s3://bucket/prefix` on this server.
    pub fn spec(&self, bucket: &str, prefix: &str) -> soc2_core::crd::StorageSpec {
        soc2_core::crd::StorageSpec {
            url: format!("s3://{bucket}/{prefix}"),
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            path_style: true,
            allow_http: true,
            credentials_secret: None,
            object_lock: None,
        }
    }

    /// Opens a storage spec of this server with its test credentials.
    pub fn open(&self, spec: &soc2_core::crd::StorageSpec) -> Store {
        let creds = [
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ]
        .into_iter()
        .collect();
        Store::open(spec, &creds).expect("s3 store opens")
    }

    /// Stops the server (the process is killed).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Opens `s3://bucket/prefix` on this server.
    pub fn store(&self, bucket: &str, prefix: &str) -> Store {
        let spec = soc2_core::crd::StorageSpec {
            url: format!("s3://{bucket}/{prefix}"),
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            path_style: true,
            allow_http: true,
            credentials_secret: None,
            object_lock: None,
        };
        let creds = [
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
        ]
        .into_iter()
        .collect();
        Store::open(&spec, &creds).expect("s3 store opens")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
