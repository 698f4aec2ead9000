//! Test fixtures: a scripted API server (tower-test mock) for single reconcile steps.
//!
//! A test lists the calls it expects, in order; the mock answers each and fails the test on a
//! call that differs, and [`ApiServerVerifier::finish`] fails it on a missing one.

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// One expected call: method, path (with query), and a check of the body; answered with
/// `response`.
pub struct Expect {
    pub method: &'static str,
    pub path: String,
    pub check: Box<dyn FnOnce(&Value) + Send>,
    pub response: Value,
    pub status: u16,
}

impl Expect {
    pub fn new(method: &'static str, path: impl Into<String>, response: Value) -> Self {
        Self {
            method,
            path: path.into(),
            check: Box::new(|_| {}),
            response,
            status: 200,
        }
    }

    pub fn status(mut self, code: u16) -> Self {
        self.status = code;
        self
    }

    pub fn check(mut self, f: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.check = Box::new(f);
        self
    }
}

/// The scripted server.
pub struct ApiServerVerifier {
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
}

/// A client talking to a scripted server.
pub fn mock_client() -> (Client, ApiServerVerifier) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (
        Client::new(service, "default"),
        ApiServerVerifier { handle },
    )
}

impl ApiServerVerifier {
    /// Serves the expected calls in order, then checks that no other call arrives.
    pub fn run(mut self, script: Vec<Expect>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            for expect in script {
                let (request, send) = self
                    .handle
                    .next_request()
                    .await
                    .unwrap_or_else(|| panic!("expected {} {}", expect.method, expect.path));
                let path = request
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert_eq!(
                    (request.method().as_str(), path.as_str()),
                    (expect.method, expect.path.as_str()),
                    "unexpected call"
                );
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body");
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("JSON body")
                };
                (expect.check)(&body);
                let response = serde_json::to_vec(&expect.response).expect("JSON response");
                send.send_response(
                    Response::builder()
                        .status(expect.status)
                        .body(Body::from(response))
                        .expect("response"),
                );
            }
        })
    }

    /// Answers every call with `response` (200), for tests of long-running tasks whose API
    /// calls are not the point.
    pub fn answer_all(mut self, response: Value) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Some((_request, send)) = self.handle.next_request().await {
                let bytes = serde_json::to_vec(&response).expect("JSON response");
                send.send_response(
                    Response::builder()
                        .status(200)
                        .body(Body::from(bytes))
                        .expect("response"),
                );
            }
        })
    }

    /// Answers the next call, whatever it is, with `response` and `status`.
    pub async fn answer(&mut self, response: Value, status: u16) {
        let (_request, send) = self.handle.next_request().await.expect("a call");
        let bytes = serde_json::to_vec(&response).expect("JSON response");
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(bytes))
                .expect("response"),
        );
    }

    /// Takes the next call without answering it (a hung API server); `None` when the client
    /// is gone.
    pub async fn hold(
        &mut self,
    ) -> Option<(
        Request<Body>,
        tower_test::mock::SendResponse<Response<Body>>,
    )> {
        self.handle.next_request().await
    }

    /// Asserts that no further request is pending once the scripted ones were served.
    pub async fn finish(task: tokio::task::JoinHandle<()>, mut extra: Option<Self>) {
        task.await.expect("scripted calls");
        if let Some(v) = extra.as_mut() {
            let next = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                v.handle.next_request(),
            )
            .await;
            assert!(
                next.is_err() || next.as_ref().is_ok_and(Option::is_none),
                "unexpected extra call"
            );
        }
    }
}

/// A Soc2Control as the API server would return it.
pub fn control_json(name: &str, checks: Value, enforcement: &str, status: Option<Value>) -> Value {
    let mut v = json!({
        "apiVersion": "soc2.evidence.dev/v1alpha1",
        "kind": "Soc2Control",
        "metadata": {"name": name, "uid": "uid-1", "generation": 2, "resourceVersion": "10"},
        "spec": {
            "controlId": "CC6.1", "criteria": "Security", "title": "Logical access",
            "checks": checks, "enforcement": enforcement,
        },
    });
    if let Some(s) = status {
        v["status"] = s;
    }
    v
}

/// The event the API server echoes back for a create.
pub fn event_response() -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"}, "eventTime": "2026-01-01T00:00:00.000000Z"})
}
