// `AuditRepo`: the append-only audit log, read newest first per organization.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

fn audit_from_row(row: &DbRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        org_id: row.try_get::<Option<Uuid>, _>("org_id")?.map(OrgId),
        actor_id: row.try_get::<Option<Uuid>, _>("actor_id")?.map(UserId),
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        ip: row.try_get("ip")?,
        details: row.try_get::<Json<serde_json::Value>, _>("details")?.0,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl AuditRepo for SqlRepos {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Newest first (descending id, and ids are UUIDv7): `page.after` is the id of the last entry
    /// of the previous page, and the next page holds entries *older* than it. Platform-level
    /// entries (`org_id` NULL) are in no organization's list.
    async fn list_audit(
        &self,
        scope: OrgScope,
        action: Option<&str>,
        page: PageRequest,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT id, org_id, actor_id, action, target, ip, details, created_at FROM audit_log WHERE org_id = ",
        );
        query.push_bind(scope.org_id().0);
        if let Some(action) = action {
            query.push(" AND action = ").push_bind(action);
        }
        push_keyset(&mut query, "id", page, true);
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect()
    }
}
