//! RFC 3161 time stamps: independent evidence of when a manifest existed.
//!
//! After a manifest is stored, the writer asks a time stamping authority (TSA) for a token over
//! the SHA-256 of the stored manifest bytes and stores the TSA's whole `TimeStampResp` (DER) as
//! `manifest.tsr` beside `manifest.json`. The token comes after the manifest because it covers
//! the manifest's digest; a snapshot whose token could not be obtained stays complete (the
//! manifest makes it so) and verify reports the missing token only when timestamps are
//! required. `openssl ts -verify -data manifest.json -in manifest.tsr -CAfile tsa-ca.pem` checks
//! the same file independently.
//!
//! Verification ([`verify_token`]) parses the response and checks, in Rust: the status is
//! granted; the token is CMS SignedData over a TSTInfo; the message imprint is SHA-256 of the
//! manifest bytes; the signed attributes' message digest matches the TSTInfo; the signer's CMS
//! signature verifies with the key of the embedded signer certificate (RSA PKCS#1 v1.5,
//! ECDSA P-256/P-384 or Ed25519, SHA-256/384/512); the signer certificate carries the
//! `timeStamping` extended key usage, was valid at `genTime`, and chains (through certificates
//! in the token, at most 4 links) to a certificate of the configured CA bundle, each link's
//! signature checked. Not checked: revocation (CRL/OCSP), name constraints and policy OIDs.
//! This module does not decide what a finding means for a chain; [`super::verify`] does.

use std::time::Duration;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{Int, OctetString};
use der::oid::ObjectIdentifier;
use der::{Any, Decode as _, Encode as _};
use jiff::{SignedDuration, Timestamp};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use super::{Error, Result};

/// The token's file name in a snapshot folder.
pub const TOKEN: &str = "manifest.tsr";

/// Largest TSA response accepted (tokens are a few KiB).
pub const MAX_RESPONSE: usize = 1 << 20;

/// Default allowed distance between a token's `genTime` and the manifest time.
pub const DEFAULT_TOLERANCE: SignedDuration = SignedDuration::from_secs(900);

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// The certificates a token must chain to (the `caBundle`).
#[derive(Clone)]
pub struct TrustAnchors {
    certs: Vec<Certificate>,
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .certs
            .iter()
            .map(|c| c.tbs_certificate.subject.to_string())
            .collect();
        f.debug_tuple("TrustAnchors").field(&names).finish()
    }
}

impl TrustAnchors {
    /// Parses a PEM bundle (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &str) -> Result<Self> {
        use base64::Engine as _;
        let mut certs = Vec::new();
        let mut rest = pem;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
            let end = body.find("-----END CERTIFICATE-----").ok_or_else(|| {
                Error::Invalid("TSA CA bundle: a certificate has no END line".into())
            })?;
            let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| Error::Invalid(format!("TSA CA bundle: bad base64: {e}")))?;
            certs.push(Certificate::from_der(&der).map_err(|e| {
                Error::Invalid(format!("TSA CA bundle: not an X.509 certificate: {e}"))
            })?);
            rest = &body[end..];
        }
        if certs.is_empty() {
            return Err(Error::Invalid(
                "TSA CA bundle holds no PEM CERTIFICATE block".into(),
            ));
        }
        Ok(Self { certs })
    }

    /// Reads a PEM bundle file.
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading the TSA CA bundle {}", path.display()),
            source,
        })?;
        Self::from_pem(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }
}

/// A client of one time stamping authority.
#[derive(Clone, Debug)]
pub struct Timestamper {
    url: String,
    http: reqwest::Client,
    anchors: Option<TrustAnchors>,
}

