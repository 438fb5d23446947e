// `WorkflowRepo`, part two: the durable step queue. Claims take leases (PostgreSQL with
// `FOR UPDATE SKIP LOCKED`, SQLite under its single writer), heartbeats extend them, and
// `group_commit` applies many guarded transitions in one transaction, one savepoint each.
// Included by `sql/mod.rs` into `sqlite` and `postgres`, after `workflows.rs`.

/// How often a group commit is retried when PostgreSQL aborts it for a deadlock (two committers
/// touching the same steps in opposite orders).
const COMMIT_RETRIES: u32 = 3;

/// What a claim sets: `running` under `$1` until `$2`, started at `$3`, one attempt more.
macro_rules! claim_set {
    () => {
        " SET status = 'running', lease_owner = $1, lease_expires_at = $2, attempt = attempt + 1, \
         started_at = $3, updated_at = $3 "
    };
}

/// Up to `$4` claimable steps matching `$cond` of running runs, highest priority then oldest first.
macro_rules! claim_candidates {
    ($select:literal, $cond:literal, $lock:literal) => {
        concat!(
            "SELECT ",
            $select,
            " FROM workflow_steps w JOIN workflow_runs r ON r.id = w.run_id WHERE ",
            $cond,
            " AND r.status IN ('running', 'waiting') ORDER BY w.priority DESC, w.ready_at LIMIT $4",
            $lock
        )
    };
}

/// The claim statement of one dialect for the candidates matching `$cond`. PostgreSQL locks the
/// candidates with `SKIP LOCKED` (re-checking `$cond` on the newest row version), so concurrent
/// claimers neither wait on nor share a step; SQLite has one writer at a time.
macro_rules! claim_sql {
    (postgres, $cond:literal) => {
        concat!(
            "UPDATE workflow_steps s",
            claim_set!(),
            "FROM (",
            claim_candidates!("w.run_id AS c_run, w.step_key AS c_key", $cond, " FOR UPDATE OF w SKIP LOCKED"),
            ") c WHERE s.run_id = c.c_run AND s.step_key = c.c_key RETURNING ",
            step_columns!()
        )
    };
    (sqlite, $cond:literal) => {
        concat!(
            "UPDATE workflow_steps",
            claim_set!(),
            "WHERE seq IN (",
            claim_candidates!("w.seq", $cond, ""),
            ") RETURNING ",
            step_columns!()
        )
    };
}

/// The claim statements of this dialect: interrupted attempts (expired leases), then ready steps.
const CLAIM_SQL: [&str; 2] = match DIALECT {
    Dialect::Postgres => [
        claim_sql!(postgres, "w.status = 'running' AND w.lease_expires_at < $3"),
        claim_sql!(postgres, "w.status = 'ready' AND w.ready_at <= $3"),
    ],
    Dialect::Sqlite => [
        claim_sql!(sqlite, "w.status = 'running' AND w.lease_expires_at < $3"),
        claim_sql!(sqlite, "w.status = 'ready' AND w.ready_at <= $3"),
    ],
};

/// Runs the claim statements on `conn` until `limit` steps are claimed.
async fn claim_on(
    conn: &mut <Db as sqlx::Database>::Connection,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<DbRow>, StoreError> {
    let mut rows = Vec::new();
    let mut left = limit;
    for sql in CLAIM_SQL {
        if left == 0 {
            break;
        }
        let claimed = sqlx::query(sql)
            .bind(owner)
            .bind(at(lease_until))
            .bind(at(now))
            .bind(i64::from(left))
            .fetch_all(&mut *conn)
            .await?;
        left = left.saturating_sub(u32::try_from(claimed.len()).unwrap_or(u32::MAX));
        rows.extend(claimed);
    }
    Ok(rows)
}

/// Extends each lease `owner` still holds at that attempt, one statement per lease.
async fn extend_leases_on(
    conn: &mut <Db as sqlx::Database>::Connection,
    owner: &str,
    leases: &[(Uuid, String, i32)],
    lease_until: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut extended = 0;
    for (run_id, step_key, attempt) in leases {
        let result = sqlx::query(
            "UPDATE workflow_steps SET lease_expires_at = $1 WHERE run_id = $2 AND step_key = $3 \
             AND attempt = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(at(lease_until))
        .bind(run_id)
        .bind(step_key)
        .bind(attempt)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
        extended += result.rows_affected();
    }
    Ok(extended)
}

/// Whether a group commit failed as a whole for a reason a fresh attempt may not meet again
/// (PostgreSQL deadlock or serialization failure).
fn is_retryable(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Database(db)) => {
            DIALECT == Dialect::Postgres && matches!(db.code().as_deref(), Some("40P01" | "40001"))
        }
        _ => false,
    }
}

