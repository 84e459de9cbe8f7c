//! Reading whole tables for `tessera db copy` (`store::copy`): rowid order,
//! a chunk at a time, every value as SQLite stores it.

use rusqlite::types::ValueRef;

use super::Sqlite;
use crate::store::Result;
use crate::store::copy::{Chunk, Value};

impl Sqlite {
    /// `table` is one of `store::copy::TABLES`, never input.
    pub async fn export_rows(&self, table: &'static str, after: i64, limit: i64) -> Result<Chunk> {
        self.scan(move |conn| {
            let sql =
                format!("SELECT rowid, * FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
            let mut stmt = conn.prepare(&sql)?;
            let columns: Vec<String> = stmt
                .column_names()
                .iter()
                .skip(1)
                .map(|c| (*c).to_owned())
                .collect();
            let width = columns.len();
            let rows = stmt
                .query_map([after, limit], |r| {
                    let rowid: i64 = r.get(0)?;
                    let values = (1..=width)
                        .map(|i| r.get_ref(i).map(value))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok((rowid, values))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Chunk { columns, rows })
        })
        .await
    }

    pub async fn count_rows(&self, table: &'static str) -> Result<u64> {
        self.scan(move |conn| {
            let n: i64 =
                conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        // Not UTF-8: kept as bytes, which a text column then refuses.
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}
