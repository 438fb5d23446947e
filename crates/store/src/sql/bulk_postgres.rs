// The bulk statements of the PostgreSQL dialect: one array parameter per column, spread into rows
// with `UNNEST`. Each statement keeps one text whatever the row count, so the connection prepares
// it once and PostgreSQL caches its plan; a multi-row `VALUES` list would be parsed and planned
// anew for every batch (measured: ~2 ms of each group commit's statements here). `bulk_sqlite.rs`
// defines the same functions for SQLite.
// Included by `sql/mod.rs` into `postgres` only.

/// The `UNNEST` of the 18 `workflow_steps` columns, in `step_columns!` order.
macro_rules! step_arrays {
    () => {
        "SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::int4[], $7::int4[], \
         $8::jsonb[], $9::jsonb[], $10::jsonb[], $11::int4[], $12::timestamptz[], $13::timestamptz[], $14::text[], \
         $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[])"
    };
}

/// Joins each guard row `g` (`run_id, step_key, owner, attempt, org_id`) to its step, locked,
/// when the guard still holds (the step `running` under that owner and attempt, in that
/// organization), and to its run `r` (`org_id, status`) in that organization. Both are looked up by
/// primary key (`LATERAL`): joined freely, the planner, with the statistics of a young table,
/// drove the join from every `running` step and scanned the guards for each (a 1,000-guard batch:
/// a million comparisons).
macro_rules! held_guard_lookup {
    () => {
        "CROSS JOIN LATERAL (SELECT 1 FROM workflow_steps s WHERE s.run_id = g.run_id AND s.step_key = g.step_key \
         AND s.status = 'running' AND s.lease_owner = g.owner AND s.attempt = g.attempt AND s.org_id = g.org_id \
         FOR UPDATE) s \
         CROSS JOIN LATERAL (SELECT r.org_id, r.status FROM workflow_runs r \
         WHERE r.id = g.run_id AND r.org_id = g.org_id) r"
    };
}

/// Binds `guards` column by column (5 arrays: run, step key, owner, attempt, organization).
fn bind_guards<'q>(
    query: sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments>,
    guards: &[GuardRow<'q>],
) -> sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments> {
    query
        .bind(guards.iter().map(|g| g.run_id).collect::<Vec<_>>())
        .bind(guards.iter().map(|g| g.step_key).collect::<Vec<_>>())
        .bind(guards.iter().map(|g| g.owner).collect::<Vec<_>>())
        .bind(guards.iter().map(|g| g.attempt).collect::<Vec<_>>())
        .bind(guards.iter().map(|g| g.org_id).collect::<Vec<_>>())
}

/// Binds the `Set`s among `changes` column by column (9 arrays: run, step key, status, output,
/// error, ready, wake, completed, updated); other changes are skipped.
fn bind_sets<'q>(
    query: sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments>,
    changes: &[(Uuid, DateTime<Utc>, &'q StepChange)],
) -> sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments> {
    let sets: Vec<_> = changes
        .iter()
        .filter_map(|(run_id, now, change)| match change {
            StepChange::Set { step_key, status, output, error, ready_at, wake_at, completed_at } => {
                Some((run_id, now, step_key, status, output, error, ready_at, wake_at, completed_at))
            }
            StepChange::ArriveAtJoin { .. } => None,
        })
        .collect();
    query
        .bind(sets.iter().map(|s| *s.0).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.2.as_str()).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.3.as_str()).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.4.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.5.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.6.map(at)).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.7.map(at)).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| s.8.map(at)).collect::<Vec<_>>())
        .bind(sets.iter().map(|s| at(*s.1)).collect::<Vec<_>>())
}