/// Whether a transition that failed with `err` is skipped (rolled back to its savepoint, reported
/// as not applied) rather than failing the whole group: a constraint or data error of this one
/// transition, but not a lost connection, a retryable abort, or a corrupt row.
fn is_skippable(err: &StoreError) -> bool {
    match err {
        StoreError::Conflict(_) | StoreError::NotFound(_) => true,
        StoreError::Database(sqlx::Error::Database(_)) => !is_retryable(err),
        _ => false,
    }
}

/// Runs a group write set-based first (`attempt(true)`), retried as a whole when PostgreSQL
/// aborts it for a deadlock (nothing of it was committed); when one bad item fails the set-based
/// write, once more one by one (`attempt(false)`), where a bad item fails alone.
async fn with_fallback<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut retries = 0;
    let mut set_based = true;
    loop {
        match attempt(set_based).await {
            Err(err) if retries < COMMIT_RETRIES && is_retryable(&err) => {
                retries += 1;
                tracing::debug!(retries, error = %err, "{what} retried");
            }
            Err(err) if set_based && is_skippable(&err) => {
                tracing::debug!(error = %err, "set-based {what} failed; writing one by one");
                set_based = false;
            }
            outcome => return outcome,
        }
    }
}

/// Runs one raw statement (no parameters: savepoint control) on the transaction's connection.
async fn raw(tx: &mut Tx, statement: &'static str) -> Result<(), StoreError> {
    sqlx::Executor::execute(&mut **tx, statement).await?;
    Ok(())
}

/// Writes one change to a step of `run_id` at `now`, with the set-based statements for one row
/// (a transition's changes are applied in order, so one step may change twice).
async fn apply_step_change(tx: &mut Tx, run_id: Uuid, change: &StepChange, now: DateTime<Utc>) -> Result<(), StoreError> {
    match change {
        StepChange::Set { .. } => set_steps(tx, &[(run_id, now, change)]).await,
        StepChange::ArriveAtJoin { step_key, at: arrived_at } => {
            let arrival = JoinArrivals { run_id, step_key, count: 1, arrived_at: *arrived_at, now };
            arrive_at_joins(tx, &[arrival]).await
        }
    }
}

/// Splits `t`'s new steps into those its `claim_after` takes — named there, `ready` and due at
/// `t.at`, the run `running` or `waiting` after `t` — turned into their claimed form (`running`
/// under the lease, attempt 1, started at `t.at`), and the others as given. Claimed steps are
/// inserted in that form: never a `ready` row that is updated at once (on PostgreSQL that would
/// leave a dead entry in the claim index for every step).
fn split_claimed(t: &Transition, run_status_after: &str) -> (Vec<StepRecord>, Vec<StepRecord>) {
    if !matches!(run_status_after, "running" | "waiting") {
        return (Vec::new(), t.new_steps.clone());
    }
    let (mut claimed, mut rest) = (Vec::new(), Vec::new());
    for step in &t.new_steps {
        if let Some(claim) = claim_of(t, step) {
            claimed.push(step.clone().claimed(&claim.owner, claim.lease_until, t.at));
        } else {
            rest.push(step.clone());
        }
    }
    (claimed, rest)
}

/// The claim `t` makes on its new step `step`: named in its `claim_after`, `ready` and due at `t.at`
/// (it holds while the run is `running` or `waiting` after `t`).
fn claim_of<'t>(t: &'t Transition, step: &StepRecord) -> Option<&'t ClaimAfter> {
    t.claim_after.as_ref().filter(|claim| step.is_due(t.at) && claim.keys.contains(&step.step_key))
}

