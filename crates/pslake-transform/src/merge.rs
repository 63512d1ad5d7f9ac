//! Incremental models: the published rows whose `unique_key` is not among the new rows are
//! carried into the new version beside them. The published table is streamed through an
//! anti-join against the new keys (the hash table holds only the new keys), never read whole
//! into memory.

use datafusion::common::{Column, JoinType};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use pslake_lake::Staged;

use crate::project::Model;
use crate::stream;

/// The rows of `old` (published rows of `model`) whose key is not in `new` (the staged new rows,
/// registered nowhere yet), cast to the new rows' schema.
pub(crate) fn kept_rows(
    ctx: &SessionContext,
    model: &Model,
    old: DataFrame,
    new: &Staged,
) -> Result<DataFrame, String> {
    let schema = new.schema();
    let old_names: Vec<&str> = old
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let new_names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if old_names != new_names {
        return Err(format!(
            "incremental: the published columns [{}] differ from the model's [{}]; run with --full-refresh",
            old_names.join(", "),
            new_names.join(", ")
        ));
    }
    let kept = if new.rows() == 0 {
        old
    } else {
        let aliases: Vec<String> = (0..model.unique_key.len())
            .map(|i| format!("__pslake_key_{i}"))
            .collect();
        let key_exprs: Vec<Expr> = model
            .unique_key
            .iter()
            .zip(&aliases)
            .map(|(k, a)| Expr::Column(Column::from_name(k.as_str())).alias(a))
            .collect();
        let new_keys = stream::read_staged(ctx, new)
            .map_err(|e| format!("incremental: reading the new rows: {e}"))?
            .select(key_exprs)
            .and_then(|df| df.distinct())
            .map_err(|e| format!("incremental: unique_key: {e}"))?;
        let left: Vec<&str> = model.unique_key.iter().map(String::as_str).collect();
        let right: Vec<&str> = aliases.iter().map(String::as_str).collect();
        old.join(new_keys, JoinType::LeftAnti, &left, &right, None)
            .map_err(|e| format!("incremental: merge: {e}"))?
    };
    stream::cast_to(kept, schema).map_err(|e| format!("incremental: published rows: {e}"))
}
