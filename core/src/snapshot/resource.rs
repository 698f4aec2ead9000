//! References to objects, as findings and evidence name them.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Names one object: kind, namespace (for namespaced kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ResourceRef {
    /// Builds a reference.
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// A reference to a typed object.
    pub fn of<K>(obj: &K) -> Self
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let meta = obj.meta();
        Self::new(
            &K::kind(&()),
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or(""),
        )
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// SHA-256 (hex) of an object's JSON serialization. Typed objects serialize their fields in a
/// fixed order and dynamic ones through sorted maps, so equal objects give equal digests.
pub fn object_digest<T: Serialize + ?Sized>(obj: &T) -> String {
    let mut hasher = Sha256::new();
    // Writing into the hasher avoids holding the whole serialization in memory.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), obj);
    hex::encode(hasher.finalize())
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
