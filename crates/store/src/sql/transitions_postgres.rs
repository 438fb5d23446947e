// The PostgreSQL dialect's transition statements (`apply_plain`): a batch of lease-guarded step
// results, and the run ends among them, each in one statement that is its own transaction. The
// bulk statements and binders they use are in `bulk_postgres.rs`.
// Included by `sql/mod.rs` into `postgres` only, after `bulk_postgres.rs`.

/// The set-based transitions of a batch (see `apply_set_based`) in one statement: `PLAIN_SQL` for
/// the guards, step sets, join arrivals, new and claimed steps and attempts; `RUN_SQL` when a
/// transition also touches its run (`touches_run`, without a finishing step): with the run's lock,
/// status condition, new status, `unified_executions` row and events. One round trip instead of
/// six to ten. Outside a transaction block the statement is its own transaction (see
/// `try_group_commit`). Every row carries its transition's index `t`, and writes only the rows of
/// transitions whose guard held.
async fn apply_plain(
    conn: &mut Conn,
    transitions: &[Transition],
    chosen: &[usize],
    outcome: &mut [Committed],
) -> Result<(), StoreError> {
    if chosen.is_empty() {
        return Ok(());
    }
    let index = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
    let (mut guards, mut guard_t) = (Vec::new(), Vec::new());
    let (mut sets, mut set_t) = (Vec::new(), Vec::new());
    let mut arrivals = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut new_steps = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut attempts, mut attempt_t) = (Vec::new(), Vec::new());
    let (mut status_in, mut new_status) = (Vec::new(), Vec::new());
    let mut locked = std::collections::BTreeSet::new();
    let (mut run_t, mut run_changes) = (Vec::new(), Vec::new());
    let (mut event_t, mut events) = (Vec::new(), Vec::new());
    for &i in chosen {
        let t = &transitions[i];
        let Some(guard) = GuardRow::of(t) else { continue };
        guard_t.push(index(i));
        status_in.push(t.run_status_in.join(","));
        new_status.push(t.run_change.as_ref().map(|change| change.status.as_str()));
        if touches_run(t) {
            locked.insert(t.run_id);
        }
        if let Some(change) = &t.run_change {
            run_t.push(index(i));
            run_changes.push((t.run_id, t.at, change));
        }
        for event in &t.events {
            event_t.push(index(i));
            events.push(event);
        }
        for change in &t.step_changes {
            match change {
                StepChange::Set { .. } => {
                    set_t.push(index(i));
                    sets.push((t.run_id, t.at, change));
                }
                StepChange::ArriveAtJoin { step_key, at: arrived } => {
                    arrivals.0.push(index(i));
                    arrivals.1.push(t.run_id);
                    arrivals.2.push(step_key.as_str());
                    arrivals.3.push(at(*arrived));
                    arrivals.4.push(at(t.at));
                }
            }
        }
        for step in &t.new_steps {
            let claim = claim_of(t, step);
            new_steps.0.push(index(i));
            new_steps.1.push(claim.is_some());
            new_steps.2.push(claim.map(|c| c.owner.as_str()));
            new_steps.3.push(claim.map(|c| at(c.lease_until)));
            new_steps.4.push(at(t.at));
            new_steps.5.push(step.clone());
        }
        if let Some(attempt) = &t.attempt {
            attempt_t.push(index(i));
            attempts.push((attempt, guard.org_id));
        }
        guards.push(guard);
    }
    // $1–$6: guards; $7–$16: step sets (every change in `sets` is a `Set`).
    let touching = !locked.is_empty();
    let sql = if touching { RUN_SQL } else { PLAIN_SQL };
    let query = bind_guards(sqlx::query(sql).bind(&guard_t), &guards).bind(&set_t);
    let query = bind_sets(query, &sets)
        // $17–$21: join arrivals.
        .bind(&arrivals.0)
        .bind(&arrivals.1)
        .bind(&arrivals.2)
        .bind(&arrivals.3)
        .bind(&arrivals.4)
        // $22–$26: new steps' transitions and claims; $27–$44: their columns.
        .bind(&new_steps.0)
        .bind(&new_steps.1)
        .bind(&new_steps.2)
        .bind(&new_steps.3)
        .bind(&new_steps.4);
    // $45–$54: attempts.
    let query = bind_attempts(bind_steps(query, &new_steps.5).bind(&attempt_t), &attempts);
    if !touching {
        let rows = query.fetch_all(&mut *conn).await.map_err(map_write_error)?;
        return answer(rows, &new_steps.0, &new_steps.1, &new_steps.5, outcome);
    }
    let query = query
        // `RUN_SQL`'s own. $55: the runs locked first; $56–$57: the guards' run conditions.
        .bind(locked.into_iter().collect::<Vec<_>>())
        .bind(&status_in)
        .bind(&new_status)
        // $58–$66: run changes (and their `unified_executions` rows).
        .bind(&run_t)
        .bind(run_changes.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| c.2.status.as_str()).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| c.2.output.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| c.2.error.as_ref().map(Json)).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| c.2.started_at.map(at)).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| c.2.completed_at.map(at)).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| at(c.1)).collect::<Vec<_>>())
        .bind(run_changes.iter().map(|c| error_message(c.2.error.as_ref())).collect::<Vec<_>>())
        // $67–$75: events.
        .bind(&event_t);
    let rows = bind_events(query, &events).fetch_all(&mut *conn).await.map_err(map_write_error)?;
    answer(rows, &new_steps.0, &new_steps.1, &new_steps.5, outcome)
}

