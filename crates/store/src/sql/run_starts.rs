// `WorkflowRepo::create_runs`: many run starts (manual, webhook, event, cron) in one
// transaction. Most take a set-based path — one read of the workflows and users they name, one
// insert of receipts, then the runs, steps, `unified_executions` rows, events and the triggers'
// `last_fired_at` (`insert_started`, one statement on PostgreSQL) — so a burst of webhook
// deliveries costs a few statements and one fsync'd commit, not eight statements and a commit
// each. Cron starts (which claim their tick first), and every start of a batch whose set-based
// write failed, go one by one under savepoints, with the same statements, where a bad one fails
// alone.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// Workflows and users found by `orgs_of`, as `(id, org_id)`.
#[derive(Default)]
struct OrgsOf {
    workflows: HashSet<(Uuid, Uuid)>,
    users: HashSet<(Uuid, Uuid)>,
}

/// Each trigger of `receipts` with the time of its latest receipt: its new `last_fired_at`.
fn latest_fired<'a>(receipts: &[&'a TriggerReceipt]) -> std::collections::BTreeMap<(Uuid, &'a str), DateTime<Utc>> {
    let mut latest = std::collections::BTreeMap::new();
    for receipt in receipts {
        let entry = latest.entry((receipt.workflow_id, receipt.trigger_id.as_str())).or_insert(receipt.created_at);
        *entry = (*entry).max(receipt.created_at);
    }
    latest
}

/// Writes one start in the caller's transaction: claims its cron tick, then as [`write_starts`].
/// `Ok(false)` (the caller rolls back) when the tick was taken or the receipt exists.
async fn write_start(tx: &mut Tx, start: &NewRun) -> Result<bool, StoreError> {
    if let (Some(receipt), Some(advance)) = (&start.receipt, &start.advance)
        && !advance_cron(tx, receipt.workflow_id, &receipt.trigger_id, advance).await?
    {
        return Ok(false);
    }
    let mut outcome = [None];
    write_starts(tx, std::slice::from_ref(start), &[0], &mut outcome).await?;
    let [answer] = outcome;
    answer.unwrap_or(Ok(false))
}

/// Writes the starts `chosen` of `runs` (cron ticks already claimed) with one statement per
/// table; fills their entries of `outcome`: a start whose workflow or creator is not in its
/// organization, or with a step of another run, fails alone; one whose receipt exists is not
/// written. Any error fails them all (the caller then goes one by one).
async fn write_starts(
    tx: &mut Tx,
    runs: &[NewRun],
    chosen: &[usize],
    outcome: &mut [Option<Result<bool, StoreError>>],
) -> Result<(), StoreError> {
    if chosen.is_empty() {
        return Ok(());
    }
    let workflow_ids: HashSet<Uuid> = chosen.iter().map(|&i| runs[i].run.workflow_id).collect();
    let user_ids: HashSet<Uuid> = chosen.iter().map(|&i| runs[i].run.created_by.0).collect();
    let OrgsOf { workflows, users } = orgs_of(
        tx,
        &workflow_ids.into_iter().collect::<Vec<_>>(),
        &user_ids.into_iter().collect::<Vec<_>>(),
    )
    .await?;
    let mut valid = Vec::new();
    for &i in chosen {
        let NewRun { run, steps, .. } = &runs[i];
        if steps.iter().any(|step| step.run_id != run.id || step.org_id != run.org_id) {
            outcome[i] = Some(Err(StoreError::NotFound("a step is not of this run".to_owned())));
        } else if !workflows.contains(&(run.workflow_id, run.org_id.0)) || !users.contains(&(run.created_by.0, run.org_id.0))
        {
            outcome[i] = Some(Err(StoreError::NotFound("workflow or user not in organization".to_owned())));
        } else {
            valid.push(i);
        }
    }
    let receipts: Vec<&TriggerReceipt> = valid.iter().filter_map(|&i| runs[i].receipt.as_ref()).collect();
    let recorded = insert_receipts(tx, &receipts).await?;
    let recorded_receipts: Vec<&TriggerReceipt> =
        receipts.into_iter().filter(|r| recorded.contains(&r.run_id)).collect();
    let mut written = Vec::new();
    for i in valid {
        let start = &runs[i];
        if start.receipt.as_ref().is_some_and(|r| !recorded.contains(&r.run_id)) {
            outcome[i] = Some(Ok(false));
        } else {
            written.push(i);
        }
    }
    let steps: Vec<StepRecord> = written.iter().flat_map(|&i| runs[i].steps.iter().cloned()).collect();
    let events: Vec<&SystemEvent> = written.iter().flat_map(|&i| runs[i].effects.events.iter()).collect();
    let written_runs: Vec<&RunRecord> = written.iter().map(|&i| &runs[i].run).collect();
    insert_started(tx, &recorded_receipts, &written_runs, &steps, &events).await?;
    for &i in &written {
        for entry in &runs[i].effects.audit {
            insert_audit(tx, entry).await?;
        }
        outcome[i] = Some(Ok(true));
    }
    Ok(())
}

impl SqlRepos {
    /// `create_runs`.
    async fn start_runs(&self, runs: &[NewRun]) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        with_fallback("run starts", |set_based| self.try_start_runs(runs, set_based)).await
    }

    async fn try_start_runs(&self, runs: &[NewRun], set_based: bool) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut outcome: Vec<Option<Result<bool, StoreError>>> = runs.iter().map(|_| None).collect();
        let (chosen, one_by_one): (Vec<usize>, Vec<usize>) =
            (0..runs.len()).partition(|&i| set_based && runs[i].advance.is_none());
        write_starts(&mut tx, runs, &chosen, &mut outcome).await?;
        for i in one_by_one {
            raw(&mut tx, "SAVEPOINT run_start").await?;
            let result = match write_start(&mut tx, &runs[i]).await {
                Err(err) if !is_skippable(&err) => return Err(err),
                result => result,
            };
            if !matches!(result, Ok(true)) {
                raw(&mut tx, "ROLLBACK TO SAVEPOINT run_start").await?;
            }
            raw(&mut tx, "RELEASE SAVEPOINT run_start").await?;
            outcome[i] = Some(result);
        }
        tx.commit().await?;
        Ok(outcome.into_iter().map(|o| o.unwrap_or(Ok(false))).collect())
    }
}