/// Binds `attempts` column by column (9 arrays, in `workflow_step_attempts` insert order).
fn bind_attempts<'q>(
    query: sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments>,
    attempts: &[(&'q AttemptRecord, Uuid)],
) -> sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments> {
    query
        .bind(attempts.iter().map(|(a, _)| a.run_id).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| a.step_key.as_str()).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| a.attempt).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(_, org)| *org).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| a.outcome.as_str()).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| a.error.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| at(a.started_at)).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| at(a.finished_at)).collect::<Vec<_>>())
        .bind(attempts.iter().map(|(a, _)| a.worker.as_deref()).collect::<Vec<_>>())
}

/// Binds `steps` column by column for `step_arrays!`.
fn bind_steps<'q>(
    query: sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments>,
    steps: &[StepRecord],
) -> sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments> {
    let column = |f: &dyn Fn(&StepRecord) -> Option<DateTime<Utc>>| steps.iter().map(|s| f(s).map(at)).collect::<Vec<_>>();
    let json = |f: &dyn Fn(&StepRecord) -> Option<&serde_json::Value>| {
        steps.iter().map(|s| f(s).map(|v| Json(v.clone()))).collect::<Vec<_>>()
    };
    query
        .bind(steps.iter().map(|s| s.run_id).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.step_key.clone()).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.step_id.clone()).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.org_id.0).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.status.clone()).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.attempt).collect::<Vec<_>>())
        .bind(steps.iter().map(|s| s.remaining).collect::<Vec<_>>())
        .bind(json(&|s| s.input.as_ref()))
        .bind(json(&|s| s.output.as_ref()))
        .bind(json(&|s| s.error.as_ref()))
        .bind(steps.iter().map(|s| s.priority).collect::<Vec<_>>())
        .bind(column(&|s| s.ready_at))
        .bind(column(&|s| s.wake_at))
        .bind(steps.iter().map(|s| s.lease_owner.clone()).collect::<Vec<_>>())
        .bind(column(&|s| s.lease_expires_at))
        .bind(column(&|s| s.started_at))
        .bind(column(&|s| s.completed_at))
        .bind(steps.iter().map(|s| at(s.updated_at)).collect::<Vec<_>>())
}

/// Inserts step instances. When `idempotent`, a step whose `(run_id, step_key)` already exists
/// is left as it is; otherwise it is a `Conflict`.
async fn insert_steps(conn: &mut Conn, steps: &[StepRecord], idempotent: bool) -> Result<(), StoreError> {
    if steps.is_empty() {
        return Ok(());
    }
    let sql = if idempotent {
        concat!("INSERT INTO workflow_steps (", step_columns!(), ") ", step_arrays!(), " ON CONFLICT (run_id, step_key) DO NOTHING")
    } else {
        concat!("INSERT INTO workflow_steps (", step_columns!(), ") ", step_arrays!())
    };
    bind_steps(sqlx::query(sql), steps).execute(&mut *conn).await.map_err(map_write_error)?;
    Ok(())
}

/// Inserts the steps whose key is not taken yet; answers those inserted, as stored.
async fn insert_new_steps_returning(conn: &mut Conn, steps: &[StepRecord]) -> Result<Vec<StepRecord>, StoreError> {
    if steps.is_empty() {
        return Ok(Vec::new());
    }
    let sql = concat!(
        "INSERT INTO workflow_steps (",
        step_columns!(),
        ") ",
        step_arrays!(),
        " ON CONFLICT (run_id, step_key) DO NOTHING RETURNING ",
        step_columns!()
    );
    let rows = bind_steps(sqlx::query(sql), steps).fetch_all(&mut *conn).await.map_err(map_write_error)?;
    rows.iter().map(step_from_row).collect()
}

