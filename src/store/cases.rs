//! `cases`: every accepted `/createticket` request, recorded before any upstream call.

use super::db::{On, Row};
use super::jobs::{insert_job, Job, NewJob};
use super::tickets::{insert_ticket, NewTicketRecord, TicketRecord};
use super::{now_ms, query, Result, Store, StoreError, Tx};
use crate::ids::{ImUserId, TicketId};

/// A case to record.
#[derive(Debug, Clone)]
pub struct NewCaseRecord {
    pub case_id: String,
    pub user: ImUserId,
    /// The client's `Idempotency-Key`, unique per user.
    pub idem_key: Option<String>,
    /// Fingerprint of the request, to tell a retry from a different request under the same key.
    pub request_hash: String,
    /// The validated request, as JSON.
    pub request: String,
}

/// A recorded case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub case_id: String,
    pub user_id: String,
    pub idem_key: Option<String>,
    pub request_hash: String,
    pub request: String,
    /// The ticket the case became (new or reused); `None` = not known yet.
    pub ticket_id: Option<TicketId>,
    pub reused: bool,
    pub created_at: i64,
    /// When a ticket create was first sent for the case (recorded only when it may reuse one).
    pub create_started_at: Option<i64>,
}

/// What [`Store::insert_case`] did.
#[derive(Debug)]
pub enum CaseInsert {
    /// Recorded, with its job (claimed by the caller).
    Added(CaseRecord, Job),
    /// The user's key was taken: the case recorded under it.
    Existing(CaseRecord),
    /// Refused by the caller's limits at this load; nothing was written.
    Refused(CaseLoad),
}

/// A user's load, for the abuse limits ([`case_load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseLoad {
    pub known_key: bool,
    pub cases: u64,
    pub open_tickets: u64,
}

const SELECT_CASE: &str = "SELECT case_id, user_id, idem_key, request_hash, request, ticket_id, \
     reused, created_at, create_started_at FROM cases";

