//! The rows a `rejects` or `warnings` model yields, turned into `_pslake.rejects` and
//! `_pslake.warnings` rows (required columns checked).

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use chrono::{DateTime, Utc};
use pslake_lake::ops::{RejectRow, WarningRow};

fn strings(
    batches: &[RecordBatch],
    column: &str,
) -> std::result::Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    for b in batches {
        let i = b.schema().index_of(column).map_err(|e| e.to_string())?;
        let array = arrow::compute::cast(b.column(i), &DataType::Utf8)
            .map_err(|e| format!("column {column}: {e}"))?;
        let array = array
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8 gives a StringArray");
        out.extend(
            (0..array.len()).map(|r| (!array.is_null(r)).then(|| array.value(r).to_string())),
        );
    }
    Ok(out)
}

fn required(values: Vec<Option<String>>, column: &str) -> std::result::Result<Vec<String>, String> {
    let nulls = values.iter().filter(|v| v.is_none()).count();
    if nulls > 0 {
        return Err(format!(
            "column {column} has {nulls} NULL value(s); it is required"
        ));
    }
    Ok(values.into_iter().map(Option::unwrap_or_default).collect())
}

pub(crate) fn reject_rows(
    batches: &[RecordBatch],
    run_id: &str,
    now: DateTime<Utc>,
) -> std::result::Result<Vec<RejectRow>, String> {
    let col = |c| strings(batches, c);
    let (system, stream, rule, message) = (
        required(col("system")?, "system")?,
        required(col("stream")?, "stream")?,
        required(col("rule")?, "rule")?,
        required(col("message")?, "message")?,
    );
    let (key, field, value, raw) = (col("key")?, col("field")?, col("value")?, col("_raw")?);
    Ok((0..system.len())
        .map(|i| RejectRow {
            run_id: run_id.to_string(),
            system: system[i].clone(),
            stream: stream[i].clone(),
            key: key[i].clone(),
            rule: rule[i].clone(),
            field: field[i].clone(),
            value: value[i].clone(),
            message: message[i].clone(),
            raw: raw[i].clone(),
            rejected_at: now,
        })
        .collect())
}

pub(crate) fn warning_rows(
    batches: &[RecordBatch],
    run_id: &str,
    now: DateTime<Utc>,
) -> std::result::Result<Vec<WarningRow>, String> {
    let col = |c| strings(batches, c);
    let (rule, source, message) = (
        required(col("rule")?, "rule")?,
        required(col("source")?, "source")?,
        required(col("message")?, "message")?,
    );
    let key = col("key")?;
    Ok((0..rule.len())
        .map(|i| WarningRow {
            run_id: run_id.to_string(),
            rule: rule[i].clone(),
            source: source[i].clone(),
            key: key[i].clone(),
            message: message[i].clone(),
            raised_at: now,
        })
        .collect())
}
