//! One write per commit to SQLite's write-ahead log, instead of two per page.
//!
//! SQLite appends each page a transaction changed to the WAL as a frame, written with two
//! `pwrite`s: the frame's 24-byte header, then the page. A case's four commits change about
//! 35 pages, so about 70 system calls, the largest share of the bridge's system time. This VFS
//! wraps the platform's default one and, for WAL files only, gathers a transaction's frames
//! (they are consecutive) and hands them to the OS in one write when its commit frame is
//! complete. Every other file, and every other operation, goes straight through.
//!
//! Why nothing can read what is still gathered: readers (this connection, or another process
//! such as the CLI) read only the frames the wal-index says are committed, and SQLite publishes
//! a commit in the wal-index (shared memory, no call on this file) only after writing its
//! commit frame, whose page write is where the gathered bytes go out. (As a second guard, the
//! memory barrier SQLite asks of the database file between the two copies of the wal-index
//! header it writes to publish a commit writes them out too.) Anything else asked of the WAL
//! file first writes what is gathered: a read (SQLite reads back frames of its own transaction
//! to recompute checksums), its size, a sync, a truncation, closing it. Durability is what it
//! was: the same bytes reach the same offsets before the commit is visible, and a crash
//! before that loses only an uncommitted transaction, as it always could.
//!
//! What a transaction that does not commit leaves gathered (frames it spilled from a full page
//! cache) is dropped when it releases the WAL's write lock, or the database file's lock:
//! written later, it would land on frames another process may have committed since.
//!
//! The commit frame is recognised by its header (the WAL format is SQLite's documented file
//! format): its second field, the database size after the commit, is zero in every other
//! frame. A file system without "powersafe overwrite" makes SQLite pad commits to a sector
//! boundary and sync in the middle of a frame: such a WAL is not gathered.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rusqlite::ffi;

/// The name the VFS is registered under.
const NAME: &CStr = c"ticket-bridge-wal-writes";

/// A WAL frame's header: page number, database size after commit (commit frames only), salts
/// and checksums.
const FRAME_HEADER: usize = 24;

/// The most bytes handed to the OS in one write: the unix VFS takes at most 128 KiB − 1 per
/// call (it masks larger sizes). A larger transaction goes out in pieces.
const MAX_GATHERED: usize = 0x1ffff;

/// The shared-memory lock a writer holds for its whole write transaction (SQLite's
/// `WAL_WRITE_LOCK`).
const WAL_WRITE_LOCK: c_int = 0;

/// The platform's default VFS, which does the actual I/O.
struct Inner(*mut ffi::sqlite3_vfs);

// SAFETY: a registered VFS is immutable and lives for the whole process; SQLite calls it from
// any thread.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

static INNER: OnceLock<Option<Inner>> = OnceLock::new();

/// Registers the VFS (once) and returns its name, for `Connection::open_with_flags_and_vfs`;
/// `None` if SQLite has no default VFS to wrap.
pub(super) fn vfs() -> Option<&'static CStr> {
    INNER
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns the default
            // VFS or null. Ours is a copy of it that lives forever (leaked), with its own name,
            // room for our state in each file, and our `xOpen`; the other methods are the
            // default VFS's, which do not depend on which VFS object they are called with.
            unsafe {
                let inner = ffi::sqlite3_vfs_find(ptr::null());
                if inner.is_null() {
                    return None;
                }
                let mut ours = *inner;
                ours.szOsFile = c_int::try_from(INNER_FILE_OFFSET).ok()? + (*inner).szOsFile;
                ours.zName = NAME.as_ptr();
                ours.pNext = ptr::null_mut();
                ours.xOpen = Some(open);
                let ours = Box::leak(Box::new(ours));
                (ffi::sqlite3_vfs_register(ours, 0) == ffi::SQLITE_OK).then_some(Inner(inner))
            }
        })
        .as_ref()
        .map(|_| NAME)
}

