//! Model contracts: the output's column names (in order), types and not-null constraints, as
//! declared in `models/*.yml` (for a snapshot, the columns its SQL returns: the three it adds
//! are the snapshot's own, see [`crate::snapshot`]). Checked at plan time on the planned schema and again on the data
//! before anything is committed. Lossless widenings (Utf8View → Utf8, Int32 → Int64, a timestamp
//! in another unit or zone → Timestamp(µs, UTC), a wider decimal of the same scale) are cast;
//! everything else fails naming model, column, expected and actual.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::project::Model;

/// The type written for `actual` when the contract says nothing: the session's representation
/// (view types become plain ones), so a computed output and its published table agree.
fn normalized(actual: &DataType) -> DataType {
    crate::session::normalized_type(actual)
}

/// Whether `actual` can be cast to `expected` without loss (or is it).
fn compatible(actual: &DataType, expected: &DataType) -> bool {
    use DataType::*;
    if actual == expected || *actual == Null {
        return true;
    }
    match (actual, expected) {
        (Utf8View | LargeUtf8 | Utf8, Utf8) => true,
        (Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32, Int64) => true,
        (Float16 | Float32, Float64) => true,
        (Timestamp(_, _), Timestamp(TimeUnit::Microsecond, _)) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => s1 == s2 && p1 <= p2,
        _ => false,
    }
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "varchar".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int (Int32)".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 => "date".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            "timestamp".into()
        }
        other => other.to_string(),
    }
}

/// One way the output breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContractError {
    /// The output column at fault (its index in the model's output), when there is one.
    pub(crate) index: Option<usize>,
    /// What is wrong.
    pub(crate) message: String,
}

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A model has an enforced contract when at least one of its columns declares a `data_type`;
/// columns listed without types are otherwise only documentation and test targets.
pub(crate) fn enforced(model: &Model) -> bool {
    model.output_columns().iter().any(|c| c.data_type.is_some())
}

/// The contract's violations by the schema `actual`; the output schema when there are none.
pub(crate) fn check_schema(
    model: &Model,
    actual: &Schema,
) -> Result<SchemaRef, Vec<ContractError>> {
    let mut errors = Vec::new();
    if !enforced(model) {
        let fields: Vec<Field> = actual
            .fields()
            .iter()
            .map(|f| {
                let not_null = model
                    .output_columns()
                    .iter()
                    .any(|c| c.name == *f.name() && c.not_null);
                Field::new(f.name(), normalized(f.data_type()), !not_null)
            })
            .collect();
        return Ok(Arc::new(Schema::new(fields)));
    }
    let got: Vec<&str> = actual.fields().iter().map(|f| f.name().as_str()).collect();
    let want: Vec<&str> = model
        .output_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    if got != want {
        let missing: Vec<&str> = want.iter().filter(|w| !got.contains(w)).copied().collect();
        let extra: Vec<&str> = got.iter().filter(|g| !want.contains(g)).copied().collect();
        let mut msg = format!(
            "contract columns are [{}], the model returns [{}]",
            want.join(", "),
            got.join(", ")
        );
        if !missing.is_empty() {
            msg.push_str(&format!("; missing: {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            msg.push_str(&format!("; not in the contract: {}", extra.join(", ")));
        }
        if missing.is_empty() && extra.is_empty() {
            msg.push_str("; the order differs");
        }
        let first_difference = got
            .iter()
            .zip(&want)
            .position(|(g, w)| g != w)
            .or_else(|| (got.len() > want.len()).then_some(want.len()));
        errors.push(ContractError {
            index: first_difference,
            message: msg,
        });
        return Err(errors);
    }
    let mut fields = Vec::new();
    for (index, (spec, field)) in model
        .output_columns()
        .iter()
        .zip(actual.fields())
        .enumerate()
    {
        let target = match &spec.data_type {
            Some(expected) if compatible(field.data_type(), expected) => expected.clone(),
            Some(expected) => {
                let hint = match (field.data_type(), expected) {
                    (
                        DataType::Int64
                        | DataType::Int32
                        | DataType::Float64
                        | DataType::Decimal128(..),
                        DataType::Decimal128(p, s),
                    ) => {
                        format!(
                            " (cast it in the SQL: CAST({} AS DECIMAL({p},{s})))",
                            spec.name
                        )
                    }
                    _ => String::new(),
                };
                errors.push(ContractError {
                    index: Some(index),
                    message: format!(
                        "column {}: expected {}, got {}{hint}",
                        spec.name,
                        type_name(expected),
                        type_name(field.data_type())
                    ),
                });
                continue;
            }
            None => normalized(field.data_type()),
        };
        fields.push(Field::new(&spec.name, target, !spec.not_null));
    }
    if errors.is_empty() {
        Ok(Arc::new(Schema::new(fields)))
    } else {
        Err(errors)
    }
}

/// Checks and casts the model's output to its contract (or normalizes it when it has none).
pub(crate) fn conform(
    model: &Model,
    actual: &Schema,
    batches: Vec<RecordBatch>,
) -> Result<(SchemaRef, Vec<RecordBatch>), Vec<String>> {
    let schema = check_schema(model, actual)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let mut nulls = vec![0usize; schema.fields().len()];
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (i, (array, field)) in batch.columns().iter().zip(schema.fields()).enumerate() {
            nulls[i] += array.null_count();
            let array = if array.data_type() == field.data_type() {
                array.clone()
            } else {
                arrow::compute::cast(array, field.data_type())
                    .map_err(|e| vec![format!("column {}: {e}", field.name())])?
            };
            columns.push(array);
        }
        if nulls
            .iter()
            .zip(schema.fields())
            .any(|(n, f)| *n > 0 && !f.is_nullable())
        {
            continue; // reported below
        }
        let batch =
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| vec![e.to_string()])?;
        out.push(batch);
    }
    let errors: Vec<String> = nulls
        .iter()
        .zip(schema.fields())
        .filter(|(n, f)| **n > 0 && !f.is_nullable())
        .map(|(n, f)| {
            format!(
                "column {}: {n} NULL value(s) break the not_null constraint",
                f.name()
            )
        })
        .collect();
    if errors.is_empty() {
        Ok((schema, out))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widenings_are_compatible_but_int_to_decimal_is_not() {
        assert!(compatible(&DataType::Utf8View, &DataType::Utf8));
        assert!(compatible(&DataType::Int32, &DataType::Int64));
        assert!(compatible(
            &DataType::Decimal128(10, 2),
            &DataType::Decimal128(18, 2)
        ));
        assert!(!compatible(
            &DataType::Decimal128(18, 4),
            &DataType::Decimal128(18, 2)
        ));
        assert!(!compatible(&DataType::Int64, &DataType::Decimal128(18, 2)));
        assert!(!compatible(&DataType::Utf8, &DataType::Date32));
    }
}
