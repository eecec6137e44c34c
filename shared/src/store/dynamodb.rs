//! The DynamoDB adapter: the production store. One table with string keys `pk` and `sk`
//! (see [`crate::records`] for the layout); every read is consistent, every multi-item
//! write is a `TransactWriteItems` (a single write is a plain conditional put/delete, which
//! costs half as much), and nothing on a request path scans.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ReturnValue, ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;

use super::{check_batch, check_update, Cond, Item, Store, StoreError, Update, WriteOp};

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
        };
        Ok(built)
    }

    async fn write_one(&self, op: WriteOp) -> Result<(), StoreError> {
        match op {
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
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(limit.min(1000) as i32)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()));
        request = partition_prefix(request, sk_prefix);
        let out = request.send().await.map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_attrs)
            .collect()
    }

    async fn write(&self, mut ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        if ops.len() == 1 {
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
