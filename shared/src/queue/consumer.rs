//! The one queue consumer: receive a batch, read each message as its job type, handle it,
//! then ack it (done) or make it visible again after a delay (retry). The local bot worker,
//! the gateway's command loop and its reply sender all run this loop; the `bot-reply`
//! Lambda function maps the same [`Outcome`] to partial batch failures.
//!
//! - An unreadable message is logged and acked: retrying can't fix it.
//! - A queue that fails to receive is waited on for a pause, then tried again (no tight
//!   loop against an unavailable queue).
//! - On shutdown no new batch is received; the messages in hand finish (and are acked or
//!   retried) before [`Consumer::run`] returns.
//! - [`Concurrency`] says how a batch is worked through: one message after another, or
//!   every message at once (with a bound on how many may be in flight before the next
//!   receive: a message held unstarted would come back when its visibility expires).
//! - A handler that panics fails its message only ([`crate::panics`]): logged, retried
//!   after [`PANIC_RETRY`] (and after `max_receives`, dead-lettered); the loop goes on.
//! - A consumer [`keeping_visible`](Consumer::keeping_visible) its messages may take longer
//!   than the queue's visibility timeout over one (the gateway's reply waiting for its slot
//!   to reconnect): while the handler runs, the message's visibility is extended every third
//!   of it ([`Queue::extend`]), so it neither comes back to a second handler nor costs a
//!   receive (receives are what send a message to the dead letters). Cost: one queue call
//!   per third of the visibility per message held that long; none for a quick handler.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Queue, MAX_RECEIVE};

/// Not done: deliver the message again after this delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

/// What became of one message: `Ok(())` done (it is deleted), `Err(RetryAfter(delay))`
/// try again after `delay` (and after the queue's `max_receives`, to its dead letters).
pub type Outcome = Result<(), RetryAfter>;

/// How long a message whose handler panicked waits before it is tried again.
pub const PANIC_RETRY: RetryAfter = RetryAfter(Duration::from_secs(5));

/// How a consumer works through a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// One message after another, in the order received; the next receive waits for them.
    Sequential,
    /// Every message of a batch at once. With `limit`, no new batch is received while that
    /// many are in flight.
    Concurrent { limit: Option<usize> },
}

/// One consumer of one queue.
pub struct Consumer {
    queue: Arc<dyn Queue>,
    /// Names the queue in logs (`inbound`, `command`, `outbound`).
    queue_name: &'static str,
    /// Names a message in logs (`bot job`, `session command`, `reply`).
    job_name: &'static str,
    concurrency: Concurrency,
    /// Messages per receive (≤ [`MAX_RECEIVE`]).
    batch: usize,
    /// Long-poll wait of a receive: how soon a shutdown is noticed on an idle queue, too.
    wait: Duration,
    /// The pause after a failed receive.
    pause_after_error: Duration,
    /// Extend the visibility of a message in hand to this, every third of it.
    keep_visible: Option<Duration>,
}

impl Consumer {
    /// Receives batches of 10 with a 1 s long poll, pausing 1 s after a queue error.
    pub fn new(
        queue: Arc<dyn Queue>,
        queue_name: &'static str,
        job_name: &'static str,
        concurrency: Concurrency,
    ) -> Self {
        Self {
            queue,
            queue_name,
            job_name,
            concurrency,
            batch: MAX_RECEIVE,
            wait: Duration::from_secs(1),
            pause_after_error: Duration::from_secs(1),
            keep_visible: None,
        }
    }

    /// Keeps each message in hand invisible for `visibility` at a time (renewed every third
    /// of it) while its handler runs. `visibility` must not exceed the queue's own
    /// visibility timeout by more than it takes to renew: the first renewal comes after a
    /// third of it.
    pub fn keeping_visible(mut self, visibility: Duration) -> Self {
        self.keep_visible = Some(visibility);
        self
    }

