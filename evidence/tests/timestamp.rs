//! RFC 3161 time stamps end to end: a writer with a TSA (OpenSSL's `ts` on loopback, see
//! `support/tsa.rs`), then verify: good tokens, a token for another manifest, a missing token
//! when required, a TSA time far from the manifest time, and a CA the token does not chain to.

#[path = "support/tsa.rs"]
mod tsa;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use soc2_core::crd::EvidenceInclude;
use soc2_evidence::bundle::{Bundle, Document};
use soc2_evidence::timestamp::{TOKEN, Timestamper, TrustAnchors};
use soc2_evidence::verify::{VerifyOptions, verify};
use soc2_evidence::{RetryPolicy, Schedule, SigningKey, Store, Writer, WriterConfig};

fn config(policy: &str) -> WriterConfig {
    WriterConfig {
        cluster: "prod".into(),
        policy: policy.into(),
        schedule: Schedule::parse(None, Some("1h")).unwrap(),
        signing_key: Some(SigningKey::generate().unwrap()),
        retry: RetryPolicy {
            attempts: 2,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
        include: EvidenceInclude::default(),
        retention: None,
        oscal: false,
    }
}

fn bundle(n: u32) -> Bundle {
    Bundle {
        documents: vec![Document {
            name: "results.json".into(),
            bytes: format!("{{\"n\":{n}}}").into_bytes(),
        }],
    }
}

/// Writes `times.len()` snapshots with time stamps; returns the manifest keys.
async fn write_chain(
    store: &Store,
    tsa: &tsa::TestTsa,
    policy: &str,
    times: &[Timestamp],
) -> Vec<String> {
    let mut w = Writer::open(store.clone(), config(policy))
        .await
        .unwrap()
        .with_timestamper(Some(Timestamper::new(&tsa.url).unwrap()));
    let mut keys = Vec::new();
    for (i, at) in times.iter().enumerate() {
        let written = w.write_bundle(&bundle(i as u32), *at).await.unwrap();
        assert_eq!(written.timestamp_error, None);
        keys.push(written.snapshot.key);
    }
    keys
}

fn options(tsa: &tsa::TestTsa, required: bool) -> VerifyOptions {
    let mut o = VerifyOptions::all(Timestamp::now());
    o.timestamps.anchors = Some(TrustAnchors::read(&tsa.ca_pem).unwrap());
    o.timestamps.required = required;
    o
}

fn recent(n: i64) -> Vec<Timestamp> {
    let base = Timestamp::now() - SignedDuration::from_secs(30);
    (0..n)
        .map(|i| base + SignedDuration::from_secs(i))
        .collect()
}

#[tokio::test]
async fn a_timestamped_chain_verifies_and_openssl_agrees() {
    let tsa = tsa::TestTsa::start("Alpha");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(dir.path().to_str().unwrap()).unwrap();
    let started = std::time::Instant::now();
    let keys = write_chain(&store, &tsa, "hourly", &recent(3)).await;
    let wrote = started.elapsed();
    let started = std::time::Instant::now();
    let r = verify(&store, &options(&tsa, true)).await.unwrap();
    // Figures for BENCHMARKS.md (`--nocapture`): three snapshots, local store, loopback TSA.
    eprintln!(
        "timestamped: write 3 snapshots {wrote:?}, verify {:?}",
        started.elapsed()
    );
    assert!(r.ok(), "{}", r.to_text());
    let c = &r.chains[0];
    assert_eq!((c.snapshots, c.timestamped), (3, 3));
    assert!(c.tsas[0].contains("Alpha Test TSA"), "{:?}", c.tsas);
    assert!(c.entries.iter().all(|e| e.timestamp.is_some()));
    assert!(
        r.to_text().contains("time stamps: 3 of 3"),
        "{}",
        r.to_text()
    );
    // The stored file is a TimeStampResp that OpenSSL verifies on its own.
    let folder = dir.path().join(keys[0].trim_end_matches("manifest.json"));
    let out = std::process::Command::new("openssl")
        .args(["ts", "-verify", "-data"])
        .arg(folder.join("manifest.json"))
        .arg("-in")
        .arg(folder.join(TOKEN))
        .arg("-CAfile")
        .arg(&tsa.ca_pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl ts -verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_token_for_another_manifest_a_missing_token_and_a_foreign_ca_are_breaks() {
    let tsa = tsa::TestTsa::start("Alpha");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(dir.path().to_str().unwrap()).unwrap();
    let keys = write_chain(&store, &tsa, "hourly", &recent(3)).await;
    let token = |k: &str| k.replace("manifest.json", TOKEN);
    // Snapshot 1 gets the token of snapshot 2.
    let other = store.get(&token(&keys[2])).await.unwrap();
    store.delete(&token(&keys[1])).await.unwrap();
    store.put_create(&token(&keys[1]), other).await.unwrap();
    // Snapshot 0 loses its token.
    store.delete(&token(&keys[0])).await.unwrap();

    let r = verify(&store, &options(&tsa, true)).await.unwrap();
    let p = &r.chains[0].problems;
    assert!(
        p.iter().any(|p| p.kind == "timestamp"
            && p.key == token(&keys[1])
            && p.message.contains("not this manifest")),
        "{}",
        r.to_text()
    );
    assert!(
        p.iter().any(|p| p.kind == "timestamp"
            && p.key == token(&keys[0])
            && p.message.contains("required")),
        "{}",
        r.to_text()
    );
    assert_eq!(p.len(), 2, "{}", r.to_text());
    // Not required: the missing token is no break, the wrong one still is.
    let r = verify(&store, &options(&tsa, false)).await.unwrap();
    assert_eq!(r.chains[0].problems.len(), 1, "{}", r.to_text());
    assert_eq!(r.chains[0].timestamped, 1);

    // Good tokens do not chain to another TSA's CA.
    let foreign = tsa::TestTsa::start("Beta");
    let r = verify(&store, &options(&foreign, false)).await.unwrap();
    let chain_breaks = r.chains[0]
        .problems
        .iter()
        .filter(|p| p.message.contains("does not chain to the TSA CA bundle"))
        .count();
    assert_eq!(chain_breaks, 1, "{}", r.to_text());
}

#[tokio::test]
async fn a_tsa_time_far_from_the_manifest_time_is_a_break() {
    let tsa = tsa::TestTsa::start("Alpha");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(dir.path().to_str().unwrap()).unwrap();
    // Claimed two hours ago, stamped now.
    let past = Timestamp::now() - SignedDuration::from_hours(2);
    let keys = write_chain(&store, &tsa, "backdated", &[past]).await;
    let r = verify(&store, &options(&tsa, true)).await.unwrap();
    let p = &r.chains[0].problems;
    assert!(
        p.len() == 1 && p[0].kind == "timestamp" && p[0].message.contains("tolerance 900s"),
        "{}",
        r.to_text()
    );
    assert_eq!(p[0].key, keys[0].replace("manifest.json", TOKEN));
    // A wider tolerance accepts it.
    let mut o = options(&tsa, true);
    o.timestamps.tolerance = Some(SignedDuration::from_hours(3));
    assert!(verify(&store, &o).await.unwrap().ok());
}