impl Timestamper {
    /// A client for the TSA at `url` (`http://` or `https://`), with a 30 s timeout.
    pub fn new(url: &str) -> Result<Self> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::Invalid(format!(
                "timestamping url {url:?} must be http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Invalid(format!("timestamping client: {e}")))?;
        Ok(Self {
            url: url.to_string(),
            http,
            anchors: None,
        })
    }

    /// Checks every token on receipt against `anchors` (the signer must chain to them): a TSA
    /// impostor's token is refused instead of stored.
    pub fn with_anchors(mut self, anchors: Option<TrustAnchors>) -> Self {
        self.anchors = anchors;
        self
    }

    /// The TSA URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks for a token over SHA-256 of `data`; returns the DER `TimeStampResp` after checking
    /// that it is granted, answers this request (nonce) and covers `data`.
    pub async fn stamp(&self, data: &[u8]) -> Result<Vec<u8>> {
        let (request, nonce) = request_for(data)?;
        let fail = |m: String| Error::Invalid(format!("time stamping at {}: {m}", self.url));
        let mut resp = self
            .http
            .post(&self.url)
            .header("content-type", "application/timestamp-query")
            .body(request)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE as u64)
        {
            return Err(fail(format!("response larger than {MAX_RESPONSE} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(fail(format!("response larger than {MAX_RESPONSE} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let tst = parse(&body).map_err(fail)?;
        if tst.info.nonce.as_ref().map(|n| n.as_bytes()) != Some(nonce.as_bytes()) {
            return Err(fail(
                "the response does not carry the request's nonce".into(),
            ));
        }
        check_imprint(&tst.info, data).map_err(fail)?;
        if let Some(anchors) = &self.anchors {
            verify_token(&body, data, Some(anchors)).map_err(fail)?;
        }
        Ok(body)
    }
}

/// A DER `TimeStampReq` for SHA-256 of `data` with a random nonce, asking for the TSA
/// certificate in the token.
pub fn request_for(data: &[u8]) -> Result<(Vec<u8>, Int)> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    let nonce = Int::new(&nonce).map_err(|e| Error::Invalid(format!("nonce: {e}")))?;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(sha2::Sha256::digest(data).to_vec())
                .map_err(|e| Error::Invalid(format!("imprint: {e}")))?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    };
    let der = req
        .to_der()
        .map_err(|e| Error::Invalid(format!("encoding the time stamp request: {e}")))?;
    Ok((der, nonce))
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The TSA's time.
    pub gen_time: Timestamp,
    /// Subject of the signing certificate.
    pub tsa: String,
    /// Whether the signer chains to the given CA bundle (`false`: no bundle was given).
    pub trusted: bool,
}

struct Parsed {
    info: TstInfo,
    signed: SignedData,
    econtent: Vec<u8>,
}

fn parse(response: &[u8]) -> std::result::Result<Parsed, String> {
    let resp =
        TimeStampResp::from_der(response).map_err(|e| format!("not a DER TimeStampResp: {e}"))?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(format!("the TSA refused the request (PKIStatus {status})"));
    }
    let token: ContentInfo = resp
        .time_stamp_token
        .ok_or("the response carries no token")?;
    if token.content_type != SIGNED_DATA {
        return Err(format!(
            "token content type {} is not signedData",
            token.content_type
        ));
    }
    let signed: SignedData = token
        .content
        .decode_as()
        .map_err(|e| format!("token is not CMS SignedData: {e}"))?;
    if signed.encap_content_info.econtent_type != TST_INFO {
        return Err("the token's content is not a TSTInfo".into());
    }
    let econtent = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or("the token has no content")?
        .decode_as::<OctetString>()
        .map_err(|e| format!("token content: {e}"))?
        .as_bytes()
        .to_vec();
    let info = TstInfo::from_der(&econtent).map_err(|e| format!("TSTInfo: {e}"))?;
    Ok(Parsed {
        info,
        signed,
        econtent,
    })
}

fn check_imprint(info: &TstInfo, data: &[u8]) -> std::result::Result<(), String> {
    let imprint = &info.message_imprint;
    let expected = match imprint.hash_algorithm.oid {
        SHA256 => sha2::Sha256::digest(data).to_vec(),
        SHA384 => sha2::Sha384::digest(data).to_vec(),
        SHA512 => sha2::Sha512::digest(data).to_vec(),
        other => return Err(format!("unsupported imprint hash algorithm {other}")),
    };
    if imprint.hashed_message.as_bytes() != expected.as_slice() {
        return Err(format!(
            "the token covers {}, not this manifest ({})",
            hex::encode(imprint.hashed_message.as_bytes()),
            hex::encode(&expected)
        ));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            SHA256 => Some(Hash::Sha256),
            SHA384 => Some(Hash::Sha384),
            SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// Checks `signature` over `message` with the key of `cert`; `hash` is the digest algorithm
/// (`None` for Ed25519).
fn check_signature(
    cert: &Certificate,
    hash: Option<Hash>,
    message: &[u8],
    signature: &[u8],
) -> std::result::Result<(), String> {
    use ring::signature as s;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let alg: &dyn s::VerificationAlgorithm = match (spki.algorithm.oid, curve, hash) {
        (RSA, _, Some(Hash::Sha256)) => &s::RSA_PKCS1_2048_8192_SHA256,
        (RSA, _, Some(Hash::Sha384)) => &s::RSA_PKCS1_2048_8192_SHA384,
        (RSA, _, Some(Hash::Sha512)) => &s::RSA_PKCS1_2048_8192_SHA512,
        (EC_PUBLIC_KEY, Some(P256), Some(Hash::Sha256)) => &s::ECDSA_P256_SHA256_ASN1,
        (EC_PUBLIC_KEY, Some(P256), Some(Hash::Sha384)) => &s::ECDSA_P256_SHA384_ASN1,
        (EC_PUBLIC_KEY, Some(P384), Some(Hash::Sha256)) => &s::ECDSA_P384_SHA256_ASN1,
        (EC_PUBLIC_KEY, Some(P384), Some(Hash::Sha384)) => &s::ECDSA_P384_SHA384_ASN1,
        (ED25519, _, _) => &s::ED25519,
        (oid, curve, _) => {
            return Err(format!(
                "unsupported key or digest (key algorithm {oid}{})",
                curve.map(|c| format!(", curve {c}")).unwrap_or_default()
            ));
        }
    };
    s::UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .map_err(|_| "signature does not verify".to_string())
}

/// The digest of a certificate signature algorithm (`None` for Ed25519).
fn cert_signature_hash(oid: ObjectIdentifier) -> std::result::Result<Option<Hash>, String> {
    match oid {
        RSA_SHA256 | ECDSA_SHA256 => Ok(Some(Hash::Sha256)),
        RSA_SHA384 | ECDSA_SHA384 => Ok(Some(Hash::Sha384)),
        RSA_SHA512 | ECDSA_SHA512 => Ok(Some(Hash::Sha512)),
        ED25519 => Ok(None),
        other => Err(format!(
            "unsupported certificate signature algorithm {other}"
        )),
    }
}

/// Whether `issuer` signed `cert`.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> std::result::Result<(), String> {
    if cert.tbs_certificate.issuer.to_der().ok() != issuer.tbs_certificate.subject.to_der().ok() {
        return Err("issuer name differs".into());
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| format!("encoding a certificate: {e}"))?;
    let hash = cert_signature_hash(cert.signature_algorithm.oid)?;
    check_signature(issuer, hash, &tbs, cert.signature.raw_bytes())
}

fn valid_at(cert: &Certificate, t: Timestamp) -> bool {
    let v = &cert.tbs_certificate.validity;
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let now = t.as_second();
    secs(v.not_before.to_unix_duration()) <= now && now <= secs(v.not_after.to_unix_duration())
}

fn same(a: &Certificate, b: &Certificate) -> bool {
    a.to_der().ok().is_some_and(|x| b.to_der().ok() == Some(x))
}

/// Verifies a stored `TimeStampResp` against the stored manifest bytes (see the module doc
/// for what is checked). Without `anchors` everything but the chain to a CA is checked and
/// [`TokenInfo::trusted`] is `false`.
pub fn verify_token(
    response: &[u8],
    data: &[u8],
    anchors: Option<&TrustAnchors>,
) -> std::result::Result<TokenInfo, String> {
    let Parsed {
        info,
        signed,
        econtent,
    } = parse(response)?;
    check_imprint(&info, data)?;
    let gen_secs = i64::try_from(info.gen_time.to_unix_duration().as_secs())
        .map_err(|_| "genTime out of range".to_string())?;
    let gen_time = Timestamp::from_second(gen_secs).map_err(|e| format!("genTime: {e}"))?;
    let signer = signed
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or("the token has no signer")?;
    let certs: Vec<&Certificate> = signed
        .certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let cert = certs
        .iter()
        .copied()
        .find(|c| match &signer.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                c.tbs_certificate.serial_number == ias.serial_number
                    && c.tbs_certificate.issuer.to_der().ok() == ias.issuer.to_der().ok()
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                c.tbs_certificate.extensions.iter().flatten().any(|e| {
                    e.extn_id == SUBJECT_KEY_ID
                        && e.extn_value.as_bytes().ends_with(ski.0.as_bytes())
                })
            }
        })
        .ok_or("the token does not include the signer's certificate (certReq)")?;
    // The signed attributes bind the TSTInfo; the signature covers the attributes.
    let hash = Hash::of_oid(signer.digest_alg.oid)
        .ok_or_else(|| format!("unsupported digest algorithm {}", signer.digest_alg.oid))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or("the signer has no signed attributes")?;
    let attr = |oid| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let digest = attr(MESSAGE_DIGEST)
        .ok_or("no message-digest attribute")?
        .decode_as::<OctetString>()
        .map_err(|e| format!("message-digest attribute: {e}"))?;
    if digest.as_bytes() != hash.digest(&econtent).as_slice() {
        return Err("the message-digest attribute does not match the TSTInfo".into());
    }
    if attr(CONTENT_TYPE)
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .is_some_and(|o| o != TST_INFO)
    {
        return Err("the content-type attribute is not TSTInfo".into());
    }
    let signed_bytes = attrs
        .to_der()
        .map_err(|e| format!("encoding the signed attributes: {e}"))?;
    let sig_hash = match signer.signature_algorithm.oid {
        ED25519 => None,
        _ => Some(hash),
    };
    check_signature(cert, sig_hash, &signed_bytes, signer.signature.as_bytes())
        .map_err(|e| format!("token signature: {e}"))?;
    let tsa = cert.tbs_certificate.subject.to_string();
    let eku_ok = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == EXT_KEY_USAGE)
        .any(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|u| u.0.contains(&KP_TIME_STAMPING))
        });
    if !eku_ok {
        return Err(format!(
            "the signer {tsa} lacks the timeStamping extended key usage"
        ));
    }
    if !valid_at(cert, gen_time) {
        return Err(format!(
            "the signer certificate {tsa} was not valid at genTime"
        ));
    }
    let Some(anchors) = anchors else {
        return Ok(TokenInfo {
            gen_time,
            tsa,
            trusted: false,
        });
    };
    // Walk up from the signer through the token's certificates to an anchor.
    let mut current = cert;
    for _ in 0..4 {
        if anchors.certs.iter().any(|a| same(a, current)) {
            return Ok(TokenInfo {
                gen_time,
                tsa,
                trusted: true,
            });
        }
        if let Some(a) = anchors.certs.iter().find(|a| issued_by(current, a).is_ok()) {
            if !valid_at(a, gen_time) {
                return Err(format!(
                    "the CA {} was not valid at genTime",
                    a.tbs_certificate.subject
                ));
            }
            return Ok(TokenInfo {
                gen_time,
                tsa,
                trusted: true,
            });
        }
        match certs
            .iter()
            .copied()
            .find(|c| !same(c, current) && issued_by(current, c).is_ok())
        {
            Some(next) => current = next,
            None => break,
        }
    }
    Err(format!(
        "the signer {tsa} does not chain to the TSA CA bundle"
    ))
}

