//! Object storage behind `object_store`: `file://` (the default), `s3://`, `gs://`, `az://`.
//!
//! Owns URL parsing, credentials and the few operations evidence needs: create-only put, get,
//! list and delete. Keys given to these methods are relative to the URL's prefix. It does not
//! retry at the evidence level (the writer does) and never logs or formats credentials: the
//! `Display` form is the URL only.
//!
//! S3 Object Lock (`spec.storage.objectLock`): `object_store` has no per-request retention
//! option, so [`Store::for_write`] builds, per snapshot, a client whose default headers carry
//! `x-amz-object-lock-mode` and `x-amz-object-lock-retain-until-date` (signed like every other
//! header) and which sends `x-amz-checksum-sha256` (S3 requires a checksum on Object Lock
//! PUTs); only [`Store::put_create`] uses it. [`Store::retention`] reads an object's retention
//! from a HEAD on a URL presigned by `object_store`'s signer (its `head` does not expose those
//! headers).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use jiff::{SignedDuration, Timestamp};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::Signer as _;
use object_store::{
    ClientOptions, GetOptions, ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload,
    RetryConfig,
};
use serde::Serialize;

use super::{Error, Result, rfc3339};
use soc2_core::crd::{ObjectLockMode, StorageSpec, parse_duration};

/// Response header of S3 HEAD/GET (and request header of PUT): the Object Lock mode.
pub const LOCK_MODE_HEADER: &str = "x-amz-object-lock-mode";
/// Response header of S3 HEAD/GET (and request header of PUT): the end of the retention.
pub const LOCK_UNTIL_HEADER: &str = "x-amz-object-lock-retain-until-date";

/// The Object Lock retention a store applies to every object it writes (S3 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: ObjectLockMode,
    /// Retention from the write.
    pub duration: SignedDuration,
}

/// The retention of one stored object, as the store reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// `GOVERNANCE` or `COMPLIANCE` (as S3 reports it).
    pub mode: String,
    /// When the retention ends.
    pub retain_until: Timestamp,
}

/// What is needed to build more S3 clients for the same bucket (locked writes) and to presign.
struct S3Parts {
    bucket: String,
    spec: StorageSpec,
    credentials: BTreeMap<String, String>,
    retry: RetryConfig,
    signer: AmazonS3,
    http: reqwest::Client,
}

/// Credentials map keys read for S3.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// See [`AWS_ACCESS_KEY_ID`].
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// See [`AWS_ACCESS_KEY_ID`].
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Credentials map key for GCS: the service account JSON.
pub const GCS_SERVICE_ACCOUNT: &str = "service-account.json";
/// Credentials map keys for Azure.
pub const AZURE_ACCOUNT_NAME: &str = "AZURE_STORAGE_ACCOUNT_NAME";
/// See [`AZURE_ACCOUNT_NAME`].
pub const AZURE_ACCOUNT_KEY: &str = "AZURE_STORAGE_ACCOUNT_KEY";

/// One listed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Key relative to the store prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag, when it reports one (reads can be pinned to it).
    pub e_tag: Option<String>,
}

/// The outcome of a bounded, checked read ([`Store::read_checked`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// The object's bytes, read once.
    Bytes(Vec<u8>),
    /// No such object.
    Missing,
    /// In a file store, the path is not a regular file (a FIFO, symlink, device or folder);
    /// it was not opened. The string names what it is.
    NotRegular(String),
    /// The object is larger than the cap (its size, or the cap when it grew while read).
    TooLarge(u64),
    /// The object no longer matches the entity tag of the listing (changed since listed).
    Changed,
}

