//! SQLite checkpoints on a thread of their own, off the requests' path.
//!
//! A checkpoint copies the pages committed to the WAL into the database file and syncs both.
//! Left to SQLite, it runs inside the commit that takes the WAL past its limit, and every
//! request waiting for the connection waits for its copying and its two `fsync`s: on this
//! machine's latency bench, a few milliseconds at the 99th percentile, more on slow disks. Here
//! a second connection checkpoints in the background (`PASSIVE`: it never blocks the writer,
//! which goes on appending to the WAL meanwhile), so the commit path only writes the WAL.
//!
//! The writer's own automatic checkpoint stays as a backstop, at a much larger size. The WAL
//! starts over from its beginning only when a checkpoint has copied all of it before the next
//! commit; under a steady stream of commits a background checkpoint never quite catches up, so
//! the WAL grows to the backstop, where the writer's own checkpoint, with little left to copy,
//! completes it (one short stall every few hundred cases, instead of a long one every thirty).
//! Should this thread fail, the backstop alone keeps the WAL bounded.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::db::DbError;

/// How often the WAL is checked: at the bridge's peak rate (about 2,500 cases a second, 35
/// pages each) that lets it grow by at most about 9 MiB between checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's automatic checkpoint, in WAL pages: only if this thread has fallen far behind.
pub(super) const BACKSTOP_PAGES: i64 = 20_000;

/// The checkpointing thread; stopped (and waited for) when dropped.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (already open, in WAL mode).
    pub(super) fn start(path: &Path) -> Result<Self, DbError> {
        // Through SQLite's own VFS: this connection never writes the WAL.
        let conn = rusqlite::Connection::open(path)?;
        // The checkpoint's syncs follow the connection's level, as the writer's would.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoints".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(DbError::Thread)?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(conn: &rusqlite::Connection, stopped: &mpsc::Receiver<()>) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        // (busy, WAL pages, pages checkpointed): nothing to do costs a lock and a header read.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => failing = false,
            Err(e) => {
                // Once per failing spell: the backstop keeps the WAL bounded meanwhile.
                if !failing {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
                failing = true;
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which stops after any checkpoint under way.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