/// Reads a transition statement's answer (`answer_rows!`) into `outcome`: each held transition
/// applied, and each claimed step (`claims[n]` of `steps[n]`, named by transition `owners[n]`)
/// answered to the transition that named it.
fn answer(
    rows: Vec<DbRow>,
    owners: &[i32],
    claims: &[bool],
    steps: &[StepRecord],
    outcome: &mut [Committed],
) -> Result<(), StoreError> {
    let mut claimer = std::collections::HashMap::new();
    for (n, step) in steps.iter().enumerate() {
        if claims[n] {
            claimer.insert((step.run_id, step.step_key.as_str()), owners[n]);
        }
    }
    for row in &rows {
        let held: Option<i32> = row.try_get("held")?;
        if let Some(t) = held {
            if let Some(entry) = usize::try_from(t).ok().and_then(|t| outcome.get_mut(t)) {
                entry.applied = true;
            }
            continue;
        }
        let step = step_from_row(row)?;
        let t = claimer.get(&(step.run_id, step.step_key.as_str())).copied();
        if let Some(entry) = t.and_then(|t| usize::try_from(t).ok()).and_then(|t| outcome.get_mut(t)) {
            entry.claimed.push(step);
        }
    }
    Ok(())
}

/// The answer of both transition statements: one row per held transition (`held`: its index),
/// and one per claimed step inserted (its columns).
macro_rules! answer_rows {
    () => {
        "SELECT h.t AS held, claimed.* FROM (SELECT t FROM held) h \
         FULL JOIN (SELECT * FROM new_steps WHERE lease_owner IS NOT NULL) claimed ON false"
    };
}