/// An evidence store. `Debug` and `Display` show the URL only (the backend's own `Debug` can
/// include credentials).
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    /// The directory of a `file://` store: reads check the path is a regular file first.
    local_root: Option<std::path::PathBuf>,
    /// S3 only: a signer and the settings to build locked clients.
    s3: Option<Arc<S3Parts>>,
    /// `spec.objectLock`, parsed.
    lock: Option<ObjectLock>,
    /// Set by [`Store::for_write`]: the client that puts with Object Lock retention.
    put_inner: Option<Arc<dyn ObjectStore>>,
    /// The retain-until date `put_inner` applies.
    retain_until: Option<Timestamp>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Store {
    /// Opens the store described by a policy's storage spec. `credentials` holds the keys of the
    /// credentials Secret (see the `*_KEY` constants); absent keys fall back to the environment.
    pub fn open(spec: &StorageSpec, credentials: &BTreeMap<String, String>) -> Result<Self> {
        let url = spec.url.trim();
        let bad = |message: String| Error::StoreConfig {
            url: url.to_string(),
            message,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected file://, s3://, gs:// or az://".into()))?;
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(30),
            ..Default::default()
        };
        if scheme == "file" {
            let dir = rest;
            if !dir.starts_with('/') {
                return Err(bad(
                    "file:// URLs need an absolute path (file:///...)".into()
                ));
            }
            std::fs::create_dir_all(dir).map_err(|e| bad(format!("creating {dir}: {e}")))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| bad(e.to_string()))?
                .with_automatic_cleanup(true);
            if spec.object_lock.is_some() {
                return Err(bad(OBJECT_LOCK_S3_ONLY.into()));
            }
            return Ok(Self {
                inner: Arc::new(fs),
                prefix: String::new(),
                url: url.to_string(),
                local_root: Some(std::path::PathBuf::from(dir)),
                s3: None,
                lock: None,
                put_inner: None,
                retain_until: None,
            });
        }
        let (bucket, prefix) = match rest.split_once('/') {
            Some((b, p)) => (b, p.trim_matches('/')),
            None => (rest, ""),
        };
        if bucket.is_empty() {
            return Err(bad("the URL names no bucket".into()));
        }
        let cred = |k: &str| credentials.get(k).map(|v| v.trim().to_string());
        let lock = match &spec.object_lock {
            None => None,
            Some(_) if scheme != "s3" => return Err(bad(OBJECT_LOCK_S3_ONLY.into())),
            Some(l) => {
                let duration = parse_duration(&l.duration)
                    .map_err(|e| bad(format!("objectLock.duration: {e}")))?;
                if duration <= SignedDuration::ZERO {
                    return Err(bad("objectLock.duration: must be positive".into()));
                }
                Some(ObjectLock {
                    mode: l.mode,
                    duration,
                })
            }
        };
        let mut s3 = None;
        let inner: Arc<dyn ObjectStore> = match scheme {
            "s3" => {
                let signer = s3_builder(bucket, spec, credentials, &retry, None)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| bad(format!("HTTP client: {e}")))?;
                let inner = Arc::new(signer.clone());
                s3 = Some(Arc::new(S3Parts {
                    bucket: bucket.to_string(),
                    spec: spec.clone(),
                    credentials: credentials.clone(),
                    retry: retry.clone(),
                    signer,
                    http,
                }));
                inner
            }
            "gs" => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry);
                if let Some(v) = cred(GCS_SERVICE_ACCOUNT) {
                    b = b.with_service_account_key(v);
                }
                Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
            }
            "az" | "azure" => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket)
                    .with_retry(retry);
                if let Some(v) = cred(AZURE_ACCOUNT_NAME) {
                    b = b.with_account(v);
                }
                if let Some(v) = cred(AZURE_ACCOUNT_KEY) {
                    b = b.with_access_key(v);
                }
                if let Some(e) = &spec.endpoint {
                    b = b.with_endpoint(e.clone());
                }
                if spec.allow_http {
                    b = b.with_allow_http(true);
                }
                Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
            }
            other => return Err(bad(format!("unsupported scheme {other:?}"))),
        };
        Ok(Self {
            inner,
            prefix: prefix.to_string(),
            url: redact(url),
            local_root: None,
            s3,
            lock,
            put_inner: None,
            retain_until: None,
        })
    }

    /// The Object Lock retention this store applies to what it writes (`spec.objectLock`).
    pub fn object_lock(&self) -> Option<ObjectLock> {
        self.lock
    }

    /// The retain-until date the puts of this store apply (set by [`Store::for_write`]).
    pub fn retain_until(&self) -> Option<Timestamp> {
        self.retain_until
    }

    /// Whether [`Store::retention`] can read retention (S3 stores).
    pub fn reports_retention(&self) -> bool {
        self.s3.is_some()
    }

    /// The store to write one snapshot with: without Object Lock, this store; with it, a store
    /// whose [`Store::put_create`] gives every object retention until `now + duration`
    /// (a new S3 client, because the retain-until date is a default header).
    pub fn for_write(&self, now: Timestamp) -> Result<Store> {
        let (Some(lock), Some(parts)) = (self.lock, &self.s3) else {
            return Ok(self.clone());
        };
        let bad = |message: String| Error::StoreConfig {
            url: self.url.clone(),
            message,
        };
        let until = now
            .checked_add(lock.duration)
            .map_err(|e| bad(format!("objectLock.duration: {e}")))?;
        let until = Timestamp::from_second(until.as_second())
            .map_err(|e| bad(format!("objectLock.duration: {e}")))?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            LOCK_MODE_HEADER,
            reqwest::header::HeaderValue::from_static(lock.mode.as_str()),
        );
        headers.insert(
            LOCK_UNTIL_HEADER,
            reqwest::header::HeaderValue::from_str(&rfc3339(until))
                .map_err(|e| bad(e.to_string()))?,
        );
        // S3 wants proof of the body on Object Lock PUTs: object_store sends
        // x-amz-checksum-sha256 (below); the algorithm header names it, as the AWS SDKs do
        // (moto, like older S3 documentation, asks for it or Content-MD5).
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            reqwest::header::HeaderValue::from_static("SHA256"),
        );
        let locked = s3_builder(
            &parts.bucket,
            &parts.spec,
            &parts.credentials,
            &parts.retry,
            Some(headers),
        )
        .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
        .build()
        .map_err(|e| bad(e.to_string()))?;
        let mut out = self.clone();
        out.put_inner = Some(Arc::new(locked));
        out.retain_until = Some(until);
        Ok(out)
    }

    /// The Object Lock retention of an object, from a HEAD request (S3 only: `Ok(None)`
    /// elsewhere, and for an object without retention).
    pub async fn retention(&self, key: &str) -> Result<Option<Retention>> {
        let Some(parts) = &self.s3 else {
            return Ok(None);
        };
        let fail = |message: String| {
            Error::Invalid(format!(
                "{key}: reading the Object Lock retention: {message}"
            ))
        };
        let url = parts
            .signer
            .signed_url(
                reqwest::Method::HEAD,
                &self.path(key),
                Duration::from_secs(300),
            )
            .await
            .map_err(|source| Error::Store {
                op: "head",
                key: key.to_string(),
                source,
            })?;
        let resp = parts
            .http
            .head(url.as_str())
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match (header(LOCK_MODE_HEADER), header(LOCK_UNTIL_HEADER)) {
            (Some(mode), Some(until)) => {
                let retain_until = until
                    .parse::<Timestamp>()
                    .map_err(|e| fail(format!("{LOCK_UNTIL_HEADER} {until:?}: {e}")))?;
                Ok(Some(Retention { mode, retain_until }))
            }
            _ => Ok(None),
        }
    }

    /// Opens a URL with default options (no endpoint override, environment credentials).
    /// A bare path is taken as a local directory.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::open(&storage_spec(url), &BTreeMap::new())
    }

    /// A store over any `ObjectStore` (tests, custom backends).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Self {
        Self {
            inner,
            prefix: prefix.trim_matches('/').to_string(),
            url: url.to_string(),
            local_root: None,
            s3: None,
            lock: None,
            put_inner: None,
            retain_until: None,
        }
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    fn relative(&self, path: &Path) -> String {
        let s = path.as_ref();
        if self.prefix.is_empty() {
            s.to_string()
        } else {
            s.strip_prefix(&self.prefix)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(s)
                .to_string()
        }
    }

    /// Writes `bytes` at `key` unless an object is already there.
    pub async fn put_create(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .put_inner
            .as_ref()
            .unwrap_or(&self.inner)
            .put_opts(&self.path(key), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(Error::AlreadyExists {
                key: key.to_string(),
            }),
            Err(source) => Err(Error::Store {
                op: "put",
                key: key.to_string(),
                source,
            }),
        }
    }

    /// Reads an object; `Ok(None)` when it does not exist.
    pub async fn get_opt(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let err = |source| Error::Store {
            op: "get",
            key: key.to_string(),
            source,
        };
        match self.inner.get(&self.path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(err)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// Reads an object at most `max` bytes long, once. In a file store the path must be a
    /// regular file (checked without following symlinks, before opening: a FIFO would block).
    /// With `e_tag` (from the listing) the read is conditional on it, so the bytes are those
    /// that were listed. Store errors other than not-found are returned as errors.
    pub async fn read_checked(&self, key: &str, max: u64, e_tag: Option<&str>) -> Result<Read> {
        let err = |source| Error::Store {
            op: "get",
            key: key.to_string(),
            source,
        };
        if let Some(root) = &self.local_root {
            let path = root.join(key);
            match std::fs::symlink_metadata(&path) {
                Ok(m) => {
                    let ft = m.file_type();
                    if !ft.is_file() {
                        return Ok(Read::NotRegular(file_type_name(&ft).to_string()));
                    }
                    if m.len() > max {
                        return Ok(Read::TooLarge(m.len()));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
                Err(source) => {
                    return Err(Error::Io {
                        context: format!("inspecting {key}"),
                        source,
                    });
                }
            }
        }
        let options = GetOptions {
            if_match: e_tag.map(str::to_string),
            ..Default::default()
        };
        let r = match self.inner.get_opts(&self.path(key), options).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(Read::Missing),
            Err(object_store::Error::Precondition { .. }) => return Ok(Read::Changed),
            Err(e) => return Err(err(e)),
        };
        if r.meta.size > max {
            return Ok(Read::TooLarge(r.meta.size));
        }
        let mut out: Vec<u8> = Vec::new();
        let mut stream = r.into_stream();
        while let Some(chunk) = stream.try_next().await.map_err(err)? {
            if (out.len() as u64).saturating_add(chunk.len() as u64) > max {
                return Ok(Read::TooLarge(max));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Read::Bytes(out))
    }

    /// Reads an object that must exist.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.get_opt(key).await?.ok_or_else(|| Error::Manifest {
            key: key.to_string(),
            message: "not found".into(),
        })
    }

    /// Every object below `prefix` (recursively), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        let p = self.path(prefix.trim_end_matches('/'));
        let mut out: Vec<Listed> = self
            .inner
            .list(Some(&p))
            .map_ok(|m| Listed {
                key: self.relative(&m.location),
                size: m.size,
                e_tag: m.e_tag,
            })
            .try_collect()
            .await
            .map_err(|source| Error::Store {
                op: "list",
                key: prefix.to_string(),
                source,
            })?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The immediate sub-folders of `prefix` (`""` for the top), as names.
    pub async fn folders(&self, prefix: &str) -> Result<Vec<String>> {
        let p = if prefix.is_empty() && self.prefix.is_empty() {
            None
        } else {
            Some(self.path(prefix.trim_end_matches('/')))
        };
        let listed = self
            .inner
            .list_with_delimiter(p.as_ref())
            .await
            .map_err(|source| Error::Store {
                op: "list",
                key: prefix.to_string(),
                source,
            })?;
        let mut out: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes one object (missing objects are not an error).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(Error::Store {
                op: "delete",
                key: key.to_string(),
                source,
            }),
        }
    }
}

