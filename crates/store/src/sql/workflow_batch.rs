// `WorkflowRepo`, part three: the set-based path of a group commit. Most transitions of a busy
// engine are plain step results — a lease guard, the step's new state, its successors, its attempt
// row, the successors it claims — and written one by one they cost eight statements each (a
// savepoint, two guard reads, four writes, a release): on SQLite each is a round trip to the
// connection's thread, on PostgreSQL one over the network. Here the whole batch of them takes one
// guard read, one update per step, one insert of all successors, one of all attempts and one claim.
// Included by `sql/mod.rs` into `sqlite` and `postgres`, after `workflow_queue.rs`.

/// Rows per multi-row statement (PostgreSQL allows 65,535 parameters, SQLite 32,766).
const BATCH_ROWS: usize = 500;

/// Whether `t` can take the set-based path: a lease-guarded result that changes only its own step,
/// with nothing that depends on the run's status or its other steps.
fn is_plain_result(t: &Transition) -> bool {
    let Some(guard) = &t.guard else { return false };
    let Some(org) = t.org_id else { return false };
    t.run_status_in.is_empty()
        && t.expect_status.is_none()
        && t.finish_step.is_none()
        && t.run_change.is_none()
        && t.events.is_empty()
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

/// Claims, for `applied`, the steps their `claim_after` names that are ready and due, of runs
/// still `running` or `waiting`; the claimed rows by run. One lease end and start time serve the
/// batch: the latest of its transitions'.
async fn claim_batch(
    tx: &mut Tx,
    transitions: &[Transition],
    applied: &[usize],
) -> Result<std::collections::HashMap<Uuid, Vec<StepRecord>>, StoreError> {
    let wanted: Vec<(Uuid, &String, &ClaimAfter, DateTime<Utc>)> = applied
        .iter()
        .filter_map(|&i| transitions[i].claim_after.as_ref().map(|c| (&transitions[i], c)))
        .flat_map(|(t, c)| c.keys.iter().map(move |k| (t.run_id, k, c, t.at)))
        .collect();
    let mut claimed: std::collections::HashMap<Uuid, Vec<StepRecord>> = std::collections::HashMap::new();
    let Some(owner) = wanted.first().map(|(_, _, c, _)| c.owner.clone()) else { return Ok(claimed) };
    let now = wanted.iter().map(|w| w.3).max().unwrap_or_else(Utc::now);
    let lease_until = wanted.iter().map(|w| w.2.lease_until).max().unwrap_or(now);
    for chunk in wanted.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new("UPDATE workflow_steps SET status = 'running', lease_owner = ");
        query
            .push_bind(&owner)
            .push(", lease_expires_at = ")
            .push_bind(at(lease_until))
            .push(", attempt = attempt + 1, started_at = ")
            .push_bind(at(now))
            .push(", updated_at = ")
            .push_bind(at(now))
            .push(" WHERE status = 'ready' AND ready_at <= ")
            .push_bind(at(now))
            .push(" AND run_id IN (SELECT id FROM workflow_runs WHERE status IN ('running', 'waiting'))")
            .push(" AND (run_id, step_key) IN (");
        let mut rows = query.separated(", ");
        for (run_id, key, _, _) in chunk {
            rows.push("(")
                .push_bind_unseparated(*run_id)
                .push_unseparated(", ")
                .push_bind_unseparated(*key)
                .push_unseparated(")");
        }
        query.push(concat!(") RETURNING ", step_columns!()));
        for row in query.build().fetch_all(&mut **tx).await? {
            let step = step_from_row(&row)?;
            claimed.entry(step.run_id).or_default().push(step);
        }
    }
    Ok(claimed)
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
    for &index in &applied {
        let t = &transitions[index];
        for change in &t.step_changes {
            apply_step_change(tx, t.run_id, change, t.at).await?;
        }
    }
    let new_steps: Vec<StepRecord> =
        applied.iter().flat_map(|&i| transitions[i].new_steps.iter().cloned()).collect();
    insert_steps(tx, &new_steps, true).await?;
    let attempts: Vec<(&AttemptRecord, Uuid)> = applied
        .iter()
        .filter_map(|&i| {
            let t = &transitions[i];
            t.attempt.as_ref().zip(t.org_id).map(|(a, org)| (a, org.0))
        })
        .collect();
    upsert_attempts(tx, &attempts).await?;
    let mut claimed = claim_batch(tx, transitions, &applied).await?;
    for &index in &applied {
        outcome[index] =
            Committed { applied: true, claimed: claimed.remove(&transitions[index].run_id).unwrap_or_default() };
    }
    Ok(())
}
