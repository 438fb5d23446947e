// The bulk statements of the SQLite dialect: multi-row `VALUES` lists, chunked to stay under
// SQLite's 32,766 parameters. SQLite prepares a statement in microseconds, so a new text per row
// count costs little. `bulk_postgres.rs` defines the same functions with array parameters.
// Included by `sql/mod.rs` into `sqlite` only.

/// Rows per multi-row statement of at most 20 columns.
const BATCH_ROWS: usize = 500;

/// Rows per step insert (18 columns).
const STEP_ROWS: usize = 400;

/// Inserts step instances with multi-row `INSERT`s. When `idempotent`, a step whose
/// `(run_id, step_key)` already exists is left as it is; otherwise it is a `Conflict`.
async fn insert_steps(conn: &mut Conn, steps: &[StepRecord], idempotent: bool) -> Result<(), StoreError> {
    for chunk in steps.chunks(STEP_ROWS) {
        let mut query = step_insert(chunk);
        if idempotent {
            query.push(" ON CONFLICT (run_id, step_key) DO NOTHING");
        }
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Inserts the steps whose key is not taken yet; answers those inserted, as stored.
async fn insert_new_steps_returning(conn: &mut Conn, steps: &[StepRecord]) -> Result<Vec<StepRecord>, StoreError> {
    let mut inserted = Vec::new();
    for chunk in steps.chunks(STEP_ROWS) {
        let mut query = step_insert(chunk);
        query.push(concat!(" ON CONFLICT (run_id, step_key) DO NOTHING RETURNING ", step_columns!()));
        for row in query.build().fetch_all(&mut *conn).await.map_err(map_write_error)? {
            inserted.push(step_from_row(&row)?);
        }
    }
    Ok(inserted)
}

/// `INSERT INTO workflow_steps … VALUES …` of `steps`.
fn step_insert(steps: &[StepRecord]) -> QueryBuilder<'_, Db> {
    let mut query = QueryBuilder::<Db>::new(concat!("INSERT INTO workflow_steps (", step_columns!(), ") "));
    query.push_values(steps, |mut row, step| {
        row.push_bind(step.run_id)
            .push_bind(&step.step_key)
            .push_bind(&step.step_id)
            .push_bind(step.org_id.0)
            .push_bind(&step.status)
            .push_bind(step.attempt)
            .push_bind(step.remaining)
            .push_bind(step.input.as_ref().map(Json))
            .push_bind(step.output.as_ref().map(Json))
            .push_bind(step.error.as_ref().map(Json))
            .push_bind(step.priority)
            .push_bind(step.ready_at.map(at))
            .push_bind(step.wake_at.map(at))
            .push_bind(&step.lease_owner)
            .push_bind(step.lease_expires_at.map(at))
            .push_bind(step.started_at.map(at))
            .push_bind(step.completed_at.map(at))
            .push_bind(at(step.updated_at));
    });
    query
}

/// Appends events to the outbox with multi-row `INSERT`s, in the given order.
async fn insert_events(conn: &mut Conn, events: &[&SystemEvent]) -> Result<(), StoreError> {
    // 8 parameters per row; 500 rows stay far below both dialects' limits.
    for chunk in events.chunks(500) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO outbox (event_id, event_type, source_service, correlation_id, causation_id, org_id, \
             cloudevent, created_at) ",
        );
        query.push_values(chunk, |mut row, event| {
            row.push_bind(event.event_id)
                .push_bind(&event.event_type)
                .push_bind(&event.source_service)
                .push_bind(event.correlation_id)
                .push_bind(event.causation_id)
                .push_bind(event.org_id.map(|id| id.0))
                .push_bind(Json(event.to_cloudevent()))
                .push_bind(at(event.timestamp));
        });
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Appends `(id, id, …)` of `ids` to `query`: the list of an `IN`.
fn push_id_list(query: &mut QueryBuilder<'_, Db>, ids: &[Uuid]) {
    query.push("(");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
}

/// The `(id, org_id, status)` of those of `ids` that exist; locked when `lock` (PostgreSQL only:
/// SQLite's write transaction already excludes every other writer).
async fn select_runs(conn: &mut Conn, ids: &[Uuid], _lock: bool) -> Result<Vec<(Uuid, Uuid, String)>, StoreError> {
    let mut runs = Vec::new();
    for chunk in ids.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new("SELECT id, org_id, status FROM workflow_runs WHERE id IN ");
        push_id_list(&mut query, chunk);
        for row in query.build().fetch_all(&mut *conn).await? {
            runs.push((row.try_get("id")?, row.try_get("org_id")?, row.try_get("status")?));
        }
    }
    Ok(runs)
}

