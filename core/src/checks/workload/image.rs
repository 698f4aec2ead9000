//! Parsing container image references the way container runtimes resolve them.

/// The registry images without a registry host come from.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed image reference: `registry/repository[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (with port), lowercased; `docker.io` when the reference names none.
    pub registry: String,
    /// Repository path, e.g. `library/nginx` for `nginx`.
    pub repository: String,
    /// Tag, when written.
    pub tag: Option<String>,
    /// Digest (`sha256:...`), when written.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference. The first path segment is a registry host when it contains `.` or
    /// `:` or is `localhost` (the rule of the Docker reference grammar); otherwise the image is
    /// on Docker Hub, and single-segment names are under `library/`. `index.docker.io` is
    /// normalised to `docker.io`. Returns `None` for an empty reference.
    pub fn parse(reference: &str) -> Option<Self> {
        let reference = reference.trim();
        let (rest, digest) = match reference.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (reference, None),
        };
        // The tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if name.is_empty() {
            return None;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), path.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        Some(Self {
            registry,
            repository,
            tag: tag.filter(|t| !t.is_empty()),
            digest: digest.filter(|d| !d.is_empty()),
        })
    }

    /// `registry/repository`, e.g. `docker.io/library/nginx`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether an allowlist entry covers this image: the entry is the registry host
    /// (`ghcr.io`) or a `host/path` prefix ending at a path-segment boundary (`ghcr.io/acme`
    /// covers `ghcr.io/acme/api` but not `ghcr.io/acme-evil/api`). Comparison ignores case and
    /// a trailing `/`.
    pub fn matches_registry(&self, entry: &str) -> bool {
        let entry = entry.trim().trim_end_matches('/').to_ascii_lowercase();
        let entry = entry
            .strip_prefix("index.docker.io")
            .map_or(entry.clone(), |rest| format!("{DEFAULT_REGISTRY}{rest}"));
        if entry.is_empty() {
            return false;
        }
        let full = self.full_name().to_ascii_lowercase();
        full == entry
            || full
                .strip_prefix(entry.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether the reference is pinned: it has a digest, or a tag other than `latest`.
    pub fn is_unpinned(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).expect("parses")
    }

    #[test]
    fn parses_docker_hub_short_names() {
        let i = p("nginx");
        assert_eq!(i.registry, "docker.io");
        assert_eq!(i.repository, "library/nginx");
        assert_eq!(i.tag, None);
        let i = p("bitnami/redis:7.2");
        assert_eq!(i.full_name(), "docker.io/bitnami/redis");
        assert_eq!(i.tag.as_deref(), Some("7.2"));
        assert_eq!(
            p("index.docker.io/nginx:1").full_name(),
            "docker.io/library/nginx"
        );
    }

    #[test]
    fn detects_hosts_ports_and_localhost() {
        let i = p("registry.example.com:5000/team/app:1.2.3");
        assert_eq!(i.registry, "registry.example.com:5000");
        assert_eq!(i.repository, "team/app");
        assert_eq!(i.tag.as_deref(), Some("1.2.3"));
        let i = p("localhost/app");
        assert_eq!(i.registry, "localhost");
        assert_eq!(i.tag, None);
        let i = p("localhost:5000/app");
        assert_eq!(i.registry, "localhost:5000");
        assert_eq!(i.repository, "app");
        assert_eq!(i.tag, None);
        // A first segment without '.', ':' or localhost is a Docker Hub namespace.
        assert_eq!(p("myorg/app").registry, "docker.io");
    }

    #[test]
    fn parses_digests() {
        let i = p("ghcr.io/acme/api@sha256:abc");
        assert_eq!(i.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(i.tag, None);
        assert!(!i.is_unpinned());
        let i = p("ghcr.io/acme/api:1.0@sha256:abc");
        assert_eq!(i.tag.as_deref(), Some("1.0"));
        assert_eq!(i.repository, "acme/api");
    }

    #[test]
    fn pinning() {
        assert!(p("nginx").is_unpinned());
        assert!(p("nginx:latest").is_unpinned());
        assert!(!p("nginx:1.27").is_unpinned());
        assert!(!p("nginx:latest@sha256:abc").is_unpinned());
        assert!(p("localhost:5000/app").is_unpinned());
    }

    #[test]
    fn registry_matching_respects_segment_boundaries() {
        let i = p("ghcr.io/acme/api:1");
        assert!(i.matches_registry("ghcr.io"));
        assert!(i.matches_registry("GHCR.io/acme/"));
        assert!(i.matches_registry("ghcr.io/acme/api"));
        assert!(!i.matches_registry("ghcr.io/acme-evil"));
        assert!(!i.matches_registry("ghcr.io/ac"));
        assert!(!i.matches_registry("ghcr"));
        assert!(!i.matches_registry(""));
        assert!(p("nginx").matches_registry("docker.io/library"));
        assert!(p("nginx").matches_registry("index.docker.io"));
        assert!(!p("evil.io/docker.io/x").matches_registry("docker.io"));
    }

    #[test]
    fn empty_reference_is_none() {
        assert_eq!(ImageRef::parse(""), None);
        assert_eq!(ImageRef::parse("@sha256:abc"), None);
    }
}
