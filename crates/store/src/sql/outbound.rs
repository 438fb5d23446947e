// `OutboundRepo`: encrypted workflow secrets, workflow variables and egress settings of an
// organization (`workflow_secrets`, `workflow_variables`, `org_egress_settings`). Included by `sql/mod.rs` into `sqlite` and `postgres`.

macro_rules! secret_columns {
    () => {
        "id, org_id, name, value_encrypted, created_by, created_at, updated_at"
    };
}

macro_rules! variable_columns {
    () => {
        "id, org_id, name, value, created_by, created_at, updated_at"
    };
}

fn variable_from_row(row: &DbRow) -> Result<VariableRecord, StoreError> {
    Ok(VariableRecord {
        id: row.try_get("id")?,
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        value: row.try_get::<Json<serde_json::Value>, _>("value")?.0,
        created_by: row.try_get::<Option<Uuid>, _>("created_by")?.map(UserId),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn secret_from_row(row: &DbRow) -> Result<SecretRecord, StoreError> {
    Ok(SecretRecord {
        id: row.try_get("id")?,
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        value_encrypted: row.try_get("value_encrypted")?,
        created_by: row.try_get::<Option<Uuid>, _>("created_by")?.map(UserId),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl SqlRepos {
    /// Deletes an organization's named row by `sql` (`… WHERE org_id = $1 AND name = $2`) and
    /// writes `effects`, in one transaction; false, with nothing written, when there was none.
    async fn delete_named(
        &self,
        sql: &'static str,
        scope: OrgScope,
        name: &str,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(sql).bind(scope.org_id().0).bind(name).execute(&mut *tx).await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl OutboundRepo for SqlRepos {
    async fn create_secret(&self, scope: OrgScope, secret: &SecretRecord, effects: &Effects) -> Result<(), StoreError> {
        if secret.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO workflow_secrets (id, org_id, name, value_encrypted, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(secret.id)
        .bind(secret.org_id.0)
        .bind(&secret.name)
        .bind(&secret.value_encrypted)
        .bind(secret.created_by.map(|u| u.0))
        .bind(at(secret.created_at))
        .bind(at(secret.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_secret(
        &self,
        scope: OrgScope,
        name: &str,
        value_encrypted: &str,
        updated_at: DateTime<Utc>,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE workflow_secrets SET value_encrypted = $1, updated_at = $2 WHERE org_id = $3 AND name = $4",
        )
        .bind(value_encrypted)
        .bind(at(updated_at))
        .bind(scope.org_id().0)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn get_secret(&self, scope: OrgScope, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", secret_columns!(), " FROM workflow_secrets WHERE org_id = $1 AND name = $2"))
            .bind(scope.org_id().0)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(secret_from_row).transpose()
    }

    async fn list_secrets(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<SecretRecord>, StoreError> {
        let mut query = QueryBuilder::<Db>::new(concat!("SELECT ", secret_columns!(), " FROM workflow_secrets WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page_limit(page));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn secrets_by_name(&self, scope: OrgScope, names: &[String]) -> Result<Vec<SecretRecord>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Db>::new(concat!("SELECT ", secret_columns!(), " FROM workflow_secrets WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        query.push(" AND name IN (");
        let mut separated = query.separated(", ");
        for name in names {
            separated.push_bind(name);
        }
        query.push(")");
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn delete_secret(&self, scope: OrgScope, name: &str, effects: &Effects) -> Result<bool, StoreError> {
        self.delete_named("DELETE FROM workflow_secrets WHERE org_id = $1 AND name = $2", scope, name, effects).await
    }

    async fn get_egress_setting(&self, scope: OrgScope) -> Result<OrgEgressSetting, StoreError> {
        let row = sqlx::query("SELECT deny_private, updated_at FROM org_egress_settings WHERE org_id = $1")
            .bind(scope.org_id().0)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(OrgEgressSetting {
                deny_private: row.try_get("deny_private")?,
                updated_at: Some(row.try_get("updated_at")?),
            }),
            None => Ok(OrgEgressSetting::default()),
        }
    }

    async fn set_egress_setting(
        &self,
        scope: OrgScope,
        deny_private: Option<bool>,
        updated_at: DateTime<Utc>,
        effects: &Effects,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO org_egress_settings (org_id, deny_private, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id) DO UPDATE SET deny_private = $2, updated_at = $3",
        )
        .bind(scope.org_id().0)
        .bind(deny_private)
        .bind(at(updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_variable(
        &self,
        scope: OrgScope,
        variable: &VariableRecord,
        effects: &Effects,
    ) -> Result<VariableRecord, StoreError> {
        if variable.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "INSERT INTO workflow_variables (id, org_id, name, value, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (org_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
             RETURNING ",
            variable_columns!()
        ))
        .bind(variable.id)
        .bind(variable.org_id.0)
        .bind(&variable.name)
        .bind(Json(&variable.value))
        .bind(variable.created_by.map(|u| u.0))
        .bind(at(variable.created_at))
        .bind(at(variable.updated_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_write_error)?;
        let stored = variable_from_row(&row)?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn get_variable(&self, scope: OrgScope, name: &str) -> Result<Option<VariableRecord>, StoreError> {
        let row =
            sqlx::query(concat!("SELECT ", variable_columns!(), " FROM workflow_variables WHERE org_id = $1 AND name = $2"))
                .bind(scope.org_id().0)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(variable_from_row).transpose()
    }

    async fn list_variables(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<VariableRecord>, StoreError> {
        let mut query =
            QueryBuilder::<Db>::new(concat!("SELECT ", variable_columns!(), " FROM workflow_variables WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page_limit(page));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(variable_from_row).collect()
    }

    async fn all_variables(&self, scope: OrgScope) -> Result<Vec<VariableRecord>, StoreError> {
        let rows =
            sqlx::query(concat!("SELECT ", variable_columns!(), " FROM workflow_variables WHERE org_id = $1 ORDER BY name"))
                .bind(scope.org_id().0)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(variable_from_row).collect()
    }

    async fn count_variables(&self, scope: OrgScope) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM workflow_variables WHERE org_id = $1")
            .bind(scope.org_id().0)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn delete_variable(&self, scope: OrgScope, name: &str, effects: &Effects) -> Result<bool, StoreError> {
        self.delete_named("DELETE FROM workflow_variables WHERE org_id = $1 AND name = $2", scope, name, effects).await
    }
}
