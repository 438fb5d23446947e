// `WorkflowRepo`, part three: the set-based path of a group commit. Most transitions of a busy
// engine are plain step results — a lease guard, the step's new state, its successors, its attempt
// row, the successors it claims — and written one by one they cost eight statements each (a
// savepoint, two guard reads, four writes, a release): on SQLite each is a round trip to the
// connection's thread, on PostgreSQL one over the network. Here the whole batch of them takes one
// guard read, one update of all their steps, one read of the claiming runs' status, one insert of the
// successors and one of those claimed at once, and one of all attempts.
// Included by `sql/mod.rs` into `sqlite` and `postgres`, after `workflow_queue.rs`.

/// Rows per multi-row statement (PostgreSQL allows 65,535 parameters, SQLite 32,766).
const BATCH_ROWS: usize = 500;

/// Whether `t` can take the set-based path: a lease-guarded result that sets only its own step,
/// with nothing that depends on the run's status (but its claims) or its other steps.
fn is_plain_result(t: &Transition) -> bool {
    let Some(guard) = &t.guard else { return false };
    let Some(org) = t.org_id else { return false };
    t.run_status_in.is_empty()
        && t.expect_status.is_none()
        && t.finish_step.is_none()
        && t.run_change.is_none()
        && t.events.is_empty()
        && t.step_changes.len() <= 1
        && t.step_changes.iter().all(|c| matches!(c, StepChange::Set { step_key, .. } if *step_key == guard.step_key))
        && t.new_steps.iter().all(|s| s.run_id == t.run_id && s.org_id == org)
        && t.attempt.as_ref().is_none_or(|a| a.run_id == t.run_id)
        && t.claim_after.as_ref().is_none_or(|c| c.owner == guard.owner)
}

/// Splits a batch into the transitions (indexes) that take the set-based path — plain results,
/// each alone of its run in the batch, so order within a run never matters — and the others.
fn split_batch(transitions: &[Transition]) -> (Vec<usize>, Vec<usize>) {
    let mut per_run: std::collections::HashMap<Uuid, usize> = std::collections::HashMap::new();
    for t in transitions {
        *per_run.entry(t.run_id).or_default() += 1;
    }
    (0..transitions.len())
        .partition(|&i| is_plain_result(&transitions[i]) && per_run.get(&transitions[i].run_id) == Some(&1))
}

/// The guards of `plain` still held (step `running` under that owner and attempt, in the
/// transition's organization): their indexes. PostgreSQL locks the rows, as the one-by-one path does.
async fn held_guards(tx: &mut Tx, transitions: &[Transition], plain: &[usize]) -> Result<Vec<usize>, StoreError> {
    let mut held = std::collections::HashSet::new();
    for chunk in plain.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT run_id, step_key FROM workflow_steps WHERE status = 'running' \
             AND (run_id, step_key, lease_owner, attempt, org_id) IN (",
        );
        let mut rows = query.separated(", ");
        for &index in chunk {
            let t = &transitions[index];
            let (Some(guard), Some(org)) = (&t.guard, t.org_id) else { continue };
            rows.push("(")
                .push_bind_unseparated(t.run_id)
                .push_unseparated(", ")
                .push_bind_unseparated(&guard.step_key)
                .push_unseparated(", ")
                .push_bind_unseparated(&guard.owner)
                .push_unseparated(", ")
                .push_bind_unseparated(guard.attempt)
                .push_unseparated(", ")
                .push_bind_unseparated(org.0)
                .push_unseparated(")");
        }
        query.push(")");
        if DIALECT == Dialect::Postgres {
            query.push(" FOR UPDATE");
        }
        for row in query.build().fetch_all(&mut **tx).await? {
            let run_id: Uuid = row.try_get("run_id")?;
            let step_key: String = row.try_get("step_key")?;
            held.insert((run_id, step_key));
        }
    }
    Ok(plain
        .iter()
        .copied()
        .filter(|&i| {
            let t = &transitions[i];
            t.guard.as_ref().is_some_and(|g| held.contains(&(t.run_id, g.step_key.clone())))
        })
        .collect())
}

