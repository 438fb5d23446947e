// `WorkflowRepo`, part one: definitions with their versions, and runs with their steps and
// attempts as the API reads them. The queue (claims, heartbeats, group commits) is in
// `workflow_queue.rs`, which this file's trait implementation delegates to.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// The columns `workflow_at` reads, in its order, as a literal for `concat!`.
macro_rules! workflow_columns {
    () => {
        "id, org_id, name, description, user_id, definition, latest_version, is_active, created_at, updated_at"
    };
}

/// The same columns of the `w` alias, renamed `w_…`, for joins whose other side is read by name.
macro_rules! workflow_columns_w {
    () => {
        "w.id AS w_id, w.org_id AS w_org_id, w.name AS w_name, w.description AS w_description, \
         w.user_id AS w_user_id, w.definition AS w_definition, w.latest_version AS w_latest_version, \
         w.is_active AS w_is_active, w.created_at AS w_created_at, w.updated_at AS w_updated_at"
    };
}

/// The columns `version_from_row` reads.
macro_rules! version_columns {
    () => {
        "workflow_id, version, definition, created_by, created_at"
    };
}

/// The columns `run_from_row` reads, in the order `create_run` binds them.
macro_rules! run_columns {
    () => {
        "id, org_id, workflow_id, version, status, inputs, output, error, priority, concurrency_key, \
         parent_run_id, parent_step_key, correlation_id, trigger, created_by, created_at, started_at, \
         completed_at, updated_at, rerun_of"
    };
}

/// The columns `step_from_row` reads, in the order `insert_steps` binds them (`seq` is assigned by
/// the database).
macro_rules! step_columns {
    () => {
        "run_id, step_key, step_id, org_id, status, attempt, remaining, input, output, error, priority, \
         ready_at, wake_at, lease_owner, lease_expires_at, started_at, completed_at, updated_at"
    };
}

/// The columns `attempt_from_row` reads.
macro_rules! attempt_columns {
    () => {
        "run_id, step_key, attempt, outcome, error, started_at, finished_at, worker"
    };
}

/// A row that selects [`workflow_columns!`] first.
fn workflow_from_row(row: &DbRow) -> Result<WorkflowRecord, StoreError> {
    workflow_at(row, 0)
}

/// The workflow whose [`workflow_columns!`] (or [`workflow_columns_w!`]) start at column `first`.
fn workflow_at(row: &DbRow, first: usize) -> Result<WorkflowRecord, StoreError> {
    Ok(WorkflowRecord {
        id: row.try_get(first)?,
        org_id: OrgId(row.try_get(first + 1)?),
        name: row.try_get(first + 2)?,
        description: row.try_get(first + 3)?,
        user_id: UserId(row.try_get(first + 4)?),
        definition: row.try_get::<Json<serde_json::Value>, _>(first + 5)?.0,
        latest_version: row.try_get(first + 6)?,
        is_active: row.try_get(first + 7)?,
        created_at: row.try_get(first + 8)?,
        updated_at: row.try_get(first + 9)?,
    })
}

fn version_from_row(row: &DbRow) -> Result<WorkflowVersion, StoreError> {
    Ok(WorkflowVersion {
        workflow_id: row.try_get("workflow_id")?,
        version: row.try_get("version")?,
        definition: row.try_get::<Json<serde_json::Value>, _>("definition")?.0,
        created_by: UserId(row.try_get("created_by")?),
        created_at: row.try_get("created_at")?,
    })
}

/// A nullable JSON column.
fn json_column(row: &DbRow, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
    Ok(row.try_get::<Option<Json<serde_json::Value>>, _>(column)?.map(|json| json.0))
}

fn run_from_row(row: &DbRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.try_get("id")?,
        org_id: OrgId(row.try_get("org_id")?),
        workflow_id: row.try_get("workflow_id")?,
        version: row.try_get("version")?,
        status: row.try_get("status")?,
        inputs: row.try_get::<Json<serde_json::Value>, _>("inputs")?.0,
        output: json_column(row, "output")?,
        error: json_column(row, "error")?,
        priority: row.try_get("priority")?,
        concurrency_key: row.try_get("concurrency_key")?,
        parent_run_id: row.try_get("parent_run_id")?,
        parent_step_key: row.try_get("parent_step_key")?,
        correlation_id: row.try_get("correlation_id")?,
        trigger: row.try_get("trigger")?,
        created_by: UserId(row.try_get("created_by")?),
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        updated_at: row.try_get("updated_at")?,
        rerun_of: row.try_get("rerun_of")?,
    })
}

