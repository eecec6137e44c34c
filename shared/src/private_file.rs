//! Owner-only files written once: the local stack's data key, its token-signing key and its
//! kept queues. A leaf module, so `crypto` and `auth::dev` can create their key files
//! without depending on `local` (which builds on both).

use std::io::Write;
use std::path::Path;

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
