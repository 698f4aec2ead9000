//! `data.credentials-in-plain-config`: credentials in env values and ConfigMaps instead of
//! Secrets.
//!
//! One value is judged at a time, by its name and its content, in this order:
//! 1. **formats**: the value contains credential material whatever its name (PEM private keys,
//!    AWS key ids, GitHub/GitLab/Slack/Google/Stripe/npm tokens, JWTs, `Bearer`/`Basic`
//!    authorization values, URLs and Go DSNs with a password);
//! 2. **names**: a credential-like name (`namePattern`) holding a literal that is not a
//!    reference, template, mask or file path, unless the name only describes a credential
//!    (`PASSWORD_MIN_LENGTH`, `TOKEN_URL`, `SECRET_NAME`); a name ending in `key` or `auth`
//!    holding a random-looking literal (or `user:password` for `auth`);
//! 3. **assignments inside the value** (`password=…` in a properties/INI/YAML/JSON file, a
//!    libpq DSN or a connection string), judged like names;
//! 4. **base64**: a value that decodes to UTF-8 text is judged again by 1 and 3.
//!
//! ConfigMap `binaryData` is judged the same way once decoded, when it is UTF-8 text (the
//! operator's watch cache drops `binaryData`; `audit` keeps it). `valueFrom`/`envFrom`
//! references to Secrets are the remedy and never a finding. Messages name keys, containers and
//! objects only, never values. Precision and recall are measured over the labelled corpus in
//! `core/tests/fixtures/credentials-corpus/` (see `BENCHMARKS.md`).

use std::borrow::Cow;
use std::sync::LazyLock;

use base64::Engine;
use regex::{Regex, RegexSet};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::checks::workload::{containers, join_problems};
use crate::checks::{Check, CheckMeta, Ctx, Finding, Outcome, Reads, ResourceRef, Severity};

/// The default credential-name pattern. It is written for the snake_case form of a name
/// (`dbPwd` → `db_pwd`, `X-Api-Key` → `x_api_key`); see [`Params::name_pattern`].
pub const DEFAULT_NAME_PATTERN: &str = concat!(
    r"passw(?:or)?d|passphrase|pwd|secret|credential|creds|token(?:_|$)",
    r"|(?:^|_)(?:pass|pw)(?:_|$)|(?:db|pg|admin|root|key|user)pass(?:_|$)",
    r"|(?:api|access|account|auth|client|private|priv|signing|encryption|master|storage|service",
    r"|app|consumer|license|subscription|sas|shared|hmac|ingest|deploy|write)_?key(?:_|$)",
    r"|^azure_(?:\w+_)?key(?:_|$)",
);

/// Every name the default pattern or the `key`/`auth` rule can match contains one of these,
/// in any case: a cheap pre-check that spares most names (`LOG_LEVEL`) the snake_case work.
const NAME_HINTS: [&[u8]; 7] = [
    b"pass", b"pw", b"secret", b"cred", b"token", b"key", b"auth",
];

/// Whether `name` contains one of [`NAME_HINTS`], ignoring ASCII case.
fn has_name_hint(name: &str) -> bool {
    let b = name.as_bytes();
    NAME_HINTS
        .iter()
        .any(|hint| b.windows(hint.len()).any(|w| w.eq_ignore_ascii_case(hint)))
}

/// Last words of a name that describe a credential instead of holding one
/// (`PASSWORD_MIN_LENGTH`, `TOKEN_TTL`, `DB_PASSWORD_FILE`, `secretName`, `passwordSecretRef`).
const DESCRIPTOR_LAST_WORDS: &[&str] = &[
    "age",
    "alg",
    "algo",
    "algorithm",
    "attempts",
    "audience",
    "backend",
    "ca",
    "cert",
    "certificate",
    "class",
    "complexity",
    "count",
    "crt",
    "days",
    "delay",
    "dir",
    "directory",
    "duration",
    "email",
    "enabled",
    "encoding",
    "encryption",
    "endpoint",
    "expiration",
    "expires",
    "expiry",
    "field",
    "file",
    "files",
    "fingerprint",
    "format",
    "frequency",
    "hash",
    "hasher",
    "hashing",
    "header",
    "hint",
    "host",
    "hostname",
    "hours",
    "interval",
    "issuer",
    "kind",
    "label",
    "len",
    "length",
    "lifespan",
    "lifetime",
    "limit",
    "location",
    "manager",
    "max",
    "method",
    "min",
    "minutes",
    "mode",
    "mount",
    "ms",
    "name",
    "names",
    "namespace",
    "param",
    "path",
    "paths",
    "pattern",
    "period",
    "policy",
    "port",
    "prefix",
    "provider",
    "ref",
    "reference",
    "regex",
    "required",
    "retention",
    "retries",
    "rotation",
    "schedule",
    "scheme",
    "scope",
    "scopes",
    "seconds",
    "secs",
    "selector",
    "size",
    "source",
    "store",
    "strength",
    "suffix",
    "template",
    "threshold",
    "timeout",
    "ttl",
    "type",
    "uri",
    "url",
    "user",
    "username",
    "version",
    "volume",
    "window",
];
/// First words of a name that make it a setting about credentials (`ENABLE_TOKEN_AUTH`,
/// `existingSecret`, `MAX_TOKEN_AGE`).
const DESCRIPTOR_FIRST_WORDS: &[&str] = &[
    "allow", "disable", "enable", "existing", "max", "min", "num", "require", "use",
];
/// Last two words naming the key under which a Secret holds a password (Helm charts'
/// `adminPasswordKey`), not a key.
const DESCRIPTOR_LAST_PAIRS: &[&str] = &["password_key", "passwd_key", "pwd_key"];
/// Last words of names that hold a credential only when the value looks like one.
const WEAK_LAST_WORDS: &[&str] = &["key", "auth"];
/// Words that make a `*_KEY` name public (`SSH_PUBLIC_KEY`, `STRIPE_PUBLISHABLE_KEY`).
const PUBLIC_WORDS: &[&str] = &["public", "pub", "publishable"];

