// `UserRepo`: users and their per-system access grants (`users`, `user_system_access`).
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// The columns `user_from_row` reads, as a literal for `concat!`.
macro_rules! user_columns {
    () => {
        "id, org_id, email, username, password_hash, is_active, roles, mfa_secret, mfa_enabled, \
         recovery_code_hashes, tokens_valid_after, created_at, updated_at"
    };
}

fn user_from_row(row: &DbRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        email: row.try_get("email")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        is_active: row.try_get("is_active")?,
        roles: row.try_get::<Json<Vec<String>>, _>("roles")?.0,
        mfa_secret: row.try_get("mfa_secret")?,
        mfa_enabled: row.try_get("mfa_enabled")?,
        recovery_code_hashes: row.try_get::<Json<Vec<String>>, _>("recovery_code_hashes")?.0,
        tokens_valid_after: row.try_get("tokens_valid_after")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn grant_from_row(row: &DbRow) -> Result<AccessGrant, StoreError> {
    let system: String = row.try_get("system_name")?;
    let level: String = row.try_get("access_level")?;
    Ok(AccessGrant {
        system: system.parse::<System>().map_err(|err| StoreError::Corrupt(err.to_string()))?,
        level: level.parse::<Level>().map_err(|err| StoreError::Corrupt(err.to_string()))?,
        resources: row.try_get::<Json<Vec<String>>, _>("resources")?.0,
        granted_at: row.try_get("granted_at")?,
        granted_by: row.try_get::<Option<Uuid>, _>("granted_by")?.map(UserId),
    })
}

/// Inserts or replaces the grant for `(user, grant.system)` if the user is in `org`; returns
/// whether a row was written. The scope check and the write are one statement.
async fn upsert_grant(tx: &mut Tx, org: OrgId, user: UserId, grant: &AccessGrant) -> Result<bool, StoreError> {
    // SQLite needs the `WHERE` on `INSERT … SELECT` to parse `ON CONFLICT` as the upsert clause.
    let result = sqlx::query(
        "INSERT INTO user_system_access (id, user_id, system_name, access_level, resources, granted_at, granted_by) \
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND org_id = $8) \
         ON CONFLICT (user_id, system_name) DO UPDATE SET access_level = excluded.access_level, \
         resources = excluded.resources, granted_at = excluded.granted_at, granted_by = excluded.granted_by",
    )
    .bind(Uuid::now_v7())
    .bind(user.0)
    .bind(grant.system.as_str())
    .bind(grant.level.as_str())
    .bind(Json(&grant.resources))
    .bind(grant.granted_at.map(at))
    .bind(grant.granted_by.map(|id| id.0))
    .bind(org.0)
    .execute(&mut **tx)
    .await
    .map_err(map_write_error)?;
    Ok(result.rows_affected() == 1)
}

#[async_trait]
impl UserRepo for SqlRepos {
    async fn create_user(
        &self,
        scope: OrgScope,
        user: &User,
        grants: &[AccessGrant],
        effects: &Effects,
    ) -> Result<(), StoreError> {
        if user.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, org_id, email, email_lower, username, username_lower, password_hash, is_active, \
             roles, mfa_secret, mfa_enabled, recovery_code_hashes, tokens_valid_after, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(user.id.0)
        .bind(user.org_id.0)
        .bind(&user.email)
        .bind(user.email.to_lowercase())
        .bind(&user.username)
        .bind(user.username.to_lowercase())
        .bind(&user.password_hash)
        .bind(user.is_active)
        .bind(Json(&user.roles))
        .bind(&user.mfa_secret)
        .bind(user.mfa_enabled)
        .bind(Json(&user.recovery_code_hashes))
        .bind(user.tokens_valid_after.map(at))
        .bind(at(user.created_at))
        .bind(at(user.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        for grant in grants {
            upsert_grant(&mut tx, user.org_id, user.id, grant).await?;
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_user(&self, scope: OrgScope, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1 AND org_id = $2"))
            .bind(id.0)
            .bind(scope.org_id().0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// An exact email match wins over a username match (a username may look like an email).
    async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_lower = $1 OR username_lower = $1 \
             ORDER BY CASE WHEN email_lower = $1 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row = sqlx::query(sql).bind(login.to_lowercase()).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<User>, StoreError> {
        let mut query = QueryBuilder::<Db>::new(concat!("SELECT ", user_columns!(), " FROM users WHERE org_id = "));
        query.push_bind(scope.org_id().0);
        push_keyset(&mut query, "id", page, false);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?;
        Ok(count)
    }

    /// `user.org_id` and `created_at` are not mutable; a `user` claiming another organization than
    /// the scope's is not in scope.
    async fn update_user(&self, scope: OrgScope, user: &User, effects: &Effects) -> Result<bool, StoreError> {
        if user.org_id != scope.org_id() {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE users SET email = $1, email_lower = $2, username = $3, username_lower = $4, password_hash = $5, \
             is_active = $6, roles = $7, mfa_secret = $8, mfa_enabled = $9, recovery_code_hashes = $10, \
             tokens_valid_after = $11, updated_at = $12 WHERE id = $13 AND org_id = $14",
        )
        .bind(&user.email)
        .bind(user.email.to_lowercase())
        .bind(&user.username)
        .bind(user.username.to_lowercase())
        .bind(&user.password_hash)
        .bind(user.is_active)
        .bind(Json(&user.roles))
        .bind(&user.mfa_secret)
        .bind(user.mfa_enabled)
        .bind(Json(&user.recovery_code_hashes))
        .bind(user.tokens_valid_after.map(at))
        .bind(at(user.updated_at))
        .bind(user.id.0)
        .bind(scope.org_id().0)
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        if result.rows_affected() != 1 {
            // Nothing changed, so nothing is announced: dropping `tx` rolls it back.
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_access(
        &self,
        scope: OrgScope,
        user: UserId,
        grant: &AccessGrant,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if !upsert_grant(&mut tx, scope.org_id(), user, grant).await? {
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_access(
        &self,
        scope: OrgScope,
        user: UserId,
        system: System,
        effects: &Effects,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "DELETE FROM user_system_access WHERE user_id = $1 AND system_name = $2 \
             AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND org_id = $3)",
        )
        .bind(user.0)
        .bind(system.as_str())
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

    /// Grants ordered by system name.
    async fn list_access(&self, scope: OrgScope, user: UserId) -> Result<Vec<AccessGrant>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.system_name, a.access_level, a.resources, a.granted_at, a.granted_by \
             FROM user_system_access a JOIN users u ON u.id = a.user_id \
             WHERE a.user_id = $1 AND u.org_id = $2 ORDER BY a.system_name",
        )
        .bind(user.0)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }
}