impl Store {
    /// Records a case and the job that will finish it, in one transaction, unless the user's
    /// `Idempotency-Key` is taken already ([`CaseInsert::Existing`]) or, with `load_since`
    /// (ms), `admit` refuses the user's load ([`case_load`], read in the same
    /// transaction) for a key not recorded yet ([`CaseInsert::Refused`]); then nothing is
    /// written.
    pub async fn insert_case(
        &self,
        case: &NewCaseRecord,
        job: &NewJob,
        load_since: Option<i64>,
        admit: impl FnOnce(&CaseLoad) -> bool,
    ) -> Result<CaseInsert> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if let Some(since) = load_since {
            let load = case_load(&mut tx, &case.user, case.idem_key.as_deref(), since).await?;
            if !load.known_key && !admit(&load) {
                return Ok(CaseInsert::Refused(load));
            }
        }
        let inserted = query(
            "INSERT INTO cases (case_id, user_id, idem_key, request_hash, request, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (user_id, idem_key) DO NOTHING",
        )
        .bind(case.case_id.as_str())
        .bind(case.user.as_str())
        .bind(case.idem_key.as_deref())
        .bind(case.request_hash.as_str())
        .bind(case.request.as_str())
        .bind(now)
        .bind(now)
        .execute(&mut tx)
        .await?;
        if inserted == 0 {
            let existing = query(&format!(
                "{SELECT_CASE} WHERE user_id = $1 AND idem_key = $2"
            ))
            .bind(case.user.as_str())
            .bind(case.idem_key.as_deref())
            .fetch_optional(&mut tx)
            .await?;
            return match existing {
                Some(row) => Ok(CaseInsert::Existing(case_from_row(&row)?)),
                None => Err(StoreError::Corrupt {
                    what: "case",
                    detail: "conflicting key vanished".into(),
                }),
            };
        }
        let job = insert_job(&mut tx, job)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "job",
                detail: format!("a job {} exists already", job.dedupe_key),
            })?;
        tx.commit().await?;
        let record = CaseRecord {
            case_id: case.case_id.clone(),
            user_id: case.user.as_str().to_owned(),
            idem_key: case.idem_key.clone(),
            request_hash: case.request_hash.clone(),
            request: case.request.clone(),
            ticket_id: None,
            reused: false,
            created_at: now,
            create_started_at: None,
        };
        Ok(CaseInsert::Added(record, job))
    }

    pub async fn case(&self, case_id: &str) -> Result<Option<CaseRecord>> {
        let row = query(&format!("{SELECT_CASE} WHERE case_id = $1"))
            .bind(case_id.to_owned())
            .fetch_optional(&self.db)
            .await?;
        row.map(|r| case_from_row(&r)).transpose()
    }

    /// When each of the user's cases recorded after `since` (ms) was, oldest first.
    pub async fn case_times_since(&self, user: &ImUserId, since: i64) -> Result<Vec<i64>> {
        Ok(query(
            "SELECT created_at FROM cases WHERE user_id = $1 AND created_at > $2
             ORDER BY created_at",
        )
        .bind(user.as_str().to_owned())
        .bind(since)
        .scalars(&self.db)
        .await?)
    }

    /// Records that a ticket create is about to be sent for the case (first time only).
    pub async fn mark_create_started(&self, case_id: &str) -> Result<()> {
        query(
            "UPDATE cases SET create_started_at = COALESCE(create_started_at, $1), updated_at = $2
             WHERE case_id = $3",
        )
        .bind(now_ms())
        .bind(now_ms())
        .bind(case_id.to_owned())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Links a case to the ticket it became; a new ticket is recorded in the same transaction,
    /// and so is the customer's Zendesk user when it is given (`customer`: not remembered yet).
    /// Returns the new ticket's record when it was written now.
    pub async fn set_case_ticket(
        &self,
        case_id: &str,
        ticket: TicketId,
        reused: bool,
        new_ticket: Option<&NewTicketRecord<'_>>,
        customer: Option<u64>,
    ) -> Result<Option<TicketRecord>> {
        let mut tx = self.db.begin().await?;
        let record = match new_ticket {
            Some(new) => {
                if let Some(customer) = customer {
                    remember_customer(&mut tx, new.user, customer).await?;
                }
                insert_ticket(&mut tx, ticket, new).await?
            }
            None => None,
        };
        query("UPDATE cases SET ticket_id = $1, reused = $2, updated_at = $3 WHERE case_id = $4")
            .bind(ticket.0 as i64)
            .bind(i64::from(reused))
            .bind(now_ms())
            .bind(case_id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The Zendesk user of an IM user, if known.
    pub async fn customer(&self, user: &ImUserId) -> Result<Option<u64>> {
        let id: Option<i64> = query("SELECT zendesk_user_id FROM customers WHERE user_id = $1")
            .bind(user.as_str().to_owned())
            .optional_scalar(&self.db)
            .await?;
        Ok(id.map(|i| i as u64))
    }

    /// Remembers (or corrects) which Zendesk user an IM user is.
    pub async fn remember_customer(&self, user: &ImUserId, zendesk_user: u64) -> Result<()> {
        remember_customer(&self.db, user, zendesk_user).await
    }

    pub async fn forget_customer(&self, user: &ImUserId) -> Result<()> {
        query("DELETE FROM customers WHERE user_id = $1")
            .bind(user.as_str().to_owned())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Cases whose ticket, group or greeting is not done yet.
    pub async fn unfinished_case_ids(&self) -> Result<Vec<String>> {
        let rows = query(
            "SELECT c.case_id FROM cases c LEFT JOIN tickets t ON t.ticket_id = c.ticket_id
             WHERE c.ticket_id IS NULL OR t.group_created_at IS NULL OR t.greeted_at IS NULL
             ORDER BY c.created_at",
        )
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|r| r.get::<String>("case_id").map_err(StoreError::from))
            .collect()
    }
}

async fn remember_customer<'c>(
    on: impl Into<On<'c>>,
    user: &ImUserId,
    zendesk_user: u64,
) -> Result<()> {
    query(
        "INSERT INTO customers (user_id, zendesk_user_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET zendesk_user_id = excluded.zendesk_user_id",
    )
    .bind(user.as_str())
    .bind(zendesk_user as i64)
    .bind(now_ms())
    .execute(on)
    .await?;
    Ok(())
}

/// What the abuse limits look at, in one statement: whether the user recorded a case under
/// `key` already (a retry, never refused), how many cases they recorded after `since` (ms),
/// and how many of their tickets were not solved or closed when last seen.
async fn case_load(
    tx: &mut Tx,
    user: &ImUserId,
    key: Option<&str>,
    since: i64,
) -> Result<CaseLoad> {
    let (known, cases, open): (i64, i64, i64) = query(
        "SELECT (SELECT COUNT(*) FROM cases WHERE user_id = $1 AND idem_key = $2),
                (SELECT COUNT(*) FROM cases WHERE user_id = $3 AND created_at > $4),
                (SELECT COUNT(*) FROM tickets WHERE user_id = $5
                   AND status NOT IN ('solved', 'closed', 'deleted'))",
    )
    .bind(user.as_str())
    .bind(key)
    .bind(user.as_str())
    .bind(since)
    .bind(user.as_str())
    .tuple(tx)
    .await?;
    Ok(CaseLoad {
        known_key: known > 0,
        cases: cases.max(0) as u64,
        open_tickets: open.max(0) as u64,
    })
}

fn case_from_row(r: &Row) -> Result<CaseRecord> {
    let ticket: Option<i64> = r.get("ticket_id")?;
    Ok(CaseRecord {
        case_id: r.get("case_id")?,
        user_id: r.get("user_id")?,
        idem_key: r.get("idem_key")?,
        request_hash: r.get("request_hash")?,
        request: r.get("request")?,
        ticket_id: ticket.map(|t| TicketId(t as u64)),
        reused: r.get::<i64>("reused")? != 0,
        created_at: r.get("created_at")?,
        create_started_at: r.get("create_started_at")?,
    })
}