/// Flags credential material in container env values and ConfigMaps. One finding per
/// workload or ConfigMap; messages never contain values.
pub struct CredentialsInPlainConfig;

/// A regular expression parameter, compiled when the parameters are parsed so that an invalid
/// pattern is refused by validation (and compiled once per evaluation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamePattern {
    source: String,
    regex: Regex,
}

impl NamePattern {
    /// Whether a key or variable name (as written, or its snake_case form) matches.
    fn matches(&self, name: &str, snake: &str) -> bool {
        self.regex.is_match(snake) || (name != snake && self.regex.is_match(name))
    }

    fn is_default(&self) -> bool {
        self.source == DEFAULT_NAME_PATTERN
    }
}

impl TryFrom<String> for NamePattern {
    type Error = String;
    fn try_from(source: String) -> Result<Self, String> {
        match Regex::new(&source) {
            Ok(regex) => Ok(Self { source, regex }),
            Err(e) => Err(format!(
                "params.namePattern is not a valid regular expression: {e}"
            )),
        }
    }
}

impl From<NamePattern> for String {
    fn from(p: NamePattern) -> String {
        p.source
    }
}

impl JsonSchema for NamePattern {
    fn schema_name() -> Cow<'static, str> {
        "NamePattern".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "regex"})
    }
}

/// Parameters of `data.credentials-in-plain-config`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Regular expression (Rust `regex` syntax) for env var names, ConfigMap keys and keys
    /// inside config-file values that hold credentials. A name matches when the pattern matches
    /// it as written or its snake_case form (lower case, words joined by `_`: `dbPwd` →
    /// `db_pwd`). Names whose last word describes a credential (`_LENGTH`, `_TTL`, `_URL`,
    /// `_FILE`, `_NAME`, ...) never match. Default: password/passwd/pwd/pass, passphrase,
    /// secret, credential(s)/creds, token, api/access/private/signing/... `_key` and
    /// `azure_*_key` (the constant `DEFAULT_NAME_PATTERN`).
    pub name_pattern: NamePattern,
    /// ConfigMaps (by name, in any namespace) not to inspect. Default `["kube-root-ca.crt"]`.
    pub ignore_config_maps: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            name_pattern: NamePattern {
                source: DEFAULT_NAME_PATTERN.to_string(),
                regex: Regex::new(DEFAULT_NAME_PATTERN).expect("default pattern is valid"),
            },
            ignore_config_maps: vec!["kube-root-ca.crt".to_string()],
        }
    }
}

/// A value format that is credential material whatever its name.
struct Format {
    what: &'static str,
    pattern: &'static str,
    /// Extra test on the first match's captures (a URL's password must not be a reference).
    confirm: Option<fn(&regex::Captures<'_>) -> bool>,
}

/// The password captured as group 1 is a literal.
fn literal_password(c: &regex::Captures<'_>) -> bool {
    c.get(1).is_some_and(|p| !is_placeholder(p.as_str()))
}

/// The token captured as group 1 has a digit (tokens do; "bearer authentication" does not).
fn token_with_digit(c: &regex::Captures<'_>) -> bool {
    c.get(1)
        .is_some_and(|t| t.as_str().chars().any(|ch| ch.is_ascii_digit()))
}

/// The base64 payload captured as group 1 decodes to `user:password`.
fn basic_credentials(c: &regex::Captures<'_>) -> bool {
    c.get(1)
        .and_then(|p| decode_base64(p.as_str()))
        .is_some_and(|text| is_user_password(&text))
}

/// Patterns after gitleaks' rules (aws-access-token, github-*, gitlab-pat, slack-*,
/// gcp-api-key, stripe-access-token, npm-access-token, jwt, private-key), loosened where a
/// ConfigMap value has no surrounding code.
const FORMATS: &[Format] = &[
    Format {
        what: "a PEM private key",
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        confirm: None,
    },
    Format {
        what: "an AWS access key id",
        pattern: r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        confirm: None,
    },
    Format {
        what: "a GitHub token",
        pattern: r"\b(?:gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})\b",
        confirm: None,
    },
    Format {
        what: "a GitLab token",
        pattern: r"\bglpat-[0-9A-Za-z_-]{20}",
        confirm: None,
    },
    Format {
        what: "a Slack token",
        pattern: r"\bxox[abeoprs]-[0-9]{1,13}-[0-9A-Za-z-]{8,}",
        confirm: None,
    },
    Format {
        what: "a Slack webhook URL",
        pattern: r"https://hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]+",
        confirm: None,
    },
    Format {
        what: "a Google API key",
        pattern: r"\bAIza[0-9A-Za-z_-]{35}(?:[^0-9A-Za-z_-]|$)",
        confirm: None,
    },
    Format {
        what: "a Stripe secret key",
        pattern: r"\b[rs]k_(?:live|test|prod)_[0-9A-Za-z]{10,99}\b",
        confirm: None,
    },
    Format {
        what: "an npm token",
        pattern: r"\bnpm_[0-9A-Za-z]{36}\b",
        confirm: None,
    },
    Format {
        what: "a JWT",
        pattern: r"\beyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}",
        confirm: None,
    },
    Format {
        what: "a bearer token",
        pattern: r"(?i)\bbearer[ \t]+([0-9A-Za-z\-._~+/]{8,})",
        confirm: Some(token_with_digit),
    },
    Format {
        what: "HTTP Basic credentials",
        pattern: r"(?i)\bbasic[ \t]+([0-9A-Za-z+/]{8,}={0,2})",
        confirm: Some(basic_credentials),
    },
    Format {
        what: "a URL with a password",
        pattern: r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:([^\s/@]+)@",
        confirm: Some(literal_password),
    },
    Format {
        what: "a DSN with a password",
        pattern: r"(?m)^[^\s:/@]+:([^\s/@]+)@(?:tcp|tcp6|udp|unix)\(",
        confirm: Some(literal_password),
    },
];

static FORMAT_SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(FORMATS.iter().map(|f| f.pattern)).expect("constant regexes"));
static FORMAT_REGEXES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|f| Regex::new(f.pattern).expect("constant regex"))
        .collect()
});
/// `name = value`, `name: value`, `"name": "value"` inside a value.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z_][A-Za-z0-9_.\-]*)["']?[ \t]*[:=][ \t]*["']?([^\s"',;&}\]]*)"#)
        .expect("constant regex")
});
/// `user:password` and nothing else.
static USER_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^\s:/@]+:[^\s:/@]+$").expect("constant regex"));

