//! How the store runs SQL: one query text for SQLite and PostgreSQL (`$n` parameters, each
//! bound once, in order of first appearance), one row type, one transaction type.
//!
//! SQLite runs in this process, on the calling task's thread, one connection behind an async
//! lock. Its statements take microseconds (WAL with `synchronous = NORMAL`: a commit is a write
//! to the log, no fsync), so running them in place is cheaper than anything that hands them to
//! another thread: sqlx's SQLite driver did, and its two thread switches per statement were the
//! largest part of the bridge's CPU per case. A transaction holds the lock until it ends.
//! (Another process holding the file's write lock, such as an operator's `sqlite3` shell in a
//! transaction, makes the statement wait up to `busy_timeout` on its thread.)
//!
//! PostgreSQL goes through sqlx's pool: a statement is a network round trip anyway.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::ValueRef;
use sqlx::postgres::{PgArguments, PgPool, PgRow, Postgres};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};
use tokio::sync::{Mutex as Turn, OwnedMutexGuard};

use super::checkpoints::{Checkpointer, BACKSTOP_PAGES};

/// What running SQL can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Postgres(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("column {column}: {detail}")]
    Column { column: String, detail: String },
    #[error("cannot start SQLite's checkpoint thread: {0}")]
    Thread(std::io::Error),
}

type Result<T, E = DbError> = std::result::Result<T, E>;

/// A database: a SQLite file or a PostgreSQL pool.
#[derive(Clone)]
pub enum Db {
    Sqlite(Arc<Sqlite>),
    Postgres(PgPool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Db::Sqlite(_) => "Db::Sqlite",
            Db::Postgres(_) => "Db::Postgres",
        })
    }
}

/// The SQLite connection, and whose turn it is to use it.
pub struct Sqlite {
    /// Held for a statement, or for a whole transaction. Async, so waiting for it parks the
    /// task and not the thread.
    turn: Arc<Turn<()>>,
    /// Taken only by the holder of `turn`, so never contended: it makes the connection (not
    /// `Sync`) shareable.
    conn: Mutex<rusqlite::Connection>,
    /// Checkpoints the WAL in the background; stopped with the connection.
    _checkpoints: Checkpointer,
}

impl Sqlite {
    /// Opens (creating it if missing) the database file of a `sqlite:` URL.
    pub fn open(url: &str, busy_timeout: Duration) -> Result<Self> {
        let path = sqlite_path(url);
        // Through the VFS that writes each commit to the WAL at once (see `wal_writes`).
        let conn = match super::wal_writes::vfs() {
            Some(vfs) => rusqlite::Connection::open_with_flags_and_vfs(
                path,
                rusqlite::OpenFlags::default(),
                vfs,
            )?,
            None => rusqlite::Connection::open(path)?,
        };
        conn.busy_timeout(busy_timeout)?;
        // WAL lets other processes (the CLI, a backup) read beside the writer; NORMAL syncs
        // at checkpoints, not at every commit (a power cut may lose the last commits, never
        // corrupt the file).
        // A commit writes every page it changed to the WAL whole, checksummed: a case's few
        // small rows touch about 25 table and index pages, so 1 KiB pages write a quarter of
        // what 4 KiB ones do. (Only a new file takes it; an existing one keeps its size.)
        conn.pragma_update(None, "page_size", 1024)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints run on a thread of their own (see `checkpoints`); the commit that takes
        // the WAL past the backstop checkpoints only if that thread has fallen far behind.
        conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)?;
        conn.set_prepared_statement_cache_capacity(128);
        let checkpoints = Checkpointer::start(std::path::Path::new(path))?;
        Ok(Self {
            turn: Arc::new(Turn::new(())),
            conn: Mutex::new(conn),
            _checkpoints: checkpoints,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }
}

/// The file of `sqlite://path`, `sqlite:path` (a query string such as `?mode=rwc` is ignored:
/// the file is always created when missing).
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split_once('?').map_or(rest, |(path, _)| path)
}

