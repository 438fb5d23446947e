// `ProviderRepo`: LLM providers of an organization (`ai_providers`).
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// The columns `provider_from_row` reads. NUMERIC is read as a double: sqlx has no decimal type here.
macro_rules! provider_columns {
    () => {
        "id, org_id, name, provider_type, endpoint_url, api_key_encrypted, is_active, \
         CAST(cost_per_token AS DOUBLE PRECISION) AS cost_per_token, rate_limit_rpm, created_at"
    };
}

fn provider_from_row(row: &DbRow) -> Result<AiProvider, StoreError> {
    Ok(AiProvider {
        id: row.try_get("id")?,
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        provider_type: row.try_get("provider_type")?,
        endpoint_url: row.try_get("endpoint_url")?,
        api_key_encrypted: row.try_get("api_key_encrypted")?,
        is_active: row.try_get("is_active")?,
        cost_per_token: row.try_get("cost_per_token")?,
        rate_limit_rpm: row.try_get("rate_limit_rpm")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl ProviderRepo for SqlRepos {
    async fn create_provider(&self, scope: OrgScope, provider: &AiProvider, effects: &Effects) -> Result<(), StoreError> {
        if provider.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO ai_providers (id, org_id, name, provider_type, endpoint_url, api_key_encrypted, is_active, \
             cost_per_token, rate_limit_rpm, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(provider.id)
        .bind(provider.org_id.0)
        .bind(&provider.name)
        .bind(&provider.provider_type)
        .bind(&provider.endpoint_url)
        .bind(&provider.api_key_encrypted)
        .bind(provider.is_active)
        .bind(provider.cost_per_token)
        .bind(provider.rate_limit_rpm)
        .bind(at(provider.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_provider(&self, scope: OrgScope, id: Uuid) -> Result<Option<AiProvider>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", provider_columns!(), " FROM ai_providers WHERE id = $1 AND org_id = $2"))
            .bind(id)
            .bind(scope.org_id().0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(provider_from_row).transpose()
    }

    async fn list_providers(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<AiProvider>, StoreError> {
        let mut query =
            QueryBuilder::<Db>::new(concat!("SELECT ", provider_columns!(), " FROM ai_providers WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page_limit(page));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(provider_from_row).collect()
    }

    async fn delete_provider(&self, scope: OrgScope, id: Uuid, effects: &Effects) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM ai_providers WHERE id = $1 AND org_id = $2")
            .bind(id)
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
}
