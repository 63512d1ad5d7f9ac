//! What BI tools read on connect and when browsing, on top of `datafusion-postgres`'s
//! `pg_catalog` (`datafusion_pg_catalog::setup_pg_catalog`: pg_namespace, pg_class,
//! pg_attribute, pg_type, pg_range, pg_index, ... and `current_schema()`,
//! `current_database()`):
//!
//! - `pg_catalog.pg_description` with the table descriptions and column comments the lake's
//!   Delta metadata carries (written from `models/*.yml` when a model publishes), and the
//!   `obj_description` / `col_description` functions over the same rows. The crate ships
//!   `pg_description` as a static, empty table and has neither function.
//! - `version()` as a PostgreSQL server names itself (JDBC, Metabase and Superset read it); the
//!   crate leaves DataFusion's.
//!
//! OIDs: the crate assigns a table its OID when `pg_class` is first read and keeps it in the
//! session's `pg_catalog` provider. [`install`] reads `pg_class` once, right after setting the
//! catalog up, so every OID is assigned there and the descriptions key on the same OIDs every
//! later query sees.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int64Type};
use async_trait::async_trait;
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;

use crate::error::{Error, Result};
use crate::snapshot::{DATABASE, LoadedTable};

/// `pg_class`'s OID in PostgreSQL (`pg_description.classoid` of a table or a column).
const PG_CLASS_OID: i64 = 1259;

/// What `version()` answers: a PostgreSQL 16 server, then what it really is.
pub const VERSION: &str = concat!(
    "PostgreSQL 16.6 (pslake ",
    env!("CARGO_PKG_VERSION"),
    ", Apache DataFusion 55, read only) on x86_64-pc-linux-gnu"
);

/// (object OID, column number or 0 for the table) → description.
type Descriptions = HashMap<(i64, i64), String>;

/// Sets up `pg_catalog` and the functions BI tools call in `ctx`, whose catalog holds
/// `tables`.
pub(crate) async fn install(ctx: &SessionContext, tables: &[&LoadedTable]) -> Result<()> {
    let df_err = |context: &'static str| {
        move |source: DataFusionError| Error::DataFusion {
            context: context.to_string(),
            source: Box::new(source),
        }
    };
    setup_pg_catalog(ctx, DATABASE, EmptyContextProvider)
        .map_err(|e| df_err("setting up pg_catalog")(*e))?;
    ctx.register_udf(version_udf());
    ctx.register_udf(to_regtype_udf());
    ctx.register_udf(pg_size_pretty_udf());
    ctx.register_udf(no_serial_sequence_udf());
    ctx.register_udf(collation_visible_udf());
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::default()));

    // Assign every OID now (see the module docs) and learn which table has which.
    let batches = ctx
        .sql(
            "SELECT CAST(c.oid AS BIGINT), n.nspname, c.relname \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid",
        )
        .await
        .map_err(df_err("reading pg_class"))?
        .collect()
        .await
        .map_err(df_err("reading pg_class"))?;
    let by_name: HashMap<(&str, &str), &LoadedTable> = tables
        .iter()
        .map(|t| ((t.name.schema.as_str(), t.name.name.as_str()), *t))
        .collect();
    let mut descriptions = Descriptions::new();
    let mut typmods = Typmods::new();
    for b in &batches {
        let oids = b.column(0).as_primitive::<Int64Type>();
        let (Ok(schemas), Ok(names)) = (
            arrow::compute::cast(b.column(1), &DataType::Utf8),
            arrow::compute::cast(b.column(2), &DataType::Utf8),
        ) else {
            continue;
        };
        let (schemas, names) = (schemas.as_string::<i32>(), names.as_string::<i32>());
        for i in 0..b.num_rows() {
            let Some(t) = by_name.get(&(schemas.value(i), names.value(i))) else {
                continue;
            };
            let oid = oids.value(i);
            if let Some(d) = &t.docs.description {
                descriptions.insert((oid, 0), d.clone());
            }
            let schema = t.provider.schema();
            for (n, f) in schema.fields().iter().enumerate() {
                // pg_attribute numbers columns from 1 in schema order.
                let attnum = n as i64 + 1;
                if let Some(c) = t.docs.columns.get(f.name()) {
                    descriptions.insert((oid, attnum), c.clone());
                }
                if let Some(m) = numeric_typmod(f.data_type()) {
                    typmods.insert((oid, attnum), m);
                }
            }
        }
    }
    let descriptions = Arc::new(descriptions);

    let root = ctx.catalog(DATABASE).expect("the default catalog exists");
    let inner = root
        .schema("pg_catalog")
        .expect("setup_pg_catalog registered pg_catalog");
    let description_table = description_table(&inner, &descriptions)
        .await
        .map_err(df_err("building pg_description"))?;
    let attribute = inner
        .table("pg_attribute")
        .await
        .map_err(df_err("reading pg_attribute"))?
        .map(|inner| {
            Arc::new(Attributes {
                inner,
                typmods: Arc::new(typmods),
            }) as Arc<dyn TableProvider>
        });
    root.register_schema(
        "pg_catalog",
        Arc::new(PgCatalog {
            inner,
            description: description_table,
            attribute,
        }),
    )
    .map_err(df_err("registering pg_catalog"))?;
    for which in [Which::Object, Which::Column] {
        ctx.register_udf(ScalarUDF::new_from_impl(DescriptionUdf::new(
            which,
            descriptions.clone(),
        )));
    }
    Ok(())
}

