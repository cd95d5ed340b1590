//! The service's own rayon pool for model and index work. Blocking calls (embedding,
//! chunking, searching) run in `spawn_blocking` inside this pool, so the services that share
//! a process under `ragmesh up` cannot starve each other and the async runtime never blocks.
//! Work that takes a collection's write lock (ingest, delete, backup, restore) runs on a
//! blocking thread outside the pool and sends only its chunking and embedding into it
//! ([`ComputePool::run_writer`]); the graph linking of an ingest then uses rayon's global
//! pool.

use crate::RetrievalError;
use std::sync::Arc;

#[derive(Clone)]
pub struct ComputePool {
    pool: Arc<rayon::ThreadPool>,
}

impl std::fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePool")
            .field("threads", &self.threads())
            .finish()
    }
}

impl ComputePool {
    /// `threads` = 0 means one per core.
    pub fn new(threads: usize) -> Result<ComputePool, RetrievalError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("retrieval-{i}"))
            .build()
            .map_err(|e| RetrievalError::Pool(e.to_string()))?;
        Ok(ComputePool {
            pool: Arc::new(pool),
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
    /// pool; `work` runs its parallel parts (chunking, embedding) on the pool with
    /// `install`. A pool thread must never wait for a write lock: while it waits in a rayon
    /// join (the embedding's matrix products) it may pick up another pool job, and if that
    /// job waits for a write lock held further down the same stack, nothing runs again.
    pub async fn run_writer<T, F>(&self, work: F) -> Result<T, RetrievalError>
    where
        T: Send + 'static,
        F: FnOnce(&rayon::ThreadPool) -> Result<T, RetrievalError> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || work(&pool))
            .await
            .map_err(|e| RetrievalError::Worker(e.to_string()))?
    }
}