/// The shortest value any format can match.
const MIN_FORMAT_LEN: usize = 8;
/// The shortest base64 value that is decoded and judged again.
const MIN_BASE64_LEN: usize = 16;
/// The longest value that is decoded (larger ones are data, and decoding them is costly).
const MAX_BASE64_LEN: usize = 64 * 1024;

/// The credential format a text contains, if any.
fn format_in(text: &str) -> Option<&'static str> {
    if text.len() < MIN_FORMAT_LEN {
        return None;
    }
    let matched = FORMAT_SET.matches(text);
    if !matched.matched_any() {
        return None;
    }
    matched.iter().find_map(|i| {
        let format = &FORMATS[i];
        let confirmed = match format.confirm {
            None => true,
            Some(confirm) => FORMAT_REGEXES[i].captures_iter(text).any(|c| confirm(&c)),
        };
        confirmed.then_some(format.what)
    })
}

/// A name in snake_case: lower case, words split at non-alphanumerics and camelCase
/// boundaries (`APIKey` → `api_key`, `dbPwd` → `db_pwd`, `tls.key` → `tls_key`).
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut chars = name.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        if !c.is_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev = Some(c);
            continue;
        }
        if c.is_uppercase()
            && !out.is_empty()
            && !out.ends_with('_')
            && let Some(p) = prev
        {
            let next_lower = chars.peek().is_some_and(|n| n.is_lowercase());
            if p.is_lowercase() || p.is_ascii_digit() || (p.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
        prev = Some(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// How a name bears on its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    /// Holds a credential: any literal value is a finding.
    Credential,
    /// Ends in `key`/`auth`: a finding only when the value looks like a credential.
    KeyLike { auth: bool },
    /// Anything else, including names that describe a credential.
    Other,
}

fn classify(pattern: &NamePattern, name: &str) -> NameKind {
    if pattern.is_default() && !has_name_hint(name) {
        return NameKind::Other;
    }
    let snake = snake_case(name);
    let last = snake.rsplit('_').next().unwrap_or("");
    let first = snake.split('_').next().unwrap_or("");
    let describes = DESCRIPTOR_LAST_WORDS.contains(&last)
        || DESCRIPTOR_FIRST_WORDS.contains(&first)
        || DESCRIPTOR_LAST_PAIRS.iter().any(|p| snake.ends_with(p));
    if describes {
        return NameKind::Other;
    }
    if pattern.matches(name, &snake) {
        return NameKind::Credential;
    }
    if WEAK_LAST_WORDS.contains(&last) && !snake.split('_').any(|w| PUBLIC_WORDS.contains(&w)) {
        return NameKind::KeyLike {
            auth: last == "auth",
        };
    }
    NameKind::Other
}

/// Values that are not credentials even under a credential-looking name: empty, variable
/// references (`$(VAR)`, `${VAR}`), templates (`{{ ... }}`), `<placeholders>`, masks (`***`,
/// `xxxx`), values without a letter or digit, absolute file paths (the `*_FILE` convention)
/// and words such as `redacted`, `none`, `true`. Dictionary passwords (`changeme`, `admin`)
/// are not placeholders: they are often the real value.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty()
        || v.starts_with('$')
        || v.contains("${")
        || v.contains("$(")
        || v.contains("{{")
        || v.starts_with('/')
    {
        return true;
    }
    if v.starts_with('<') && v.ends_with('>') {
        return true;
    }
    if is_prose_placeholder(v) {
        return true;
    }
    if v.chars()
        .all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '-' | '#' | '_') || !c.is_alphanumeric())
    {
        return true;
    }
    const WORDS: [&str; 17] = [
        "true",
        "false",
        "yes",
        "no",
        "none",
        "null",
        "nil",
        "n/a",
        "tbd",
        "todo",
        "redacted",
        "placeholder",
        "replaceme",
        "replace-me",
        "replace_me",
        "enabled",
        "disabled",
    ];
    WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// Prose placeholders: `your-token-here`, `insert_password`, `enter password`.
