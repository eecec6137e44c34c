//! The local stack's data dir: the embedded store, the data key for secrets at rest and the
//! key that signs dev user tokens, created on first use with owner-only permissions. Both
//! `platefull dev` and `platefull dev-token` open the same dir, so their tokens agree.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::dev::DevSigner;
use crate::crypto::SecretBox;
use crate::http::AppState;
use crate::store::embedded::EmbeddedStore;

pub const STORE_FILE: &str = "store.redb";
pub const DATA_KEY_FILE: &str = "secret.key";
pub const SIGNING_KEY_FILE: &str = "dev-auth-key.pem";

/// Creates `path` with `bytes` and mode 0600, atomically and without replacing an existing
/// file (if another process created it first, theirs is kept).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Creates the data dir (owner-only) if needed.
pub fn ensure_data_dir(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    dir.canonicalize()
}

/// The dev token signer of a data dir.
pub fn signer(dir: &Path) -> std::io::Result<DevSigner> {
    let dir = ensure_data_dir(dir)?;
    DevSigner::load_or_create(&dir.join(SIGNING_KEY_FILE))
}

/// Opens the local stack's state in `dir`.
pub fn open_state(dir: &Path) -> Result<AppState, String> {
    let dir = ensure_data_dir(dir).map_err(|e| format!("data dir {}: {e}", dir.display()))?;
    let store = EmbeddedStore::open(&dir.join(STORE_FILE)).map_err(|e| e.to_string())?;
    let secrets =
        SecretBox::load_or_create_key_file(&dir.join(DATA_KEY_FILE)).map_err(|e| e.to_string())?;
    let signer =
        DevSigner::load_or_create(&dir.join(SIGNING_KEY_FILE)).map_err(|e| e.to_string())?;
    Ok(AppState {
        store: Arc::new(store),
        users: Arc::new(signer.verifier()),
        secrets: Arc::new(secrets),
        saipos: Default::default(),
        sessions: None,
        webhook: None,
    })
}
