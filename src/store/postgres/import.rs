//! Writing the tables `tessera db copy` reads from SQLite (`store::copy`):
//! one transaction for everything, one `INSERT … SELECT FROM unnest(…)` per
//! chunk, each value converted to its column's type (SQLite's integers
//! become PostgreSQL's booleans where the column is one).

use std::collections::HashMap;

use sqlx::PgConnection;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

use super::{Postgres, database};
use crate::store::copy::{Chunk, TABLES, Value};
use crate::store::{Error, Result, Store};

impl Postgres {
    pub async fn import(&self, source: &Store) -> Result<Vec<(&'static str, u64)>> {
        let mut conn = self.pool.conn().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(database)?;
        let mut copied = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let types = column_types(&mut tx, table).await?;
            let (mut after, mut rows) = (0, 0);
            loop {
                let chunk = source.export_rows(table, after).await?;
                let Some(last) = chunk.rows.last() else { break };
                after = last.0;
                insert(&mut tx, table, &chunk, &types).await?;
                rows += chunk.rows.len() as u64;
            }
            copied.push((table, rows));
        }
        tx.commit().await.map_err(database)?;
        Ok(copied)
    }

    pub async fn count_rows(&self, table: &'static str) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {table}");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(n.max(0) as u64)
    }
}

/// `table`'s columns and their types, as `information_schema` names them.
async fn column_types(conn: &mut PgConnection, table: &str) -> Result<HashMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(conn)
    .await
    .map_err(database)?;
    Ok(rows.into_iter().collect())
}

async fn insert(
    conn: &mut PgConnection,
    table: &str,
    chunk: &Chunk,
    types: &HashMap<String, String>,
) -> Result<()> {
    let mut typed = Vec::with_capacity(chunk.columns.len());
    for column in &chunk.columns {
        let Some(ty) = types.get(column) else {
            return Err(Error::Unsupported(format!(
                "{table}.{column} is not in the target database: copy with the same Tessera version on both sides"
            )));
        };
        typed.push((column, ty.as_str(), array_type(table, column, ty)?));
    }
    let names: Vec<String> = typed.iter().map(|(c, ..)| format!("\"{c}\"")).collect();
    let casts: Vec<String> = (typed.iter().enumerate())
        .map(|(i, (.., array))| format!("${}::{array}[]", i + 1))
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) SELECT * FROM unnest({})",
        names.join(", "),
        casts.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, (column, ty, _)) in typed.iter().enumerate() {
        // Every row has a value per column: the export reads them together.
        let values = chunk.rows.iter().filter_map(|(_, row)| row.get(i));
        query = bind_column(query, table, column, ty, values)?;
    }
    query.execute(conn).await.map_err(database)?;
    Ok(())
}

fn array_type(table: &str, column: &str, ty: &str) -> Result<&'static str> {
    Ok(match ty {
        "bigint" => "bigint",
        "integer" => "integer",
        "boolean" => "boolean",
        "bytea" => "bytea",
        "text" => "text",
        "double precision" => "double precision",
        other => {
            return Err(Error::Unsupported(format!(
                "{table}.{column}: cannot copy into a column of type {other}"
            )));
        }
    })
}

type Bound<'q> = Query<'q, sqlx::Postgres, PgArguments>;

/// Bind one column's values as an array of its type.
fn bind_column<'q, 'v>(
    query: Bound<'q>,
    table: &str,
    column: &str,
    ty: &str,
    values: impl Iterator<Item = &'v Value>,
) -> Result<Bound<'q>> {
    let wrong = |v: &Value| {
        Error::Unsupported(format!(
            "{table}.{column}: cannot copy {v:?} into a column of type {ty}"
        ))
    };
    Ok(match ty {
        "bigint" => query.bind(collect(
            values,
            |v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            },
            wrong,
        )?),
        "integer" => query.bind(collect(
            values,
            |v| match v {
                Value::Int(i) => i32::try_from(*i).ok(),
                _ => None,
            },
            wrong,
        )?),
        "boolean" => query.bind(collect(
            values,
            |v| match v {
                Value::Int(i) => Some(*i != 0),
                _ => None,
            },
            wrong,
        )?),
        "bytea" => query.bind(collect(
            values,
            |v| match v {
                Value::Blob(b) => Some(b.clone()),
                _ => None,
            },
            wrong,
        )?),
        "text" => query.bind(collect(
            values,
            |v| match v {
                Value::Text(t) => Some(t.clone()),
                _ => None,
            },
            wrong,
        )?),
        _ => query.bind(collect(
            values,
            |v| match v {
                Value::Real(f) => Some(*f),
                Value::Int(i) => Some(*i as f64),
                _ => None,
            },
            wrong,
        )?),
    })
}

/// The values converted by `convert` (NULL stays NULL), or the first that
/// does not convert.
fn collect<'v, T>(
    values: impl Iterator<Item = &'v Value>,
    convert: impl Fn(&Value) -> Option<T>,
    wrong: impl Fn(&Value) -> Error,
) -> Result<Vec<Option<T>>> {
    values
        .map(|v| match v {
            Value::Null => Ok(None),
            v => convert(v).map(Some).ok_or_else(|| wrong(v)),
        })
        .collect()
}
