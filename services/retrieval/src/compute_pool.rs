//! The service's own rayon pools for model and index work, one for queries and one for
//! writes. Blocking calls (embedding, chunking, searching) run in `spawn_blocking` inside a
//! pool, so the services that share a process under `ragmesh up` cannot starve each other and
//! the async runtime never blocks.
//!
//! Work that takes a collection's write lock (ingest, delete, backup, restore) runs on a
//! blocking thread outside the pools and sends only its chunking and embedding into the
//! **write pool** ([`ComputePool::run_writer`]); the graph linking of an ingest then uses
//! rayon's global pool. Queries use the **query pool** ([`ComputePool::run`]). One shared pool
//! let a query wait for a whole ingest batch: rayon workers run their own and stolen tasks
//! before injected jobs, and a batch's matrix products always have tasks left, so a query's
//! embedding sat in the injector for up to 12.8 s (`cargo bench --bench ingest_contention`).
//! With two pools the OS shares the cores between their threads instead.

use crate::RetrievalError;
use std::sync::Arc;

#[derive(Clone)]
pub struct ComputePool {
    pool: Arc<rayon::ThreadPool>,
    writes: Arc<rayon::ThreadPool>,
}

impl std::fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePool")
            .field("threads", &self.threads())
            .finish()
    }
}

impl ComputePool {
    /// Two pools of `threads` each; 0 means one per core.
    pub fn new(threads: usize) -> Result<ComputePool, RetrievalError> {
        let build = |name: &'static str| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("{name}-{i}"))
                .build()
                .map(Arc::new)
                .map_err(|e| RetrievalError::Pool(e.to_string()))
        };
        Ok(ComputePool {
            pool: build("retrieval")?,
            writes: build("retrieval-write")?,
        })
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `work` on the pool without blocking the async runtime.
    pub async fn run<T, F>(&self, work: F) -> Result<T, RetrievalError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, RetrievalError> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || pool.install(work))
            .await
            .map_err(|e| RetrievalError::Worker(e.to_string()))?
    }

    /// Runs `work`, which takes a collection's write lock, on a blocking thread outside the
    /// pools; `work` runs its parallel parts (chunking, embedding) on the write pool with
    /// `install`. A pool thread must never wait for a write lock: while it waits in a rayon
    /// join (the embedding's matrix products) it may pick up another pool job, and if that
    /// job waits for a write lock held further down the same stack, nothing runs again.
    pub async fn run_writer<T, F>(&self, work: F) -> Result<T, RetrievalError>
    where
        T: Send + 'static,
        F: FnOnce(&rayon::ThreadPool) -> Result<T, RetrievalError> + Send + 'static,
    {
        let pool = Arc::clone(&self.writes);
        tokio::task::spawn_blocking(move || work(&pool))
            .await
            .map_err(|e| RetrievalError::Worker(e.to_string()))?
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Every write thread blocked (as a long ingest batch keeps them all busy): a query must
    /// still run. With one shared pool it waited for the write to finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_runs_while_every_write_thread_is_busy() {
        let pools = ComputePool::new(2).unwrap();
        let (release, hold) = mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let (started, busy) = mpsc::channel::<()>();
        let started = Arc::new(Mutex::new(started));
        let writer = pools.clone();
        let write = tokio::spawn(async move {
            writer
                .run_writer(move |writes| {
                    writes.broadcast(|_| {
                        started.lock().send(()).unwrap();
                        // Bounded, so a broken pool fails the test instead of hanging it.
                        let _ = hold.lock().recv_timeout(Duration::from_secs(60));
                    });
                    Ok(())
                })
                .await
        });
        for _ in 0..2 {
            busy.recv_timeout(Duration::from_secs(30)).unwrap();
        }
        let query = tokio::time::timeout(Duration::from_secs(30), pools.run(|| Ok(42))).await;
        release.send(()).unwrap();
        release.send(()).unwrap();
        assert_eq!(
            query.expect("the query waited for the write pool").unwrap(),
            42
        );
        write.await.unwrap().unwrap();
    }
}