fn step_from_row(row: &DbRow) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        run_id: row.try_get("run_id")?,
        step_key: row.try_get("step_key")?,
        step_id: row.try_get("step_id")?,
        org_id: OrgId(row.try_get("org_id")?),
        status: row.try_get("status")?,
        attempt: row.try_get("attempt")?,
        remaining: row.try_get("remaining")?,
        input: json_column(row, "input")?,
        output: json_column(row, "output")?,
        error: json_column(row, "error")?,
        priority: row.try_get("priority")?,
        ready_at: row.try_get("ready_at")?,
        wake_at: row.try_get("wake_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn attempt_from_row(row: &DbRow) -> Result<AttemptRecord, StoreError> {
    Ok(AttemptRecord {
        run_id: row.try_get("run_id")?,
        step_key: row.try_get("step_key")?,
        attempt: row.try_get("attempt")?,
        outcome: row.try_get("outcome")?,
        error: json_column(row, "error")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        worker: row.try_get("worker")?,
    })
}

/// The `unified_executions.error_message` of a run error: the error itself when it is a string,
/// its `message` when it has one, else its JSON text.
fn error_message(error: Option<&serde_json::Value>) -> Option<String> {
    error.map(|error| match error {
        serde_json::Value::String(text) => text.clone(),
        other => match other.get("message").and_then(serde_json::Value::as_str) {
            Some(message) => message.to_owned(),
            None => other.to_string(),
        },
    })
}

async fn insert_version(tx: &mut Tx, org: OrgId, version: &WorkflowVersion) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workflow_versions (workflow_id, version, org_id, definition, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(version.workflow_id)
    .bind(version.version)
    .bind(org.0)
    .bind(Json(&version.definition))
    .bind(version.created_by.0)
    .bind(at(version.created_at))
    .execute(&mut **tx)
    .await
    .map_err(map_write_error)?;
    Ok(())
}

/// The `metadata` of a run's row in `unified_executions`.
fn unified_metadata(run: &RunRecord) -> serde_json::Value {
    serde_json::json!({
        "workflow_id": run.workflow_id,
        "version": run.version,
        "trigger": run.trigger,
        "correlation_id": run.correlation_id,
        "parent_run_id": run.parent_run_id,
    })
}