    /// Consumes until `shutdown` changes, then finishes the messages in hand. `handle` is
    /// called once per readable message.
    pub async fn run<T, H, F>(self, handle: H, mut shutdown: watch::Receiver<bool>)
    where
        T: DeserializeOwned,
        H: Fn(T) -> F,
        F: Future<Output = Outcome> + Send + 'static,
    {
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            if let Concurrency::Concurrent { limit: Some(limit) } = self.concurrency {
                // Take no more than can be worked on: a message held too long comes back.
                while in_flight.len() >= limit {
                    in_flight.join_next().await;
                }
            }
            let batch = tokio::select! {
                _ = shutdown.changed() => break,
                batch = self.queue.receive(self.batch, self.wait) => batch,
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(error = %err, "{} queue unavailable", self.queue_name);
                    tokio::time::sleep(self.pause_after_error).await;
                    continue;
                }
            };
            for message in batch {
                let work = read(self.job_name, &message.body).map(&handle);
                let queue = self.queue.clone();
                let job_name = self.job_name;
                let keep_visible = self.keep_visible;
                let settled = async move {
                    let outcome = match work {
                        Some(work) => {
                            // Inside the task `caught` spawns, where the handler runs.
                            let work = with_receive_count(message.receive_count, work);
                            let work = crate::panics::caught(work);
                            let work =
                                kept_visible(queue.as_ref(), &message.receipt, keep_visible, work);
                            work.await.unwrap_or_else(|panic| {
                                tracing::error!(error = %panic, "a {job_name} handler panicked; it will be retried");
                                Err(PANIC_RETRY)
                            })
                        }
                        None => Ok(()),
                    };
                    settle(queue.as_ref(), &message.receipt, outcome).await;
                };
                match self.concurrency {
                    Concurrency::Sequential => settled.await,
                    Concurrency::Concurrent { .. } => {
                        in_flight.spawn(settled);
                    }
                }
            }
        }
        while in_flight.join_next().await.is_some() {}
    }
}

/// Runs `work`, extending the visibility of the message behind `receipt` to `visibility`
/// every third of it until `work` is done (with `None`, just runs it).
async fn kept_visible<T>(
    queue: &dyn Queue,
    receipt: &str,
    visibility: Option<Duration>,
    work: impl Future<Output = T>,
) -> T {
    let Some(visibility) = visibility else {
        return work.await;
    };
    tokio::pin!(work);
    let every = visibility / 3;
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tokio::time::sleep(every) => {
                if let Err(err) = queue.extend(receipt, visibility).await {
                    tracing::warn!(error = %err, "could not keep a message in hand invisible");
                }
            }
        }
    }
}

tokio::task_local! {
    /// How many times the message being handled has been received, this time included.
    static RECEIVE_COUNT: u32;
}

/// How many times the message this task handles has been received (this time included);
/// 1 outside a consumer. A handler whose failure on the queue's last receive sends the
/// message to the dead letters can tell (the bot's dead-letter incident).
pub fn receive_count() -> u32 {
    RECEIVE_COUNT.try_with(|n| *n).unwrap_or(1)
}

/// Runs `work` as the handling of a message received `count` times ([`receive_count`]).
pub async fn with_receive_count<T>(count: u32, work: impl Future<Output = T>) -> T {
    RECEIVE_COUNT.scope(count, work).await
}

/// Reads one message body as a `T`; an unreadable one is logged and `None` (dropped:
/// retrying can't fix it).
pub fn read<T: DeserializeOwned>(job_name: &str, body: &str) -> Option<T> {
    match serde_json::from_str(body) {
        Ok(job) => Some(job),
        Err(err) => {
            tracing::error!(error = %err, "dropping an unreadable {job_name}");
            None
        }
    }
}

/// Reads a message body as a `T` and handles it; an unreadable body is done.
pub async fn handle_body<T, F>(job_name: &str, body: &str, handle: impl FnOnce(T) -> F) -> Outcome
where
    T: DeserializeOwned,
    F: Future<Output = Outcome>,
{
    match read(job_name, body) {
        Some(job) => handle(job).await,
        None => Ok(()),
    }
}

