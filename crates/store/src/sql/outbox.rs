// `OutboxRepo`: the transactional outbox, in `seq` order. The `cloudevent` column holds the whole
// event as CloudEvents 1.0 JSON; the other columns exist to be queried.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

const MARK_PUBLISHED_CHUNK: usize = 1000;

fn outbox_from_row(row: &DbRow) -> Result<OutboxRecord, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let cloudevent: Json<serde_json::Value> = row.try_get("cloudevent")?;
    let event = SystemEvent::from_cloudevent(&cloudevent.0)
        .ok_or_else(|| StoreError::Corrupt(format!("outbox row {seq} is not a cloudevent")))?;
    Ok(OutboxRecord { seq, event, published_at: row.try_get("published_at")? })
}

#[async_trait]
impl OutboxRepo for SqlRepos {
    /// All or nothing: the events are appended in one transaction.
    async fn append_events(&self, events: &[SystemEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for event in events {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn fetch_unpublished(&self, after_seq: i64, limit: u32) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, cloudevent, published_at FROM outbox WHERE published_at IS NULL AND seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Keeps the first `published_at` of an event marked twice.
    async fn mark_published(&self, seqs: &[i64], at_time: DateTime<Utc>) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        // Chunks stay far below both dialects' limit on bound parameters per statement.
        for chunk in seqs.chunks(MARK_PUBLISHED_CHUNK) {
            let mut query = QueryBuilder::<Db>::new("UPDATE outbox SET published_at = ");
            query.push_bind(at(at_time)).push(" WHERE published_at IS NULL AND seq IN (");
            let mut list = query.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            query.push(")");
            query.build().execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn events_by_correlation(&self, correlation_id: Uuid, limit: u32) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, cloudevent, published_at FROM outbox WHERE correlation_id = $1 ORDER BY seq LIMIT $2",
        )
        .bind(correlation_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }
}