/// `pg_description`: the crate's static rows, then one per documented table and column.
async fn description_table(
    inner: &Arc<dyn SchemaProvider>,
    descriptions: &Descriptions,
) -> DfResult<Arc<dyn TableProvider>> {
    let base = inner
        .table("pg_description")
        .await?
        .ok_or_else(|| DataFusionError::Internal("pg_catalog has no pg_description".into()))?;
    let schema = base.schema();
    let mut rows: Vec<_> = descriptions.iter().collect();
    rows.sort();
    let objoid: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0.0)));
    let classoid: ArrayRef = Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|_| PG_CLASS_OID),
    ));
    let objsubid: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0.1)));
    let text: ArrayRef = Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| r.1.as_str()),
    ));
    let mut columns = Vec::new();
    for f in schema.fields() {
        let source = match f.name().as_str() {
            "objoid" => &objoid,
            "classoid" => &classoid,
            "objsubid" => &objsubid,
            "description" => &text,
            other => {
                return Err(DataFusionError::Internal(format!(
                    "unexpected pg_description column {other}"
                )));
            }
        };
        columns.push(arrow::compute::cast(source, f.data_type())?);
    }
    let ours = RecordBatch::try_new(schema.clone(), columns)?;
    let state = datafusion::execution::context::SessionContext::new().state();
    let plan = base.scan(&state, None, &[], None).await?;
    let mut batches = datafusion::physical_plan::collect(plan, state.task_ctx()).await?;
    batches.push(ours);
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// (table OID, column number) → `atttypmod` of a numeric column.
type Typmods = HashMap<(i64, i64), i32>;

/// PostgreSQL's type modifier of `numeric(p, s)`: `((p << 16) | s) + 4`; `None` for other types.
fn numeric_typmod(t: &DataType) -> Option<i32> {
    match t {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => {
            Some(((i32::from(*p) << 16) | (i32::from(*s) & 0xffff)) + 4)
        }
        _ => None,
    }
}

/// The crate's `pg_attribute` with each numeric column's precision and scale in `atttypmod`
/// (the crate writes -1 for every column), so `format_type(atttypid, atttypmod)` says
/// `numeric(18,2)`: SQLAlchemy and JDBC's `getColumns` reflect precision and scale from it.
#[derive(Debug)]
struct Attributes {
    inner: Arc<dyn TableProvider>,
    typmods: Arc<Typmods>,
}

