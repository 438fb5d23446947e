// `WorkflowRepo`, part three: the set-based path of a group commit. Most transitions of a busy
// engine are lease-guarded step results — the step's new state, its successors, its attempt row,
// arrivals at a join, the successors it claims, and at a run's end the run's new status, its events
// and its finishing step. Written one by one they cost eight or more statements each (a savepoint,
// reads, writes, a release): on SQLite each is a round trip to the connection's thread, on
// PostgreSQL one over the network. Here a whole batch of them takes a fixed number of statements:
// one read of the runs, one guard read, one update of all set steps, one of all joins arrived at,
// one of the runs that change, one insert each of successors, claimed successors, attempts and
// events, and one read of the runs whose last path may have ended. The statements themselves are
// each dialect's (`bulk_sqlite.rs`, `bulk_postgres.rs`).
// Included by `sql/mod.rs` into `sqlite` and `postgres`, after `workflow_queue.rs`.

/// Whether `t` has the shape of the set-based path: a lease-guarded result whose step changes are
/// `Set`s and join arrivals, whose rows are all of its run and organization, and which depends on
/// nothing but its guard and its run's status. Which steps it changes is checked with its run's
/// other transitions (`split_batch`).
fn is_set_based(t: &Transition) -> bool {
    let Some(guard) = &t.guard else { return false };
    let Some(org) = t.org_id else { return false };
    t.expect_status.is_none()
        && t.new_steps.iter().all(|s| s.run_id == t.run_id && s.org_id == org)
        && t.attempt.as_ref().is_none_or(|a| a.run_id == t.run_id)
        && t.finish_step.as_ref().is_none_or(|f| f.run_id == t.run_id && f.org_id == org)
        && t.claim_after.as_ref().is_none_or(|c| c.owner == guard.owner)
}

/// Whether `t` reads or changes its run as a whole (status guard, new status, events, the
/// finishing step): such a transition is set-based only when it is alone of its run in the batch.
fn touches_run(t: &Transition) -> bool {
    !t.run_status_in.is_empty() || t.run_change.is_some() || !t.events.is_empty() || t.finish_step.is_some()
}

/// Splits a batch into the transitions (indexes) that take the set-based path and the others. A
/// run's transitions all go one way: set-based when no step of the run is set twice or both set
/// and arrived at, and, for several of one run, none touches the run as a whole; then their order
/// never matters (join arrivals add up).
fn split_batch(transitions: &[Transition]) -> (Vec<usize>, Vec<usize>) {
    let mut per_run: std::collections::HashMap<Uuid, Vec<usize>> = std::collections::HashMap::new();
    for (index, t) in transitions.iter().enumerate() {
        per_run.entry(t.run_id).or_default().push(index);
    }
    let run_is_set_based = |indexes: &[usize]| {
        if !indexes.iter().all(|&i| is_set_based(&transitions[i])) {
            return false;
        }
        if indexes.len() > 1 && indexes.iter().any(|&i| touches_run(&transitions[i])) {
            return false;
        }
        let mut set_keys = HashSet::new();
        let mut join_keys = HashSet::new();
        for change in indexes.iter().flat_map(|&i| &transitions[i].step_changes) {
            match change {
                StepChange::Set { step_key, .. } if !set_keys.insert(step_key.as_str()) => return false,
                StepChange::Set { .. } => {}
                StepChange::ArriveAtJoin { step_key, .. } => {
                    join_keys.insert(step_key.as_str());
                }
            }
        }
        set_keys.is_disjoint(&join_keys)
    };
    let mut set_based = Vec::new();
    let mut others = Vec::new();
    for indexes in per_run.values() {
        if run_is_set_based(indexes) {
            set_based.extend_from_slice(indexes);
        } else {
            others.extend_from_slice(indexes);
        }
    }
    set_based.sort_unstable();
    others.sort_unstable();
    (set_based, others)
}

/// A run of the batch as read (PostgreSQL locks those that need it).
struct BatchRun {
    org_id: Uuid,
    status: String,
}

/// A lease guard to check: the step `running` under `owner` and `attempt`, in `org_id`.
struct GuardRow<'a> {
    run_id: Uuid,
    step_key: &'a str,
    owner: &'a str,
    attempt: i32,
    org_id: Uuid,
}