fn is_prose_placeholder(v: &str) -> bool {
    let b = v.as_bytes();
    let separator = |c: u8| matches!(c, b'-' | b'_' | b' ');
    let starts = ["your", "insert", "enter", "put"].iter().any(|w| {
        b.len() >= w.len()
            && b[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            && b.get(w.len()).is_none_or(|&c| separator(c))
    });
    let ends =
        b.len() > 5 && separator(b[b.len() - 5]) && b[b.len() - 4..].eq_ignore_ascii_case(b"here");
    starts || ends
}

/// Certificates and public keys: public by design.
fn is_public_material(value: &str) -> bool {
    let v = value.trim_start();
    const PREFIXES: [&str; 9] = [
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----",
        "-----BEGIN RSA PUBLIC KEY-----",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "ssh-rsa ",
        "ssh-ed25519 ",
        "ssh-dss ",
        "ecdsa-sha2-",
        "sk-ssh-ed25519@openssh.com ",
    ];
    PREFIXES.iter().any(|p| v.starts_with(p))
}

/// `user:password` (not `host:port`).
fn is_user_password(v: &str) -> bool {
    USER_PASSWORD.is_match(v)
        && v.split_once(':')
            .is_some_and(|(_, p)| !p.chars().all(|c| c.is_ascii_digit()))
}

/// Shannon entropy in bits per character.
fn entropy(v: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in v.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A single random-looking token: 16+ characters without whitespace, with letters and digits
/// and high entropy (API keys, UUID-shaped license keys; not field names or prefixes).
fn is_random_token(v: &str) -> bool {
    let v = v.trim();
    v.len() >= 16
        && !v.chars().any(char::is_whitespace)
        && v.chars().filter(char::is_ascii_digit).count() >= 2
        && v.chars().filter(char::is_ascii_alphabetic).count() >= 4
        && entropy(v) >= 3.3
}

/// Whether a value under a `*_KEY`/`*_AUTH` name looks like a credential.
fn looks_like_credential(value: &str, auth: bool) -> bool {
    if is_placeholder(value) || is_public_material(value) {
        return false;
    }
    if is_random_token(value) {
        return true;
    }
    auth && (is_user_password(value.trim())
        || is_password_like(value)
        || decode_base64(value).is_some_and(|t| is_user_password(t.trim())))
}

/// A single token of 8+ characters mixing letters and digits (`s3cr3tRedisAuth`), as a
/// password under a `*_AUTH` name is; mode words (`basic`, `oauth2`) are shorter or lack one.
fn is_password_like(v: &str) -> bool {
    let v = v.trim();
    v.len() >= 8
        && !v.chars().any(char::is_whitespace)
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| c.is_ascii_alphabetic())
}

/// The name's judgement of the value: whether it is a credential by name.
fn credential_by_name(pattern: &NamePattern, name: &str, value: &str) -> Option<NameKind> {
    if is_placeholder(value) {
        return None;
    }
    match classify(pattern, name) {
        NameKind::Credential if !is_placeholder(value) && !is_public_material(value) => {
            Some(NameKind::Credential)
        }
        kind @ NameKind::KeyLike { auth } if looks_like_credential(value, auth) => Some(kind),
        _ => None,
    }
}

/// The first `name = literal` inside a value (config file, DSN, connection string) whose
/// name holds a credential. Returns the inner name.
fn assignment_in(pattern: &NamePattern, text: &str) -> Option<String> {
    if !(text.contains('=') || text.contains(':')) || text.contains("-----BEGIN") {
        return None;
    }
    ASSIGNMENT.captures_iter(text).find_map(|c| {
        let name = c.get(1)?.as_str();
        let value = c.get(2).map_or("", |v| v.as_str());
        credential_by_name(pattern, name, value).map(|_| name.chars().take(64).collect())
    })
}

/// A base64 value (standard or URL-safe alphabet, padding optional, line breaks allowed)
/// decoded to UTF-8 text.
fn decode_base64(value: &str) -> Option<String> {
    let v = value.trim();
    if v.len() < MIN_BASE64_LEN || v.len() > MAX_BASE64_LEN {
        return None;
    }
    let mut url_safe = false;
    let mut compact = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '+' | '/' => compact.push(c),
            '-' | '_' => {
                url_safe = true;
                compact.push(c);
            }
            '=' | '\n' | '\r' => {}
            _ => return None,
        }
    }
    let engine = if url_safe {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    let bytes = engine.decode(compact.as_bytes()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let textual = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    textual.then_some(text)
}

/// What one named value holds, if it holds a credential. Never includes the value.
fn judge(pattern: &NamePattern, name: &str, value: &str) -> Option<String> {
    if let Some(what) = format_in(value) {
        return Some(format!("contains {what}"));
    }
    match credential_by_name(pattern, name, value) {
        Some(NameKind::Credential) => {
            return Some("holds a literal value under a credential-like name".to_string());
        }
        Some(_) => {
            return Some("holds a credential-looking literal under a key-like name".to_string());
        }
        None => {}
    }
    if let Some(inner) = assignment_in(pattern, value) {
        return Some(format!(
            "assigns a literal credential to `{inner}` in its value"
        ));
    }
    let text = decode_base64(value)?;
    if let Some(what) = format_in(&text) {
        return Some(format!("contains {what} (base64-encoded)"));
    }
    assignment_in(pattern, &text).map(|inner| {
        format!("contains base64-encoded text that assigns a literal credential to `{inner}`")
    })
}

/// The problem with one named value, if any. Never includes the value.
fn value_problem(
    pattern: &NamePattern,
    name: &str,
    value: &str,
    subject: &str,
    fix: &str,
) -> Option<String> {
    judge(pattern, name, value).map(|what| format!("{subject} {what}; {fix}"))
}

impl Check for CredentialsInPlainConfig {
    type Params = Params;

    fn meta(&self) -> CheckMeta {
        CheckMeta {
            id: "data.credentials-in-plain-config",
            title: "Credentials are kept in Secrets, not in env values or ConfigMaps",
            description: "A workload fails when a container env value, and a ConfigMap when a \
                          data or (decoded, UTF-8) binaryData value, holds a credential: \
                          credential material in any value (private keys, cloud and SaaS \
                          tokens, JWTs, bearer/basic authorization values, URLs or DSNs with a \
                          password, also base64-encoded), a literal under a credential-like \
                          name (namePattern; names that describe a credential such as \
                          *_LENGTH, *_TTL, *_URL, *_FILE, *_NAME do not count), a random-looking \
                          literal under a *_KEY or *_AUTH name, or a password=... assignment \
                          inside a config-file value. References ($(VAR), ${VAR}, templates), \
                          masks, file paths and public keys or certificates are not findings; \
                          valueFrom.secretKeyRef and envFrom.secretRef are the remedy.",
            criteria: &["CC6.1", "C1.1"],
            severity: Severity::High,
            remediable: false,
            admission: false,
        }
    }

    fn reads(&self) -> Reads {
        crate::workload_reads![crate::snapshot::KindId::ConfigMap,]
    }

    fn evaluate(&self, ctx: &Ctx<'_>, params: &Params) -> Outcome {
        let pattern = &params.name_pattern;
        let mut checked = 0;
        let mut findings = Vec::new();
        for w in ctx.snapshot.workloads() {
            if !ctx.in_scope(w.namespace()) {
                continue;
            }
            checked += 1;
            let mut problems = Vec::new();
            for c in containers(w.spec) {
                for e in c.env {
                    let Some(value) = e.value.as_deref() else {
                        continue;
                    };
                    let subject = format!("{} env `{}`", c.describe(), e.name);
                    problems.extend(value_problem(
                        pattern,
                        &e.name,
                        value,
                        &subject,
                        "store it in a Secret and use valueFrom.secretKeyRef (or envFrom.secretRef)",
                    ));
                }
            }
            if !problems.is_empty() {
                findings.push(Finding::new(w.resource(), join_problems(&problems)));
            }
        }
        for cm in &ctx.snapshot.config_maps {
            let name = cm.metadata.name.as_deref().unwrap_or("");
            if params.ignore_config_maps.iter().any(|i| i == name)
                || !ctx.in_scope(cm.metadata.namespace.as_deref().unwrap_or(""))
            {
                continue;
            }
            checked += 1;
            let fix = "move it to a Secret";
            let mut problems = Vec::new();
            for (key, value) in cm.data.iter().flatten() {
                let subject = format!("key `{key}`");
                problems.extend(value_problem(pattern, key, value, &subject, fix));
            }
            for (key, value) in cm.binary_data.iter().flatten() {
                let subject = format!("binaryData key `{key}`");
                let problem = match std::str::from_utf8(&value.0) {
                    Ok(text) => value_problem(pattern, key, text, &subject, fix),
                    Err(_) => (classify(pattern, key) == NameKind::Credential).then(|| {
                        format!("{subject} holds binary data under a credential-like name; {fix}")
                    }),
                };
                problems.extend(problem);
            }
            if !problems.is_empty() {
                findings.push(Finding::new(
                    ResourceRef::of(cm.as_ref()),
                    join_problems(&problems),
                ));
            }
        }
        Outcome::evaluated(checked, findings)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use base64::Engine;

    use super::{NameKind, Params, classify, format_in, is_placeholder, snake_case};
    use crate::checks::testing::{checked, failing, messages, run, run_scoped};
    use crate::checks::{Outcome, ScopeFilter, catalog};

    const ID: &str = "data.credentials-in-plain-config";

    const PLANTED_PASSWORD: &str = "hunter2-Planted-Value-9f3b";
    const PLANTED_AWS: &str = "AKIAIOSFODNN7EXAMPLE";

    fn fixture() -> String {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: a}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      initContainers:
      - name: migrate
        image: x:1
        env: [{{name: AWS_ACCESS_KEY_ID, value: "{PLANTED_AWS}"}}]
      containers:
      - name: app
        image: x:1
        env:
        - {{name: DB_PASSWORD, value: "{PLANTED_PASSWORD}"}}
        - {{name: LOG_LEVEL, value: debug}}
        - {{name: API_TOKEN, valueFrom: {{secretKeyRef: {{name: s, key: token}}}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: a}}
data:
  db_password: "{PLANTED_PASSWORD}"
  tls.key: |
    -----BEGIN RSA PRIVATE KEY-----
    MIIEplantedKeyMaterial
    -----END RSA PRIVATE KEY-----
  greeting: hello
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: kube-root-ca.crt, namespace: a}}
data:
  ca.crt: "-----BEGIN CERTIFICATE-----"
  secret_note: "{PLANTED_PASSWORD}"
"#
        )
    }

    const CLEAN: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: a}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: app
        image: x:1
        env:
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
        - {name: DB_PASSWORD_FILE, value: /run/secrets/db}
        - {name: API_TOKEN, value: "$(TOKEN_FROM_SECRET)"}
        - {name: SECRET_NAME_HINT, value: ""}
        - {name: LOG_LEVEL, value: debug}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: a}