/// Applies `Set` changes (each to a different step) with one `UPDATE … FROM` a list of values per
/// chunk; the same writes as [`apply_step_change`].
async fn set_steps(tx: &mut Tx, changes: &[(Uuid, DateTime<Utc>, &StepChange)]) -> Result<(), StoreError> {
    for chunk in changes.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(
            "WITH v (run_id, step_key, status, output, error, ready_at, wake_at, completed_at, updated_at) AS (",
        );
        query.push_values(chunk, |mut row, (run_id, now, change)| {
            if let StepChange::Set { step_key, status, output, error, ready_at, wake_at, completed_at } = change {
                row.push_bind(*run_id)
                    .push_bind(step_key)
                    .push_bind(status)
                    .push_bind(output.as_ref().map(Json))
                    .push_bind(error.as_ref().map(Json))
                    .push_bind(ready_at.map(at))
                    .push_bind(wake_at.map(at))
                    .push_bind(completed_at.map(at))
                    .push_bind(at(*now));
            }
        });
        query.push(
            ") UPDATE workflow_steps SET status = v.status, output = v.output, error = v.error, \
             ready_at = v.ready_at, wake_at = v.wake_at, completed_at = v.completed_at, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = v.updated_at FROM v \
             WHERE workflow_steps.run_id = v.run_id AND workflow_steps.step_key = v.step_key",
        );
        query.build().execute(&mut **tx).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Inserts attempt rows (an attempt recorded again is overwritten: its lease was re-taken).
async fn upsert_attempts(tx: &mut Tx, attempts: &[(&AttemptRecord, Uuid)]) -> Result<(), StoreError> {
    for chunk in attempts.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO workflow_step_attempts (run_id, step_key, attempt, org_id, outcome, error, started_at, \
             finished_at, worker) ",
        );
        query.push_values(chunk, |mut row, (attempt, org)| {
            row.push_bind(attempt.run_id)
                .push_bind(&attempt.step_key)
                .push_bind(attempt.attempt)
                .push_bind(*org)
                .push_bind(&attempt.outcome)
                .push_bind(attempt.error.as_ref().map(Json))
                .push_bind(at(attempt.started_at))
                .push_bind(at(attempt.finished_at))
                .push_bind(&attempt.worker);
        });
        query.push(
            " ON CONFLICT (run_id, step_key, attempt) DO UPDATE SET outcome = excluded.outcome, \
             error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at, \
             worker = excluded.worker",
        );
        query.build().execute(&mut **tx).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// The status of each run of `applied` that asks to claim successors.
async fn claiming_run_statuses(
    tx: &mut Tx,
    transitions: &[Transition],
    applied: &[usize],
) -> Result<std::collections::HashMap<Uuid, String>, StoreError> {
    let runs: Vec<Uuid> = applied
        .iter()
        .map(|&i| &transitions[i])
        .filter(|t| t.claim_after.as_ref().is_some_and(|c| !c.keys.is_empty()))
        .map(|t| t.run_id)
        .collect();
    let mut statuses = std::collections::HashMap::new();
    for chunk in runs.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new("SELECT id, status FROM workflow_runs WHERE id IN (");
        let mut ids = query.separated(", ");
        for id in chunk {
            ids.push_bind(*id);
        }
        query.push(")");
        for row in query.build().fetch_all(&mut **tx).await? {
            statuses.insert(row.try_get("id")?, row.try_get("status")?);
        }
    }
    Ok(statuses)
}

/// Applies the plain results `plain` of `transitions` set-based, inside the caller's transaction;
/// fills their entries of `outcome`. Any error fails the whole batch (the caller then rolls back
/// and applies every transition one by one, where a bad one is skipped alone).
async fn apply_plain_results(
    tx: &mut Tx,
    transitions: &[Transition],
    plain: &[usize],
    outcome: &mut [Committed],
) -> Result<(), StoreError> {
    if plain.is_empty() {
        return Ok(());
    }
    let applied = held_guards(tx, transitions, plain).await?;
    let changes: Vec<(Uuid, DateTime<Utc>, &StepChange)> = applied
        .iter()
        .flat_map(|&i| transitions[i].step_changes.iter().map(move |c| (transitions[i].run_id, transitions[i].at, c)))
        .collect();
    set_steps(tx, &changes).await?;
    let statuses = claiming_run_statuses(tx, transitions, &applied).await?;
    let mut to_claim = Vec::new();
    let mut rest = Vec::new();
    for &index in &applied {
        let t = &transitions[index];
        let (claim, others) = split_claimed(t, statuses.get(&t.run_id).map_or("", String::as_str));
        to_claim.extend(claim);
        rest.extend(others);
    }
    insert_steps(tx, &rest, true).await?;
    let mut claimed: std::collections::HashMap<Uuid, Vec<StepRecord>> = std::collections::HashMap::new();
    for step in insert_new_steps_returning(tx, &to_claim).await? {
        claimed.entry(step.run_id).or_default().push(step);
    }
    let attempts: Vec<(&AttemptRecord, Uuid)> = applied
        .iter()
        .filter_map(|&i| {
            let t = &transitions[i];
            t.attempt.as_ref().zip(t.org_id).map(|(a, org)| (a, org.0))
        })
        .collect();
    upsert_attempts(tx, &attempts).await?;
    for &index in &applied {
        outcome[index] =
            Committed { applied: true, claimed: claimed.remove(&transitions[index].run_id).unwrap_or_default() };
    }
    Ok(())
}