/// A value bound to a parameter.
#[derive(Debug, Clone)]
pub enum Arg<'q> {
    Int(Option<i64>),
    Text(Option<Cow<'q, str>>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}

impl<'q> From<&'q str> for Arg<'q> {
    fn from(v: &'q str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'q> From<Option<&'q str>> for Arg<'q> {
    fn from(v: Option<&'q str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

/// A statement and its parameters.
#[derive(Debug)]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg<'q>>,
}

/// A statement to run.
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// Where a statement runs: on the database (a statement of its own) or in a transaction.
pub enum On<'c> {
    Db(&'c Db),
    Tx(&'c mut Tx),
}

impl<'c> From<&'c Db> for On<'c> {
    fn from(db: &'c Db) -> Self {
        On::Db(db)
    }
}

impl<'c> From<&'c mut Tx> for On<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        On::Tx(tx)
    }
}

impl<'q> Query<'q> {
    pub fn bind(mut self, value: impl Into<Arg<'q>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Runs the statement; returns how many rows it changed.
    pub async fn execute<'c>(self, on: impl Into<On<'c>>) -> Result<u64> {
        match on.into() {
            On::Db(Db::Sqlite(db)) => {
                let _turn = db.turn.lock().await;
                db.with(|c| self.sqlite_execute(c))
            }
            On::Db(Db::Postgres(pool)) => Ok(self.pg().execute(pool).await?.rows_affected()),
            On::Tx(tx) => match &mut tx.0 {
                TxInner::Sqlite { db, .. } => db.with(|c| self.sqlite_execute(c)),
                TxInner::Postgres(t) => {
                    Ok(self.pg().execute(&mut **pg_tx(t)?).await?.rows_affected())
                }
            },
        }
    }

    /// Runs the statement; returns its rows.
    pub async fn fetch_all<'c>(self, on: impl Into<On<'c>>) -> Result<Vec<Row>> {
        match on.into() {
            On::Db(Db::Sqlite(db)) => {
                let _turn = db.turn.lock().await;
                db.with(|c| self.sqlite_rows(c))
            }
            On::Db(Db::Postgres(pool)) => Ok(pg_rows(self.pg().fetch_all(pool).await?)),
            On::Tx(tx) => match &mut tx.0 {
                TxInner::Sqlite { db, .. } => db.with(|c| self.sqlite_rows(c)),
                TxInner::Postgres(t) => Ok(pg_rows(self.pg().fetch_all(&mut **pg_tx(t)?).await?)),
            },
        }
    }

    /// Runs the statement; returns its first row, if any.
    pub async fn fetch_optional<'c>(self, on: impl Into<On<'c>>) -> Result<Option<Row>> {
        Ok(self.fetch_all(on).await?.into_iter().next())
    }

    /// Runs the statement; returns its first row, which must exist.
    pub async fn fetch_one<'c>(self, on: impl Into<On<'c>>) -> Result<Row> {
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| DbError::Column {
                column: "0".into(),
                detail: "the statement returned no row".into(),
            })
    }

    /// The first column of the first row, which must exist.
    pub async fn scalar<'c, T: Decode>(self, on: impl Into<On<'c>>) -> Result<T> {
        self.fetch_one(on).await?.at(0)
    }

    /// The first column of the first row, if there is a row.
    pub async fn optional_scalar<'c, T: Decode>(self, on: impl Into<On<'c>>) -> Result<Option<T>> {
        self.fetch_optional(on).await?.map(|r| r.at(0)).transpose()
    }

    /// The first column of every row.
    pub async fn scalars<'c, T: Decode>(self, on: impl Into<On<'c>>) -> Result<Vec<T>> {
        self.fetch_all(on).await?.iter().map(|r| r.at(0)).collect()
    }

    /// Every row, as a tuple of its columns.
    pub async fn tuples<'c, T: Tuple>(self, on: impl Into<On<'c>>) -> Result<Vec<T>> {
        self.fetch_all(on).await?.iter().map(T::from_row).collect()
    }

    /// The first row, if any, as a tuple of its columns.
    pub async fn optional_tuple<'c, T: Tuple>(self, on: impl Into<On<'c>>) -> Result<Option<T>> {
        self.fetch_optional(on)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }

    /// The first row, which must exist, as a tuple of its columns.
    pub async fn tuple<'c, T: Tuple>(self, on: impl Into<On<'c>>) -> Result<T> {
        T::from_row(&self.fetch_one(on).await?)
    }

    fn pg(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        let mut q = sqlx::query(self.sql);
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_deref()),
            };
        }
        q
    }

    fn sqlite_statement<'c>(
        &self,
        conn: &'c rusqlite::Connection,
    ) -> Result<rusqlite::CachedStatement<'c>> {
        let mut stmt = conn.prepare_cached(self.sql)?;
        for (i, arg) in self.args.iter().enumerate() {
            match arg {
                Arg::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                Arg::Text(v) => stmt.raw_bind_parameter(i + 1, v.as_deref())?,
            }
        }
        Ok(stmt)
    }

    fn sqlite_execute(&self, conn: &rusqlite::Connection) -> Result<u64> {
        let mut stmt = self.sqlite_statement(conn)?;
        // Stepped to the end rather than `raw_execute`, which refuses statements that return
        // rows (a PRAGMA, an UPDATE … RETURNING run for its effect).
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
        Ok(conn.changes())
    }

    fn sqlite_rows(&self, conn: &rusqlite::Connection) -> Result<Vec<Row>> {
        let mut stmt = self.sqlite_statement(conn)?;
        let names: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
        let width = names.len();
        let mut out = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(Value::from(row.get_ref(i)?));
            }
            out.push(Row(RowInner::Sqlite {
                names: names.clone(),
                values,
            }));
        }
        Ok(out)
    }
}

