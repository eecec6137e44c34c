//! The DynamoDB adapter: the production store. One table with string keys `pk` and `sk`
//! (see [`crate::records`] for the layout); every read is consistent, every multi-item
//! write is a `TransactWriteItems` (a single write is a plain conditional put/delete, which
//! costs half as much), and nothing on a request path scans.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, KeySchemaElement,
    KeyType, Put, ReturnValue, ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::{attr_str, check_batch, check_update, Cond, Item, Store, StoreError, Update, WriteOp};

pub struct DynamoStore {
    client: Client,
    table: String,
}

type Attrs = HashMap<String, AttributeValue>;

fn to_attrs(item: &Item) -> Result<Attrs, StoreError> {
    serde_dynamo::to_item(item).map_err(|e| StoreError::Data(e.to_string()))
}

fn to_value(value: &Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Data(e.to_string()))
}

fn from_attrs(attrs: Attrs) -> Result<Item, StoreError> {
    serde_dynamo::from_item(attrs).map_err(|e| StoreError::Data(e.to_string()))
}

fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// A condition rendered as a DynamoDB condition expression with its placeholders.
#[derive(Default)]
struct Expr {
    text: Option<String>,
    names: HashMap<String, String>,
    values: Attrs,
}

fn condition(cond: &Cond, tag: &str) -> Result<Expr, StoreError> {
    let mut expr = Expr::default();
    if *cond == Cond::None {
        return Ok(expr);
    }
    let text = render(cond, tag, &mut expr)?;
    expr.names.insert("#pk".into(), "pk".into());
    expr.text = Some(text);
    Ok(expr)
}

/// Renders `cond` into `expr`'s placeholders; `tag` keeps placeholder names unique.
fn render(cond: &Cond, tag: &str, expr: &mut Expr) -> Result<String, StoreError> {
    Ok(match cond {
        Cond::None => "attribute_exists(#pk) OR attribute_not_exists(#pk)".to_owned(),
        Cond::NotExists => "attribute_not_exists(#pk)".to_owned(),
        Cond::Exists => "attribute_exists(#pk)".to_owned(),
        Cond::Matches(pairs) => {
            let mut parts = vec!["attribute_exists(#pk)".to_owned()];
            for (i, (name, value)) in pairs.iter().enumerate() {
                let (n, v) = (format!("#{tag}{i}"), format!(":{tag}{i}"));
                parts.push(format!("{n} = {v}"));
                expr.names.insert(n, name.clone());
                expr.values.insert(v, to_value(value)?);
            }
            parts.join(" AND ")
        }
        Cond::Below(name, limit) => {
            let (n, v) = (format!("#{tag}b"), format!(":{tag}b"));
            expr.names.insert(n.clone(), name.clone());
            expr.values
                .insert(v.clone(), AttributeValue::N(limit.to_string()));
            format!("attribute_exists(#pk) AND {n} < {v}")
        }
        Cond::Any(conds) | Cond::All(conds) => {
            let parts = conds
                .iter()
                .enumerate()
                .map(|(i, c)| render(c, &format!("{tag}{i}_"), expr).map(|t| format!("({t})")))
                .collect::<Result<Vec<_>, _>>()?;
            let joiner = if matches!(cond, Cond::Any(_)) {
                " OR "
            } else {
                " AND "
            };
            parts.join(joiner)
        }
    })
}

fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if err.code() == Some("ValidationException") {
        return StoreError::Invalid(err.message().unwrap_or("validation error").to_owned());
    }
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

/// A failed single-item write: a condition that did not hold, or the store being unavailable.
fn write_failed<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if err.code() == Some("ConditionalCheckFailedException") {
        StoreError::ConditionFailed
    } else {
        unavailable(err)
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with the key schema the code expects (tests and first-time setup;
    /// in AWS the SAM template owns the table). Succeeds if it already exists.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let result = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ResourceInUseException") => Ok(()),
            Err(err) => Err(unavailable(err)),
        }
    }

    fn transact_item(&self, op: &WriteOp, index: usize) -> Result<TransactWriteItem, StoreError> {
        let tag = format!("c{index}_");
        let built = match op {
            WriteOp::Put { item, cond } => {
                let expr = condition(cond, &tag)?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attrs(item)?))
                    .set_condition_expression(expr.text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Delete { pk, sk, cond } => {
                let expr = condition(cond, &tag)?;
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .set_condition_expression(expr.text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { pk, sk, cond } => {
                let mut expr = condition(cond, &tag)?;
                // ConditionCheck requires an expression; no condition is one that holds.
                let text = expr.text.take().unwrap_or_else(|| {
                    expr.names.insert("#pk".into(), "pk".into());
                    "attribute_exists(#pk) OR attribute_not_exists(#pk)".to_owned()
                });
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .condition_expression(text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().condition_check(check).build()
            }
            WriteOp::Add { pk, sk, add } => {
                let (text, names, values) = add_expression(add, &tag);
                let update = aws_sdk_dynamodb::types::Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .update_expression(text)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                TransactWriteItem::builder().update(update).build()
            }
        };
        Ok(built)
    }

    async fn write_one(&self, op: WriteOp) -> Result<(), StoreError> {
        match op {
            WriteOp::Check { .. } => Err(StoreError::Invalid(
                "a condition check alone writes nothing".into(),
            )),
            WriteOp::Add { pk, sk, add } => {
                let (text, names, values) = add_expression(&add, "c");
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(&pk, &sk)))
                    .update_expression(text)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(write_failed)
            }
            WriteOp::Put { item, cond } => {
                let expr = condition(&cond, "c")?;
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_attrs(&item)?))
                    .set_condition_expression(expr.text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(write_failed)
            }
            WriteOp::Delete { pk, sk, cond } => {
                let expr = condition(&cond, "c")?;
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(&pk, &sk)))
                    .set_condition_expression(expr.text)
                    .set_expression_attribute_names(non_empty(expr.names))
                    .set_expression_attribute_values(non_empty(expr.values))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(write_failed)
            }
        }
    }
}

