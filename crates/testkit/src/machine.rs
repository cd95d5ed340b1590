//! The machine's share a test takes before it starts processes. Every end-to-end test runs in
//! one test binary, whose tests the harness runs in parallel threads (as many as the machine
//! has cores); tests that start several model-loading processes would then starve each other
//! and miss their time bounds. So a test that starts processes first takes one of [`SLOTS`]
//! slots ([`shared`]), and one that is heavy or asserts on timing takes all of them
//! ([`alone`]) and so runs by itself. Waiting is first come, first served: a test waiting to
//! run alone is not overtaken by later shared ones.

use std::sync::LazyLock;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How many shared tests may run at once: two, as on the two-core machines CI runs on.
pub const SLOTS: u32 = 2;

static MACHINE: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(SLOTS as usize));

/// Held while a test runs; dropping it gives the share back.
#[must_use = "the share is given back when this is dropped"]
pub struct MachineShare {
    _permit: SemaphorePermit<'static>,
}

/// One slot: the test may run beside one other shared test.
pub async fn shared() -> MachineShare {
    take(1).await
}

/// Every slot: the test runs with no other process-starting test beside it.
pub async fn alone() -> MachineShare {
    take(SLOTS).await
}

/// [`shared`] for a test that is not async.
pub fn shared_blocking() -> MachineShare {
    futures::executor::block_on(take(1))
}

/// [`alone`] for a test that is not async.
pub fn alone_blocking() -> MachineShare {
    futures::executor::block_on(take(SLOTS))
}

async fn take(slots: u32) -> MachineShare {
    let permit = MACHINE
        .acquire_many(slots)
        .await
        .unwrap_or_else(|e| panic!("the machine semaphore is never closed: {e}"));
    MachineShare { _permit: permit }
}
