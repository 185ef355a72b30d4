//! Wake-ups between the processes sharing the database.
//!
//! Two things wake waiters: work recorded for the job workers, and a change in a conversation
//! (a message, an assignee, a status) for the agents' event streams. Each wakes this process's
//! waiters at once; on PostgreSQL it is also sent to every other replica with `NOTIFY` and
//! received there with `LISTEN`. A notification is only a hint to look at the database, so a
//! lost one (the listening connection dropped, or was never made) costs a delay, not work:
//! waiters also look every `DATABASE_POLL_MS`.
//!
//! Sending never holds up the caller: a task per topic sends the `NOTIFY`s, and a signal
//! raised while one is on its way is folded into the next, so a burst costs a few statements,
//! not one each. A process ignores its own notifications (their payload is its id).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{mpsc, Notify};

/// What a signal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Topic {
    /// A job was recorded or handed back: idle workers look for due jobs.
    Jobs,
    /// A conversation changed: event streams read what is new.
    Changes,
}

const TOPICS: [Topic; 2] = [Topic::Jobs, Topic::Changes];

impl Topic {
    fn channel(self) -> &'static str {
        match self {
            Topic::Jobs => "ticket_bridge_jobs",
            Topic::Changes => "ticket_bridge_changes",
        }
    }

    fn index(self) -> usize {
        match self {
            Topic::Jobs => 0,
            Topic::Changes => 1,
        }
    }
}

/// How long the listener waits before connecting again after an error.
const RELISTEN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub(super) struct Signals {
    /// This process, as the payload of its notifications.
    origin: Arc<str>,
    local: [Arc<Notify>; 2],
    /// On PostgreSQL, one sender per topic to the task that notifies the other replicas.
    outbox: Option<[mpsc::Sender<()>; 2]>,
}

impl Signals {
    /// Signals for this process alone (SQLite).
    pub(super) fn local() -> Self {
        Self {
            origin: format!("{:016x}", rand::random::<u64>()).into(),
            local: Default::default(),
            outbox: None,
        }
    }

    /// Signals that reach the other replicas on `pool` too (PostgreSQL).
    pub(super) fn shared(pool: &PgPool) -> Self {
        let mut signals = Self::local();
        signals.outbox = Some(TOPICS.map(|topic| {
            // Capacity 1: a signal raised while one waits is already covered by it.
            let (tx, mut rx) = mpsc::channel::<()>(1);
            let (pool, sql) = (pool.clone(), signals.notify_sql(topic));
            tokio::spawn(async move {
                while rx.recv().await.is_some() {
                    if let Err(e) = sqlx::query(&sql).execute(&pool).await {
                        tracing::warn!(error = %e, "could not notify the other replicas; they find the work by polling");
                    }
                }
            });
            tx
        }));
        signals
    }

    /// `NOTIFY` for `topic`, with this process's id as payload (hex: nothing to escape).
    fn notify_sql(&self, topic: Topic) -> String {
        format!("NOTIFY {}, '{}'", topic.channel(), self.origin)
    }

    /// What wakes at the next signal of `topic` in this process.
    pub(super) fn waiters(&self, topic: Topic) -> &Arc<Notify> {
        &self.local[topic.index()]
    }

    /// Wakes this process's waiters on `topic`, and the other replicas' soon after.
    pub(super) fn raise(&self, topic: Topic) {
        self.waiters(topic).notify_waiters();
        if let Some(outbox) = &self.outbox {
            // Full: a notification is already due, and covers this one.
            let _ = outbox[topic.index()].try_send(());
        }
    }

    /// Like [`Signals::raise`], but the other replicas are notified before this returns (for
    /// a process about to exit).
    pub(super) async fn raise_now(&self, db: &super::Db, topic: Topic) {
        self.waiters(topic).notify_waiters();
        if self.outbox.is_some() {
            if let Err(e) = super::query(&self.notify_sql(topic)).execute(db).await {
                tracing::warn!(error = %e, "could not notify the other replicas; they find the work by polling");
            }
        }
    }

    /// Listens for the other replicas' signals on the PostgreSQL database at `url`, for as long
    /// as the process runs. Returns once listening (or, if that failed, once the failure is
    /// logged: a task keeps trying, and polling covers the meantime).
    pub(super) async fn listen(&self, url: &str) {
        let first = match subscribe(url).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the other replicas' notifications yet; polling meanwhile");
                None
            }
        };
        tokio::spawn(self.clone().relay(url.to_owned(), first));
    }

    async fn relay(self, url: String, mut listener: Option<PgListener>) {
        loop {
            let Some(l) = listener.as_mut() else {
                tokio::time::sleep(RELISTEN).await;
                match subscribe(&url).await {
                    Ok(l) => {
                        tracing::info!("listening for the other replicas' notifications again");
                        listener = Some(l);
                        // Whatever was sent meanwhile was missed: look now.
                        self.wake_all();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for the other replicas' notifications")
                    }
                }
                continue;
            };
            match l.try_recv().await {
                Ok(Some(n)) if n.payload() != &*self.origin => {
                    if let Some(topic) = TOPICS.iter().find(|t| t.channel() == n.channel()) {
                        self.waiters(*topic).notify_waiters();
                    }
                }
                Ok(Some(_)) => {}
                // The connection dropped and was made again: what was sent between is lost.
                Ok(None) => self.wake_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection that listens for the other replicas' notifications");
                    listener = None;
                    self.wake_all();
                }
            }
        }
    }

    fn wake_all(&self) {
        for topic in TOPICS {
            self.waiters(topic).notify_waiters();
        }
    }
}

async fn subscribe(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener
        .listen_all(TOPICS.iter().map(|t| t.channel()))
        .await?;
    Ok(listener)
}