/// The PostgreSQL transaction still open.
fn pg_tx<'t>(
    t: &'t mut Option<sqlx::Transaction<'static, Postgres>>,
) -> Result<&'t mut sqlx::Transaction<'static, Postgres>> {
    t.as_mut()
        .ok_or_else(|| DbError::Postgres(sqlx::Error::Protocol("the transaction has ended".into())))
}

fn pg_rows(rows: Vec<PgRow>) -> Vec<Row> {
    rows.into_iter()
        .map(|r| Row(RowInner::Postgres(r)))
        .collect()
}

/// A SQLite value, read out of its row (the store writes no reals or blobs).
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Int(i64),
    Real,
    Text(String),
    Blob,
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(_) => Value::Real,
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(_) => Value::Blob,
        }
    }
}

/// A row a statement returned.
#[derive(Debug)]
pub struct Row(RowInner);

#[derive(Debug)]
enum RowInner {
    Sqlite {
        names: Arc<[String]>,
        values: Vec<Value>,
    },
    Postgres(PgRow),
}

impl Row {
    /// The column named `name`.
    pub fn get<T: Decode>(&self, name: &str) -> Result<T> {
        let index = match &self.0 {
            RowInner::Sqlite { names, .. } => names.iter().position(|n| n == name),
            RowInner::Postgres(row) => row.columns().iter().position(|c| {
                use sqlx::Column as _;
                c.name() == name
            }),
        };
        match index {
            Some(i) => self.decode(i, name),
            None => Err(DbError::Column {
                column: name.to_owned(),
                detail: "no such column".into(),
            }),
        }
    }

    /// The column at `index` (from 0).
    pub fn at<T: Decode>(&self, index: usize) -> Result<T> {
        self.decode(index, &index.to_string())
    }

    fn decode<T: Decode>(&self, i: usize, column: &str) -> Result<T> {
        let found = match &self.0 {
            RowInner::Sqlite { values, .. } => match values.get(i) {
                Some(v) => T::from_sqlite(v).ok_or_else(|| format!("unexpected value {v:?}")),
                None => Err("no such column".to_owned()),
            },
            RowInner::Postgres(row) => T::from_pg(row, i).map_err(|e| e.to_string()),
        };
        found.map_err(|detail| DbError::Column {
            column: column.to_owned(),
            detail,
        })
    }
}

/// A Rust type a column is read as.
pub trait Decode: Sized {
    #[doc(hidden)]
    fn from_sqlite(v: &Value) -> Option<Self>;
    #[doc(hidden)]
    fn from_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error>;
}

/// A row's columns, in order, as a tuple.
pub trait Tuple: Sized {
    fn from_row(row: &Row) -> Result<Self>;
}

macro_rules! tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Decode),+> Tuple for ($($t,)+) {
            fn from_row(row: &Row) -> Result<Self> {
                Ok(($(row.at::<$t>($i)?,)+))
            }
        }
    };
}

tuple!(A 0, B 1);
tuple!(A 0, B 1, C 2);
tuple!(A 0, B 1, C 2, D 3);

/// PostgreSQL integers of any width (a literal `1` is an `INT4`, `COUNT(*)` an `INT8`) and
/// booleans, as `i64`; `None` for NULL.
fn pg_int(row: &PgRow, i: usize) -> Result<Option<i64>, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(None);
    }
    let kind = raw.type_info().name().to_owned();
    Ok(Some(match kind.as_str() {
        "INT2" => row.try_get::<i16, _>(i)?.into(),
        "INT4" => row.try_get::<i32, _>(i)?.into(),
        "BOOL" => row.try_get::<bool, _>(i)?.into(),
        _ => row.try_get::<i64, _>(i)?,
    }))
}

impl Decode for Option<i64> {
    fn from_sqlite(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            Value::Int(i) => Some(Some(*i)),
            _ => None,
        }
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        pg_int(row, i)
    }
}