/// The writes of both transition statements, after `held`: step sets, join arrivals, new (and
/// claimed) steps, attempts — each CTE joined to `held` on `t`. Parameters $7–$54.
macro_rules! step_writes {
    () => {
        concat!(
            "sets AS (UPDATE workflow_steps SET status = v.status, output = v.output, error = v.error, \
     ready_at = v.ready_at, wake_at = v.wake_at, completed_at = v.completed_at, lease_owner = NULL, \
     lease_expires_at = NULL, updated_at = v.updated_at \
     FROM UNNEST($7::int4[], $8::uuid[], $9::text[], $10::text[], $11::jsonb[], $12::jsonb[], \
     $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[]) \
     AS v(t, run_id, step_key, status, output, error, ready_at, wake_at, completed_at, updated_at) \
     WHERE v.t IN (SELECT t FROM held) \
     AND workflow_steps.run_id = v.run_id AND workflow_steps.step_key = v.step_key), \
     joins AS (UPDATE workflow_steps SET \
     remaining = CASE WHEN remaining > v.n THEN remaining - v.n ELSE 0 END, \
     status = CASE WHEN remaining <= v.n AND status = 'pending' THEN 'ready' ELSE status END, \
     ready_at = CASE WHEN remaining <= v.n AND status = 'pending' THEN v.arrived_at ELSE ready_at END, \
     updated_at = v.updated_at \
     FROM (SELECT a.run_id, a.step_key, count(*)::int4 AS n, max(a.arrived_at) AS arrived_at, \
     max(a.now) AS updated_at \
     FROM UNNEST($17::int4[], $18::uuid[], $19::text[], $20::timestamptz[], $21::timestamptz[]) \
     AS a(t, run_id, step_key, arrived_at, now) \
     WHERE a.t IN (SELECT t FROM held) GROUP BY a.run_id, a.step_key) v \
     WHERE workflow_steps.run_id = v.run_id AND workflow_steps.step_key = v.step_key \
     AND workflow_steps.remaining > 0), \
     new_steps AS (INSERT INTO workflow_steps (",
    step_columns!(),
    ") SELECT n.run_id, n.step_key, n.step_id, n.org_id, \
     CASE WHEN n.c THEN 'running' ELSE n.status END, CASE WHEN n.c THEN n.attempt + 1 ELSE n.attempt END, \
     n.remaining, n.input, n.output, n.error, n.priority, n.ready_at, n.wake_at, \
     CASE WHEN n.c THEN n.claim_owner ELSE n.lease_owner END, \
     CASE WHEN n.c THEN n.claim_lease ELSE n.lease_expires_at END, \
     CASE WHEN n.c THEN n.claim_at ELSE n.started_at END, n.completed_at, \
     CASE WHEN n.c THEN n.claim_at ELSE n.updated_at END \
     FROM (SELECT u.*, u.claim AND held.run_status IN ('running', 'waiting') AS c \
     FROM UNNEST($22::int4[], $23::bool[], $24::text[], $25::timestamptz[], $26::timestamptz[], \
     $27::uuid[], $28::text[], $29::text[], $30::uuid[], $31::text[], $32::int4[], $33::int4[], $34::jsonb[], \
     $35::jsonb[], $36::jsonb[], $37::int4[], $38::timestamptz[], $39::timestamptz[], $40::text[], \
     $41::timestamptz[], $42::timestamptz[], $43::timestamptz[], $44::timestamptz[]) \
     AS u(t, claim, claim_owner, claim_lease, claim_at, run_id, step_key, step_id, org_id, status, attempt, \
     remaining, input, output, error, priority, ready_at, wake_at, lease_owner, lease_expires_at, started_at, \
     completed_at, updated_at) \
     JOIN held ON held.t = u.t) n \
     ON CONFLICT (run_id, step_key) DO NOTHING RETURNING ",
    step_columns!(),
    "), \
     attempts AS (INSERT INTO workflow_step_attempts (run_id, step_key, attempt, org_id, outcome, error, \
     started_at, finished_at, worker) \
     SELECT a.run_id, a.step_key, a.attempt, a.org_id, a.outcome, a.error, a.started_at, a.finished_at, a.worker \
     FROM UNNEST($45::int4[], $46::uuid[], $47::text[], $48::int4[], $49::uuid[], $50::text[], $51::jsonb[], \
     $52::timestamptz[], $53::timestamptz[], $54::text[]) \
     AS a(t, run_id, step_key, attempt, org_id, outcome, error, started_at, finished_at, worker) \
     WHERE a.t IN (SELECT t FROM held) \
     ON CONFLICT (run_id, step_key, attempt) DO UPDATE SET outcome = excluded.outcome, \
     error = excluded.error, started_at = excluded.started_at, finished_at = excluded.finished_at, \
     worker = excluded.worker)"
        )
    };
}

