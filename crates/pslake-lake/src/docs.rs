//! Table and column documentation in the Delta log, where catalogs and other readers find it.
//!
//! The Delta `metaData` action has a table `description`, and each field of its `schemaString`
//! carries a `metadata` map; Spark, Databricks Unity Catalog and delta-rs's Python
//! `DeltaTable.schema()` read a column's comment from the key `comment` there. delta-rs sets the
//! description only when it creates a table (`WriteBuilder::with_description`) and takes field
//! metadata from the Arrow schema of the written batches, so [`TableDocs`] does both: it puts the
//! comments on the batches it writes and, when the table already existed with other text, adds
//! one metadata-only commit after the data commit ([`reconcile_action`]).
//!
//! The documentation given is the whole truth: a description or comment not given is removed.
//! Any other field metadata on the batches (e.g. a comment inherited from a table a model read)
//! is dropped, so it can neither leak into a table nor conflict with its schema on append.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use deltalake::kernel::{Metadata, MetadataValue, StructField, StructType};

/// The field-metadata key Spark and Unity-style catalogs read a column comment from.
pub const COMMENT_KEY: &str = "comment";

/// What a table says about itself: its description and its columns' comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// `batches` with each field's metadata replaced by its comment (or nothing).
    pub(crate) fn apply(
        &self,
        batches: Vec<RecordBatch>,
        with_comments: bool,
    ) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
        let Some(first) = batches.first() else {
            return Ok(batches);
        };
        let old = first.schema();
        let fields: Vec<Field> = old
            .fields()
            .iter()
            .map(|f| {
                let mut metadata = std::collections::HashMap::new();
                if let (true, Some(c)) = (with_comments, self.columns.get(f.name())) {
                    metadata.insert(COMMENT_KEY.to_string(), c.clone());
                }
                f.as_ref().clone().with_metadata(metadata)
            })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, old.metadata().clone()));
        batches
            .into_iter()
            .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
            .collect()
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

/// The metadata action that makes a table's metadata say `docs`, or `None` when it already does.
/// Columns the table does not have are ignored.
pub(crate) fn reconcile_action(
    metadata: &Metadata,
    schema: &StructType,
    docs: &TableDocs,
) -> Result<Option<Metadata>, deltalake::DeltaTableError> {
    let wanted = TableDocs {
        description: docs.description.clone(),
        columns: docs
            .columns
            .iter()
            .filter(|(c, _)| schema.field(c).is_some())
            .map(|(c, d)| (c.clone(), d.clone()))
            .collect(),
    };
    if TableDocs::of(metadata, schema) == wanted {
        return Ok(None);
    }
    let fields: Vec<StructField> = schema
        .fields()
        .map(|f| {
            let mut f = f.clone();
            match wanted.columns.get(&f.name) {
                Some(c) => {
                    f.metadata
                        .insert(COMMENT_KEY.to_string(), MetadataValue::String(c.clone()));
                }
                None => {
                    f.metadata.remove(COMMENT_KEY);
                }
            }
            f
        })
        .collect();
    let schema = StructType::try_new(fields)?;
    // Metadata is built through its JSON form, as delta-rs's own `MetadataExt` does; that also
    // lets the description be removed, which `with_description` cannot.
    let mut value = serde_json::to_value(metadata)?;
    value["description"] = wanted
        .description
        .map(serde_json::Value::String)
        .unwrap_or(serde_json::Value::Null);
    value["schemaString"] = serde_json::Value::String(serde_json::to_string(&schema)?);
    Ok(Some(serde_json::from_value(value)?))
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