/// An open file: SQLite's handle, the default VFS's file (stored right after this struct, in
/// the same allocation) and what it has to do with gathering.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    role: Role,
}

/// Where the default VFS's file starts in the allocation SQLite gives `xOpen`.
const INNER_FILE_OFFSET: usize = std::mem::size_of::<File>().next_multiple_of(16);

enum Role {
    /// Straight through.
    Plain,
    /// A WAL file: its writes are gathered.
    Wal(Shared),
    /// The database file of a gathered WAL: SQLite publishes commits (the barrier) and ends
    /// write transactions (the write lock) through it.
    Database(Shared),
}

/// A WAL file's gathered bytes, shared with its database file.
type Shared = Arc<Mutex<Gathered>>;

/// Consecutive bytes written to a WAL file and not handed to the OS yet.
struct Gathered {
    /// The default VFS's WAL file; null once it is closed.
    file: *mut ffi::sqlite3_file,
    /// The file offset of `bytes[0]`.
    at: i64,
    bytes: Vec<u8>,
    /// The last write was a commit frame's header: its page completes the commit.
    commit_page_next: bool,
}

// SAFETY: `file` is only used under the mutex, by the connection that owns both files (SQLite
// runs a connection on one thread at a time).
unsafe impl Send for Gathered {}

#[cfg(test)]
thread_local! {
    /// WAL writes handed to the OS on this thread (tests run SQLite on their own thread).
    pub(super) static WAL_WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Gathered {
    fn end(&self) -> i64 {
        self.at + self.bytes.len() as i64
    }

    /// Hands the bytes to the OS.
    unsafe fn flush(&mut self) -> c_int {
        if self.bytes.is_empty() || self.file.is_null() {
            self.bytes.clear();
            return ffi::SQLITE_OK;
        }
        #[cfg(test)]
        WAL_WRITES.with(|n| n.set(n.get() + 1));
        // At most MAX_GATHERED: fits.
        let len = self.bytes.len() as c_int;
        // SAFETY: `file` is the open WAL file, whose methods the default VFS set.
        let rc = match (*(*self.file).pMethods).xWrite {
            Some(write) => write(self.file, self.bytes.as_ptr().cast(), len, self.at),
            None => ffi::SQLITE_IOERR_WRITE,
        };
        // Bytes that failed to go out stay, to go with the next flush: SQLite may roll back
        // only the statement that saw the error (a read of a spilled page) and commit the rest,
        // which must not be published without them.
        if rc == ffi::SQLITE_OK {
            self.bytes.clear();
        }
        rc
    }

    /// Drops the bytes of a transaction that did not commit.
    fn discard(&mut self) {
        self.bytes.clear();
        self.commit_page_next = false;
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Gathered> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(Some(Inner(inner_vfs))) = INNER.get() else {
        return ffi::SQLITE_CANTOPEN;
    };
    let Some(inner_open) = (**inner_vfs).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let ours = file.cast::<File>();
    let inner = file
        .cast::<u8>()
        .add(INNER_FILE_OFFSET)
        .cast::<ffi::sqlite3_file>();
    // SAFETY: SQLite hands us `szOsFile` bytes, aligned for any type, uninitialised.
    ptr::write(
        ours,
        File {
            base: ffi::sqlite3_file {
                pMethods: ptr::null(),
            },
            inner,
            role: Role::Plain,
        },
    );
    let rc = inner_open(*inner_vfs, name, inner, flags, out_flags);
    if (*inner).pMethods.is_null() {
        // SQLite closes a file only if its methods are set: nothing of ours may outlive this.
        ptr::drop_in_place(ours);
        (*file).pMethods = ptr::null();
        return rc;
    }
    (*file).pMethods = &METHODS;
    if rc == ffi::SQLITE_OK && flags & ffi::SQLITE_OPEN_WAL != 0 {
        // SAFETY: `name` is the WAL's name as the pager passed it, which is what
        // `sqlite3_database_file_object` takes; it returns the pager's open database file.
        let db = ffi::sqlite3_database_file_object(name);
        if !db.is_null() && ptr::eq((*db).pMethods, &METHODS) && powersafe_overwrite(db) {
            let shared = Arc::new(Mutex::new(Gathered {
                file: inner,
                at: 0,
                bytes: Vec::new(),
                commit_page_next: false,
            }));
            (*db.cast::<File>()).role = Role::Database(shared.clone());
            (*ours).role = Role::Wal(shared);
        }
    }
    rc
}

/// Whether the database file's device overwrites a sector's other bytes safely, as SQLite asks
/// of a WAL it does not pad (see the module's comment).
unsafe fn powersafe_overwrite(db: *mut ffi::sqlite3_file) -> bool {
    (*(*db).pMethods)
        .xDeviceCharacteristics
        .is_some_and(|device| device(db) & ffi::SQLITE_IOCAP_POWERSAFE_OVERWRITE != 0)
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock_file),
    xUnlock: Some(unlock_file),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// Our state of a file.
unsafe fn role<'f>(file: *mut ffi::sqlite3_file) -> &'f Role {
    &(*file.cast::<File>()).role
}

/// The default VFS's file and its methods.
unsafe fn inner(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let inner = (*file.cast::<File>()).inner;
    // SAFETY: set by the default VFS's `xOpen`, checked non-null there, never changed.
    (inner, &*(*inner).pMethods)
}

/// Calls the default VFS's method, or answers `missing` if its file does not have it.
macro_rules! forward {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        let (inner, methods) = inner($file);
        match methods.$method {
            Some(method) => method(inner $(, $arg)*),
            None => $missing,
        }
    }};
}