/// Which of `guards` still hold: the step is `running` under that owner and attempt, in that
/// organization; each with its run's organization and status.
async fn guard_rows(conn: &mut Conn, guards: &[GuardRow<'_>]) -> Result<Vec<HeldGuard>, StoreError> {
    let mut held = Vec::new();
    for chunk in guards.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT s.run_id, s.step_key, r.org_id, r.status FROM workflow_steps s \
             JOIN workflow_runs r ON r.id = s.run_id WHERE s.status = 'running' \
             AND (s.run_id, s.step_key, s.lease_owner, s.attempt, s.org_id) IN (",
        );
        query.push_values(chunk, |mut row, guard| {
            row.push_bind(guard.run_id)
                .push_bind(guard.step_key)
                .push_bind(guard.owner)
                .push_bind(guard.attempt)
                .push_bind(guard.org_id);
        });
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            held.push(HeldGuard::from_row(&row)?);
        }
    }
    Ok(held)
}

/// Applies `Set` changes (each to a different step) with one `UPDATE … FROM` a list of values per
/// chunk: status, output, error and timers; the lease is cleared.
async fn set_steps(conn: &mut Conn, changes: &[(Uuid, DateTime<Utc>, &StepChange)]) -> Result<(), StoreError> {
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
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Applies join arrivals, `count` at a time per join: the sum of that many
/// [`StepChange::ArriveAtJoin`]s (`remaining` never goes below 0; the join fires when it reaches it).
async fn arrive_at_joins(conn: &mut Conn, arrivals: &[JoinArrivals<'_>]) -> Result<(), StoreError> {
    for chunk in arrivals.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new("WITH v (run_id, step_key, n, arrived_at, updated_at) AS (");
        query.push_values(chunk, |mut row, arrival| {
            row.push_bind(arrival.run_id)
                .push_bind(arrival.step_key)
                .push_bind(arrival.count)
                .push_bind(at(arrival.arrived_at))
                .push_bind(at(arrival.now));
        });
        // Every right-hand side sees the row before the update.
        query.push(
            ") UPDATE workflow_steps SET \
             remaining = CASE WHEN remaining > v.n THEN remaining - v.n ELSE 0 END, \
             status = CASE WHEN remaining <= v.n AND status = 'pending' THEN 'ready' ELSE status END, \
             ready_at = CASE WHEN remaining <= v.n AND status = 'pending' THEN v.arrived_at ELSE ready_at END, \
             updated_at = v.updated_at FROM v \
             WHERE workflow_steps.run_id = v.run_id AND workflow_steps.step_key = v.step_key \
             AND workflow_steps.remaining > 0",
        );
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Writes run changes (each to a different run) and their `unified_executions` rows; the same
/// writes as the one-by-one path.
async fn update_runs(conn: &mut Conn, changes: &[(Uuid, DateTime<Utc>, &RunChange)]) -> Result<(), StoreError> {
    for chunk in changes.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(
            "WITH v (id, status, output, error, error_message, started_at, completed_at, updated_at) AS (",
        );
        query.push_values(chunk, |mut row, (run_id, now, change)| {
            row.push_bind(*run_id)
                .push_bind(&change.status)
                .push_bind(change.output.as_ref().map(Json))
                .push_bind(change.error.as_ref().map(Json))
                .push_bind(error_message(change.error.as_ref()))
                .push_bind(change.started_at.map(at))
                .push_bind(change.completed_at.map(at))
                .push_bind(at(*now));
        });
        query.push(
            ") UPDATE workflow_runs SET status = v.status, output = v.output, error = v.error, \
             started_at = COALESCE(workflow_runs.started_at, v.started_at), completed_at = v.completed_at, \
             updated_at = v.updated_at FROM v WHERE workflow_runs.id = v.id",
        );
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;

        let mut query = QueryBuilder::<Db>::new("WITH v (id, status, completed_at, error_message) AS (");
        query.push_values(chunk, |mut row, (run_id, _, change)| {
            row.push_bind(*run_id)
                .push_bind(&change.status)
                .push_bind(change.completed_at.map(at))
                .push_bind(error_message(change.error.as_ref()));
        });
        query.push(
            ") UPDATE unified_executions SET status = v.status, completed_at = v.completed_at, \
             error_message = v.error_message FROM v \
             WHERE unified_executions.id = v.id AND unified_executions.source_id = v.id",
        );
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Inserts attempt rows (an attempt recorded again is overwritten: its lease was re-taken).
async fn upsert_attempts(conn: &mut Conn, attempts: &[(&AttemptRecord, Uuid)]) -> Result<(), StoreError> {
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
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// Which of `runs` still have a step `ready`, `pending`, `waiting` or `running`.
async fn runs_with_open_steps(conn: &mut Conn, runs: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
    let mut open = HashSet::new();
    for chunk in runs.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new("SELECT DISTINCT run_id FROM workflow_steps WHERE run_id IN ");
        push_id_list(&mut query, chunk);
        query.push(" AND status IN ('ready', 'pending', 'waiting', 'running')");
        for row in query.build().fetch_all(&mut *conn).await? {
            open.insert(row.try_get("run_id")?);
        }
    }
    Ok(open)
}
/// Records receipts (unique per workflow, trigger and key); answers the run ids of those
/// recorded — a receipt that exists already, or comes twice, is recorded once.
async fn insert_receipts(conn: &mut Conn, receipts: &[&TriggerReceipt]) -> Result<HashSet<Uuid>, StoreError> {
    let mut recorded = HashSet::new();
    for chunk in receipts.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO workflow_trigger_receipts (workflow_id, trigger_id, receipt_key, run_id, expires_at, \
             created_at) ",
        );
        query.push_values(chunk, |mut row, receipt| {
            row.push_bind(receipt.workflow_id)
                .push_bind(&receipt.trigger_id)
                .push_bind(&receipt.key)
                .push_bind(receipt.run_id)
                .push_bind(receipt.expires_at.map(at))
                .push_bind(at(receipt.created_at));
        });
        query.push(" ON CONFLICT (workflow_id, trigger_id, receipt_key) DO NOTHING RETURNING run_id");
        for row in query.build().fetch_all(&mut *conn).await? {
            recorded.insert(row.try_get("run_id")?);
        }
    }
    Ok(recorded)
}

/// Sets each trigger's `last_fired_at` to its latest receipt's time.
async fn touch_triggers(conn: &mut Conn, receipts: &[&TriggerReceipt]) -> Result<(), StoreError> {
    let latest: Vec<_> = latest_fired(receipts).into_iter().collect();
    for chunk in latest.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new("WITH v (workflow_id, trigger_id, fired_at) AS (");
        query.push_values(chunk, |mut row, ((workflow_id, trigger_id), fired_at)| {
            row.push_bind(*workflow_id).push_bind(*trigger_id).push_bind(at(*fired_at));
        });
        query.push(
            ") UPDATE workflow_triggers SET last_fired_at = v.fired_at FROM v \
             WHERE workflow_triggers.workflow_id = v.workflow_id AND workflow_triggers.trigger_id = v.trigger_id",
        );
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}

/// The `(id, org_id)` pairs of the workflows among `workflows` and of the users among `users`.
async fn orgs_of(conn: &mut Conn, workflows: &[Uuid], users: &[Uuid]) -> Result<OrgsOf, StoreError> {
    let mut found = OrgsOf::default();
    for (table, ids, into) in [("workflows", workflows, &mut found.workflows), ("users", users, &mut found.users)] {
        for chunk in ids.chunks(BATCH_ROWS) {
            let mut query = QueryBuilder::<Db>::new("SELECT id, org_id FROM ");
            query.push(table).push(" WHERE id IN ");
            push_id_list(&mut query, chunk);
            for row in query.build().fetch_all(&mut *conn).await? {
                into.insert((row.try_get("id")?, row.try_get("org_id")?));
            }
        }
    }
    Ok(found)
}

/// Writes the rows of started runs: each trigger's `last_fired_at`, the runs, their
/// `unified_executions` rows, their steps and their events. No checks: the caller checked
/// workflows, creators and receipts.
async fn insert_started(
    conn: &mut Conn,
    receipts: &[&TriggerReceipt],
    runs: &[&RunRecord],
    steps: &[StepRecord],
    events: &[&SystemEvent],
) -> Result<(), StoreError> {
    touch_triggers(conn, receipts).await?;
    insert_run_rows(conn, runs).await?;
    insert_steps(conn, steps, false).await?;
    insert_events(conn, events).await
}

/// Inserts run rows (no checks: the caller checked workflow and creator).
async fn insert_run_rows(conn: &mut Conn, runs: &[&RunRecord]) -> Result<(), StoreError> {
    // 20 parameters per row.
    for chunk in runs.chunks(BATCH_ROWS) {
        let mut query = QueryBuilder::<Db>::new(concat!("INSERT INTO workflow_runs (", run_columns!(), ") "));
        query.push_values(chunk, |mut row, run| {
            row.push_bind(run.id)
                .push_bind(run.org_id.0)
                .push_bind(run.workflow_id)
                .push_bind(run.version)
                .push_bind(&run.status)
                .push_bind(Json(&run.inputs))
                .push_bind(run.output.as_ref().map(Json))
                .push_bind(run.error.as_ref().map(Json))
                .push_bind(run.priority)
                .push_bind(&run.concurrency_key)
                .push_bind(run.parent_run_id)
                .push_bind(&run.parent_step_key)
                .push_bind(run.correlation_id)
                .push_bind(&run.trigger)
                .push_bind(run.created_by.0)
                .push_bind(at(run.created_at))
                .push_bind(run.started_at.map(at))
                .push_bind(run.completed_at.map(at))
                .push_bind(at(run.updated_at))
                .push_bind(run.rerun_of);
        });
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO unified_executions (id, org_id, execution_type, source_system, source_id, user_id, status, \
             started_at, completed_at, error_message, metadata) ",
        );
        query.push_values(chunk, |mut row, run| {
            row.push_bind(run.id)
                .push_bind(run.org_id.0)
                .push_bind("workflow")
                .push_bind("autmatrix")
                .push_bind(run.id)
                .push_bind(run.created_by.0)
                .push_bind(&run.status)
                .push_bind(at(run.started_at.unwrap_or(run.created_at)))
                .push_bind(run.completed_at.map(at))
                .push_bind(error_message(run.error.as_ref()))
                .push_bind(Json(unified_metadata(run)));
        });
        query.build().execute(&mut *conn).await.map_err(map_write_error)?;
    }
    Ok(())
}


/// The plain transitions of a batch (see `apply_set_based`). Each statement here is a call into
/// the connection's thread, not a network round trip, so SQLite takes the staged path for them.
async fn apply_plain(
    conn: &mut Conn,
    transitions: &[Transition],
    chosen: &[usize],
    outcome: &mut [Committed],
) -> Result<(), StoreError> {
    apply_staged(conn, transitions, chosen, outcome).await
}
