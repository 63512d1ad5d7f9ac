//! Table and column documentation in the Delta log, where catalogs and other readers find it.
//!
//! The Delta `metaData` action has a table `description`, and each field of its `schemaString`
//! carries a `metadata` map; Spark, Databricks Unity Catalog and delta-rs's Python
//! `DeltaTable.schema()` read a column's comment from the key `comment` there. A published table's
//! commit carries both: a replaced table is created anew with its description and commented
//! fields ([`documented_fields`]), an appended one gets a metadata action in the same commit when
//! its text or columns changed ([`metadata_with`]).
//!
//! The documentation given is the whole truth: a description or comment not given is removed.
//! Any other field metadata (e.g. a comment inherited from a table a model read)
//! is dropped, so it can neither leak into a table nor conflict with its schema on append.

use std::collections::BTreeMap;

use deltalake::kernel::{Metadata, MetadataValue, StructField, StructType};

/// The field-metadata key Spark and Unity-style catalogs read a column comment from.
pub const COMMENT_KEY: &str = "comment";

/// What a table says about itself: its description and its columns' comments.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableDocs {
    /// The table description (Delta `metaData.description`).
    pub description: Option<String>,
    /// Column name → comment (field metadata `comment`).
    pub columns: BTreeMap<String, String>,
}

impl TableDocs {
    /// Whether nothing is documented.
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.columns.is_empty()
    }

    /// The documentation a table's metadata holds now.
    pub fn of(metadata: &Metadata, schema: &StructType) -> Self {
        let columns = schema
            .fields()
            .filter_map(|f| match f.metadata.get(COMMENT_KEY) {
                Some(MetadataValue::String(c)) => Some((f.name.clone(), c.clone())),
                _ => None,
            })
            .collect();
        Self {
            description: metadata.description().map(str::to_string),
            columns,
        }
    }
}

/// `schema`'s fields with only the comments `docs` gives (any other field metadata dropped).
pub(crate) fn documented_fields(schema: &StructType, docs: &TableDocs) -> Vec<StructField> {
    schema
        .fields()
        .map(|f| {
            let mut f = f.clone();
            f.metadata.clear();
            if let Some(c) = docs.columns.get(&f.name) {
                f.metadata
                    .insert(COMMENT_KEY.to_string(), MetadataValue::String(c.clone()));
            }
            f
        })
        .collect()
}

/// The metadata action that makes a table whose metadata is `metadata` (schema `current`) take
/// `fields` (appended: the current fields first, the new ones after them) and `docs`; `None`
/// when it already does.
pub(crate) fn metadata_with(
    metadata: &Metadata,
    current: &StructType,
    fields: &[StructField],
    docs: &TableDocs,
) -> Result<Option<Metadata>, deltalake::DeltaTableError> {
    let mut merged: Vec<StructField> = current
        .fields()
        .map(|f| {
            fields
                .iter()
                .find(|n| n.name == f.name)
                .map(|n| {
                    let mut kept = f.clone();
                    kept.metadata = n.metadata.clone();
                    kept
                })
                .unwrap_or_else(|| f.clone())
        })
        .collect();
    merged.extend(
        fields
            .iter()
            .filter(|n| current.field(&n.name).is_none())
            .cloned(),
    );
    let schema = StructType::try_new(merged)?;
    if &schema == current && metadata.description() == docs.description.as_deref() {
        return Ok(None);
    }
    let mut value = serde_json::to_value(metadata)?;
    value["description"] = docs
        .description
        .clone()
        .map(serde_json::Value::String)
        .unwrap_or(serde_json::Value::Null);
    value["schemaString"] = serde_json::Value::String(serde_json::to_string(&schema)?);
    Ok(Some(serde_json::from_value(value)?))
}
