// `FlowRepo`: admission of pending runs under a workflow's concurrency, per-key concurrency and
// per-key rate limits, counted from the runs themselves in one serialized transaction.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// Pending runs examined per admission round.
const ADMIT_BATCH: i64 = 500;

#[async_trait]
impl FlowRepo for SqlRepos {
    async fn workflows_with_pending_runs(&self, limit: u32) -> Result<Vec<(OrgScope, Uuid)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT org_id, workflow_id FROM workflow_runs WHERE status = 'pending' LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((OrgScope(OrgId(row.try_get("org_id")?)), row.try_get("workflow_id")?)))
            .collect()
    }

    async fn admit_pending_runs(
        &self,
        workflow_id: Uuid,
        limits: &FlowLimits,
        now: DateTime<Utc>,
        started_event: for<'r> fn(&'r RunRecord) -> SystemEvent,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        if DIALECT == Dialect::Postgres {
            // Serializes admitters of this workflow across processes (NO KEY: run inserts, which take
            // KEY SHARE on the workflow row through their foreign key, are not blocked).
            sqlx::query("SELECT id FROM workflows WHERE id = $1 FOR NO KEY UPDATE").bind(workflow_id).execute(&mut *tx).await?;
        }
        let running_rows = sqlx::query(
            "SELECT concurrency_key, COUNT(*) AS n FROM workflow_runs WHERE workflow_id = $1 \
             AND status NOT IN ('pending', 'completed', 'failed', 'cancelled') GROUP BY concurrency_key",
        )
        .bind(workflow_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut running_total: i64 = 0;
        let mut running_by_key = std::collections::HashMap::<Option<String>, i64>::new();
        for row in &running_rows {
            let n: i64 = row.try_get("n")?;
            running_total += n;
            running_by_key.insert(row.try_get("concurrency_key")?, n);
        }
        let mut started_by_key = std::collections::HashMap::<Option<String>, i64>::new();
        if let Some((_, window)) = limits.key_rate {
            let rows = sqlx::query(
                "SELECT concurrency_key, COUNT(*) AS n FROM workflow_runs WHERE workflow_id = $1 \
                 AND status <> 'pending' AND started_at >= $2 GROUP BY concurrency_key",
            )
            .bind(workflow_id)
            .bind(at(now - window))
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                started_by_key.insert(row.try_get("concurrency_key")?, row.try_get("n")?);
            }
        }
        let pending = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM workflow_runs WHERE workflow_id = $1 AND status = 'pending' ORDER BY priority DESC, id LIMIT $2"
        ))
        .bind(workflow_id)
        .bind(ADMIT_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut admitted = Vec::new();
        for row in &pending {
            if limits.concurrency.is_some_and(|limit| running_total >= limit) {
                break;
            }
            let mut run = run_from_row(row)?;
            let key = run.concurrency_key.clone();
            let running = running_by_key.get(&key).copied().unwrap_or(0);
            let started = started_by_key.get(&key).copied().unwrap_or(0);
            if limits.key_concurrency.is_some_and(|limit| running >= limit)
                || limits.key_rate.is_some_and(|(count, _)| started >= count)
            {
                continue;
            }
            let result = sqlx::query(
                "UPDATE workflow_runs SET status = 'running', started_at = $1, updated_at = $1 \
                 WHERE id = $2 AND status = 'pending'",
            )
            .bind(at(now))
            .bind(run.id)
            .execute(&mut *tx)
            .await?;
            if result.rows_affected() != 1 {
                continue;
            }
            sqlx::query("UPDATE unified_executions SET status = 'running', started_at = $1 WHERE id = $2")
                .bind(at(now))
                .bind(run.id)
                .execute(&mut *tx)
                .await?;
            run.status = "running".to_owned();
            run.started_at = Some(at(now));
            run.updated_at = at(now);
            insert_event(&mut tx, &started_event(&run)).await?;
            running_total += 1;
            *running_by_key.entry(key.clone()).or_default() += 1;
            *started_by_key.entry(key).or_default() += 1;
            admitted.push(run);
        }
        tx.commit().await?;
        Ok(admitted)
    }
}