/// Appends events to the outbox, in the given order.
async fn insert_events(conn: &mut Conn, events: &[&SystemEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let query = sqlx::query(
        "INSERT INTO outbox (event_id, event_type, source_service, correlation_id, causation_id, org_id, \
         cloudevent, created_at) \
         SELECT id, kind, source, correlation, causation, org, body, at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], $7::jsonb[], \
         $8::timestamptz[]) WITH ORDINALITY AS e(id, kind, source, correlation, causation, org, body, at, n) \
         ORDER BY n",
    );
    bind_events(query, events).execute(&mut *conn).await.map_err(map_write_error)?;
    Ok(())
}

/// The `(id, org_id, status)` of those of `ids` that exist; locked, in id order, when `lock`.
async fn select_runs(conn: &mut Conn, ids: &[Uuid], lock: bool) -> Result<Vec<(Uuid, Uuid, String)>, StoreError> {
    let sql = if lock {
        "SELECT id, org_id, status FROM workflow_runs WHERE id = ANY($1) ORDER BY id FOR UPDATE"
    } else {
        "SELECT id, org_id, status FROM workflow_runs WHERE id = ANY($1)"
    };
    let rows = sqlx::query(sql).bind(ids).fetch_all(&mut *conn).await?;
    rows.iter().map(|row| Ok((row.try_get("id")?, row.try_get("org_id")?, row.try_get("status")?))).collect()
}

/// Which of `guards` still hold (`held_guard_lookup!`), each with its run's organization and
/// status. The step rows are locked.
async fn guard_rows(conn: &mut Conn, guards: &[GuardRow<'_>]) -> Result<Vec<HeldGuard>, StoreError> {
    if guards.is_empty() {
        return Ok(Vec::new());
    }
    let sql = concat!(
        "SELECT g.run_id, g.step_key, r.org_id, r.status \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::uuid[]) \
         AS g(run_id, step_key, owner, attempt, org_id) ",
        held_guard_lookup!()
    );
    let rows = bind_guards(sqlx::query(sql), guards).fetch_all(&mut *conn).await?;
    rows.iter().map(HeldGuard::from_row).collect()
}

/// Applies `Set` changes (each to a different step): status, output, error and timers; the lease
/// is cleared.
async fn set_steps(conn: &mut Conn, changes: &[(Uuid, DateTime<Utc>, &StepChange)]) -> Result<(), StoreError> {
    if !changes.iter().any(|(_, _, change)| matches!(change, StepChange::Set { .. })) {
        return Ok(());
    }
    let query = sqlx::query(
        "UPDATE workflow_steps SET status = v.status, output = v.output, error = v.error, ready_at = v.ready_at, \
         wake_at = v.wake_at, completed_at = v.completed_at, lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = v.updated_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::timestamptz[], \
         $7::timestamptz[], $8::timestamptz[], $9::timestamptz[]) \
         AS v(run_id, step_key, status, output, error, ready_at, wake_at, completed_at, updated_at) \
         WHERE workflow_steps.run_id = v.run_id AND workflow_steps.step_key = v.step_key",
    );
    bind_sets(query, changes).execute(&mut *conn).await.map_err(map_write_error)?;
    Ok(())
}

/// Applies join arrivals, `count` at a time per join: the sum of that many
/// [`StepChange::ArriveAtJoin`]s (`remaining` never goes below 0; the join fires when it reaches it).
async fn arrive_at_joins(conn: &mut Conn, arrivals: &[JoinArrivals<'_>]) -> Result<(), StoreError> {
    if arrivals.is_empty() {
        return Ok(());
    }
    // Every right-hand side sees the row before the update.
    sqlx::query(
        "UPDATE workflow_steps SET \
         remaining = CASE WHEN remaining > v.n THEN remaining - v.n ELSE 0 END, \
         status = CASE WHEN remaining <= v.n AND status = 'pending' THEN 'ready' ELSE status END, \
         ready_at = CASE WHEN remaining <= v.n AND status = 'pending' THEN v.arrived_at ELSE ready_at END, \
         updated_at = v.updated_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[], $5::timestamptz[]) \
         AS v(run_id, step_key, n, arrived_at, updated_at) \
         WHERE workflow_steps.run_id = v.run_id AND workflow_steps.step_key = v.step_key \
         AND workflow_steps.remaining > 0",
    )
    .bind(arrivals.iter().map(|a| a.run_id).collect::<Vec<_>>())
    .bind(arrivals.iter().map(|a| a.step_key).collect::<Vec<_>>())
    .bind(arrivals.iter().map(|a| a.count).collect::<Vec<_>>())
    .bind(arrivals.iter().map(|a| at(a.arrived_at)).collect::<Vec<_>>())
    .bind(arrivals.iter().map(|a| at(a.now)).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(map_write_error)?;
    Ok(())
}

/// Writes run changes (each to a different run) and their `unified_executions` rows; the same
/// writes as the one-by-one path.
async fn update_runs(conn: &mut Conn, changes: &[(Uuid, DateTime<Utc>, &RunChange)]) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = changes.iter().map(|c| c.0).collect();
    let statuses: Vec<&str> = changes.iter().map(|c| c.2.status.as_str()).collect();
    let completed: Vec<Option<DateTime<Utc>>> = changes.iter().map(|c| c.2.completed_at.map(at)).collect();
    let messages: Vec<Option<String>> = changes.iter().map(|c| error_message(c.2.error.as_ref())).collect();
    sqlx::query(
        "UPDATE workflow_runs SET status = v.status, output = v.output, error = v.error, \
         started_at = COALESCE(workflow_runs.started_at, v.started_at), completed_at = v.completed_at, \
         updated_at = v.updated_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::timestamptz[], $6::timestamptz[], \
         $7::timestamptz[]) AS v(id, status, output, error, started_at, completed_at, updated_at) \
         WHERE workflow_runs.id = v.id",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(changes.iter().map(|c| c.2.output.as_ref().map(Json)).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.2.error.as_ref().map(Json)).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.2.started_at.map(at)).collect::<Vec<_>>())
    .bind(&completed)
    .bind(changes.iter().map(|c| at(c.1)).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(map_write_error)?;
    sqlx::query(
        "UPDATE unified_executions SET status = v.status, completed_at = v.completed_at, \
         error_message = v.error_message \
         FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) \
         AS v(id, status, completed_at, error_message) \
         WHERE unified_executions.id = v.id AND unified_executions.source_id = v.id",
    )
    .bind(&ids)
    .bind(&statuses)
    .bind(&completed)
    .bind(&messages)
    .execute(&mut *conn)
    .await
    .map_err(map_write_error)?;
    Ok(())
}

/// Inserts attempt rows (an attempt recorded again is overwritten: its lease was re-taken).
async fn upsert_attempts(conn: &mut Conn, attempts: &[(&AttemptRecord, Uuid)]) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let query = sqlx::query(
        "INSERT INTO workflow_step_attempts (run_id, step_key, attempt, org_id, outcome, error, started_at, \
         finished_at, worker) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::uuid[], $5::text[], $6::jsonb[], \
         $7::timestamptz[], $8::timestamptz[], $9::text[]) \
         ON CONFLICT (run_id, step_key, attempt) DO UPDATE SET outcome = excluded.outcome, \
         error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at, \
         worker = excluded.worker",
    );
    bind_attempts(query, attempts).execute(&mut *conn).await.map_err(map_write_error)?;
    Ok(())
}

/// Which of `runs` still have a step `ready`, `pending`, `waiting` or `running`.
async fn runs_with_open_steps(conn: &mut Conn, runs: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
    let rows = sqlx::query(
        "SELECT DISTINCT run_id FROM workflow_steps WHERE run_id = ANY($1) \
         AND status IN ('ready', 'pending', 'waiting', 'running')",
    )
    .bind(runs)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| Ok(row.try_get("run_id")?)).collect()
}

/// Records receipts (unique per workflow, trigger and key); answers the run ids of those
/// recorded — a receipt that exists already, or comes twice, is recorded once.
async fn insert_receipts(conn: &mut Conn, receipts: &[&TriggerReceipt]) -> Result<HashSet<Uuid>, StoreError> {
    if receipts.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = sqlx::query(
        "INSERT INTO workflow_trigger_receipts (workflow_id, trigger_id, receipt_key, run_id, expires_at, created_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::timestamptz[]) \
         ON CONFLICT (workflow_id, trigger_id, receipt_key) DO NOTHING RETURNING run_id",
    )
    .bind(receipts.iter().map(|r| r.workflow_id).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.trigger_id.as_str()).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.key.as_str()).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.run_id).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.expires_at.map(at)).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| at(r.created_at)).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| Ok(row.try_get("run_id")?)).collect()
}