#[async_trait]
impl WorkflowRepo for SqlRepos {
    /// `NotFound` when `workflow.org_id` is not the scope's organization, `workflow.user_id` is not
    /// one of its users, or `version` belongs to another workflow.
    async fn create_workflow(
        &self,
        scope: OrgScope,
        workflow: &WorkflowRecord,
        version: &WorkflowVersion,
        effects: &Effects,
    ) -> Result<(), StoreError> {
        if workflow.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        if version.workflow_id != workflow.id {
            return Err(StoreError::NotFound("the version belongs to another workflow".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(concat!(
            "INSERT INTO workflows (",
            workflow_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = $5 AND org_id = $2)"
        ))
        .bind(workflow.id)
        .bind(workflow.org_id.0)
        .bind(&workflow.name)
        .bind(&workflow.description)
        .bind(workflow.user_id.0)
        .bind(Json(&workflow.definition))
        .bind(workflow.latest_version)
        .bind(workflow.is_active)
        .bind(at(workflow.created_at))
        .bind(at(workflow.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::NotFound("user not in organization".to_owned()));
        }
        insert_version(&mut tx, workflow.org_id, version).await?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Race-safe: the head moves only from `version - 1` (PostgreSQL re-checks that after waiting
    /// on the row lock; SQLite serialises writers), so of two writers adding the same version
    /// exactly one succeeds. The description is kept when `description` is `None`.
    async fn add_workflow_version(
        &self,
        scope: OrgScope,
        version: &WorkflowVersion,
        description: Option<&str>,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        let Some(previous) = version.version.checked_sub(1) else { return Ok(false) };
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE workflows SET latest_version = $1, definition = $2, description = COALESCE($3, description), \
             updated_at = $4 WHERE id = $5 AND org_id = $6 AND latest_version = $7",
        )
        .bind(version.version)
        .bind(Json(&version.definition))
        .bind(description)
        .bind(at(version.created_at))
        .bind(version.workflow_id)
        .bind(scope.org_id().0)
        .bind(previous)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        match insert_version(&mut tx, scope.org_id(), version).await {
            Ok(()) => {}
            // A version row left over from before the head knew of it: the version is taken.
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(err) => return Err(err),
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn get_workflow(&self, scope: OrgScope, id: Uuid) -> Result<Option<WorkflowRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", workflow_columns!(), " FROM workflows WHERE id = $1 AND org_id = $2"))
            .bind(id)
            .bind(scope.org_id().0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workflow_from_row).transpose()
    }

    /// Active or not.
    async fn get_workflow_by_name(&self, scope: OrgScope, name: &str) -> Result<Option<WorkflowRecord>, StoreError> {
        let row =
            sqlx::query(concat!("SELECT ", workflow_columns!(), " FROM workflows WHERE org_id = $1 AND name = $2"))
                .bind(scope.org_id().0)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(workflow_from_row).transpose()
    }

    /// In id order; `page.after` continues after that id.
    async fn list_workflows(
        &self,
        scope: OrgScope,
        include_inactive: bool,
        page: PageRequest,
    ) -> Result<Vec<WorkflowRecord>, StoreError> {
        let mut query =
            QueryBuilder::<Db>::new(concat!("SELECT ", workflow_columns!(), " FROM workflows WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        if !include_inactive {
            query.push(" AND is_active = ").push_bind(true);
        }
        push_keyset(&mut query, "id", page, false);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(workflow_from_row).collect()
    }

    async fn get_workflow_version(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        version: i32,
    ) -> Result<Option<WorkflowVersion>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM workflow_versions WHERE workflow_id = $1 AND version = $2 AND org_id = $3"
        ))
        .bind(workflow_id)
        .bind(version)
        .bind(scope.org_id().0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn list_workflow_versions(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
    ) -> Result<Vec<WorkflowVersion>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM workflow_versions WHERE workflow_id = $1 AND org_id = $2 ORDER BY version"
        ))
        .bind(workflow_id)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Also sets `updated_at` to now. Setting the state it already has returns true.
    async fn set_workflow_active(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        active: bool,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("UPDATE workflows SET is_active = $1, updated_at = $2 WHERE id = $3 AND org_id = $4")
            .bind(active)
            .bind(at(Utc::now()))
            .bind(workflow_id)
            .bind(scope.org_id().0)
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// `NotFound` when the workflow is not one of `run.org_id`'s, `run.created_by` is not one of
    /// its users, the version does not exist, or a step is not of this run and organization;
    /// `Conflict` when the run or a step key exists already.
    async fn create_runs(&self, runs: &[NewRun]) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        self.start_runs(runs).await
    }

    async fn get_run(&self, scope: OrgScope, run_id: Uuid) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", run_columns!(), " FROM workflow_runs WHERE id = $1 AND org_id = $2"))
            .bind(run_id)
            .bind(scope.org_id().0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Newest first (descending id; run ids are UUIDv7).
    async fn list_runs(
        &self,
        scope: OrgScope,
        filter: &RunFilter,
        page: PageRequest,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let mut query =
            QueryBuilder::<Db>::new(concat!("SELECT ", run_columns!(), " FROM workflow_runs WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        if let Some(workflow_id) = filter.workflow_id {
            query.push(" AND workflow_id = ").push_bind(workflow_id);
        }
        if let Some(status) = filter.status.as_deref() {
            query.push(" AND status = ").push_bind(status);
        }
        if let Some(trigger) = filter.trigger.as_deref() {
            query.push(" AND trigger = ").push_bind(trigger);
        }
        if let Some(since) = filter.since {
            query.push(" AND created_at >= ").push_bind(at(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND created_at < ").push_bind(at(until));
        }
        if let Some(rerun_of) = filter.rerun_of {
            query.push(" AND rerun_of = ").push_bind(rerun_of);
        }
        push_keyset(&mut query, "id", page, true);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn list_steps(&self, scope: OrgScope, run_id: Uuid) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            step_columns!(),
            " FROM workflow_steps WHERE run_id = $1 AND org_id = $2 ORDER BY seq"
        ))
        .bind(run_id)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    async fn list_scoped_steps(
        &self,
        scope: OrgScope,
        run_id: Uuid,
        prefixes: &[String],
    ) -> Result<Vec<StepRecord>, StoreError> {
        let mut query = QueryBuilder::<Db>::new(concat!("SELECT ", step_columns!(), " FROM workflow_steps WHERE run_id = "));
        query.push_bind(run_id).push(" AND org_id = ").push_bind(scope.org_id().0);
        // `substr` rather than `LIKE`: step ids may hold `_`, which `LIKE` reads as a wildcard.
        query.push(" AND (step_key NOT LIKE '%/%'");
        for prefix in prefixes {
            query.push(" OR substr(step_key, 1, ").push_bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX)).push(") = ").push_bind(prefix);
        }
        query.push(") ORDER BY seq");
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(step_from_row).collect()
    }

    /// Ordered by start time, then step key and attempt.
    async fn list_attempts(&self, scope: OrgScope, run_id: Uuid) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM workflow_step_attempts WHERE run_id = $1 AND org_id = $2 ORDER BY started_at, step_key, attempt"
        ))
        .bind(run_id)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// Ordered by attempt number; continues after `after_attempt`.
    async fn list_step_attempts(
        &self,
        scope: OrgScope,
        run_id: Uuid,
        step_key: &str,
        after_attempt: Option<i32>,
        limit: u32,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM workflow_step_attempts WHERE run_id = $1 AND org_id = $2 AND step_key = $3 AND attempt > $4 \
             ORDER BY attempt LIMIT $5"
        ))
        .bind(run_id)
        .bind(scope.org_id().0)
        .bind(step_key)
        .bind(after_attempt.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// `None` filters mean any workflow / any key.
    async fn count_active_runs(
        &self,
        scope: OrgScope,
        workflow_id: Option<Uuid>,
        concurrency_key: Option<&str>,
    ) -> Result<i64, StoreError> {
        // The `status` condition is spelled as in the partial indexes' predicate, so they apply.
        let mut query = QueryBuilder::<Db>::new(
            "SELECT COUNT(*) FROM workflow_runs WHERE status NOT IN ('completed', 'failed', 'cancelled') \
             AND org_id = ",
        );
        query.push_bind(scope.org_id().0);
        if let Some(workflow_id) = workflow_id {
            query.push(" AND workflow_id = ").push_bind(workflow_id);
        }
        if let Some(key) = concurrency_key {
            query.push(" AND concurrency_key = ").push_bind(key);
        }
        let count: i64 = query.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(count)
    }

    async fn claim_steps(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StepRecord>, StoreError> {
        self.claim_queued_steps(owner, now, lease_until, limit).await
    }

    async fn heartbeat(
        &self,
        owner: &str,
        leases: &[(Uuid, String, i32)],
        lease_until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.extend_leases(owner, leases, lease_until).await
    }

    async fn commit_and_claim(&self, transitions: &[Transition]) -> Result<Vec<Committed>, StoreError> {
        self.group_commit(transitions).await
    }

    async fn due_waiting_steps(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            step_columns!(),
            " FROM workflow_steps WHERE status = 'waiting' AND wake_at <= $1 ORDER BY wake_at LIMIT $2"
        ))
        .bind(at(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    /// `->>` reads the memo on both dialects (SQLite's JSON text, PostgreSQL's `jsonb`).
    async fn runs_waiting_for_event(&self, scope: OrgScope, event_type: &str) -> Result<Vec<Uuid>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT run_id FROM workflow_steps WHERE org_id = $1 AND status = 'waiting' \
             AND output ->> 'waiting_for' = 'event' AND output ->> 'event_type' = $2",
        )
        .bind(scope.org_id().0)
        .bind(event_type)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| row.try_get("run_id")).collect::<Result<_, _>>()?)
    }

    /// In creation order.
    async fn waiting_steps(&self, scope: OrgScope, run_id: Uuid) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            step_columns!(),
            " FROM workflow_steps WHERE run_id = $1 AND org_id = $2 AND status = 'waiting' ORDER BY seq"
        ))
        .bind(run_id)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(step_from_row).collect()
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.next_queue_due().await
    }

    async fn queue_depth(&self, now: DateTime<Utc>) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        self.ready_queue_depth(now).await
    }
}