const OBJECT_LOCK_S3_ONLY: &str = "objectLock is S3 Object Lock and needs an s3:// URL (on GCS use a locked bucket retention policy or object retention, on Azure an immutability policy; see docs/evidence.md)";

/// An S3 client builder for `bucket`: environment settings (`AWS_*`, as
/// `AmazonS3Builder::from_env`), then the spec and the credentials map. `headers` become
/// default headers of every request (signed).
fn s3_builder(
    bucket: &str,
    spec: &StorageSpec,
    credentials: &BTreeMap<String, String>,
    retry: &RetryConfig,
    headers: Option<reqwest::header::HeaderMap>,
) -> AmazonS3Builder {
    let mut options = ClientOptions::new();
    if let Some(h) = headers {
        options = options.with_default_headers(h);
    }
    // As `from_env`, but onto client options that carry the default headers.
    let mut b = AmazonS3Builder::new().with_client_options(options);
    for (k, v) in std::env::vars_os() {
        if let (Some(k), Some(v)) = (k.to_str(), v.to_str())
            && k.starts_with("AWS_")
            && let Ok(key) = k.to_ascii_lowercase().parse()
        {
            b = b.with_config(key, v);
        }
    }
    b = b
        .with_bucket_name(bucket)
        .with_retry(retry.clone())
        .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
    if let Some(e) = &spec.endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(r) = &spec.region {
        b = b.with_region(r);
    }
    if spec.path_style {
        b = b.with_virtual_hosted_style_request(false);
    }
    if spec.allow_http {
        b = b.with_allow_http(true);
    }
    let cred = |k: &str| credentials.get(k).map(|v| v.trim().to_string());
    if let Some(v) = cred(AWS_ACCESS_KEY_ID) {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = cred(AWS_SECRET_ACCESS_KEY) {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = cred(AWS_SESSION_TOKEN) {
        b = b.with_token(v);
    }
    b
}

fn file_type_name(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device";
        }
    }
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// The URL without any `user:password@` part, for display.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

/// A storage spec for a bare URL or local path (CLI convenience).
pub fn storage_spec(url: &str) -> StorageSpec {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        let p = std::path::Path::new(url);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        format!("file://{}", abs.display())
    };
    StorageSpec {
        url,
        endpoint: None,
        region: None,
        path_style: false,
        allow_http: false,
        credentials_secret: None,
        object_lock: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_redacted() {
        assert_eq!(
            redact("s3://AKIA:secret@bucket/prefix"),
            "s3://bucket/prefix"
        );
        assert_eq!(redact("s3://bucket"), "s3://bucket");
        assert_eq!(redact("file:///var/lib/x"), "file:///var/lib/x");
        let bad = |u: &str| Store::from_url(u).unwrap_err().to_string();
        assert!(bad("ftp://x/y").contains("unsupported scheme"));
        assert!(bad("s3:///prefix").contains("no bucket"));
        let s = Store::open(
            &StorageSpec {
                url: "s3://bucket/a/b/".into(),
                endpoint: Some("http://127.0.0.1:1".into()),
                region: Some("eu-west-1".into()),
                path_style: true,
                allow_http: true,
                credentials_secret: None,
                object_lock: None,
            },
            &[
                (AWS_ACCESS_KEY_ID.to_string(), "AKIDEXAMPLE".to_string()),
                (AWS_SECRET_ACCESS_KEY.to_string(), "hunter2".to_string()),
            ]
            .into_iter()
            .collect(),
        )
        .unwrap();
        assert_eq!(s.prefix, "a/b");
        assert!(!format!("{s} {s:?}").contains("hunter2"));
    }
}