/// Writes one transition inside the caller's savepoint; `Ok(None)` when it must not apply (run
/// missing or out of scope, a new step or the attempt of another run or organization, a failed
/// guard), else the steps its `claim_after` claimed. The caller rolls back to the savepoint on
/// `Ok(None)` and errors.
async fn apply_transition(tx: &mut Tx, t: &Transition) -> Result<Option<Vec<StepRecord>>, StoreError> {
    // A transition that depends on the run's status or on the run's other steps locks the run row
    // first, so two of them on one run serialise (and each sees what the other committed).
    let locks_run = !t.run_status_in.is_empty() || t.finish_step.is_some();
    let run_sql = match (DIALECT, locks_run) {
        (Dialect::Postgres, true) => "SELECT org_id, status FROM workflow_runs WHERE id = $1 FOR UPDATE",
        _ => "SELECT org_id, status FROM workflow_runs WHERE id = $1",
    };
    let run_row = sqlx::query(run_sql).bind(t.run_id).fetch_optional(&mut **tx).await?;
    let Some(run_row) = run_row else { return Ok(None) };
    let run_org: Uuid = run_row.try_get("org_id")?;
    let run_status: String = run_row.try_get("status")?;
    if !t.run_status_in.is_empty() && !t.run_status_in.contains(&run_status) {
        return Ok(None);
    }
    if t.org_id.is_some_and(|org| org.0 != run_org)
        || t.new_steps.iter().any(|step| step.run_id != t.run_id || step.org_id.0 != run_org)
        || t.attempt.as_ref().is_some_and(|attempt| attempt.run_id != t.run_id)
    {
        return Ok(None);
    }

    if let Some(guard) = &t.guard {
        // The row lock (PostgreSQL) keeps a concurrent claim from re-leasing the step between this
        // check and the commit; SQLite's write transaction already excludes every other writer.
        let sql = match DIALECT {
            Dialect::Postgres => {
                "SELECT 1 FROM workflow_steps WHERE run_id = $1 AND step_key = $2 AND status = 'running' \
                 AND lease_owner = $3 AND attempt = $4 FOR UPDATE"
            }
            Dialect::Sqlite => {
                "SELECT 1 FROM workflow_steps WHERE run_id = $1 AND step_key = $2 AND status = 'running' \
                 AND lease_owner = $3 AND attempt = $4"
            }
        };
        let held: Option<i32> = sqlx::query_scalar(sql)
            .bind(t.run_id)
            .bind(&guard.step_key)
            .bind(&guard.owner)
            .bind(guard.attempt)
            .fetch_optional(&mut **tx)
            .await?;
        if held.is_none() {
            return Ok(None);
        }
    }

    if let Some((step_key, status)) = &t.expect_status {
        let sql = match DIALECT {
            Dialect::Postgres => {
                "SELECT 1 FROM workflow_steps WHERE run_id = $1 AND step_key = $2 AND status = $3 FOR UPDATE"
            }
            Dialect::Sqlite => "SELECT 1 FROM workflow_steps WHERE run_id = $1 AND step_key = $2 AND status = $3",
        };
        let found: Option<i32> = sqlx::query_scalar(sql)
            .bind(t.run_id)
            .bind(step_key)
            .bind(status)
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
    }

    for change in &t.step_changes {
        apply_step_change(tx, t.run_id, change, t.at).await?;
    }

    let status_after = t.run_change.as_ref().map_or(run_status.as_str(), |change| change.status.as_str());
    let (claim, rest) = split_claimed(t, status_after);
    insert_steps(tx, &rest, true).await?;
    let claimed = insert_new_steps_returning(tx, &claim).await?;

    if let Some(attempt) = &t.attempt {
        upsert_attempts(tx, &[(attempt, run_org)]).await?;
    }

    if let Some(change) = &t.run_change {
        update_runs(tx, &[(t.run_id, t.at, change)]).await?;
    }

    insert_events(tx, &t.events.iter().collect::<Vec<_>>()).await?;

    if let Some(finish) = &t.finish_step {
        if finish.run_id != t.run_id || finish.org_id.0 != run_org {
            return Ok(None);
        }
        if runs_with_open_steps(tx, &[t.run_id]).await?.is_empty() {
            insert_steps(tx, std::slice::from_ref(finish), true).await?;
        }
    }
    Ok(Some(claimed))
}

