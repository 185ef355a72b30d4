//! Requests waiting for their case's chat to open, woken by the job that opens it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::CaseDone;

/// The cases requests of this process wait on, by case id. The job that makes a case's group
/// wakes that case's request itself: no other request is woken and nothing is read back from
/// the store.
#[derive(Debug, Default, Clone)]
pub struct CaseWaiters(Arc<Mutex<HashMap<String, oneshot::Sender<CaseDone>>>>);

/// One request's wait; dropping it (answered or not) forgets it.
#[derive(Debug)]
pub struct Waiting {
    waiters: CaseWaiters,
    case_id: String,
    /// Receives the case once its ticket and group exist.
    pub ready: oneshot::Receiver<CaseDone>,
}

impl CaseWaiters {
    /// Waits for `case_id`'s chat to be ready.
    pub fn wait(&self, case_id: &str) -> Waiting {
        let (tx, ready) = oneshot::channel();
        self.lock().insert(case_id.to_owned(), tx);
        Waiting {
            waiters: self.clone(),
            case_id: case_id.to_owned(),
            ready,
        }
    }

    /// The case's ticket and group exist: wakes its request, if one waits.
    pub fn ready(&self, case_id: &str, done: CaseDone) {
        if let Some(tx) = self.lock().remove(case_id) {
            // The request may have stopped waiting meanwhile; nothing to do then.
            let _ = tx.send(done);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<CaseDone>>> {
        // The map stays consistent whatever a panicking holder did (single inserts/removes).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.lock().remove(&self.case_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TicketId;

    #[tokio::test]
    async fn only_the_cases_request_is_woken_and_a_wait_left_is_forgotten() {
        let waiters = CaseWaiters::default();
        let mut a = waiters.wait("a");
        let mut b = waiters.wait("b");
        let done = CaseDone {
            ticket: TicketId(7),
            reused: false,
        };
        waiters.ready("a", done);
        assert_eq!((&mut a.ready).await.ok(), Some(done));
        assert!(b.ready.try_recv().is_err());
        drop(b);
        assert!(waiters.lock().is_empty());
        // Ready with nobody waiting is a no-op.
        waiters.ready("b", done);
    }
}