impl<'a> GuardRow<'a> {
    /// The guard of `t`, when it has one and an organization.
    fn of(t: &'a Transition) -> Option<Self> {
        let (guard, org) = (t.guard.as_ref()?, t.org_id?);
        Some(Self { run_id: t.run_id, step_key: &guard.step_key, owner: &guard.owner, attempt: guard.attempt, org_id: org.0 })
    }
}

/// A guard that holds, with its run's organization and status.
struct HeldGuard {
    run_id: Uuid,
    step_key: String,
    org_id: Uuid,
    run_status: String,
}

impl HeldGuard {
    /// A row of either dialect's guard read (`run_id, step_key, org_id, status`).
    fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            run_id: row.try_get("run_id")?,
            step_key: row.try_get("step_key")?,
            org_id: row.try_get("org_id")?,
            run_status: row.try_get("status")?,
        })
    }
}

/// The arrivals of one batch at one join step.
struct JoinArrivals<'a> {
    run_id: Uuid,
    step_key: &'a str,
    count: i32,
    /// The latest arrival: the join's `ready_at` when these arrivals fire it.
    arrived_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// The runs of `chosen` that transitions read or change as a whole, locked first (PostgreSQL,
/// in id order) as the one-by-one path locks them.
async fn locked_runs(
    conn: &mut Conn,
    transitions: &[Transition],
    chosen: &[usize],
) -> Result<std::collections::HashMap<Uuid, BatchRun>, StoreError> {
    let ids: std::collections::BTreeSet<Uuid> =
        chosen.iter().map(|&i| &transitions[i]).filter(|t| touches_run(t)).map(|t| t.run_id).collect();
    let mut runs = std::collections::HashMap::new();
    if !ids.is_empty() {
        for (id, org_id, status) in select_runs(conn, &ids.into_iter().collect::<Vec<_>>(), true).await? {
            runs.insert(id, BatchRun { org_id, status });
        }
    }
    Ok(runs)
}

/// The transitions of `chosen` whose guard still holds; `runs` gains the run of each that it
/// does not hold yet, read with the guard. PostgreSQL locks the guarded rows, as the one-by-one
/// path does.
async fn held_guards(
    conn: &mut Conn,
    transitions: &[Transition],
    chosen: &[usize],
    runs: &mut std::collections::HashMap<Uuid, BatchRun>,
) -> Result<HashSet<usize>, StoreError> {
    let guards: Vec<GuardRow<'_>> = chosen.iter().filter_map(|&i| GuardRow::of(&transitions[i])).collect();
    let mut held = HashSet::new();
    for row in guard_rows(conn, &guards).await? {
        runs.entry(row.run_id).or_insert(BatchRun { org_id: row.org_id, status: row.run_status });
        held.insert((row.run_id, row.step_key));
    }
    Ok(chosen
        .iter()
        .copied()
        .filter(|&i| {
            let t = &transitions[i];
            t.guard.as_ref().is_some_and(|g| held.contains(&(t.run_id, g.step_key.clone())))
        })
        .collect())
}

/// Applies the transitions `chosen` of `transitions` set-based, inside the caller's transaction;
/// fills their entries of `outcome`. Any error fails the whole batch (the caller then rolls back
/// and applies every transition one by one, where a bad one is skipped alone). The plain ones —
/// none touching its run as a whole, so none shares its run with one that does — go through the
/// dialect's `apply_plain`, the others through `apply_staged`.
async fn apply_set_based(
    conn: &mut Conn,
    transitions: &[Transition],
    chosen: &[usize],
    outcome: &mut [Committed],
) -> Result<(), StoreError> {
    let (plain, whole): (Vec<usize>, Vec<usize>) = chosen.iter().partition(|&&i| !touches_run(&transitions[i]));
    apply_plain(conn, transitions, &plain, outcome).await?;
    apply_staged(conn, transitions, &whole, outcome).await
}

/// Whether a whole batch fits PostgreSQL's one-statement `apply_plain`: `split_batch` chose every
/// transition, and none has a finishing step (inserted only when no other step of its run is
/// open, which a statement that waited for the run's lock could not see).
fn all_plain(transitions: &[Transition], chosen: &[usize], others: &[usize]) -> bool {
    others.is_empty() && chosen.iter().all(|&i| transitions[i].finish_step.is_none())
}

