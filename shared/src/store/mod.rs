//! The storage port. Everything Platefull keeps lives in one logical table of JSON items
//! addressed by a partition key (`pk`) and a sort key (`sk`), exactly like the DynamoDB
//! table in AWS, so the record layout (every key is built in [`keys`]) is designed once for
//! DynamoDB's access patterns and the embedded adapter follows it.
//!
//! The operations are the few DynamoDB gives cheaply: get one item, query a partition by
//! sort-key prefix, update one item (returning it), and an atomic, all-or-nothing batch of
//! conditional puts, deletes and condition checks (a check writes nothing: it makes the
//! batch depend on another item, e.g. a lease's fence). Conditions are how concurrent
//! requests are kept from overwriting each other: a failed condition aborts the whole batch.

#[cfg(any(test, feature = "test-hooks"))]
pub mod counting;
pub mod dynamodb;
pub mod embedded;
pub mod keys;

use async_trait::async_trait;
use serde_json::{Map, Value};

/// One stored item: a JSON object that includes its `pk` and `sk` string attributes.
pub type Item = Map<String, Value>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition on a write did not hold; nothing in the batch was applied.
    #[error("a write condition did not hold")]
    ConditionFailed,
    /// The backing store can't be reached right now (throttling, network, I/O).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be decoded or a request could not be encoded.
    #[error("store data error: {0}")]
    Data(String),
    /// The caller asked for something the store can't do (e.g. a batch over the size limit).
    #[error("invalid store request: {0}")]
    Invalid(String),
}

/// What must be true of the item at the write's key for the write to happen.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cond {
    /// No condition.
    #[default]
    None,
    /// The item must not exist (create-only).
    NotExists,
    /// The item must exist.
    Exists,
    /// The item must exist and each listed attribute must equal the given value.
    Matches(Vec<(String, Value)>),
    /// The item must exist with a numeric attribute strictly below the given number
    /// (e.g. a lease whose expiry has passed).
    Below(String, i64),
    /// At least one of the conditions holds.
    Any(Vec<Cond>),
    /// Every one of the conditions holds.
    All(Vec<Cond>),
}

impl Cond {
    /// The attributes of the current item this condition reads.
    pub fn attrs(&self) -> Vec<&str> {
        match self {
            Cond::None | Cond::NotExists | Cond::Exists => Vec::new(),
            Cond::Matches(pairs) => pairs.iter().map(|(name, _)| name.as_str()).collect(),
            Cond::Below(name, _) => vec![name.as_str()],
            Cond::Any(conds) | Cond::All(conds) => conds.iter().flat_map(Cond::attrs).collect(),
        }
    }
}

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        cond: Cond,
    },
    Delete {
        pk: String,
        sk: String,
        cond: Cond,
    },
    /// Writes nothing: the batch applies only if `cond` holds for the item at `(pk, sk)`
    /// (DynamoDB's `ConditionCheck`). Counts towards the batch size like a write.
    Check {
        pk: String,
        sk: String,
        cond: Cond,
    },
    /// Adds each number to its attribute of the item at `(pk, sk)`, creating the item or
    /// the attribute at zero first (DynamoDB's `UPDATE … ADD`): counters that many writers
    /// bump without reading. No condition; it rides in a batch whose other writes' conditions
    /// make it count once (usage counted with the record or the claim of a turn).
    Add {
        pk: String,
        sk: String,
        add: Vec<(String, i64)>,
    },
}

impl WriteOp {
    /// The condition of this op.
    pub fn cond(&self) -> &Cond {
        match self {
            WriteOp::Put { cond, .. }
            | WriteOp::Delete { cond, .. }
            | WriteOp::Check { cond, .. } => cond,
            WriteOp::Add { .. } => &Cond::None,
        }
    }
}

/// `current` with every number of `add` added (the item created with its key if absent):
/// what an [`WriteOp::Add`] leaves, for in-process adapters.
pub fn apply_add(current: Option<&Item>, pk: &str, sk: &str, add: &[(String, i64)]) -> Item {
    let mut item = current
        .cloned()
        .unwrap_or_else(|| Item::from_iter([("pk".into(), pk.into()), ("sk".into(), sk.into())]));
    for (name, by) in add {
        let now = item.get(name).and_then(Value::as_i64).unwrap_or(0);
        item.insert(name.clone(), Value::from(now.saturating_add(*by)));
    }
    item
}

/// A change to some attributes of one existing item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    pub set: Vec<(String, Value)>,
    pub remove: Vec<String>,
    pub cond: Cond,
    /// Create the item (with just its key and `set`) when it doesn't exist, instead of
    /// failing; `cond` is then checked against the absent item.
    pub upsert: bool,
}

