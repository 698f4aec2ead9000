//! A time stamping authority on loopback for tests: OpenSSL's `ts -reply` with a test CA and a
//! TSA certificate that this helper makes in a temporary directory, behind a tiny HTTP server
//! on a std `TcpListener` thread. Requests are answered one at a time (the serial file is
//! shared). The thread ends with the test process.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running test TSA.
pub struct TestTsa {
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    /// PEM of the test CA (the bundle tokens chain to).
    pub ca_pem: PathBuf,
    _dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a CA (RSA 2048) and a TSA certificate (EC P-256, extendedKeyUsage critical
/// timeStamping) issued by it, and a `ts` configuration, in `dir`; `name` goes into the
/// subjects so that two test TSAs differ.
pub fn make_ca_and_tsa(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} Test TSA CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            &format!("/CN={name} Test TSA"),
        ],
    );
    std::fs::write(
        dir.join("tsa-ext.cnf"),
        "extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.pem",
            "-days",
            "2",
            "-extfile",
            "tsa-ext.cnf",
        ],
    );
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ts.cnf"),
        format!(
            "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\ndir = {}\nserial = $dir/serial\n\
             crypto_device = builtin\nsigner_cert = $dir/tsa.pem\n\
             signer_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
             digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\n\
             tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            dir.display()
        ),
    )
    .unwrap();
}

impl TestTsa {
    /// Makes the certificates and starts serving on a free loopback port.
    pub fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_ca_and_tsa(dir.path(), name);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let work = dir.path().to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve(&work, stream);
            }
        });
        TestTsa {
            url,
            ca_pem: dir.path().join("ca.pem"),
            _dir: dir,
        }
    }
}

fn serve(dir: &Path, stream: std::net::TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length.min(1 << 16)];
    reader.read_exact(&mut body)?;
    std::fs::write(dir.join("req.tsq"), &body)?;
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "ts",
            "-reply",
            "-config",
            "ts.cnf",
            "-queryfile",
            "req.tsq",
            "-out",
            "resp.tsr",
        ])
        .output()?;
    let mut stream = stream;
    if !out.status.success() {
        write!(
            stream,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        return Ok(());
    }
    let resp = std::fs::read(dir.join("resp.tsr"))?;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        resp.len()
    )?;
    stream.write_all(&resp)?;
    stream.flush()
}