data:
  log_level: info
  password_policy_hint: "<set in vault>"
"#;

    #[test]
    fn clean_config_passes() {
        let o = run(ID, "", CLEAN);
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 2);
    }

    #[test]
    fn credentials_fail_and_ignored_config_maps_are_skipped() {
        let o = run(ID, "", &fixture());
        assert_eq!(failing(&o), ["Deployment/a/api", "ConfigMap/a/settings"]);
        assert_eq!(checked(&o), 2);
        let m = messages(&o);
        assert!(
            m[0].contains("container `app` env `DB_PASSWORD`"),
            "{}",
            m[0]
        );
        assert!(
            m[0].contains(
                "initContainer `migrate` env `AWS_ACCESS_KEY_ID` contains an AWS access key id"
            ),
            "{}",
            m[0]
        );
        assert!(
            !m[0].contains("LOG_LEVEL") && !m[0].contains("API_TOKEN"),
            "{}",
            m[0]
        );
        assert!(m[1].contains("key `db_password`"), "{}", m[1]);
        assert!(
            m[1].contains("key `tls.key` contains a PEM private key"),
            "{}",
            m[1]
        );
        assert!(!m[1].contains("greeting"), "{}", m[1]);
    }

    #[test]
    fn values_never_appear_in_findings() {
        let o = run(ID, "", &fixture());
        let Outcome::Evaluated { findings, .. } = &o else {
            panic!("evaluated expected");
        };
        assert!(!findings.is_empty());
        for f in findings {
            let text = format!("{} {}", f.message, f.resource);
            for planted in [
                PLANTED_PASSWORD,
                PLANTED_AWS,
                "MIIEplantedKeyMaterial",
                "hunter2",
            ] {
                assert!(!text.contains(planted), "finding leaks a value: {text}");
            }
        }
    }

    #[test]
    fn name_pattern_param() {
        let o = run(ID, "namePattern: '^DB_'", &fixture());
        // db_password is lower case, so only the env var and the PEM/AWS content remain.
        assert_eq!(failing(&o), ["Deployment/a/api", "ConfigMap/a/settings"]);
        let m = messages(&o);
        assert!(!m[1].contains("db_password"), "{}", m[1]);
        let o = run(ID, "namePattern: '^NOTHING$'", CLEAN);
        assert!(failing(&o).is_empty());
    }

    #[test]
    fn ignore_config_maps_param() {
        let o = run(ID, "ignoreConfigMaps: [settings]", &fixture());
        assert_eq!(
            failing(&o),
            ["Deployment/a/api", "ConfigMap/a/kube-root-ca.crt"]
        );
    }

    #[test]
    fn invalid_regex_is_refused_by_validation() {
        let c = catalog().get(ID).expect("registered");
        let err = c
            .validate(Some(&json!({"namePattern": "(unclosed"})))
            .expect_err("invalid regex refused");
        assert!(err.0.contains("params.namePattern"), "{err}");
        assert!(c.validate(Some(&json!({"bogus": 1}))).is_err());
        assert!(c.validate(Some(&json!({"namePattern": "(?i)pin"}))).is_ok());
        assert_eq!(
            c.default_params()["namePattern"],
            json!(super::DEFAULT_NAME_PATTERN)
        );
    }

    #[test]
    fn placeholders() {
        for v in [
            "",
            "  ",
            "${X}",
            "$(X)",
            "{{ .Values.pw }}",
            "<redacted>",
            "****",
            "xxxx",
            "REDACTED",
            "/run/secrets/pw",
            "false",
            "=",
            "prefix-${X}",
        ] {
            assert!(is_placeholder(v), "{v:?}");
        }
        for v in ["hunter2", "changeme", "123456", "s3cr3t!"] {
            assert!(!is_placeholder(v), "{v:?}");
        }
    }

    /// Planted synthetic values of the right shape (never real credentials).
    const PLANTED_GITHUB: &str = "ghp_Pl4ntedC0rpusT0kenAbCdEfGhIjKlMnOpQr";
    const PLANTED_PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAPlanted\n-----END OPENSSH PRIVATE KEY-----\n";

    fn references(literal: bool) -> String {
        let (token, password) = if literal {
            (
                format!("value: {PLANTED_GITHUB}"),
                format!("value: {PLANTED_PASSWORD}"),
            )
        } else {
            (
                "valueFrom: {secretKeyRef: {name: gh, key: token}}".to_string(),
                "valueFrom: {secretKeyRef: {name: db, key: password}}".to_string(),
            )
        };
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: a}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
      - name: app
        image: x:1
        envFrom:
        - secretRef: {{name: app-credentials}}
        - configMapRef: {{name: settings}}
        env:
        - {{name: GIT_REMOTE_TOKEN, {token}}}
        - {{name: DB_PASSWORD, {password}}}
        - {{name: LOG_LEVEL, valueFrom: {{configMapKeyRef: {{name: settings, key: log_level}}}}}}
