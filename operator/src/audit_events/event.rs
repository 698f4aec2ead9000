//! The `audit.k8s.io/v1` `Event` fields we read, and the two payload shapes we accept: the
//! webhook backend's `EventList` and one `Event` per line (JSON lines from a log shipper).
//!
//! Every field we do not name (notably `requestObject` and `responseObject`) is skipped by the
//! parser without being kept: secret values in request or response bodies never reach memory
//! beyond the request buffer.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The `apiVersion` of audit events we accept (when the field is present).
pub const AUDIT_API_VERSION: &str = "audit.k8s.io/v1";

/// One audit event, reduced to the fields the aggregates need.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `apiVersion` (checked when present).
    #[serde(default)]
    pub api_version: Option<String>,
    /// `None`, `Metadata`, `Request` or `RequestResponse`.
    #[serde(default)]
    pub level: String,
    /// Unique per request; shared by the stages of one request.
    #[serde(default, rename = "auditID")]
    pub audit_id: String,
    /// `RequestReceived`, `ResponseStarted`, `ResponseComplete` or `Panic`.
    pub stage: String,
    /// The request URI (path and query).
    #[serde(default, rename = "requestURI")]
    pub request_uri: String,
    /// `get`, `list`, `create`, …, `impersonate`.
    pub verb: String,
    /// The authenticated user.
    pub user: UserInfo,
    /// The user impersonated, if any.
    #[serde(default)]
    pub impersonated_user: Option<UserInfo>,
    /// Source IPs, client first.
    #[serde(default, rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    /// The object of the request, when there is one.
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    /// The response status (only its code is read).
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    /// When the API server received the request (RFC 3339, microseconds).
    pub request_received_timestamp: jiff::Timestamp,
    /// When this stage was reached.
    #[serde(default)]
    pub stage_timestamp: Option<jiff::Timestamp>,
    /// Annotations (authorization decision and reason, …).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `authentication.k8s.io/v1` `UserInfo`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct UserInfo {
    /// The user name (`system:serviceaccount:ns:name` for service accounts).
    #[serde(default)]
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra attributes from the authenticator (e.g. `authentication.kubernetes.io/credential-id`).
    #[serde(default)]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// `audit.k8s.io/v1` `ObjectReference` (the fields we use).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Resource (plural, lower case).
    #[serde(default)]
    pub resource: String,
    /// Subresource (`exec`, `attach`, `portforward`, `status`, …).
    #[serde(default)]
    pub subresource: String,
    /// Namespace (empty for cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    /// Object name (empty for lists).
    #[serde(default)]
    pub name: String,
    /// API group (empty for the core group).
    #[serde(default)]
    pub api_group: String,
}

/// The response status: only the HTTP code.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ResponseStatus {
    /// HTTP status code.
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    /// The response code (0 when the event has none, e.g. at `RequestReceived`).
    pub fn code(&self) -> u16 {
        self.response_status.as_ref().map_or(0, |s| s.code)
    }

    /// True for the stages at which a request is counted: once per request.
    pub fn is_final_stage(&self) -> bool {
        matches!(self.stage.as_str(), "ResponseComplete" | "Panic")
    }
}

/// A payload that could not be read, naming where.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// The `EventList` JSON is invalid (serde's message names the field and position).
    #[error("EventList: {0}")]
    EventList(String),
    /// The payload is not an `audit.k8s.io/v1` `EventList`.
    #[error("EventList.{field}: expected {expected:?}, got {got:?}")]
    WrongType {
        /// `kind` or `apiVersion`.
        field: &'static str,
        /// The expected value.
        expected: &'static str,
        /// The value received.
        got: String,
    },
    /// An event has the wrong `apiVersion`.
    #[error("{at}.apiVersion: expected {AUDIT_API_VERSION:?}, got {got:?}")]
    EventApiVersion {
        /// `items[3]` or `line 4`.
        at: String,
        /// The value received.
        got: String,
    },
    /// A JSON line is invalid.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// serde's message.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventList {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    items: Vec<AuditEvent>,
}

fn check_event_version(at: impl FnOnce() -> String, e: &AuditEvent) -> Result<(), ParseError> {
    match &e.api_version {
        Some(v) if v != AUDIT_API_VERSION => Err(ParseError::EventApiVersion {
            at: at(),
            got: v.clone(),
        }),
        _ => Ok(()),
    }
}

/// Parses the webhook backend's body: an `audit.k8s.io/v1` `EventList`.
pub fn parse_event_list(body: &[u8]) -> Result<Vec<AuditEvent>, ParseError> {
    let list: EventList =
        serde_json::from_slice(body).map_err(|e| ParseError::EventList(e.to_string()))?;
    if let Some(kind) = list.kind.filter(|k| k != "EventList") {
        return Err(ParseError::WrongType {
            field: "kind",
            expected: "EventList",
            got: kind,
        });
    }
    if let Some(v) = list.api_version.filter(|v| v != AUDIT_API_VERSION) {
        return Err(ParseError::WrongType {
            field: "apiVersion",
            expected: AUDIT_API_VERSION,
            got: v,
        });
    }
    for (i, e) in list.items.iter().enumerate() {
        check_event_version(|| format!("items[{i}]"), e)?;
    }
    Ok(list.items)
}

/// Parses JSON lines: one `Event` per line; blank lines are skipped. The whole payload is
/// rejected on the first bad line, so a batch is accepted whole or not at all.
pub fn parse_json_lines(body: &[u8]) -> Result<Vec<AuditEvent>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let e: AuditEvent = serde_json::from_slice(line).map_err(|e| ParseError::Line {
            line: i + 1,
            message: e.to_string(),
        })?;
        check_event_version(|| format!("line {}", i + 1), &e)?;
        out.push(e);
    }
    Ok(out)
}