/// `ADD #a0 :a0, …` for an [`WriteOp::Add`], with its names and values.
fn add_expression(
    add: &[(String, i64)],
    tag: &str,
) -> (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut parts = Vec::new();
    for (i, (name, by)) in add.iter().enumerate() {
        let (n, v) = (format!("#{tag}a{i}"), format!(":{tag}a{i}"));
        parts.push(format!("{n} {v}"));
        names.insert(n, name.clone());
        values.insert(v, AttributeValue::N(by.to_string()));
    }
    (format!("ADD {}", parts.join(", ")), names, values)
}

/// The key condition of a query: the partition (`:pk`, set by the caller), and the sort-key
/// prefix when there is one.
fn partition_prefix(
    request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    sk_prefix: &str,
) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
    if sk_prefix.is_empty() {
        request.key_condition_expression("pk = :pk")
    } else {
        request
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
    }
}

fn non_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

impl DynamoStore {
    /// The last `limit` items under `sk_prefix` (below `before`, when given), newest first.
    /// DynamoDB answers at most 1 MB per query: a page cut short by that is followed by the
    /// next one, so `limit` items come back whenever that many exist.
    async fn query_newest(
        &self,
        pk: &str,
        sk_prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Attrs> = None;
        while items.len() < limit {
            let want = limit - items.len();
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(false)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .set_exclusive_start_key(start.take());
            request = match before {
                // Keys in [prefix, before): `BETWEEN` is inclusive, so an item at exactly
                // `before` (the previous page's last) is dropped below, asking for one more.
                Some(before) => request
                    .limit((want + 1).min(1000) as i32)
                    .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":from", AttributeValue::S(sk_prefix.to_owned()))
                    .expression_attribute_values(":to", AttributeValue::S(before.to_owned())),
                None => partition_prefix(request.limit(want.min(1000) as i32), sk_prefix),
            };
            let out = request.send().await.map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                let item = from_attrs(attrs)?;
                let sk = attr_str(&item, "sk").unwrap_or_default();
                let below = before.is_none_or(|before| sk < before);
                if below && sk.starts_with(sk_prefix) && items.len() < limit {
                    items.push(item);
                }
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(items)
    }
}

#[async_trait]
impl Store for DynamoStore {
    fn kind(&self) -> &'static str {
        "dynamodb"
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(from_attrs).transpose()
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Attrs> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .set_exclusive_start_key(start.take());
            request = partition_prefix(request, sk_prefix);
            let out = request.send().await.map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                items.push(from_attrs(attrs)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    async fn query_last(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_newest(pk, sk_prefix, None, limit).await
    }

    async fn query_last_before(
        &self,
        pk: &str,
        sk_prefix: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        if before.is_some_and(|before| before <= sk_prefix) {
            return Ok(Vec::new());
        }
        self.query_newest(pk, sk_prefix, before, limit).await
    }

    async fn write(&self, mut ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        if ops.len() == 1 && !matches!(ops[0], WriteOp::Check { .. }) {
            return self.write_one(ops.remove(0)).await;
        }
        let items = ops
            .iter()
            .enumerate()
            .map(|(i, op)| self.transact_item(op, i))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                let condition_failed = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c.cancellation_reasons.as_ref(),
                        _ => None,
                    })
                    .is_some_and(|reasons| {
                        reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                    });
                if condition_failed {
                    Err(StoreError::ConditionFailed)
                } else {
                    Err(unavailable(err))
                }
            }
        }
    }

    async fn update(&self, pk: &str, sk: &str, update: Update) -> Result<Item, StoreError> {
        check_update(&update)?;
        let cond = match update.cond {
            Cond::None if update.upsert => Cond::None,
            Cond::None | Cond::NotExists if !update.upsert => Cond::Exists,
            other => other,
        };
        let mut expr = condition(&cond, "c")?;
        let mut sets = Vec::new();
        for (i, (name, value)) in update.set.iter().enumerate() {
            let (n, v) = (format!("#s{i}"), format!(":s{i}"));
            sets.push(format!("{n} = {v}"));
            expr.names.insert(n, name.clone());
            expr.values.insert(v, to_value(value)?);
        }
        let mut removes = Vec::new();
        for (i, name) in update.remove.iter().enumerate() {
            let n = format!("#r{i}");
            removes.push(n.clone());
            expr.names.insert(n, name.clone());
        }
        let mut text = String::new();
        if !sets.is_empty() {
            text.push_str("SET ");
            text.push_str(&sets.join(", "));
        }
        if !removes.is_empty() {
            text.push_str(" REMOVE ");
            text.push_str(&removes.join(", "));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(text.trim())
            .set_condition_expression(expr.text)
            .set_expression_attribute_names(non_empty(expr.names))
            .set_expression_attribute_values(non_empty(expr.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(write_failed)?;
        from_attrs(out.attributes.unwrap_or_default())
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.get("HEALTH", "HEALTH").await.map(|_| ())
    }
}