impl SqlRepos {
    /// `claim_steps`: expired leases first (interrupted attempts), then ready steps, up to `limit`
    /// in all; on SQLite both in one write transaction.
    async fn claim_queued_steps(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StepRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = match DIALECT {
            Dialect::Postgres => {
                // Autocommitted statements: the locks last only as long as each claim.
                let mut conn = self.pool.acquire().await?;
                claim_on(&mut conn, owner, now, lease_until, limit).await?
            }
            Dialect::Sqlite => {
                let mut tx = self.begin_write().await?;
                let rows = claim_on(&mut tx, owner, now, lease_until, limit).await?;
                tx.commit().await?;
                rows
            }
        };
        let mut steps = rows.iter().map(step_from_row).collect::<Result<Vec<_>, _>>()?;
        // `RETURNING` has no order: give the claim order back.
        steps.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.ready_at.cmp(&b.ready_at)));
        Ok(steps)
    }

    /// `heartbeat`. On PostgreSQL each lease is extended by an autocommitted statement, so a
    /// heartbeat never holds one step's lock while waiting on another's (a group commit of the same
    /// worker may hold those); on SQLite all of them in one write transaction.
    async fn extend_leases(
        &self,
        owner: &str,
        leases: &[(Uuid, String, i32)],
        lease_until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if leases.is_empty() {
            return Ok(0);
        }
        match DIALECT {
            Dialect::Postgres => {
                let mut conn = self.pool.acquire().await?;
                extend_leases_on(&mut conn, owner, leases, lease_until).await
            }
            Dialect::Sqlite => {
                let mut tx = self.begin_write().await?;
                let extended = extend_leases_on(&mut tx, owner, leases, lease_until).await?;
                tx.commit().await?;
                Ok(extended)
            }
        }
    }

    /// `commit_transitions`: one transaction, one savepoint per transition.
    async fn group_commit(&self, transitions: &[Transition]) -> Result<Vec<Committed>, StoreError> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        with_fallback("workflow group commit", |set_based| self.try_group_commit(transitions, set_based)).await
    }

    async fn try_group_commit(&self, transitions: &[Transition], set_based: bool) -> Result<Vec<Committed>, StoreError> {
        let mut applied = vec![Committed::default(); transitions.len()];
        let (chosen, mut order) =
            if set_based { split_batch(transitions) } else { (Vec::new(), (0..transitions.len()).collect()) };
        if DIALECT == Dialect::Postgres && all_plain(transitions, &chosen, &order) {
            // One statement, outside a transaction block: it is its own transaction, and the
            // batch costs one round trip, without BEGIN and COMMIT.
            let mut conn = self.writer.acquire().await?;
            apply_plain(&mut conn, transitions, &chosen, &mut applied).await?;
            return Ok(applied);
        }
        let mut tx = self.begin_write().await?;
        apply_set_based(&mut tx, transitions, &chosen, &mut applied).await?;
        // Applied in run order (stable, so one run's transitions keep theirs): two committers then
        // take the run and step locks of a batch in the same order and do not deadlock on them.
        order.sort_by_key(|&index| transitions[index].run_id);
        for index in order {
            let transition = &transitions[index];
            raw(&mut tx, "SAVEPOINT workflow_transition").await?;
            let outcome = match apply_transition(&mut tx, transition).await {
                Ok(outcome) => outcome,
                Err(err) if is_skippable(&err) => {
                    tracing::warn!(run_id = %transition.run_id, error = %err, "workflow transition skipped");
                    None
                }
                Err(err) => return Err(err),
            };
            if outcome.is_none() {
                raw(&mut tx, "ROLLBACK TO SAVEPOINT workflow_transition").await?;
            }
            raw(&mut tx, "RELEASE SAVEPOINT workflow_transition").await?;
            if let Some(claimed) = outcome {
                applied[index] = Committed { applied: true, claimed };
            }
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// `next_due`: the earliest of three index walks (`ORDER BY … LIMIT 1`, which both planners
    /// answer from the partial indexes).
    async fn next_queue_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT s.ready_at FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id \
              WHERE s.status = 'ready' AND s.ready_at IS NOT NULL AND r.status IN ('running', 'waiting') \
              ORDER BY s.ready_at LIMIT 1) AS ready, \
             (SELECT wake_at FROM workflow_steps WHERE status = 'waiting' AND wake_at IS NOT NULL \
              ORDER BY wake_at LIMIT 1) AS wake, \
             (SELECT s.lease_expires_at FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id \
              WHERE s.status = 'running' AND s.lease_expires_at IS NOT NULL AND r.status IN ('running', 'waiting') \
              ORDER BY s.lease_expires_at LIMIT 1) AS lease",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut due: Option<DateTime<Utc>> = None;
        for column in ["ready", "wake", "lease"] {
            let at_time: Option<DateTime<Utc>> = row.try_get(column)?;
            due = match (due, at_time) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(due)
    }

    /// `queue_depth`: ready steps of running runs due at `now`, and the oldest due `ready_at`.
    async fn ready_queue_depth(&self, now: DateTime<Utc>) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS depth, MIN(s.ready_at) AS oldest FROM workflow_steps s \
             JOIN workflow_runs r ON r.id = s.run_id \
             WHERE s.status = 'ready' AND s.ready_at <= $1 AND r.status IN ('running', 'waiting')",
        )
        .bind(at(now))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("depth")?, row.try_get("oldest")?))
    }
}
