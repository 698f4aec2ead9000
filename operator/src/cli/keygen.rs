//! `soc2-operator keygen`: writes a new ed25519 signing key pair for evidence manifests.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{EXIT_OK, input_error};
use soc2_evidence::SigningKey;

/// Private key file name (also the default key in the signing Secret).
pub const PRIVATE_KEY_FILE: &str = "ed25519.key";
/// Public key file name.
pub const PUBLIC_KEY_FILE: &str = "ed25519.pub";

/// Arguments of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write `ed25519.key` (private, mode 0600) and `ed25519.pub` into.
    #[arg(long)]
    pub out: PathBuf,
    /// Name of the Secret in the hint.
    #[arg(long, default_value = "soc2-evidence-signing")]
    pub secret_name: String,
    /// Namespace of the operator, in the hint.
    #[arg(long, default_value = "soc2-operator")]
    pub namespace: String,
}

pub(super) fn run(args: KeygenArgs) -> u8 {
    match write_pair(&args.out) {
        Ok((private, public, fingerprint)) => {
            println!("wrote {} (private, keep it secret)", private.display());
            println!(
                "wrote {} (public, give it to your auditor)",
                public.display()
            );
            println!("fingerprint: {fingerprint}");
            println!();
            println!("Store the private key for the operator:");
            println!(
                "  kubectl -n {} create secret generic {} --from-file={PRIVATE_KEY_FILE}={}",
                args.namespace,
                args.secret_name,
                private.display()
            );
            println!(
                "and reference it from the EvidencePolicy: spec.signing.secretName: {}",
                args.secret_name
            );
            EXIT_OK
        }
        Err(e) => input_error(e),
    }
}

/// Writes a new key pair into `dir`; refuses to overwrite. Returns both paths and the
/// fingerprint.
pub fn write_pair(dir: &Path) -> Result<(PathBuf, PathBuf, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let key = SigningKey::generate().map_err(|e| e.to_string())?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for p in [&private, &public] {
        if p.exists() {
            return Err(format!("{} exists; not overwriting a key", p.display()));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&private)
        .map_err(|e| format!("creating {}: {e}", private.display()))?;
    f.write_all(key.to_file_text().as_bytes())
        .map_err(|e| format!("writing {}: {e}", private.display()))?;
    std::fs::write(&public, format!("{}\n", key.public().to_base64()))
        .map_err(|e| format!("writing {}: {e}", public.display()))?;
    Ok((private, public, key.public().fingerprint()))
}