"#
        )
    }

    #[test]
    fn secret_references_are_the_remedy_and_literals_fail() {
        let o = run(ID, "", &references(false));
        assert_eq!(failing(&o), Vec::<String>::new());
        assert_eq!(checked(&o), 1);
        let o = run(ID, "", &references(true));
        assert_eq!(failing(&o), ["Deployment/a/api"]);
        let m = messages(&o);
        assert!(
            m[0].contains("env `GIT_REMOTE_TOKEN` contains a GitHub token"),
            "{}",
            m[0]
        );
        assert!(
            m[0].contains("env `DB_PASSWORD` holds a literal value"),
            "{}",
            m[0]
        );
        assert!(
            m[0].contains("valueFrom.secretKeyRef (or envFrom.secretRef)"),
            "{}",
            m[0]
        );
        assert!(!m[0].contains(PLANTED_GITHUB) && !m[0].contains(PLANTED_PASSWORD));
    }

    #[test]
    fn config_map_values_are_decoded_and_parsed() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let url = b64.encode(format!("postgres://app:{PLANTED_PASSWORD}@db:5432/app"));
        let pem = b64.encode(PLANTED_PEM);
        let harmless = b64.encode("log_level=info\nworkers=4\n");
        let binary = b64.encode([0xffu8, 0xfe, 0x00, 0x81, 0x90, 0xa0, 0xb0, 0xc0]);
        let yaml = format!(
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: app, namespace: a}}
data:
  BOOTSTRAP: {url}
  application.properties: |
    spring.datasource.url=jdbc:postgresql://db:5432/app
    spring.datasource.password={PLANTED_PASSWORD}
  ENCODED_CONFIG: {harmless}