impl Attributes {
    fn with_typmods(&self, b: RecordBatch) -> DfResult<RecordBatch> {
        let schema = b.schema();
        let (Ok(rel), Ok(num), Ok(m)) = (
            schema.index_of("attrelid"),
            schema.index_of("attnum"),
            schema.index_of("atttypmod"),
        ) else {
            return Ok(b);
        };
        let rel = arrow::compute::cast(b.column(rel), &DataType::Int64)?;
        let num = arrow::compute::cast(b.column(num), &DataType::Int64)?;
        let old = arrow::compute::cast(b.column(m), &DataType::Int32)?;
        let (rel, num, old) = (
            rel.as_primitive::<Int64Type>(),
            num.as_primitive::<Int64Type>(),
            old.as_primitive::<arrow::datatypes::Int32Type>(),
        );
        let typmods: arrow::array::Int32Array = (0..b.num_rows())
            .map(|i| {
                if old.is_null(i) {
                    return None;
                }
                Some(
                    self.typmods
                        .get(&(rel.value(i), num.value(i)))
                        .copied()
                        .unwrap_or(old.value(i)),
                )
            })
            .collect();
        let mut columns = b.columns().to_vec();
        columns[m] = arrow::compute::cast(&typmods, schema.field(m).data_type())?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

#[async_trait]
impl TableProvider for Attributes {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[datafusion::prelude::Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        // A few hundred rows, made when read: read them whole, mend, then scan as asked.
        let plan = self.inner.scan(state, None, &[], None).await?;
        let batches = datafusion::physical_plan::collect(plan, state.task_ctx())
            .await?
            .into_iter()
            .map(|b| self.with_typmods(b))
            .collect::<DfResult<Vec<_>>>()?;
        MemTable::try_new(self.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// `pg_catalog` with our `pg_description` and `pg_attribute`; every other table is the crate's.
#[derive(Debug)]
struct PgCatalog {
    inner: Arc<dyn SchemaProvider>,
    description: Arc<dyn TableProvider>,
    attribute: Option<Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case("pg_description") {
            return Ok(Some(self.description.clone()));
        }
        if name.eq_ignore_ascii_case("pg_attribute")
            && let Some(a) = &self.attribute
        {
            return Ok(Some(a.clone()));
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    /// `obj_description(oid [, catalog])`.
    Object,
    /// `col_description(table_oid, column_number)`.
    Column,
}

/// `obj_description` and `col_description` over the lake's documentation.
#[derive(Debug)]
struct DescriptionUdf {
    which: Which,
    signature: Signature,
    descriptions: Arc<Descriptions>,
}

impl DescriptionUdf {
    fn new(which: Which, descriptions: Arc<Descriptions>) -> Self {
        Self {
            which,
            signature: Signature::variadic_any(Volatility::Stable),
            descriptions,
        }
    }
}

impl PartialEq for DescriptionUdf {
    fn eq(&self, other: &Self) -> bool {
        self.which == other.which && Arc::ptr_eq(&self.descriptions, &other.descriptions)
    }
}

impl Eq for DescriptionUdf {}

impl Hash for DescriptionUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.which.hash(state);
    }
}

impl ScalarUDFImpl for DescriptionUdf {
    fn name(&self) -> &str {
        match self.which {
            Which::Object => "obj_description",
            Which::Column => "col_description",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let int64 = |a: &ArrayRef| arrow::compute::cast(a, &DataType::Int64);
        let oids = int64(&arrays[0])?;
        let oids = oids.as_primitive::<Int64Type>();
        let second = arrays.get(1);
        let column = match (self.which, second) {
            (Which::Column, Some(a)) => Some(int64(a)?),
            _ => None,
        };
        // obj_description(oid, 'pg_namespace') and the like: only pg_class is documented.
        let catalog = match (self.which, second) {
            (Which::Object, Some(a)) => Some(arrow::compute::cast(a, &DataType::Utf8)?),
            _ => None,
        };
        let out: StringArray = (0..oids.len())
            .map(|i| {
                if oids.is_null(i) {
                    return None;
                }
                if let Some(c) = &catalog {
                    let c = c.as_string::<i32>();
                    if c.is_null(i) || !c.value(i).trim_start_matches("pg_catalog.").eq("pg_class")
                    {
                        return None;
                    }
                }
                let sub = match &column {
                    Some(c) => {
                        let c = c.as_primitive::<Int64Type>();
                        if c.is_null(i) {
                            return None;
                        }
                        c.value(i)
                    }
                    None => 0,
                };
                self.descriptions.get(&(oids.value(i), sub)).cloned()
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn version_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let _ = args;
            Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::Utf8(Some(VERSION.to_string())),
            ))
        }),
    )
}

/// `to_regtype(name)`: the OID of a built-in type, NULL for any other (psycopg and SQLAlchemy
/// ask for `hstore` and the like; there are no extension types here).
fn to_regtype_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let out: arrow::array::Int32Array = names
                .as_string::<i32>()
                .iter()
                .map(|n| n.and_then(builtin_type_oid))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn builtin_type_oid(name: &str) -> Option<i32> {
    let name = name
        .trim()
        .trim_start_matches("pg_catalog.")
        .to_ascii_lowercase();
    Some(match name.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

/// `pg_size_pretty(bytes)` (psql's `\dt+` shows sizes with it).
fn pg_size_pretty_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let bytes = arrow::compute::cast(&arrays[0], &DataType::Int64)?;
            let out: StringArray = bytes
                .as_primitive::<Int64Type>()
                .iter()
                .map(|b| b.map(size_pretty))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn size_pretty(bytes: i64) -> String {
    let mut value = bytes;
    for unit in ["bytes", "kB", "MB", "GB", "TB"] {
        if value.abs() < 10 * 1024 {
            return format!("{value} {unit}");
        }
        value = (value + 512) / 1024;
    }
    format!("{value} PB")
}

/// `pg_get_serial_sequence(table, column)`: always NULL, the lake has no sequences
/// (SQLAlchemy's inspector asks for every column).
fn no_serial_sequence_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::Utf8(None),
            ))
        }),
    )
}

/// `json_build_object(k1, v1, ...)` as JSON text (values as strings or null); SQLAlchemy's
/// column query names it for identity columns, which the lake does not have.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl Default for JsonBuildObject {
    fn default() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let strings = arrays
            .iter()
            .map(|a| arrow::compute::cast(a, &DataType::Utf8))
            .collect::<DfResult<Vec<_>, _>>()?;
        let out: StringArray = (0..args.number_rows)
            .map(|row| {
                let mut object = serde_json::Map::new();
                for pair in strings.chunks(2) {
                    let key = pair[0].as_string::<i32>();
                    if key.is_null(row) {
                        continue;
                    }
                    let value = pair.get(1).map(|v| v.as_string::<i32>()).and_then(|v| {
                        (!v.is_null(row)).then(|| serde_json::Value::String(v.value(row).into()))
                    });
                    object.insert(
                        key.value(row).to_string(),
                        value.unwrap_or(serde_json::Value::Null),
                    );
                }
                Some(serde_json::Value::Object(object).to_string())
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_collation_is_visible(oid)`: true (there is one, default collation).
fn collation_visible_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::Boolean(Some(true)),
            ))
        }),
    )
}