/// Writes out what is gathered for a WAL file (nothing for any other file).
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    match role(file) {
        Role::Wal(shared) => lock(shared).flush(),
        Role::Plain | Role::Database(_) => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let Role::Wal(shared) = role(file) else {
        return forward!(file, xWrite, ffi::SQLITE_IOERR_WRITE, data, amount, offset);
    };
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: SQLite passes `amount` readable bytes.
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
    let commit_header = len == FRAME_HEADER && bytes[4..8] != [0; 4];
    let mut gathered = lock(shared);
    let follows = !gathered.bytes.is_empty() && offset == gathered.end();
    if !follows || gathered.bytes.len() + len > MAX_GATHERED {
        let rc = gathered.flush();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if (commit_header && !follows) || len > MAX_GATHERED {
        // A commit header that does not extend the frames being gathered may be one SQLite
        // rewrites in place (recomputing checksums), with no page after it: written now.
        gathered.commit_page_next = commit_header;
        return forward!(file, xWrite, ffi::SQLITE_IOERR_WRITE, data, amount, offset);
    }
    if gathered.bytes.is_empty() {
        gathered.at = offset;
    }
    gathered.bytes.extend_from_slice(bytes);
    if std::mem::replace(&mut gathered.commit_page_next, commit_header) {
        return gathered.flush();
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    let flushed = match role(file) {
        Role::Wal(shared) => {
            let mut gathered = lock(shared);
            let rc = gathered.flush();
            // The database file may outlive its WAL (a change of journal mode).
            gathered.discard();
            gathered.file = ptr::null_mut();
            rc
        }
        Role::Plain | Role::Database(_) => ffi::SQLITE_OK,
    };
    let closed = forward!(file, xClose, ffi::SQLITE_OK);
    ptr::drop_in_place(file.cast::<File>());
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    if let Role::Database(shared) = role(file) {
        let releases_write_lock = flags & ffi::SQLITE_SHM_UNLOCK != 0
            && offset <= WAL_WRITE_LOCK
            && WAL_WRITE_LOCK < offset + n;
        if releases_write_lock {
            // Committed frames went out with their commit: what is left belongs to a
            // transaction rolled back, and the next writer (maybe another process) may reuse
            // its offsets.
            lock(shared).discard();
        }
    }
    forward!(file, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn unlock_file(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    if let Role::Database(shared) = role(file) {
        // Other processes may write once this lock is lowered (the end of `locking_mode =
        // EXCLUSIVE`, where the WAL's write lock is never taken in shared memory): nothing
        // gathered then belongs to a committed transaction.
        lock(shared).discard();
    }
    forward!(file, xUnlock, ffi::SQLITE_OK, level)
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    if let Role::Database(shared) = role(file) {
        // Publishing a commit: its frames are out already (see the module's comment); a
        // failure here would surface at the next write, read or sync of the WAL.
        let _ = lock(shared).flush();
    }
    let (inner, methods) = inner(file);
    if let Some(barrier) = methods.xShmBarrier {
        barrier(inner);
    }
}

/// Flushes, then forwards: for every operation that may depend on the file's bytes.
macro_rules! flush_then_forward {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            forward!(file, $method, $missing $(, $arg)*)
        }
    };
}

/// Forwards: for operations on locks, shared memory or mapped pages (the database file's),
/// which never touch a WAL file's bytes.
macro_rules! forward_only {
    ($name:ident, $method:ident, $missing:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            forward!(file, $method, $missing $(, $arg)*)
        }
    };
}

flush_then_forward!(read, xRead, ffi::SQLITE_IOERR_READ, (buf: *mut c_void, amount: c_int, offset: i64));
flush_then_forward!(truncate, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, (size: i64));
flush_then_forward!(sync, xSync, ffi::SQLITE_IOERR_FSYNC, (flags: c_int));
flush_then_forward!(file_size, xFileSize, ffi::SQLITE_IOERR_FSTAT, (size: *mut i64));
flush_then_forward!(file_control, xFileControl, ffi::SQLITE_NOTFOUND, (op: c_int, arg: *mut c_void));
forward_only!(lock_file, xLock, ffi::SQLITE_OK, (level: c_int));
forward_only!(check_reserved_lock, xCheckReservedLock, ffi::SQLITE_OK, (out: *mut c_int));
forward_only!(sector_size, xSectorSize, 4096, ());
forward_only!(device_characteristics, xDeviceCharacteristics, 0, ());
forward_only!(shm_map, xShmMap, ffi::SQLITE_IOERR_SHMMAP, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));
forward_only!(shm_unmap, xShmUnmap, ffi::SQLITE_OK, (delete: c_int));
forward_only!(fetch, xFetch, {
    *out = ptr::null_mut();
    ffi::SQLITE_OK
}, (offset: i64, amount: c_int, out: *mut *mut c_void));
forward_only!(unfetch, xUnfetch, ffi::SQLITE_OK, (offset: i64, page: *mut c_void));

