//! The local stack's data dir: the embedded store (records and the queued jobs), the data
//! key for secrets at rest and the key that signs dev user tokens, created on first use
//! with owner-only permissions; and the local stack's queues over that store. Both
//! `platefull dev` and `platefull dev-token` open the same dir, so their tokens agree.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::dev::DevSigner;
use crate::crypto::SecretBox;
use crate::http::AppState;
use crate::queue::memory::MemoryQueue;
use crate::queue::QueueError;
use crate::store::embedded::EmbeddedStore;
use crate::store::Store;

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
        // The local stack may call its loopback fakes over plain http.
        saipos: crate::saipos::client::Settings {
            policy: crate::outbound::Policy::LocalStack,
            ..Default::default()
        },
        sessions: None,
        webhook: None,
        graph: Arc::new(crate::bot::cloud_api::GraphClient::new(
            &crate::config::graph_url(),
        )),
        notices: None,
    })
}

/// The local stack's in-process queues, each of the kind of its SQS twin (see
/// infra/template.yaml): session commands in (FIFO, per slot), the bot's queue (standard:
/// customers' messages and its own delayed turns) and replies out (FIFO, per chat). Five
/// failed tries send a job to its queue's dead letters, as the SQS redrive policy does.
/// Every one is durable in the data dir's store (`queue/durable.rs`): a job is kept from
/// its send until its ack, so a stack killed at any instant carries on at the next start.
#[derive(Clone)]
pub struct LocalQueues {
    pub commands: Arc<MemoryQueue>,
    pub inbound: Arc<MemoryQueue>,
    pub outbound: Arc<MemoryQueue>,
}

impl LocalQueues {
    /// Opens the queues kept in `store`, with what they held when the last run stopped.
    pub async fn open(store: &Arc<dyn Store>) -> Result<Self, QueueError> {
        let secs = Duration::from_secs;
        let open = |queue: MemoryQueue, name: &'static str| queue.durable(store.clone(), name);
        let with_dlq =
            |queue: MemoryQueue, dlq: MemoryQueue| queue.with_dead_letters(5, Arc::new(dlq));
        let commands_dlq = open(MemoryQueue::fifo(secs(30)), "commands-dlq").await?;
        let commands = open(
            with_dlq(MemoryQueue::fifo(secs(30)), commands_dlq),
            "commands",
        )
        .await?;
        let inbound_dlq = open(MemoryQueue::standard(secs(30)), "inbound-dlq").await?;
        let inbound = open(
            with_dlq(MemoryQueue::standard(secs(90)), inbound_dlq),
            "inbound",
        )
        .await?;
        let outbound_dlq = open(MemoryQueue::fifo(secs(30)), "outbound-dlq").await?;
        let outbound = open(
            with_dlq(MemoryQueue::fifo(secs(60)), outbound_dlq),
            "outbound",
        )
        .await?;
        Ok(Self {
            commands: Arc::new(commands),
            inbound: Arc::new(inbound),
            outbound: Arc::new(outbound),
        })
    }
}

#[cfg(test)]
mod outbound_policy_tests {
    #[test]
    fn the_local_stack_may_call_its_loopback_fakes() {
        let dir = tempfile::tempdir().unwrap();
        let state = super::open_state(dir.path()).unwrap();
        assert_eq!(state.saipos.policy, crate::outbound::Policy::LocalStack);
    }
}
