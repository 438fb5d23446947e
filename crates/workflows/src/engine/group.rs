//! A group-commit queue: callers queue items and wait until they are durable; one task writes
//! whatever queued meanwhile (up to a batch) in one call and answers each caller. One fsync'd
//! commit costs ~0.13 ms on SQLite and ~0.21 ms on PostgreSQL here, so batching across concurrent
//! callers is what lets throughput grow with them. When idle, a lone item is written at once.

use std::future::Future;

use auterity_store::StoreError;
use tokio::sync::{mpsc, oneshot};

type Reply<R> = oneshot::Sender<Result<R, String>>;

pub struct GroupQueue<T, R> {
    sender: mpsc::Sender<(T, Reply<R>)>,
}

impl<T, R> Clone for GroupQueue<T, R> {
    fn clone(&self) -> Self {
        Self { sender: self.sender.clone() }
    }
}

impl<T: Send + 'static, R: Send + 'static> GroupQueue<T, R> {
    /// Starts the writing task. `write` gets each batch (at most `max_batch` items, in queue
    /// order) and answers one result per item, in the same order. The histograms
    /// `auterity_workflow_{name}_batch_size` and `auterity_workflow_{name}_seconds` record each
    /// batch's size and how long its write took.
    pub fn start<F, Fut>(max_batch: usize, name: &'static str, mut write: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, StoreError>> + Send,
    {
        let (sender, mut receiver) = mpsc::channel::<(T, Reply<R>)>(4096);
        let sizes = metrics::histogram!(format!("auterity_workflow_{name}_batch_size"));
        let durations = metrics::histogram!(format!("auterity_workflow_{name}_seconds"));
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while batch.len() < max_batch {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (items, replies): (Vec<T>, Vec<Reply<R>>) = batch.into_iter().unzip();
                sizes.record(items.len() as f64);
                let count = items.len();
                let started = std::time::Instant::now();
                let written = write(items).await;
                durations.record(started.elapsed().as_secs_f64());
                match written {
                    Ok(results) => {
                        let mut results = results.into_iter();
                        for reply in replies {
                            let _ = reply.send(results.next().ok_or_else(|| "the write answered too few".to_owned()));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, batch = count, "group commit failed");
                        for reply in replies {
                            let _ = reply.send(Err(error.to_string()));
                        }
                    }
                }
            }
        });
        Self { sender }
    }

    /// Queues `item` and waits for its result.
    pub async fn submit(&self, item: T) -> Result<R, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send((item, reply)).await.map_err(|_| StoreError::Unavailable("group commit stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("group commit stopped".into()))?
            .map_err(StoreError::Unavailable)
    }
}