/// The `(id, org_id)` pairs of the workflows among `workflows` and of the users among `users`.
async fn orgs_of(conn: &mut Conn, workflows: &[Uuid], users: &[Uuid]) -> Result<OrgsOf, StoreError> {
    let rows = sqlx::query(
        "SELECT 'w' AS kind, id, org_id FROM workflows WHERE id = ANY($1) \
         UNION ALL SELECT 'u' AS kind, id, org_id FROM users WHERE id = ANY($2)",
    )
    .bind(workflows)
    .bind(users)
    .fetch_all(&mut *conn)
    .await?;
    let mut found = OrgsOf::default();
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let pair = (row.try_get("id")?, row.try_get("org_id")?);
        if kind == "w" { found.workflows.insert(pair) } else { found.users.insert(pair) };
    }
    Ok(found)
}

/// Writes the rows of started runs in one statement (one round trip): each trigger's
/// `last_fired_at` (skipping a trigger row another transaction holds: that one sets as recent a
/// time), the runs, their `unified_executions` rows, their steps and their events. No checks: the
/// caller checked workflows, creators and receipts.
async fn insert_started(
    conn: &mut Conn,
    receipts: &[&TriggerReceipt],
    runs: &[&RunRecord],
    steps: &[StepRecord],
    events: &[&SystemEvent],
) -> Result<(), StoreError> {
    let latest = latest_fired(receipts);
    let ids: Vec<Uuid> = runs.iter().map(|r| r.id).collect();
    let orgs: Vec<Uuid> = runs.iter().map(|r| r.org_id.0).collect();
    let creators: Vec<Uuid> = runs.iter().map(|r| r.created_by.0).collect();
    let statuses: Vec<&str> = runs.iter().map(|r| r.status.as_str()).collect();
    let completed: Vec<Option<DateTime<Utc>>> = runs.iter().map(|r| r.completed_at.map(at)).collect();
    let query = sqlx::query(STARTED_SQL)
        // $1–$3: triggers fired.
        .bind(latest.keys().map(|k| k.0).collect::<Vec<_>>())
        .bind(latest.keys().map(|k| k.1).collect::<Vec<_>>())
        .bind(latest.values().map(|t| at(*t)).collect::<Vec<_>>())
        // $4–$23: runs.
        .bind(&ids)
        .bind(&orgs)
        .bind(runs.iter().map(|r| r.workflow_id).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(&statuses)
        .bind(runs.iter().map(|r| Json(&r.inputs)).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.output.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.error.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.priority).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.concurrency_key.as_deref()).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.parent_run_id).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.parent_step_key.as_deref()).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.correlation_id).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.trigger.as_str()).collect::<Vec<_>>())
        .bind(&creators)
        .bind(runs.iter().map(|r| at(r.created_at)).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.started_at.map(at)).collect::<Vec<_>>())
        .bind(&completed)
        .bind(runs.iter().map(|r| at(r.updated_at)).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| r.rerun_of).collect::<Vec<_>>())
        // $24–$31: their `unified_executions` rows.
        .bind(&ids)
        .bind(&orgs)
        .bind(&creators)
        .bind(&statuses)
        .bind(runs.iter().map(|r| at(r.started_at.unwrap_or(r.created_at))).collect::<Vec<_>>())
        .bind(&completed)
        .bind(runs.iter().map(|r| error_message(r.error.as_ref())).collect::<Vec<_>>())
        .bind(runs.iter().map(|r| Json(unified_metadata(r))).collect::<Vec<_>>());
    // $32–$49: steps; $50–$57: events.
    bind_events(bind_steps(query, steps), events).execute(&mut *conn).await.map_err(map_write_error)?;
    Ok(())
}

