//! A decorator that counts the round trips made through a [`Store`]. Benchmarks and tests use
//! it to prove each request's storage cost (e.g. "GET config = 1 read").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::{Item, Store, StoreError, Update, WriteOp};

#[derive(Debug, Default)]
pub struct Counts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
}

impl Counts {
    /// `(reads, writes)` so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

pub struct CountingStore {
    inner: Arc<dyn Store>,
    pub counts: Arc<Counts>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            counts: Arc::default(),
        }
    }
}

#[async_trait]
impl Store for CountingStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(pk, sk).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.query(pk, sk_prefix).await
    }
    async fn query_last(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.query_last(pk, sk_prefix, limit).await
    }
    async fn query_last_before(
        &self,
        pk: &str,
        sk_prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner
            .query_last_before(pk, sk_prefix, before, limit)
            .await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write(ops).await
    }
    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.update(pk, sk, update).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.health().await
    }
}