/// The set-based path one statement at a time: runs, guards, step sets, join arrivals, run
/// changes, new and claimed steps, attempts, events, finishing steps.
async fn apply_staged(
    conn: &mut Conn,
    transitions: &[Transition],
    chosen: &[usize],
    outcome: &mut [Committed],
) -> Result<(), StoreError> {
    if chosen.is_empty() {
        return Ok(());
    }
    let mut runs = locked_runs(conn, transitions, chosen).await?;
    let held = held_guards(conn, transitions, chosen, &mut runs).await?;
    let applied: Vec<usize> = chosen
        .iter()
        .copied()
        .filter(|&i| {
            let t = &transitions[i];
            let Some(run) = runs.get(&t.run_id) else { return false };
            held.contains(&i)
                && t.org_id.is_some_and(|org| org.0 == run.org_id)
                && (t.run_status_in.is_empty() || t.run_status_in.contains(&run.status))
        })
        .collect();

    let mut sets = Vec::new();
    let mut arrivals: std::collections::HashMap<(Uuid, &str), JoinArrivals<'_>> = std::collections::HashMap::new();
    for &i in &applied {
        let t = &transitions[i];
        for change in &t.step_changes {
            match change {
                StepChange::Set { .. } => sets.push((t.run_id, t.at, change)),
                StepChange::ArriveAtJoin { step_key, at: arrived } => {
                    let entry = arrivals.entry((t.run_id, step_key.as_str())).or_insert(JoinArrivals {
                        run_id: t.run_id,
                        step_key,
                        count: 0,
                        arrived_at: *arrived,
                        now: t.at,
                    });
                    entry.count += 1;
                    entry.arrived_at = entry.arrived_at.max(*arrived);
                    entry.now = entry.now.max(t.at);
                }
            }
        }
    }
    set_steps(conn, &sets).await?;
    let arrivals: Vec<JoinArrivals<'_>> = arrivals.into_values().collect();
    arrive_at_joins(conn, &arrivals).await?;

    let run_changes: Vec<(Uuid, DateTime<Utc>, &RunChange)> = applied
        .iter()
        .filter_map(|&i| transitions[i].run_change.as_ref().map(|c| (transitions[i].run_id, transitions[i].at, c)))
        .collect();
    update_runs(conn, &run_changes).await?;

    // New steps: those claimed go in already claimed (see `split_claimed`); a claimed step is
    // answered to the transition that asked for it.
    let mut to_claim = Vec::new();
    let mut rest = Vec::new();
    let mut claimer: std::collections::HashMap<(Uuid, String), usize> = std::collections::HashMap::new();
    for &i in &applied {
        let t = &transitions[i];
        let status_after = match &t.run_change {
            Some(change) => change.status.as_str(),
            None => runs.get(&t.run_id).map_or("", |run| run.status.as_str()),
        };
        let (claim, others) = split_claimed(t, status_after);
        for step in &claim {
            claimer.insert((step.run_id, step.step_key.clone()), i);
        }
        to_claim.extend(claim);
        rest.extend(others);
    }
    insert_steps(conn, &rest, true).await?;
    for step in insert_new_steps_returning(conn, &to_claim).await? {
        if let Some(&i) = claimer.get(&(step.run_id, step.step_key.clone())) {
            outcome[i].claimed.push(step);
        }
    }

    let attempts: Vec<(&AttemptRecord, Uuid)> = applied
        .iter()
        .filter_map(|&i| {
            let t = &transitions[i];
            t.attempt.as_ref().zip(t.org_id).map(|(a, org)| (a, org.0))
        })
        .collect();
    upsert_attempts(conn, &attempts).await?;
    let events: Vec<&SystemEvent> = applied.iter().flat_map(|&i| transitions[i].events.iter()).collect();
    insert_events(conn, &events).await?;

    // The finishing step goes in only for runs with no open step left after everything above.
    let finishing: Vec<&StepRecord> = applied.iter().filter_map(|&i| transitions[i].finish_step.as_ref()).collect();
    if !finishing.is_empty() {
        let open = runs_with_open_steps(conn, &finishing.iter().map(|f| f.run_id).collect::<Vec<_>>()).await?;
        let finish: Vec<StepRecord> =
            finishing.into_iter().filter(|f| !open.contains(&f.run_id)).cloned().collect();
        insert_steps(conn, &finish, true).await?;
    }
    for &i in &applied {
        outcome[i].applied = true;
    }
    Ok(())
}
