// `OrgRepo`: organizations (platform level) and teams with their members (tenant-owned).
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

fn org_from_row(row: &DbRow) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrgId(row.try_get("id")?),
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        created_at: row.try_get("created_at")?,
    })
}

fn team_from_row(row: &DbRow) -> Result<Team, StoreError> {
    Ok(Team {
        id: TeamId(row.try_get("id")?),
        org_id: OrgId(row.try_get("org_id")?),
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl OrgRepo for SqlRepos {
    async fn create_org(&self, org: &Organization, effects: &Effects) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO organizations (id, name, slug, created_at) VALUES ($1, $2, $3, $4)")
            .bind(org.id.0)
            .bind(&org.name)
            .bind(&org.slug)
            .bind(at(org.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        let row = sqlx::query("SELECT id, name, slug, created_at FROM organizations WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn get_org_by_slug(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        let row = sqlx::query("SELECT id, name, slug, created_at FROM organizations WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    async fn list_orgs(&self, page: PageRequest) -> Result<Vec<Organization>, StoreError> {
        let mut query = QueryBuilder::<Db>::new("SELECT id, name, slug, created_at FROM organizations WHERE 1 = 1");
        push_keyset(&mut query, "id", page, false);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(org_from_row).collect()
    }

    async fn count_orgs(&self) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations").fetch_one(&self.pool).await?;
        Ok(count)
    }

    async fn create_team(&self, scope: OrgScope, team: &Team, effects: &Effects) -> Result<(), StoreError> {
        if team.org_id != scope.org_id() {
            return Err(StoreError::NotFound("organization not in scope".to_owned()));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO teams (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(team.id.0)
            .bind(team.org_id.0)
            .bind(&team.name)
            .bind(at(team.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_teams(&self, scope: OrgScope, page: PageRequest) -> Result<Vec<Team>, StoreError> {
        let mut query = QueryBuilder::<Db>::new("SELECT id, org_id, name, created_at FROM teams WHERE org_id = ");
        query.push_bind(scope.org_id().0);
        push_keyset(&mut query, "id", page, false);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(team_from_row).collect()
    }

    /// Adding an existing member again is a success (`true`), not a change.
    async fn add_team_member(&self, scope: OrgScope, team: TeamId, user: UserId) -> Result<bool, StoreError> {
        // One statement: both sides are checked against the scope in the same snapshot as the insert.
        let result = sqlx::query(
            "INSERT INTO team_members (team_id, user_id) SELECT $1, $2 \
             WHERE EXISTS (SELECT 1 FROM teams WHERE id = $1 AND org_id = $3) \
             AND EXISTS (SELECT 1 FROM users WHERE id = $2 AND org_id = $3) \
             ON CONFLICT (team_id, user_id) DO UPDATE SET user_id = excluded.user_id",
        )
        .bind(team.0)
        .bind(user.0)
        .bind(scope.org_id().0)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn remove_team_member(&self, scope: OrgScope, team: TeamId, user: UserId) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 \
             AND EXISTS (SELECT 1 FROM teams WHERE id = $1 AND org_id = $3)",
        )
        .bind(team.0)
        .bind(user.0)
        .bind(scope.org_id().0)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn list_team_members(&self, scope: OrgScope, team: TeamId) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT m.user_id FROM team_members m JOIN teams t ON t.id = m.team_id \
             WHERE m.team_id = $1 AND t.org_id = $2 ORDER BY m.user_id",
        )
        .bind(team.0)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    async fn list_user_teams(&self, scope: OrgScope, user: UserId) -> Result<Vec<TeamId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT m.team_id FROM team_members m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $1 AND t.org_id = $2 ORDER BY m.team_id",
        )
        .bind(user.0)
        .bind(scope.org_id().0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(TeamId).collect())
    }
}
