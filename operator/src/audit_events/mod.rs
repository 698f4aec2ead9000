//! Security events from the API server's audit stream, reduced to aggregates (issue 13, first
//! slice).
//!
//! - [`event`]: the `audit.k8s.io/v1` `EventList` webhook payload and the same events as JSON
//!   lines (Fluent Bit / Vector `http` output), parsed into the few fields we use. Request and
//!   response bodies are skipped by the parser, never kept.
//! - [`aggregate`]: per UTC hour, counts and bounded top-lists (401s, 403s, requests by user,
//!   humans by authenticator, privileged actions) in the core [`soc2_core::activity::Activity`].
//!   Raw events are not stored.
//! - [`queue`]: the HTTP intake (token or client-certificate auth, body limit, per-source rate
//!   limit, a bounded queue with a memory cap that answers 429 when full) and its metrics.
//! - [`tls`]: the HTTPS listener, certificate files reloaded on change, optional mTLS.
//! - [`ratelimit`]: token buckets per source with a bounded map.
//!
//! Started by `soc2-operator run --audit-listen` (off by default). The controller evaluates the
//! `access.*` activity checks over the aggregates, and each evidence snapshot records them in
//! `activity.json` (see `controller::activity` and `docs/audit-events.md`).

pub mod aggregate;
pub mod event;
pub mod queue;
pub mod ratelimit;
pub mod tls;

pub use aggregate::{Aggregate, AggregateConfig, Aggregates, HourBucket};
pub use event::{AuditEvent, ParseError, parse_event_list, parse_json_lines};
pub use queue::{Intake, IntakeConfig, IntakeReceiver};
