//! A store that fails one write on demand, for proving that a multi-step write is all or
//! nothing whichever step fails: the `n`th write from now fails either before it reaches
//! the store (nothing applied, like a refused request) or after it was applied (the caller
//! is told it failed, like a reply lost on the way back). Reads pass through.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use platefull::store::{Item, Store, StoreError, Update, WriteOp};

/// When the failing write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused: nothing of it is applied.
    Before,
    /// Applied, but reported as failed.
    After,
}

pub struct FaultyStore {
    inner: Arc<dyn Store>,
    writes: AtomicUsize,
    armed: Mutex<Option<(usize, Fault)>>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            writes: AtomicUsize::new(0),
            armed: Mutex::new(None),
        }
    }

    /// Writes (batches) made so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// The `n`th write from now (0: the next one) fails with `fault`.
    pub fn fail_write(&self, n: usize, fault: Fault) {
        *self.armed.lock().expect("lock") = Some((self.writes() + n, fault));
    }

    /// No write fails any more.
    pub fn heal(&self) {
        *self.armed.lock().expect("lock") = None;
    }

    /// Did the armed failure happen?
    pub fn fired(&self) -> bool {
        self.armed
            .lock()
            .expect("lock")
            .is_some_and(|(at, _)| at < self.writes())
    }
}

fn injected() -> StoreError {
    StoreError::Unavailable("injected failure".into())
}

#[async_trait]
impl Store for FaultyStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_last(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.inner.query_last(pk, sk_prefix, limit).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let fault = match *self.armed.lock().expect("lock") {
            Some((at, fault)) if at == n => Some(fault),
            _ => None,
        };
        match fault {
            Some(Fault::Before) => Err(injected()),
            Some(Fault::After) => {
                self.inner.write(ops).await?;
                Err(injected())
            }
            None => self.inner.write(ops).await,
        }
    }
    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        self.inner.update(pk, sk, update).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
}