#[cfg(test)]
pub(super) mod tests {
    use super::{vfs, WAL_WRITES};
    use rusqlite::{Connection, OpenFlags};
    use std::path::PathBuf;

    /// A database file of its own, removed with its WAL when dropped.
    pub(in crate::store) struct Scratch(PathBuf);

    impl Scratch {
        pub(in crate::store) fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "ticket-bridge-wal-writes-{name}-{}.db",
                std::process::id()
            ));
            let scratch = Scratch(path);
            scratch.remove();
            scratch
        }

        /// Its `sqlite:` URL.
        pub(in crate::store) fn url(&self) -> String {
            format!("sqlite://{}", self.0.display())
        }

        /// The file.
        pub(in crate::store) fn path(&self) -> &std::path::Path {
            &self.0
        }

        /// A connection through the gathering VFS, set up as the store sets its own.
        fn gathering(&self) -> Connection {
            open_gathering(&self.0, "NORMAL")
        }

        /// A connection through SQLite's own VFS: another reader, as the CLI would be.
        fn plain(&self) -> Connection {
            Connection::open(&self.0).expect("opens")
        }

        fn remove(&self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = self.0.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            self.remove();
        }
    }

    /// A connection to `target` (a path or a `file:` URI) through the gathering VFS, in WAL
    /// mode with 1 KiB pages and the given `synchronous` level.
    fn open_gathering(target: impl AsRef<std::path::Path>, synchronous: &str) -> Connection {
        let vfs = vfs().expect("the VFS registers");
        let conn =
            Connection::open_with_flags_and_vfs(target, OpenFlags::default(), vfs).expect("opens");
        conn.pragma_update(None, "page_size", 1024)
            .expect("page size");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        conn.pragma_update(None, "synchronous", synchronous)
            .expect("sync");
        conn
    }

    fn wal_writes() -> u64 {
        WAL_WRITES.with(|n| n.get())
    }

    fn create_tables(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT, n INTEGER);
             CREATE INDEX t_by_v ON t (v);
             CREATE INDEX t_by_n ON t (n);",
        )
        .expect("tables");
    }

    fn check(conn: &Connection, rows: i64) {
        let (count, sum): (i64, i64) = conn
            .query_row("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("reads");
        assert_eq!((count, sum), (rows, rows * (rows - 1) / 2));
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("checks");
        assert_eq!(integrity, "ok");
    }

    #[test]
    fn a_commit_of_many_pages_reaches_the_wal_in_one_write() {
        let db = Scratch::new("one-write");
        let conn = db.gathering();
        // No checkpoints: the commit after one starts the WAL over and syncs its new header
        // first (two writes).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no checkpoints");
        create_tables(&conn);
        let reader = db.plain();
        let mut rows = 0;
        for batch in 0..20 {
            let before = wal_writes();
            let tx = conn.unchecked_transaction().expect("begins");
            for _ in 0..40 {
                // Random-looking keys and values: every index gets a page of its own.
                let key = format!("{:x}", (rows * 2_654_435_761_i64) % 1_000_003);
                tx.execute(
                    "INSERT INTO t (k, v, n) VALUES (?1, ?2, ?3)",
                    (&key, format!("{key}{}", "x".repeat(200)), rows),
                )
                .expect("inserts");
                rows += 1;
            }
            tx.commit().expect("commits");
            let pages: i64 = conn
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .expect("pages");
            assert!(pages > 10 || batch == 0);
            assert_eq!(
                wal_writes() - before,
                1,
                "batch {batch}: one write per commit"
            );
            // Another connection, through SQLite's own VFS, sees every commit at once.
            check(&reader, rows);
        }
    }

    #[test]
    fn transactions_larger_than_the_cache_spill_and_still_commit_whole() {
        let db = Scratch::new("spill");
        let conn = db.gathering();
        // A tiny cache: the transaction writes frames to the WAL before it commits, and
        // rewrites some of them (SQLite then reads them back to recompute checksums).
        conn.pragma_update(None, "cache_size", 5).expect("cache");
        create_tables(&conn);
        let reader = db.plain();
        fn insert(conn: &Connection, from: i64, to: i64) -> rusqlite::Transaction<'_> {
            let tx = conn.unchecked_transaction().expect("begins");
            for n in from..to {
                tx.execute(
                    "INSERT INTO t (k, v, n) VALUES (?1, ?2, ?3)",
                    (format!("k{}", (n * 7919) % 100_003), "y".repeat(300), n),
                )
                .expect("inserts");
                tx.execute("UPDATE t SET v = v || 'z' WHERE id = 1", [])
                    .expect("updates a hot row");
            }
            tx
        }
        insert(&conn, 0, 2000).commit().expect("commits");
        check(&reader, 2000);
        // A spilled transaction rolled back leaves nothing behind; the next one commits.
        insert(&conn, 2000, 3000).rollback().expect("rolls back");
        check(&reader, 2000);
        insert(&conn, 2000, 2500).commit().expect("commits");
        check(&reader, 2500);
        drop((conn, reader));
        // Recovered from the WAL alone, by SQLite's own VFS.
        check(&db.plain(), 2500);
    }

    #[test]
    fn a_checkpoint_and_a_restarted_wal_keep_every_commit() {
        let db = Scratch::new("restart");
        let conn = db.gathering();
        create_tables(&conn);
        let reader = db.plain();
        for n in 0..300_i64 {
            conn.execute(
                "INSERT INTO t (k, v, n) VALUES (?1, 'v', ?2)",
                (format!("k{n}"), n),
            )
            .expect("inserts");
            if n % 50 == 49 {
                // The next commit starts the WAL over from its beginning.
                conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                    .expect("checkpoints");
            }
            if n % 25 == 0 {
                check(&reader, n + 1);
            }
        }
        drop(conn);
        check(&reader, 300);
    }

    #[test]
    fn a_wal_padded_to_sectors_is_written_as_sqlite_writes_it() {
        // Without "powersafe overwrite", synchronous = FULL pads each commit to a sector
        // boundary and syncs in the middle of a frame.
        let db = Scratch::new("padded");
        let conn = open_gathering(format!("file:{}?psow=0", db.0.display()), "FULL");
        create_tables(&conn);
        let reader = db.plain();
        let before = wal_writes();
        for n in 0..30_i64 {
            conn.execute(
                "INSERT INTO t (k, v, n) VALUES (?1, ?2, ?3)",
                (format!("k{n}"), "p".repeat(500), n),
            )
            .expect("inserts");
            check(&reader, n + 1);
        }
        assert_eq!(wal_writes(), before, "nothing gathered");
    }

    /// Table `u`: 200 rows of about 300 bytes, and a WAL emptied.
    fn fill_u(conn: &Connection) {
        conn.execute_batch("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT)")
            .expect("table");
        for i in 0..200 {
            conn.execute(
                "INSERT INTO u (v) VALUES (?1)",
                [format!("{i}{}", "a".repeat(300))],
            )
            .expect("inserts");
        }
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoints");
    }

    /// A transaction that outgrows a small cache spills frames (fewer than one write's worth:
    /// they stay gathered) and rolls back; another process commits, at the same offsets of
    /// the WAL; our connection uses the WAL again (a read, a write, closing). Returns the rows
    /// whose committed update was overwritten.
    fn roll_back_while_another_commits(db: &Scratch, conn: Connection) -> i64 {
        conn.pragma_update(None, "cache_size", 20).expect("cache");
        conn.execute_batch("BEGIN; UPDATE u SET v = 'A' || v; ROLLBACK;")
            .expect("rolls back");
        db.plain()
            .execute_batch("UPDATE u SET v = 'B' || v")
            .expect("the other commits");
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM u", [], |r| r.get(0))
            .expect("reads");
        assert_eq!(rows, 200);
        conn.execute("INSERT INTO u (v) VALUES ('B, ours')", [])
            .expect("writes");
        drop(conn);
        let fresh = db.plain();
        let integrity: String = fresh
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("checks");
        assert_eq!(integrity, "ok");
        fresh
            .query_row("SELECT COUNT(*) FROM u WHERE v NOT LIKE 'B%'", [], |r| {
                r.get(0)
            })
            .expect("reads")
    }

    #[test]
    fn a_rolled_back_transaction_leaves_nothing_to_land_on_another_writers_commit() {
        let db = Scratch::new("rollback");
        let conn = db.gathering();
        fill_u(&conn);
        assert_eq!(roll_back_while_another_commits(&db, conn), 0);
    }

    #[test]
    fn leaving_exclusive_locking_drops_what_a_rolled_back_transaction_gathered() {
        let db = Scratch::new("exclusive");
        let conn = db.gathering();
        fill_u(&conn);
        // The WAL goes exclusive (no write lock in shared memory), and stays so until the end
        // of the next write transaction.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .expect("exclusive");
        conn.execute("UPDATE u SET v = v WHERE id = 1", [])
            .expect("writes");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoints");
        conn.pragma_update(None, "locking_mode", "NORMAL")
            .expect("normal");
        assert_eq!(roll_back_while_another_commits(&db, conn), 0);
    }
}