/// `apply_plain`'s statement for a batch that touches no run as a whole. `held`: the transitions
/// whose guard holds (`held_guard_lookup!`: step rows locked), with their run's status; every
/// write (`step_writes!`) joins it on `t`. A new step its transition claims goes in claimed
/// (`split_claimed`'s form) while the run is `running` or `waiting`. The answer: one row per held
/// transition (`held`), and one per claimed step inserted (its columns).
const PLAIN_SQL: &str = concat!(
    "WITH held AS (SELECT g.t, r.status AS run_status \
     FROM UNNEST($1::int4[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::uuid[]) \
     AS g(t, run_id, step_key, owner, attempt, org_id) ",
    held_guard_lookup!(),
    "), ",
    step_writes!(),
    " ",
    answer_rows!()
);

/// `apply_plain`'s statement for a batch where transitions touch their run (`touches_run`, none
/// with a finishing step): `PLAIN_SQL` with the runs locked first and their writes. `locked`: those
/// runs, locked in id order (as `locked_runs`; the one-time filter on `held` takes these locks
/// before any step lock, and their status is the latest committed, read under the lock). `held`
/// also checks each transition's run status condition (a comma-joined list, empty for none) and
/// carries the run's status after it. Then the run changes, their `unified_executions` rows and
/// the events. A statement of its own, so the per-step batches do not pay for its parameters and
/// joins (alternated chain runs: 0.3 ms a step slower with them in `PLAIN_SQL`).
const RUN_SQL: &str = concat!(
    "WITH locked AS (SELECT id, status FROM workflow_runs WHERE id = ANY($55::uuid[]) ORDER BY id FOR UPDATE), \
     held AS (SELECT g.t, COALESCE(g.new_status, l.status, r.status) AS run_status \
     FROM UNNEST($1::int4[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::uuid[], $56::text[], $57::text[]) \
     AS g(t, run_id, step_key, owner, attempt, org_id, status_in, new_status) ",
    held_guard_lookup!(),
    " LEFT JOIN locked l ON l.id = g.run_id \
     WHERE (SELECT count(*) FROM locked) >= 0 \
     AND (g.status_in = '' OR COALESCE(l.status, r.status) = ANY(string_to_array(g.status_in, ',')))), ",
    step_writes!(),
    ", \
     runs_changed AS (UPDATE workflow_runs SET status = v.status, output = v.output, error = v.error, \
     started_at = COALESCE(workflow_runs.started_at, v.started_at), completed_at = v.completed_at, \
     updated_at = v.updated_at \
     FROM UNNEST($58::int4[], $59::uuid[], $60::text[], $61::jsonb[], $62::jsonb[], $63::timestamptz[], \
     $64::timestamptz[], $65::timestamptz[]) \
     AS v(t, id, status, output, error, started_at, completed_at, updated_at) \
     WHERE v.t IN (SELECT t FROM held) AND workflow_runs.id = v.id), \
     unified AS (UPDATE unified_executions SET status = v.status, completed_at = v.completed_at, \
     error_message = v.error_message \
     FROM UNNEST($58::int4[], $59::uuid[], $60::text[], $64::timestamptz[], $66::text[]) \
     AS v(t, id, status, completed_at, error_message) \
     WHERE v.t IN (SELECT t FROM held) AND unified_executions.id = v.id AND unified_executions.source_id = v.id), \
     events AS (INSERT INTO outbox (event_id, event_type, source_service, correlation_id, causation_id, org_id, \
     cloudevent, created_at) SELECT id, kind, source, correlation, causation, org, body, at \
     FROM UNNEST($67::int4[], $68::uuid[], $69::text[], $70::text[], $71::uuid[], $72::uuid[], $73::uuid[], \
     $74::jsonb[], $75::timestamptz[]) WITH ORDINALITY AS e(t, id, kind, source, correlation, causation, org, body, \
     at, n) \
     WHERE e.t IN (SELECT t FROM held) ORDER BY n) \
     ",
    answer_rows!()
);