binaryData:
  deploy.key: {pem}
  db.password: {binary}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: clean, namespace: a}}
data:
  ENCODED_CONFIG: {harmless}
  application.properties: |
    spring.datasource.password=${{DB_PASSWORD}}
binaryData:
  blob: {binary}
  settings.env: {harmless}
"#
        );
        let o = run(ID, "", &yaml);
        assert_eq!(failing(&o), ["ConfigMap/a/app"]);
        assert_eq!(checked(&o), 2);
        let m = &messages(&o)[0];
        assert!(
            m.contains("key `BOOTSTRAP` contains a URL with a password (base64-encoded)"),
            "{m}"
        );
        assert!(
            m.contains(
                "key `application.properties` assigns a literal credential to \
                 `spring.datasource.password`"
            ),
            "{m}"
        );
        assert!(
            m.contains("binaryData key `deploy.key` contains a PEM private key"),
            "{m}"
        );
        assert!(
            m.contains(
                "binaryData key `db.password` holds binary data under a credential-like name"
            ),
            "{m}"
        );
        assert!(!m.contains("ENCODED_CONFIG"), "{m}");
        assert!(
            !m.contains(PLANTED_PASSWORD) && !m.contains("Planted"),
            "{m}"
        );
    }

    #[test]
    fn names_in_snake_case() {
        for (name, snake) in [
            ("DB_PASSWORD", "db_password"),
            ("dbPwd", "db_pwd"),
            ("APIKey", "api_key"),
            ("X-Api-Key", "x_api_key"),
            ("tls.key", "tls_key"),
            ("_authToken", "auth_token"),
            ("keyStorePassword", "key_store_password"),
            ("ConnectionStrings__Default", "connection_strings_default"),
            ("OAuth2Token", "o_auth2_token"),
        ] {
            assert_eq!(snake_case(name), snake, "{name}");
        }
    }

    #[test]
    fn name_classes() {
        let p = Params::default().name_pattern;
        for name in [
            "DB_PASSWORD",
            "db_passwd",
            "dbPwd",
            "REDIS_PASS",
            "client_secret",
            "AUTH_TOKEN",
            "x-api-key",
            "AWS_ACCESS_KEY_ID",
            "AZURE_BATCH_KEY",
            "CREDENTIALS",
        ] {
            assert_eq!(classify(&p, name), NameKind::Credential, "{name}");
        }
        for name in [
            "PASSWORD_MIN_LENGTH",
            "TOKEN_TTL",
            "SECRET_NAME",
            "passwordSecretRef",
            "existingSecret",
            "adminPasswordKey",
            "MAX_TOKENS",
            "TOKENIZER",
            "BYPASS_PROXY",
            "SSH_PUBLIC_KEY",
            "CACHE_KEY_PREFIX",
        ] {
            assert_eq!(classify(&p, name), NameKind::Other, "{name}");
        }
        assert_eq!(classify(&p, "SORT_KEY"), NameKind::KeyLike { auth: false });
        assert_eq!(classify(&p, "BASIC_AUTH"), NameKind::KeyLike { auth: true });
    }

    #[test]
    fn formats() {
        for (text, what) in [
            (PLANTED_AWS, "an AWS access key id"),
            (PLANTED_GITHUB, "a GitHub token"),
            (PLANTED_PEM, "a PEM private key"),
            ("Authorization: Bearer abc123def456ghi", "a bearer token"),
            ("Basic dXNlcjpwYXNzd29yZA==", "HTTP Basic credentials"),
            ("redis://:s3cret-pw@redis:6379/0", "a URL with a password"),
            ("app:s3cret@tcp(mysql:3306)/app", "a DSN with a password"),
        ] {
            assert_eq!(format_in(text), Some(what), "{text}");
        }
        for text in [
            "use bearer authentication for the API",
            "Basic realm=\"ops\"",
            "Basic aGVsbG8gd29ybGQ=",
            "postgres://app:${DB_PASSWORD}@db/app",
            "postgres://db:5432/app",
            "git@github.com:example/app.git",
            "-----BEGIN CERTIFICATE-----",
            "AKIA",
        ] {
            assert_eq!(format_in(text), None, "{text}");
        }
    }

    #[test]
    fn scope_is_respected() {
        let o = run_scoped(ID, "", &fixture(), &ScopeFilter::all().excluding(["a"]));
        assert!(failing(&o).is_empty());
        assert_eq!(checked(&o), 0);
    }
}

/// Scores the detector over the labelled corpus in
/// `core/tests/fixtures/credentials-corpus/` (see its README): every case is placed as a
/// container env value, a ConfigMap `data` value and a ConfigMap `binaryData` value.
#[cfg(test)]
mod corpus {
    use std::collections::BTreeSet;

    use base64::Engine;
    use serde::Deserialize;
    use serde_json::json;

    use crate::checks::testing::now;
    use crate::checks::{Ctx, Outcome, ScopeFilter, catalog};
    use crate::snapshot::{ClusterSnapshot, Objects, manifests};