/// Binds `events` column by column (8 arrays) after the parameters already bound.
fn bind_events<'q>(
    query: sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments>,
    events: &[&SystemEvent],
) -> sqlx::query::Query<'q, Db, sqlx::postgres::PgArguments> {
    query
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.source_service.clone()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.correlation_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.causation_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.org_id.map(|id| id.0)).collect::<Vec<_>>())
        .bind(events.iter().map(|e| Json(e.to_cloudevent())).collect::<Vec<_>>())
        .bind(events.iter().map(|e| at(e.timestamp)).collect::<Vec<_>>())
}

/// `insert_started`'s statement: data-modifying CTEs, each fed by arrays. The steps' and
/// `unified_executions`' foreign keys to the runs are checked at the end of the statement, when
/// the runs are in.
const STARTED_SQL: &str = concat!(
    "WITH touched AS (UPDATE workflow_triggers SET last_fired_at = v.fired_at \
     FROM (SELECT t.workflow_id, t.trigger_id, u.fired_at FROM workflow_triggers t \
     JOIN UNNEST($1::uuid[], $2::text[], $3::timestamptz[]) AS u(workflow_id, trigger_id, fired_at) \
     ON t.workflow_id = u.workflow_id AND t.trigger_id = u.trigger_id FOR UPDATE OF t SKIP LOCKED) v \
     WHERE workflow_triggers.workflow_id = v.workflow_id AND workflow_triggers.trigger_id = v.trigger_id \
     AND (workflow_triggers.last_fired_at IS NULL OR workflow_triggers.last_fired_at < v.fired_at)), \
     runs AS (INSERT INTO workflow_runs (",
    run_columns!(),
    ") SELECT * FROM UNNEST($4::uuid[], $5::uuid[], $6::uuid[], $7::int4[], $8::text[], $9::jsonb[], \
     $10::jsonb[], $11::jsonb[], $12::int4[], $13::text[], $14::uuid[], $15::text[], $16::uuid[], $17::text[], \
     $18::uuid[], $19::timestamptz[], $20::timestamptz[], $21::timestamptz[], $22::timestamptz[], $23::uuid[])), \
     unified AS (INSERT INTO unified_executions (id, org_id, execution_type, source_system, source_id, user_id, \
     status, started_at, completed_at, error_message, metadata) \
     SELECT v.id, v.org_id, 'workflow', 'autmatrix', v.id, v.user_id, v.status, v.started_at, v.completed_at, \
     v.error_message, v.metadata FROM UNNEST($24::uuid[], $25::uuid[], $26::uuid[], $27::text[], \
     $28::timestamptz[], $29::timestamptz[], $30::text[], $31::jsonb[]) \
     AS v(id, org_id, user_id, status, started_at, completed_at, error_message, metadata)), \
     steps AS (INSERT INTO workflow_steps (",
    step_columns!(),
    ") SELECT * FROM UNNEST($32::uuid[], $33::text[], $34::text[], $35::uuid[], $36::text[], $37::int4[], \
     $38::int4[], $39::jsonb[], $40::jsonb[], $41::jsonb[], $42::int4[], $43::timestamptz[], $44::timestamptz[], \
     $45::text[], $46::timestamptz[], $47::timestamptz[], $48::timestamptz[], $49::timestamptz[])), \
     events AS (INSERT INTO outbox (event_id, event_type, source_service, correlation_id, causation_id, org_id, \
     cloudevent, created_at) SELECT id, kind, source, correlation, causation, org, body, at \
     FROM UNNEST($50::uuid[], $51::text[], $52::text[], $53::uuid[], $54::uuid[], $55::uuid[], $56::jsonb[], \
     $57::timestamptz[]) WITH ORDINALITY AS e(id, kind, source, correlation, causation, org, body, at, n) \
     ORDER BY n) \
     SELECT 1"
);