impl Decode for i64 {
    fn from_sqlite(v: &Value) -> Option<Self> {
        Option::<i64>::from_sqlite(v).flatten()
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        pg_int(row, i)?.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: i.to_string(),
            source: "NULL where a number was expected".into(),
        })
    }
}

impl Decode for Option<String> {
    fn from_sqlite(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            Value::Text(t) => Some(Some(t.clone())),
            _ => None,
        }
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get(i)
    }
}

impl Decode for String {
    fn from_sqlite(v: &Value) -> Option<Self> {
        Option::<String>::from_sqlite(v).flatten()
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self, sqlx::Error> {
        row.try_get(i)
    }
}

/// A transaction: committed by [`Tx::commit`], rolled back when dropped without.
pub struct Tx(TxInner);

enum TxInner {
    Sqlite {
        db: Arc<Sqlite>,
        /// The connection is this transaction's until it ends.
        _turn: OwnedMutexGuard<()>,
        open: bool,
    },
    /// `None` once committed.
    Postgres(Option<sqlx::Transaction<'static, Postgres>>),
}

impl Db {
    pub async fn begin(&self) -> Result<Tx> {
        match self {
            Db::Sqlite(db) => {
                let turn = db.turn.clone().lock_owned().await;
                // IMMEDIATE takes the write lock now: a transaction that reads, then writes,
                // cannot fail half-way because another process wrote in between.
                db.with(|c| Ok(c.execute_batch("BEGIN IMMEDIATE")?))?;
                Ok(Tx(TxInner::Sqlite {
                    db: db.clone(),
                    _turn: turn,
                    open: true,
                }))
            }
            Db::Postgres(pool) => Ok(Tx(TxInner::Postgres(Some(pool.begin().await?)))),
        }
    }
}

impl Tx {
    pub async fn commit(mut self) -> Result<()> {
        match &mut self.0 {
            TxInner::Sqlite { db, open, .. } => {
                db.with(|c| Ok(c.execute_batch("COMMIT")?))?;
                *open = false;
                Ok(())
            }
            TxInner::Postgres(t) => match t.take() {
                Some(t) => Ok(t.commit().await?),
                None => Ok(()),
            },
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let TxInner::Sqlite { db, open: true, .. } = &self.0 {
            // Still this transaction's turn: nobody else can be using the connection.
            if let Err(e) = db.with(|c| Ok(c.execute_batch("ROLLBACK")?)) {
                tracing::warn!(error = %e, "could not roll back a SQLite transaction");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Sqlite;
    use crate::store::wal_writes::tests::Scratch;
    use crate::store::wal_writes::WAL_WRITES;
    use std::time::Duration;

    #[test]
    fn the_store_writes_its_commits_through_the_gathering_vfs() {
        let scratch = Scratch::new("store-vfs");
        let db = Sqlite::open(&scratch.url(), Duration::from_secs(1)).expect("opens");
        // The first commit starts the WAL, whose header is synced on its own.
        db.with(|c| Ok(c.execute_batch("CREATE TABLE t (x TEXT UNIQUE, y TEXT UNIQUE)")?))
            .expect("creates");
        let before = WAL_WRITES.with(|n| n.get());
        for x in ["a", "b"] {
            db.with(|c| Ok(c.execute("INSERT INTO t VALUES (?1, ?1)", [x])?))
                .expect("writes");
        }
        let mode: String = db
            .with(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
            .expect("reads");
        assert_eq!(mode, "wal");
        // Two commits of three pages each (the table, two indexes): one write each.
        assert_eq!(WAL_WRITES.with(|n| n.get()) - before, 2);
    }

    #[test]
    fn the_wal_is_checkpointed_in_the_background() {
        let scratch = Scratch::new("store-checkpoints");
        let db = Sqlite::open(&scratch.url(), Duration::from_secs(1)).expect("opens");
        // The commits themselves checkpoint only far past what this test writes.
        let backstop: i64 = db
            .with(|c| Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?))
            .expect("reads");
        assert!(backstop >= 10_000, "{backstop}");
        db.with(|c| Ok(c.execute_batch("CREATE TABLE t (x TEXT)")?))
            .expect("creates");
        // About 1,000 pages, in 500 commits.
        for n in 0..500 {
            db.with(|c| Ok(c.execute("INSERT INTO t VALUES (?1)", [format!("{n:01000}")])?))
                .expect("writes");
        }
        // Copied into the database file by the checkpoint thread (the file holds only the
        // schema until a checkpoint).
        let size = || std::fs::metadata(scratch.path()).map_or(0, |m| m.len());
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while size() < 500 * 1000 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(size() >= 500 * 1000, "database file: {} bytes", size());
    }
}