    const ID: &str = "data.credentials-in-plain-config";
    const CORPUS: &str = include_str!("../../../tests/fixtures/credentials-corpus/cases.yaml");
    const HOLDOUT: &str = include_str!("../../../tests/fixtures/credentials-corpus/holdout.yaml");
    const PLACEMENTS: [&str; 3] = ["env value", "ConfigMap data", "ConfigMap binaryData"];

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Case {
        name: String,
        value: String,
        label: Label,
        note: String,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Label {
        Positive,
        Negative,
    }

    fn cases(yaml: &str) -> Vec<Case> {
        serde_saphyr::from_str(yaml).expect("corpus parses")
    }

    /// The (case, placement) pairs the check flags, from one evaluation over all cases.
    fn flagged(cases: &[Case]) -> BTreeSet<(usize, usize)> {
        let mut objects = Objects::default();
        let mut ignored = Default::default();
        let b64 = base64::engine::general_purpose::STANDARD;
        for (i, case) in cases.iter().enumerate() {
            let env = json!([{"name": case.name, "value": case.value}]);
            let docs = [
                (
                    "apps/v1",
                    "Deployment",
                    json!({
                        "apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": format!("case-{i}-0"), "namespace": "corpus"},
                        "spec": {
                            "selector": {"matchLabels": {"app": "c"}},
                            "template": {
                                "metadata": {"labels": {"app": "c"}},
                                "spec": {"containers": [{"name": "app", "image": "x:1", "env": env}]}
                            }
                        }
                    }),
                ),
                (
                    "v1",
                    "ConfigMap",
                    json!({
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("case-{i}-1"), "namespace": "corpus"},
                        "data": {case.name.as_str(): case.value}
                    }),
                ),
                (
                    "v1",
                    "ConfigMap",
                    json!({
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": format!("case-{i}-2"), "namespace": "corpus"},
                        "binaryData": {case.name.as_str(): b64.encode(&case.value)}
                    }),
                ),
            ];
            for (api_version, kind, doc) in docs {
                manifests::add_object(&mut objects, &mut ignored, api_version, kind, doc)
                    .expect("corpus object is valid");
            }
        }
        let snapshot = ClusterSnapshot::new(objects);
        let scope = ScopeFilter::all();
        let ctx = Ctx {
            snapshot: &snapshot,
            scope: &scope,
            now: now(),
            control: "",
            attestations: &[],
            activity: None,
        };
        let outcome = catalog()
            .get(ID)
            .expect("registered")
            .run(&ctx, None)
            .expect("default params");
        let Outcome::Evaluated { findings, .. } = outcome else {
            panic!("expected an evaluated outcome");
        };
        findings
            .iter()
            .map(|f| {
                let (case, placement) = f
                    .resource
                    .name
                    .strip_prefix("case-")
                    .and_then(|s| s.rsplit_once('-'))
                    .expect("a corpus object");
                (
                    case.parse().expect("case index"),
                    placement.parse().expect("placement index"),
                )
            })
            .collect()
    }

    #[test]
    fn corpus_is_large_enough_and_annotated() {
        let main = cases(CORPUS);
        let positives = main.iter().filter(|c| c.label == Label::Positive).count();
        let negatives = main.len() - positives;
        assert!(positives >= 60, "{positives} positives");
        assert!(negatives >= 40, "{negatives} negatives");
        for c in main.iter().chain(&cases(HOLDOUT)) {
            assert!(!c.note.trim().is_empty(), "{} needs a note", c.name);
            assert!(!c.name.is_empty());
        }
    }

    /// Counts over every (case, placement) sample.
    #[derive(Debug, Default)]
    struct Score {
        tp: usize,
        fneg: usize,
        fp: usize,
        tn: usize,
    }

    impl Score {
        fn recall(&self) -> f64 {
            self.tp as f64 / (self.tp + self.fneg).max(1) as f64
        }
        fn precision(&self) -> f64 {
            self.tp as f64 / (self.tp + self.fp).max(1) as f64
        }
    }

    /// Scores one set of cases, printing a table and every miss (names and notes, never values).
    fn score(title: &str, cases: &[Case]) -> Score {
        let flagged = flagged(cases);
        let mut total = Score::default();
        let mut misses = Vec::new();
        let positives = cases.iter().filter(|c| c.label == Label::Positive).count();
        println!(
            "{title}: {positives} positive, {} negative cases x {} placements",
            cases.len() - positives,
            PLACEMENTS.len()
        );
        println!("  placement              | TP | FN | FP | TN");
        for (p, placement) in PLACEMENTS.iter().enumerate() {
            let mut s = Score::default();
            for (i, c) in cases.iter().enumerate() {
                match (c.label, flagged.contains(&(i, p))) {
                    (Label::Positive, true) => s.tp += 1,
                    (Label::Positive, false) => {
                        s.fneg += 1;
                        misses.push(format!("  missed   {placement}: {} ({})", c.name, c.note));
                    }
                    (Label::Negative, true) => {
                        s.fp += 1;
                        misses.push(format!("  false +  {placement}: {} ({})", c.name, c.note));
                    }
                    (Label::Negative, false) => s.tn += 1,
                }
            }
            println!(
                "  {placement:<22} | {:>2} | {:>2} | {:>2} | {:>2}",
                s.tp, s.fneg, s.fp, s.tn
            );
            total.tp += s.tp;
            total.fneg += s.fneg;
            total.fp += s.fp;
            total.tn += s.tn;
        }
        println!(
            "  recall {:.1}% ({}/{}), precision {:.1}% ({}/{}), false positives {}",
            total.recall() * 100.0,
            total.tp,
            total.tp + total.fneg,
            total.precision() * 100.0,
            total.tp,
            total.tp + total.fp,
            total.fp
        );
        for m in &misses {
            println!("{m}");
        }
        total
    }

    #[test]
    fn detector_precision_and_recall_over_the_corpus() {
        let main = score("cases.yaml", &cases(CORPUS));
        let holdout = score("holdout.yaml", &cases(HOLDOUT));
        for (name, s) in [("cases.yaml", main), ("holdout.yaml", holdout)] {
            assert!(
                s.recall() >= 0.95,
                "{name}: recall {:.3} below 95%",
                s.recall()
            );
            assert_eq!(s.fp, 0, "{name}: false positives on negative cases");
        }
    }
}
