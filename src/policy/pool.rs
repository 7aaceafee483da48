//! The policy pool: hooks run on a few dedicated threads, off the async runtime, and each
//! platform may use at most its share of those threads at once, so one platform's slow
//! policy delays only its own requests.
//!
//! A call first waits (asynchronously, in order) for one of its platform's permits, then
//! for a place in the bounded queue; a worker thread runs it and hands back the result.
//! Permits are released when the call finishes, even when the caller stopped waiting.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, Semaphore};

/// How many platforms' shares are remembered before idle ones are forgotten.
const MAX_TRACKED_PLATFORMS: usize = 10_000;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The sizes of a [`PolicyPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Worker threads running hooks.
    pub threads: usize,
    /// Hook calls one platform may run at once.
    pub calls_per_platform: usize,
    /// Calls admitted to the queue (waiting or running) across all platforms.
    pub queued_calls: usize,
}

/// The pool is gone: the server is stopping, or its threads could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the policy pool is not running")]
pub struct PoolClosed;

pub struct PolicyPool {
    jobs: SyncSender<Job>,
    size: PoolSize,
    queued: Arc<Semaphore>,
    shares: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for PolicyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyPool")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl PolicyPool {
    /// Starts the worker threads; they stop when the pool is dropped.
    pub fn start(size: PoolSize) -> std::io::Result<PolicyPool> {
        let size = PoolSize {
            threads: size.threads.max(1),
            calls_per_platform: size.calls_per_platform.max(1),
            queued_calls: size.queued_calls.max(1),
        };
        let (jobs, receiver) = mpsc::sync_channel::<Job>(size.queued_calls);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..size.threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("policy-{index}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(PolicyPool {
            jobs,
            size,
            queued: Arc::new(Semaphore::new(size.queued_calls)),
            shares: Mutex::new(HashMap::new()),
        })
    }

    pub fn size(&self) -> PoolSize {
        self.size
    }

    /// Runs `call` on a worker thread within `platform`'s share, and waits for its result
    /// without holding the async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        platform: &str,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolClosed> {
        let share = self.share_of(platform);
        let platform_permit = share.acquire_owned().await.map_err(|_| PoolClosed)?;
        let queue_permit = Arc::clone(&self.queued)
            .acquire_owned()
            .await
            .map_err(|_| PoolClosed)?;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = call();
            drop(queue_permit);
            drop(platform_permit);
            // The caller may have stopped waiting; the result is then not needed.
            let _ = answer.send(result);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            // The queue holds at most as many jobs as there are queue permits, so it is
            // never full; a full or closed queue both mean the pool cannot take work.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return Err(PoolClosed),
        }
        answered.await.map_err(|_| PoolClosed)
    }

    /// The semaphore holding `platform`'s share of the threads.
    fn share_of(&self, platform: &str) -> Arc<Semaphore> {
        let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(share) = shares.get(platform) {
            return Arc::clone(share);
        }
        if shares.len() >= MAX_TRACKED_PLATFORMS {
            // Forget the platforms with no call running or waiting.
            let idle = self.size.calls_per_platform;
            shares.retain(|_, share| share.available_permits() < idle);
        }
        let share = Arc::new(Semaphore::new(self.size.calls_per_platform));
        shares.insert(platform.to_owned(), Arc::clone(&share));
        share
    }
}

/// A worker: runs jobs until the pool is dropped. A panicking hook is contained to its
/// job (its caller sees the pool answer nothing), and the worker carries on.
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return;
        };
        if catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!(target: "tollgate::policy", "a policy call panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn pool(threads: usize, calls_per_platform: usize) -> PolicyPool {
        PolicyPool::start(PoolSize {
            threads,
            calls_per_platform,
            queued_calls: 64,
        })
        .expect("pool")
    }

    #[tokio::test]
    async fn a_call_runs_on_a_worker_thread() {
        let pool = pool(2, 1);
        let name = pool
            .run("plat_a", || {
                std::thread::current().name().map(str::to_owned)
            })
            .await
            .expect("ran");
        assert!(name.is_some_and(|name| name.starts_with("policy-")));
    }

    #[tokio::test]
    async fn a_platform_at_its_share_does_not_hold_up_another() {
        let pool = Arc::new(pool(2, 1));
        let slow = |pool: Arc<PolicyPool>| async move {
            pool.run("plat_slow", || {
                std::thread::sleep(Duration::from_millis(200))
            })
            .await
        };
        let first = tokio::spawn(slow(Arc::clone(&pool)));
        let second = tokio::spawn(slow(Arc::clone(&pool)));
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.share_of("plat_slow").available_permits() > 0 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        pool.run("plat_fast", || 7).await.expect("ran");
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_millis(150),
            "the other platform waited {waited:?}"
        );
        first.await.expect("joined").expect("ran");
        second.await.expect("joined").expect("ran");
    }

    #[tokio::test]
    async fn a_panicking_call_leaves_the_pool_working() {
        let pool = pool(1, 1);
        let panicked = pool.run("plat_a", || panic!("boom")).await;
        assert_eq!(panicked, Err::<(), _>(PoolClosed));
        assert_eq!(pool.run("plat_a", || 3).await, Ok(3));
    }
}