/// What verify does with tokens.
#[derive(Clone, Debug, Default)]
pub struct TimestampOptions {
    /// The CA bundle tokens must chain to; without it the chain is not checked.
    pub anchors: Option<TrustAnchors>,
    /// A snapshot without a token is a break.
    pub required: bool,
    /// Largest distance between `genTime` and the manifest time (default
    /// [`DEFAULT_TOLERANCE`]).
    pub tolerance: Option<SignedDuration>,
}

/// Checks a snapshot's token against its manifest: `Ok(None)` when there is none,
/// `Ok(Some(info))` when it verifies, `Err(message)` otherwise.
pub fn check_snapshot(
    token: Option<&[u8]>,
    manifest_bytes: &[u8],
    manifest_time: Timestamp,
    options: &TimestampOptions,
) -> std::result::Result<Option<TokenInfo>, String> {
    let Some(token) = token else {
        return if options.required {
            Err(format!("no {TOKEN} (time stamps are required)"))
        } else {
            Ok(None)
        };
    };
    let info = verify_token(token, manifest_bytes, options.anchors.as_ref())?;
    let tolerance = options.tolerance.unwrap_or(DEFAULT_TOLERANCE);
    let distance = info.gen_time.duration_since(manifest_time).abs();
    if distance > tolerance {
        return Err(format!(
            "the TSA time {} is {}s from the manifest time {} (tolerance {}s)",
            super::rfc3339(info.gen_time),
            distance.as_secs(),
            super::rfc3339(manifest_time),
            tolerance.as_secs()
        ));
    }
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_der_with_the_sha256_imprint() {
        let (der, nonce) = request_for(b"manifest").unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.message_imprint.hash_algorithm.oid, SHA256);
        assert_eq!(
            req.message_imprint.hashed_message.as_bytes(),
            sha2::Sha256::digest(b"manifest").as_slice()
        );
        assert!(req.cert_req);
        assert_eq!(req.nonce, Some(nonce));
    }

    #[test]
    fn garbage_and_missing_tokens() {
        assert!(verify_token(b"not der", b"m", None).is_err());
        let t: Timestamp = "2026-06-15T12:00:00Z".parse().unwrap();
        let mut o = TimestampOptions::default();
        assert_eq!(check_snapshot(None, b"m", t, &o), Ok(None));
        o.required = true;
        assert!(
            check_snapshot(None, b"m", t, &o)
                .unwrap_err()
                .contains("required")
        );
        assert!(TrustAnchors::from_pem("no pem here").is_err());
        assert!(Timestamper::new("ftp://tsa").is_err());
    }
}
