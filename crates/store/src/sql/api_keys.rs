// `ApiKeyRepo`: API keys, found by their public prefix, owned by a user of an organization.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// The columns `api_key_from_row` reads, as a literal for `concat!`.
macro_rules! api_key_columns {
    () => {
        "id, org_id, user_id, name, prefix, secret_hash, systems, created_at, expires_at, last_used_at"
    };
}

fn api_key_from_row(row: &DbRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: ApiKeyId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        user_id: UserId(row.try_get("user_id")?),
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        secret_hash: row.try_get("secret_hash")?,
        systems: row.try_get::<Json<Vec<AccessGrant>>, _>("systems")?.0,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

#[async_trait]
impl ApiKeyRepo for SqlRepos {
    /// `NotFound` when `key.org_id` is not the scope's organization or `key.user_id` is not a user
    /// of it; `Conflict` when the prefix is taken.
    async fn create_api_key(&self, scope: OrgScope, key: &ApiKey, effects: &Effects) -> Result<(), StoreError> {
        if key.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO api_keys (id, org_id, user_id, name, prefix, secret_hash, systems, created_at, expires_at, \
             last_used_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = $3 AND org_id = $2)",
        )
        .bind(key.id.0)
        .bind(key.org_id.0)
        .bind(key.user_id.0)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.secret_hash)
        .bind(Json(&key.systems))
        .bind(at(key.created_at))
        .bind(key.expires_at.map(at))
        .bind(key.last_used_at.map(at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::NotFound("user not in organization".to_owned()));
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn list_api_keys(
        &self,
        scope: OrgScope,
        user: Option<UserId>,
        page: PageRequest,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let mut query =
            QueryBuilder::<Db>::new(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        if let Some(user) = user {
            query.push(" AND user_id = ").push_bind(user.0);
        }
        push_keyset(&mut query, "id", page, false);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn get_api_key(&self, scope: OrgScope, id: ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE id = $1 AND org_id = $2"))
            .bind(id.0)
            .bind(scope.org_id().0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn delete_api_key(&self, scope: OrgScope, id: ApiKeyId, effects: &Effects) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM api_keys WHERE id = $1 AND org_id = $2")
            .bind(id.0)
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

    /// Never moves `last_used_at` backwards (concurrent requests may finish out of order).
    async fn touch_api_key(&self, id: ApiKeyId, at_time: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(at(at_time))
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