/// Acks a message that is done, or makes it visible again after its delay. A failure is
/// only logged: an unacked message comes back by itself, and handling is idempotent.
pub async fn settle(queue: &dyn Queue, receipt: &str, outcome: Outcome) {
    let settled = match outcome {
        Ok(()) => queue.ack(receipt).await,
        Err(RetryAfter(delay)) => queue.retry(receipt, delay).await,
    };
    if let Err(err) = settled {
        tracing::warn!(error = %err, "could not settle a queue message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::memory::MemoryQueue;
    use crate::queue::Outgoing;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(serde::Deserialize)]
    struct Job {
        n: u32,
    }

    #[tokio::test]
    async fn acks_what_is_done_retries_the_rest_and_drops_the_unreadable() {
        let queue = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        for body in [r#"{"n":1}"#, r#"{"n":2}"#, "not json"] {
            queue.send(Outgoing::new(body)).await.unwrap();
        }
        let handled = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let count = handled.clone();
        let consumer = Consumer::new(queue.clone(), "test", "job", Concurrency::Sequential);
        let task = tokio::spawn(consumer.run(
            move |job: Job| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    if job.n == 2 {
                        Err(RetryAfter(Duration::from_secs(60)))
                    } else {
                        Ok(())
                    }
                }
            },
            stopped,
        ));
        for _ in 0..100 {
            if queue.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(handled.load(Ordering::SeqCst), 2);
        assert_eq!(
            queue.bodies(),
            [r#"{"n":2}"#],
            "the retried job waits its delay"
        );
        assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_handler_that_panics_fails_its_message_only() {
        let queue = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        for n in 1..=3 {
            queue
                .send(Outgoing::new(format!(r#"{{"n":{n}}}"#)))
                .await
                .unwrap();
        }
        let done = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let count = done.clone();
        let consumer = Consumer::new(queue.clone(), "test", "job", Concurrency::Sequential);
        let task = tokio::spawn(consumer.run(
            move |job: Job| {
                let count = count.clone();
                async move {
                    assert_ne!(job.n, 2, "a bug in the handler");
                    count.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            stopped,
        ));
        for _ in 0..100 {
            if done.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        task.await.expect("the loop survived the panic");
        assert_eq!(done.load(Ordering::SeqCst), 2, "the jobs after it ran");
        assert_eq!(
            queue.bodies(),
            [r#"{"n":2}"#],
            "the panicking job waits to be retried"
        );
    }

    #[tokio::test]
    async fn a_bounded_consumer_finishes_its_jobs_in_flight_on_shutdown() {
        let queue = Arc::new(MemoryQueue::standard(Duration::from_secs(30)));
        for n in 0..5 {
            queue
                .send(Outgoing::new(format!(r#"{{"n":{n}}}"#)))
                .await
                .unwrap();
        }
        let started = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let count = started.clone();
        let consumer = Consumer::new(
            queue.clone(),
            "test",
            "job",
            Concurrency::Concurrent { limit: Some(2) },
        );
        let task = tokio::spawn(consumer.run(
            move |_: Job| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(())
                }
            },
            stopped,
        ));
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        let started = started.load(Ordering::SeqCst);
        assert!(started >= 1, "{started}");
        assert_eq!(
            queue.len(),
            5 - started,
            "every started job was acked before run returned"
        );
    }

    #[tokio::test]
    async fn a_message_kept_visible_outlasts_its_visibility_without_a_second_receive() {
        let queue = Arc::new(MemoryQueue::fifo(Duration::from_millis(300)));
        queue
            .send(Outgoing::new(r#"{"n":1}"#).in_group("g", "d1"))
            .await
            .unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let count = handled.clone();
        let consumer = Consumer::new(
            queue.clone(),
            "test",
            "job",
            Concurrency::Concurrent { limit: None },
        )
        .keeping_visible(Duration::from_millis(300));
        let task = tokio::spawn(consumer.run(
            move |_: Job| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    // Four times the queue's visibility.
                    tokio::time::sleep(Duration::from_millis(1_200)).await;
                    Ok(())
                }
            },
            stopped,
        ));
        for _ in 0..300 {
            if queue.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
        task.await.unwrap();
        assert!(queue.is_empty(), "acked under its first receipt");
        assert_eq!(
            handled.load(Ordering::SeqCst),
            1,
            "never handed to a second handler"
        );
    }
}
