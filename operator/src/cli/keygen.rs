//! `soc2-operator keygen`: writes a new ed25519 signing key pair for evidence manifests.
//!
//! Whatever the umask, the folder it creates is 0700, the private key 0600 and the public key
//! 0644 (set explicitly after creating them). Both files start with their format marker (see
//! `soc2_evidence::signing`). With `--rotate-from OLD_KEY` it also writes `rotation.json`: a
//! rotation record signed by the old key that hands over to the new one (add it to the
//! auditor's keyring, see docs/evidence.md).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{EXIT_OK, input_error};
use soc2_evidence::keyring::RotationRecord;
use soc2_evidence::{PublicKey, SigningKey};

/// Private key file name (also the default key in the signing Secret).
pub const PRIVATE_KEY_FILE: &str = "ed25519.key";
/// Public key file name.
pub const PUBLIC_KEY_FILE: &str = "ed25519.pub";
/// Rotation record file name (`--rotate-from`).
pub const ROTATION_FILE: &str = "rotation.json";

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
    /// The outgoing private key: also write `rotation.json`, signed by it, handing over to the
    /// new key from now on.
    #[arg(long)]
    pub rotate_from: Option<PathBuf>,
}

pub(super) fn run(args: KeygenArgs) -> u8 {
    let old = match args
        .rotate_from
        .as_deref()
        .map(SigningKey::read)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return input_error(e),
    };
    match write_pair(&args.out) {
        Ok((private, public, fingerprint)) => {
            if let Some(old) = old {
                match write_rotation(&args.out, &old, &public) {
                    Ok(p) => println!(
                        "wrote {} (rotation from {} to {fingerprint}; add it to the keyring's \"rotations\")",
                        p.display(),
                        old.public().fingerprint()
                    ),
                    Err(e) => return input_error(e),
                }
            }
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

/// Writes the rotation record from `old` to the key in `public` into `dir`.
fn write_rotation(dir: &Path, old: &SigningKey, public: &Path) -> Result<PathBuf, String> {
    let new = PublicKey::read(public).map_err(|e| e.to_string())?;
    let record =
        RotationRecord::sign(old, &new, jiff::Timestamp::now()).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&record).map_err(|e| e.to_string())? + "\n";
    let path = dir.join(ROTATION_FILE);
    write_new(&path, text.as_bytes(), 0o644)?;
    Ok(path)
}

/// Creates `path` (never overwriting) with `mode`, set explicitly so the umask does not matter.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(mode & 0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    set_mode(path, mode)?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("setting the mode of {}: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes a new key pair into `dir`; refuses to overwrite. A folder it creates is 0700, the
/// private key 0600, the public key 0644, whatever the umask. Returns both paths and the
/// fingerprint.
pub fn write_pair(dir: &Path) -> Result<(PathBuf, PathBuf, String), String> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        set_mode(dir, 0o700)?;
    }
    let key = SigningKey::generate().map_err(|e| e.to_string())?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for p in [&private, &public] {
        if p.exists() {
            return Err(format!("{} exists; not overwriting a key", p.display()));
        }
    }
    write_new(&private, key.to_file_text().as_bytes(), 0o600)?;
    write_new(&public, key.public().to_file_text().as_bytes(), 0o644)?;
    Ok((private, public, key.public().fingerprint()))
}
