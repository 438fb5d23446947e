// `TokenRepo`: refresh tokens (stored hashed, rotated on use) and revoked access-token ids.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

fn refresh_token_from_row(row: &DbRow) -> Result<RefreshToken, StoreError> {
    Ok(RefreshToken {
        id: row.try_get("id")?,
        user_id: UserId(row.try_get("user_id")?),
        org_id: OrgId(row.try_get("org_id")?),
        family_id: row.try_get("family_id")?,
        token_hash: row.try_get("token_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn insert_refresh_token_in(tx: &mut Tx, token: &RefreshToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, org_id, family_id, token_hash, created_at, expires_at, used_at, \
         revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(token.id)
    .bind(token.user_id.0)
    .bind(token.org_id.0)
    .bind(token.family_id)
    .bind(&token.token_hash)
    .bind(at(token.created_at))
    .bind(at(token.expires_at))
    .bind(token.used_at.map(at))
    .bind(token.revoked_at.map(at))
    .execute(&mut **tx)
    .await
    .map_err(map_write_error)?;
    Ok(())
}

#[async_trait]
impl TokenRepo for SqlRepos {
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_refresh_token_in(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, org_id, family_id, token_hash, created_at, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(refresh_token_from_row).transpose()
    }

    /// Race-safe: of two concurrent rotations of one token, exactly one sees its conditional
    /// `UPDATE` affect a row (PostgreSQL re-checks the `WHERE` after waiting on the row lock;
    /// SQLite serialises writers), and only that one inserts its successor.
    async fn rotate_refresh_token(
        &self,
        old_id: Uuid,
        used_at: DateTime<Utc>,
        new: &RefreshToken,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(at(used_at))
        .bind(old_id)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(false);
        }
        insert_refresh_token_in(&mut tx, new).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_family(&self, family_id: Uuid, at_time: DateTime<Utc>) -> Result<u64, StoreError> {
        let result =
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
                .bind(at(at_time))
                .bind(family_id)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected())
    }

    async fn revoke_user_refresh_tokens(&self, user: UserId, at_time: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(at(at_time))
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    async fn revoke_jti(&self, jti: Uuid, user: UserId, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(user.0)
        .bind(at(expires_at))
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    /// Soonest-expiring first.
    async fn list_revoked_jtis(&self, now: DateTime<Utc>) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        let rows =
            sqlx::query("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1 ORDER BY expires_at, jti")
                .bind(at(now))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|row| Ok((row.try_get("jti")?, row.try_get("expires_at")?))).collect()
    }

    /// True while the revocation is recorded, i.e. until `purge_expired` passes its expiry.
    async fn is_jti_revoked(&self, jti: Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn list_user_cutoffs(&self, since: DateTime<Utc>) -> Result<Vec<(UserId, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query("SELECT id, tokens_valid_after FROM users WHERE tokens_valid_after > $1")
            .bind(at(since))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((UserId(row.try_get("id")?), row.try_get("tokens_valid_after")?)))
            .collect()
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let tokens =
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1").bind(at(now)).execute(&mut *tx).await?;
        let jtis =
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1").bind(at(now)).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(tokens.rows_affected() + jtis.rows_affected())
    }
}
