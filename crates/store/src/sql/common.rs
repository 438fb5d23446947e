// Shared by every repository of one dialect: the handle, write transactions, and the writing of
// `Effects` (outbox events and audit entries) inside the transaction of the change they announce.
// Included by `sql/mod.rs` into `sqlite` and `postgres`.

/// Every repository trait of this dialect, over one pool.
pub(crate) struct SqlRepos {
    pool: sqlx::Pool<Db>,
    /// Where write transactions start. On SQLite a pool of one connection: writers then queue in
    /// the pool, in order and without sleeping, instead of in SQLite's busy handler, which retries
    /// a contended `BEGIN IMMEDIATE` after sleeps of 1, 2, 5, 10… ms. On PostgreSQL, `pool`.
    writer: sqlx::Pool<Db>,
}

type Tx = sqlx::Transaction<'static, Db>;
/// The connection under a transaction or a pool handle: what the batch statements run on.
type Conn = <Db as sqlx::Database>::Connection;

impl SqlRepos {
    pub(crate) fn new(pool: sqlx::Pool<Db>, writer: sqlx::Pool<Db>) -> Self {
        Self { pool, writer }
    }

    /// Starts a transaction that will write.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up front, so a transaction that
    /// reads before it writes waits on `busy_timeout` instead of failing with `SQLITE_BUSY` when
    /// another writer got in between.
    ///
    /// The begin runs in a task of its own, so a caller cancelled while it is under way (a client
    /// hanging up mid-request) cannot strand the connection inside a transaction: sqlx leaves a
    /// window between the `BEGIN` being acknowledged and the `Transaction` guard existing, and a
    /// connection lost in that window went back to the pool holding SQLite's write lock, wedging
    /// every later write. Finished in its own task, the guard always exists and its drop rolls
    /// back.
    async fn begin_write(&self) -> Result<Tx, StoreError> {
        let pool = self.writer.clone();
        let begin = tokio::spawn(async move {
            match DIALECT {
                Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
                Dialect::Postgres => pool.begin().await,
            }
        });
        match begin.await {
            Ok(tx) => Ok(tx?),
            Err(join) => Err(StoreError::Unavailable(format!("write transaction did not start: {join}"))),
        }
    }
}

/// Writes what a mutation announces, in the caller's transaction.
async fn write_effects(tx: &mut Tx, effects: &Effects) -> Result<(), StoreError> {
    insert_events(tx, &effects.events.iter().collect::<Vec<_>>()).await?;
    for entry in &effects.audit {
        insert_audit(tx, entry).await?;
    }
    Ok(())
}

async fn insert_event(tx: &mut Tx, event: &SystemEvent) -> Result<(), StoreError> {
    insert_events(tx, &[event]).await
}

async fn insert_audit(tx: &mut Tx, entry: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, org_id, actor_id, action, target, ip, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.id)
    .bind(entry.org_id.map(|id| id.0))
    .bind(entry.actor_id.map(|id| id.0))
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.ip)
    .bind(Json(&entry.details))
    .bind(at(entry.created_at))
    .execute(&mut **tx)
    .await
    .map_err(map_write_error)?;
    Ok(())
}

/// Appends `AND <column> > after` (or `<` when `descending`) and the order and limit of a keyset
/// page to a query whose `WHERE` clause is already open. `column` is an identifier from our own
/// code (never a value), hence `'static`.
fn push_keyset(query: &mut QueryBuilder<'_, Db>, column: &'static str, page: PageRequest, descending: bool) {
    if let Some(after) = page.after {
        query.push(format_args!(" AND {column} {} ", if descending { "<" } else { ">" }));
        query.push_bind(after);
    }
    query.push(format_args!(" ORDER BY {column} {} LIMIT ", if descending { "DESC" } else { "ASC" }));
    query.push_bind(page_limit(page));
}

/// How many columns a comma-separated column list (a `*_columns!` literal) names.
const fn column_count(list: &str) -> usize {
    let bytes = list.as_bytes();
    let (mut count, mut i) = (1, 0);
    while i < bytes.len() {
        if bytes[i] == b',' {
            count += 1;
        }
        i += 1;
    }
    count
}