/// The most writes one atomic batch may hold (DynamoDB's transaction limit).
pub const MAX_BATCH: usize = 100;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name of the adapter, shown by `/health`.
    fn kind(&self) -> &'static str;

    /// One item by key, read consistently.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Every item of partition `pk` whose sort key starts with `sk_prefix`, in sort-key order.
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError>;

    /// The last `limit` items of partition `pk` whose sort key starts with `sk_prefix`,
    /// newest (greatest sort key) first: one round trip however long the partition.
    async fn query_last(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError>;

    /// Like [`Store::query_last`], only among the sort keys strictly below `before` (when
    /// given): one page of a newest-first listing, the next page starting below the last
    /// key of this one. One round trip. The default reads the whole prefix (correct, not
    /// cheap); the adapters override it.
    async fn query_last_before(
        &self,
        pk: &str,
        sk_prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = self.query(pk, sk_prefix).await?;
        items.retain(|item| before.is_none_or(|b| attr_str(item, "sk").is_some_and(|sk| sk < b)));
        items.reverse();
        items.truncate(limit);
        Ok(items)
    }

    /// Apply all writes or none. Fails with [`StoreError::ConditionFailed`] if any condition fails.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Change attributes of the item at `(pk, sk)` if `update.cond` holds (the item must
    /// exist in any case) and return the item as it is after the change.
    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError>;

    /// A cheap round trip proving the store answers.
    async fn health(&self) -> Result<(), StoreError>;
}

/// The outcome of a conditional write: `Ok(true)` when it was applied, `Ok(false)` when its
/// condition did not hold (nothing was written); any other failure stays an error.
pub fn applied<T>(result: Result<T, StoreError>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Reads a string attribute of an item.
pub fn attr_str<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(Value::as_str)
}

/// Does the current item (or its absence) satisfy `cond`? Shared by in-process adapters.
pub fn cond_holds(cond: &Cond, current: Option<&Item>) -> bool {
    match cond {
        Cond::None => true,
        Cond::NotExists => current.is_none(),
        Cond::Exists => current.is_some(),
        Cond::Matches(pairs) => current.is_some_and(|item| {
            pairs
                .iter()
                .all(|(name, value)| item.get(name) == Some(value))
        }),
        Cond::Below(name, limit) => current
            .and_then(|item| item.get(name))
            .and_then(Value::as_f64)
            .is_some_and(|n| n < *limit as f64),
        Cond::Any(conds) => conds.iter().any(|c| cond_holds(c, current)),
        Cond::All(conds) => conds.iter().all(|c| cond_holds(c, current)),
    }
}

/// Checks a batch before it is sent: size limit, keys present, no key written twice.
pub fn check_batch(ops: &[WriteOp]) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Err(StoreError::Invalid("empty batch".into()));
    }
    if ops.len() > MAX_BATCH {
        return Err(StoreError::Invalid(format!(
            "{} writes in one batch; the limit is {MAX_BATCH}",
            ops.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        if matches!(op, WriteOp::Add { add, .. } if add.is_empty()) {
            return Err(StoreError::Invalid("an add of nothing".into()));
        }
        let key = op_key(op)?;
        if !seen.insert(key) {
            return Err(StoreError::Invalid(
                "the same key is written twice in one batch".into(),
            ));
        }
    }
    Ok(())
}

/// The `(pk, sk)` a write targets.
pub fn op_key(op: &WriteOp) -> Result<(String, String), StoreError> {
    match op {
        WriteOp::Put { item, .. } => item_key(item),
        WriteOp::Delete { pk, sk, .. }
        | WriteOp::Check { pk, sk, .. }
        | WriteOp::Add { pk, sk, .. } => Ok((pk.clone(), sk.clone())),
    }
}

/// The `(pk, sk)` of an item; both must be present strings.
pub fn item_key(item: &Item) -> Result<(String, String), StoreError> {
    match (attr_str(item, "pk"), attr_str(item, "sk")) {
        (Some(pk), Some(sk)) if !pk.is_empty() && !sk.is_empty() => {
            Ok((pk.to_owned(), sk.to_owned()))
        }
        _ => Err(StoreError::Invalid("item without string pk and sk".into())),
    }
}

/// Checks an update before it is applied: keys are not changed by updates.
pub fn check_update(update: &Update) -> Result<(), StoreError> {
    let touches_key = update
        .set
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(update.remove.iter().map(String::as_str))
        .any(|name| name == "pk" || name == "sk");
    if touches_key {
        return Err(StoreError::Invalid(
            "an update may not change pk or sk".into(),
        ));
    }
    if update.set.is_empty() && update.remove.is_empty() {
        return Err(StoreError::Invalid("empty update".into()));
    }
    Ok(())
}
