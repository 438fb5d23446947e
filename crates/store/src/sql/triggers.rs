// `TriggerRepo`: triggers declared by workflows, webhook lookups, due cron ticks, and the
// transaction that turns one delivery into one run (receipt + cron claim + run rows).
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// The columns `trigger_from_row` reads, in the order `replace_triggers` binds them.
macro_rules! trigger_columns {
    () => {
        "workflow_id, trigger_id, org_id, kind, version, config, hook_id, secret_encrypted, next_fire_at, \
         last_fired_at, created_at, updated_at"
    };
}

fn trigger_from_row(row: &DbRow) -> Result<TriggerRecord, StoreError> {
    Ok(TriggerRecord {
        workflow_id: row.try_get("workflow_id")?,
        trigger_id: row.try_get("trigger_id")?,
        org_id: OrgId(row.try_get("org_id")?),
        kind: row.try_get("kind")?,
        version: row.try_get("version")?,
        config: row.try_get::<Json<serde_json::Value>, _>("config")?.0,
        hook_id: row.try_get("hook_id")?,
        secret_encrypted: row.try_get("secret_encrypted")?,
        next_fire_at: row.try_get("next_fire_at")?,
        last_fired_at: row.try_get("last_fired_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// How many columns [`trigger_columns!`] names: where the columns after them start.
const TRIGGER_COLUMN_COUNT: usize = column_count(trigger_columns!());

/// The same columns qualified by the `t` alias, for joins with `workflows`.
macro_rules! trigger_columns_t {
    () => {
        "t.workflow_id, t.trigger_id, t.org_id, t.kind, t.version, t.config, t.hook_id, t.secret_encrypted, \
         t.next_fire_at, t.last_fired_at, t.created_at, t.updated_at"
    };
}

/// Conditional claim of a cron tick in the caller's transaction: true when this writer moved
/// `next_fire_at` from `advance.expected`.
async fn advance_cron(tx: &mut Tx, workflow_id: Uuid, trigger_id: &str, advance: &CronAdvance) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE workflow_triggers SET next_fire_at = $1, updated_at = $2 \
         WHERE workflow_id = $3 AND trigger_id = $4 AND next_fire_at = $5",
    )
    .bind(advance.next_fire_at.map(at))
    .bind(at(Utc::now()))
    .bind(workflow_id)
    .bind(trigger_id)
    .bind(at(advance.expected))
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[async_trait]
impl TriggerRepo for SqlRepos {
    async fn replace_triggers(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        version: i32,
        triggers: &[TriggerRecord],
    ) -> Result<bool, StoreError> {
        if triggers.iter().any(|t| t.workflow_id != workflow_id || t.org_id != scope.org_id() || t.version != version) {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        // PostgreSQL: the row lock orders this against a concurrent save's sync.
        let select_latest = match DIALECT {
            Dialect::Postgres => "SELECT latest_version FROM workflows WHERE id = $1 AND org_id = $2 FOR NO KEY UPDATE",
            Dialect::Sqlite => "SELECT latest_version FROM workflows WHERE id = $1 AND org_id = $2",
        };
        let latest: Option<i32> = sqlx::query_scalar(select_latest)
            .bind(workflow_id)
            .bind(scope.org_id().0)
            .fetch_optional(&mut *tx)
            .await?;
        if latest != Some(version) {
            return Ok(false);
        }
        let mut delete = QueryBuilder::<Db>::new("DELETE FROM workflow_triggers WHERE workflow_id = ");
        delete.push_bind(workflow_id);
        if !triggers.is_empty() {
            delete.push(" AND trigger_id NOT IN (");
            let mut ids = delete.separated(", ");
            for trigger in triggers {
                ids.push_bind(&trigger.trigger_id);
            }
            delete.push(")");
        }
        delete.build().execute(&mut *tx).await?;
        for t in triggers {
            sqlx::query(concat!(
                "INSERT INTO workflow_triggers (",
                trigger_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (workflow_id, trigger_id) DO UPDATE SET kind = excluded.kind, \
                 version = excluded.version, config = excluded.config, hook_id = excluded.hook_id, \
                 secret_encrypted = excluded.secret_encrypted, next_fire_at = excluded.next_fire_at, \
                 last_fired_at = excluded.last_fired_at, updated_at = excluded.updated_at"
            ))
            .bind(t.workflow_id)
            .bind(&t.trigger_id)
            .bind(t.org_id.0)
            .bind(&t.kind)
            .bind(t.version)
            .bind(Json(&t.config))
            .bind(t.hook_id)
            .bind(&t.secret_encrypted)
            .bind(t.next_fire_at.map(at))
            .bind(t.last_fired_at.map(at))
            .bind(at(t.created_at))
            .bind(at(t.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn list_triggers(&self, scope: OrgScope, workflow_id: Uuid) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            trigger_columns!(),
            " FROM workflow_triggers WHERE workflow_id = $1 AND org_id = $2 ORDER BY trigger_id"
        ))
        .bind(workflow_id)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn trigger_by_hook(&self, hook_id: Uuid) -> Result<Option<(TriggerRecord, WorkflowRecord)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            trigger_columns_t!(),
            ", ",
            workflow_columns_w!(),
            " FROM workflow_triggers t JOIN workflows w ON w.id = t.workflow_id AND w.org_id = t.org_id \
             WHERE t.hook_id = $1 AND w.is_active = $2"
        ))
        .bind(hook_id)
        .bind(true)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((trigger_from_row(&row)?, workflow_at(&row, TRIGGER_COLUMN_COUNT)?)))
    }

    async fn set_trigger_secret(
        &self,
        scope: OrgScope,
        workflow_id: Uuid,
        trigger_id: &str,
        secret_encrypted: &str,
        at_time: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE workflow_triggers SET secret_encrypted = $1, updated_at = $2 \
             WHERE workflow_id = $3 AND trigger_id = $4 AND org_id = $5 AND hook_id IS NOT NULL",
        )
        .bind(secret_encrypted)
        .bind(at(at_time))
        .bind(workflow_id)
        .bind(trigger_id)
        .bind(scope.org_id().0)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn event_triggers(&self, org: Option<OrgId>, event_type: &str) -> Result<Vec<TriggerRecord>, StoreError> {
        let mut query = QueryBuilder::<Db>::new(concat!(
            "SELECT ",
            trigger_columns_t!(),
            " FROM workflow_triggers t JOIN workflows w ON w.id = t.workflow_id WHERE t.kind = 'event' AND w.is_active = "
        ));
        query.push_bind(true);
        if let Some(org) = org {
            query.push(" AND t.org_id = ").push_bind(org.0);
        }
        query.push(" ORDER BY t.workflow_id, t.trigger_id");
        let rows = query.build().fetch_all(&self.pool).await?;
        let triggers: Vec<TriggerRecord> = rows.iter().map(trigger_from_row).collect::<Result<_, _>>()?;
        Ok(triggers
            .into_iter()
            .filter(|t| t.config.get("event_type").and_then(|v| v.as_str()) == Some(event_type))
            .collect())
    }

    async fn due_cron_triggers(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            trigger_columns_t!(),
            " FROM workflow_triggers t JOIN workflows w ON w.id = t.workflow_id \
             WHERE t.next_fire_at IS NOT NULL AND t.next_fire_at <= $1 AND w.is_active = $2 \
             ORDER BY t.next_fire_at LIMIT $3"
        ))
        .bind(at(now))
        .bind(true)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn next_cron_fire(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT t.next_fire_at FROM workflow_triggers t JOIN workflows w ON w.id = t.workflow_id \
             WHERE t.next_fire_at IS NOT NULL AND w.is_active = $1 ORDER BY t.next_fire_at LIMIT 1",
        )
        .bind(true)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => row.try_get("next_fire_at")?,
            None => None,
        })
    }

    async fn skip_cron_tick(
        &self,
        workflow_id: Uuid,
        trigger_id: &str,
        advance: &CronAdvance,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = advance_cron(&mut tx, workflow_id, trigger_id, advance).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn purge_receipts(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result =
            sqlx::query("DELETE FROM workflow_trigger_receipts WHERE expires_at IS NOT NULL AND expires_at < $1")
                .bind(at(now))
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected())
    }
}
