//! The local stack's data dir: the embedded store, the data key for secrets at rest and the
//! key that signs dev user tokens, created on first use with owner-only permissions. Both
//! `platefull dev` and `platefull dev-token` open the same dir, so their tokens agree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::dev::DevSigner;
use crate::crypto::SecretBox;
use crate::http::AppState;
use crate::private_file::write_private_file;
use crate::store::embedded::EmbeddedStore;

pub const STORE_FILE: &str = "store.redb";
pub const DATA_KEY_FILE: &str = "secret.key";
pub const SIGNING_KEY_FILE: &str = "dev-auth-key.pem";

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

/// Where the local stack keeps its queues' messages between a graceful stop and the next
/// start (its queues live in memory while it runs).
pub const QUEUES_FILE: &str = "queues.json";

/// Saves what is left in the local stack's queues (after its workers stopped).
pub fn save_queues(
    dir: &Path,
    queues: &[(&str, &crate::queue::memory::MemoryQueue)],
) -> std::io::Result<usize> {
    let mut all = serde_json::Map::new();
    let mut count = 0;
    for (name, queue) in queues {
        let kept = queue.take_all();
        count += kept.len();
        all.insert((*name).to_owned(), serde_json::to_value(kept)?);
    }
    let path = dir.join(QUEUES_FILE);
    let _ = std::fs::remove_file(&path);
    if count > 0 {
        write_private_file(&path, serde_json::Value::Object(all).to_string().as_bytes())?;
    }
    Ok(count)
}

/// Puts back the messages saved by [`save_queues`] (and removes the file, so they are
/// restored once).
pub fn restore_queues(
    dir: &Path,
    queues: &[(&str, &crate::queue::memory::MemoryQueue)],
) -> Result<usize, String> {
    let path = dir.join(QUEUES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut all: std::collections::HashMap<String, Vec<crate::queue::memory::Kept>> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut count = 0;
    for (name, queue) in queues {
        if let Some(kept) = all.remove(*name) {
            count += kept.len();
            queue.restore(kept);
        }
    }
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(count)
}
