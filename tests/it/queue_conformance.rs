//! One conformance suite for the queue port, against the in-process queue and against SQS
//! (the real AWS SDK on moto), each as a standard and as a FIFO queue: at-least-once
//! delivery, visibility timeout, retry, dead letters; on FIFO queues groups in order and
//! deduplication, on standard queues neither; delays taken by standard queues only. The
//! in-process queue runs every case twice: in memory, and durable in an embedded store.
//!
//! Crash tests (`crash::`) for the durable queue: a child process sends, receives, acks
//! and retries, and is killed with SIGKILL; the test reopens the store the dead process
//! left and finds every message that wasn't acked, with its receive count and its delay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use platefull::queue::memory::MemoryQueue;
use platefull::queue::sqs::SqsQueue;
use platefull::queue::{Outgoing, Queue, QueueError};
use platefull::store::embedded::EmbeddedStore;
use platefull::store::Store;

/// Long enough that a loaded machine (the whole test binary runs at once) doesn't stall past
/// it between a receive and the check that the message is in flight: at 1 s, two cases
/// failed once under load.
const VISIBILITY: Duration = Duration::from_secs(2);
const MAX_RECEIVES: u32 = 2;

/// A queue under test, its dead-letter queue, and its kind.
struct Pair {
    queue: Arc<dyn Queue>,
    dead: Arc<dyn Queue>,
    fifo: bool,
    /// The durable queue's store dir.
    _dir: Option<tempfile::TempDir>,
}

fn memory(fifo: bool) -> Pair {
    let new = if fifo {
        MemoryQueue::fifo
    } else {
        MemoryQueue::standard
    };
    let dead = Arc::new(new(VISIBILITY));
    let queue = Arc::new(new(VISIBILITY).with_dead_letters(MAX_RECEIVES, dead.clone()));
    Pair {
        queue,
        dead,
        fifo,
        _dir: None,
    }
}

fn open_store(dir: &std::path::Path) -> Arc<dyn Store> {
    std::fs::create_dir_all(dir).expect("store dir");
    Arc::new(EmbeddedStore::open(&dir.join("store.redb")).expect("embedded store"))
}

/// A durable queue `q` (dead letters `q-dlq`) in `store`, received `max_receives` times
/// before its dead letters.
async fn open_durable(
    store: &Arc<dyn Store>,
    fifo: bool,
    visibility: Duration,
    max_receives: u32,
) -> (Arc<MemoryQueue>, Arc<MemoryQueue>) {
    let new = if fifo {
        MemoryQueue::fifo
    } else {
        MemoryQueue::standard
    };
    let dead = Arc::new(
        new(visibility)
            .durable(store.clone(), "q-dlq")
            .await
            .expect("open the dead letters"),
    );
    let queue = new(visibility)
        .with_dead_letters(max_receives, dead.clone())
        .durable(store.clone(), "q")
        .await
        .expect("open the queue");
    (Arc::new(queue), dead)
}

async fn durable(fifo: bool) -> Pair {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let (queue, dead) = open_durable(&store, fifo, VISIBILITY, MAX_RECEIVES).await;
    Pair {
        queue,
        dead,
        fifo,
        _dir: Some(dir),
    }
}

async fn sqs(fifo: bool) -> Pair {
    let client = aws_sdk_sqs::Client::new(&platefull_tests::aws_config().await);
    let suffix = if fifo { ".fifo" } else { "" };
    let name = platefull_tests::unique("q");
    let mut dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq{suffix}"));
    if fifo {
        dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let dlq_url = dlq.send().await.unwrap().queue_url.unwrap();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let mut attributes = HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY.as_secs().to_string(),
        ),
        (
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVES}"}}"#),
        ),
    ]);
    if fifo {
        attributes.insert(QueueAttributeName::FifoQueue, "true".into());
    }
    let url = client
        .create_queue()
        .queue_name(format!("{name}{suffix}"))
        .set_attributes(Some(attributes))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    Pair {
        queue: Arc::new(SqsQueue::new(client.clone(), url)),
        dead: Arc::new(SqsQueue::new(client, dlq_url)),
        fifo,
        _dir: None,
    }
}

const SHORT: Duration = Duration::from_millis(200);

fn msg(body: &str) -> Outgoing {
    Outgoing::new(body).in_group("g", body)
}

async fn delivered_messages_are_gone_once_acked(p: Pair) {
    p.queue.send(msg("hello")).await.unwrap();
    let got = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "hello");
    assert_eq!(got[0].receive_count, 1);
    p.queue.ack(&got[0].receipt).await.unwrap();
    tokio::time::sleep(VISIBILITY + SHORT).await;
    assert!(p.queue.receive(10, SHORT).await.unwrap().is_empty());
}

async fn unacked_messages_come_back_after_the_visibility_timeout(p: Pair) {
    p.queue.send(msg("again")).await.unwrap();
    let first = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        p.queue.receive(10, SHORT).await.unwrap().is_empty(),
        "invisible while in flight"
    );
    tokio::time::sleep(VISIBILITY).await;
    let second = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].body, "again");
    assert_eq!(second[0].receive_count, 2);
}

async fn retried_messages_return_and_then_go_to_the_dead_letters(p: Pair) {
    p.queue.send(msg("poison")).await.unwrap();
    for round in 1..=MAX_RECEIVES {
        let got = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got.len(), 1, "round {round}");
        assert_eq!(got[0].receive_count, round);
        p.queue
            .retry(&got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        p.queue
            .receive(10, Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty(),
        "not delivered a third time"
    );
    let dead = p.dead.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

async fn an_empty_queue_waits_then_returns_nothing(p: Pair) {
    let started = std::time::Instant::now();
    assert!(p
        .queue
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap()
        .is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "long poll waited"
    );
}

async fn send_chats(p: &Pair) {
    for (group, body) in [
        ("chat-a", "a1"),
        ("chat-b", "b1"),
        ("chat-a", "a2"),
        ("chat-a", "a3"),
    ] {
        p.queue
            .send(Outgoing::new(body).in_group(group, body))
            .await
            .unwrap();
    }
    p.queue
        .send(Outgoing::new("a1").in_group("chat-a", "a1"))
        .await
        .unwrap();
}

async fn fifo_groups_keep_order_and_drop_duplicates(p: Pair) {
    send_chats(&p).await;
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    let mut in_flight_of_a = 0;
    for _ in 0..10 {
        let batch = p.queue.receive(10, Duration::from_secs(1)).await.unwrap();
        in_flight_of_a =
            in_flight_of_a.max(batch.iter().filter(|m| m.body.starts_with('a')).count());
        for m in &batch {
            order
                .entry(m.body[..1].to_owned())
                .or_default()
                .push(m.body.clone());
            p.queue.ack(&m.receipt).await.unwrap();
        }
        if order.values().map(Vec::len).sum::<usize>() == if p.fifo { 4 } else { 5 } {
            break;
        }
    }
    assert_eq!(order["b"], ["b1"]);
    if p.fifo {
        assert_eq!(
            order["a"],
            ["a1", "a2", "a3"],
            "in order, the duplicate a1 dropped"
        );
    } else {
        // A standard queue has no groups and no deduplication: everything is delivered,
        // the resent a1 too, with messages of one "group" in flight together.
        let mut a = order["a"].clone();
        a.sort();
        assert_eq!(a, ["a1", "a1", "a2", "a3"]);
        assert!(in_flight_of_a > 1, "no group holds a standard queue back");
    }
}

async fn delayed_messages_wait_their_delay(p: Pair) {
    let started = std::time::Instant::now();
    let later = p
        .queue
        .send(msg("later").delayed(Duration::from_secs(1)))
        .await;
    if p.fifo {
        assert!(
            matches!(later, Err(QueueError::Invalid(_))),
            "FIFO queues refuse per-message delays: {later:?}"
        );
        return;
    }
    later.unwrap();
    p.queue.send(msg("now")).await.unwrap();
    let first = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["now"]
    );
    p.queue.ack(&first[0].receipt).await.unwrap();
    let mut later = Vec::new();
    while later.is_empty() && started.elapsed() < Duration::from_secs(5) {
        later = p.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    }
    assert_eq!(later.len(), 1, "the delayed message arrives");
    assert_eq!(later[0].body, "later");
    assert!(started.elapsed() >= Duration::from_millis(950));
}

async fn fifo_messages_need_a_group(p: Pair) {
    let sent = p.queue.send(Outgoing::new("no group")).await;
    if p.fifo {
        assert!(
            matches!(sent, Err(QueueError::Invalid(_))),
            "a FIFO queue needs a message group: {sent:?}"
        );
    } else {
        sent.unwrap();
        let got = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got.len(), 1);
    }
}

/// Every case against both kinds on both adapters.
/// A message whose handler needs longer than the visibility timeout is extended (SQS
/// `ChangeMessageVisibility`): it doesn't come back meanwhile, the extension costs no
/// receive, and the first receipt still acks it.
async fn extended_messages_stay_in_flight_under_their_receipt(p: Pair) {
    p.queue.send(msg("slow")).await.unwrap();
    let got = p.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(got.len(), 1);
    let receipt = got[0].receipt.clone();
    for _ in 0..2 {
        p.queue.extend(&receipt, VISIBILITY * 3).await.unwrap();
        tokio::time::sleep(VISIBILITY + SHORT).await;
        assert!(
            p.queue.receive(10, SHORT).await.unwrap().is_empty(),
            "still in flight after its visibility timeout"
        );
    }
    p.queue.ack(&receipt).await.unwrap();
    tokio::time::sleep(VISIBILITY * 3 + SHORT).await;
    assert!(
        p.queue.receive(10, SHORT).await.unwrap().is_empty(),
        "acked"
    );
    assert!(p.dead.receive(10, SHORT).await.unwrap().is_empty());
}

macro_rules! for_each_queue {
    ($($name:ident),* $(,)?) => {
        mod memory_standard {
            $(#[tokio::test] async fn $name() { super::$name(super::memory(false)).await })*
        }
        mod memory_fifo {
            $(#[tokio::test] async fn $name() { super::$name(super::memory(true)).await })*
        }
        mod durable_standard {
            $(#[tokio::test] async fn $name() { super::$name(super::durable(false).await).await })*
        }
        mod durable_fifo {
            $(#[tokio::test] async fn $name() { super::$name(super::durable(true).await).await })*
        }
        mod sqs_standard {
            $(#[tokio::test] async fn $name() { super::$name(super::sqs(false).await).await })*
        }
        mod sqs_fifo {
            $(#[tokio::test] async fn $name() { super::$name(super::sqs(true).await).await })*
        }
    };
}

for_each_queue!(
    delivered_messages_are_gone_once_acked,
    unacked_messages_come_back_after_the_visibility_timeout,
    retried_messages_return_and_then_go_to_the_dead_letters,
    an_empty_queue_waits_then_returns_nothing,
    fifo_groups_keep_order_and_drop_duplicates,
    delayed_messages_wait_their_delay,
    fifo_messages_need_a_group,
    extended_messages_stay_in_flight_under_their_receipt,
);

/// Crash tests for the durable queue: the first half runs in a child process killed with
/// SIGKILL once its calls have returned; the second half reopens what it left.
mod crash {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use platefull::queue::{Outgoing, Queue};
    use platefull_tests::process::killed_in_a_process;

    use super::{open_durable, open_store};

    /// Longer than any test: a message comes back after the crash because its process died,
    /// not because its visibility ran out.
    const LONG: Duration = Duration::from_secs(600);
    const WAIT: Duration = Duration::from_millis(300);

    fn run<T>(work: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    }

    fn bodies(batch: &[platefull::queue::Received]) -> Vec<(String, u32)> {
        let mut got: Vec<_> = batch
            .iter()
            .map(|m| (m.body.clone(), m.receive_count))
            .collect();
        got.sort();
        got
    }

    #[test]
    fn a_kill_between_send_and_receive_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        killed_in_a_process(
            module_path!(),
            "a_kill_between_send_and_receive_loses_nothing",
            dir.path(),
            |dir: &Path| {
                run(async {
                    let store = open_store(dir);
                    let (standard, _) = open_durable(&store, false, LONG, 5).await;
                    standard.send(Outgoing::new("s1")).await.unwrap();
                    standard.send(Outgoing::new("s2")).await.unwrap();
                    let fifo_store = open_store(&dir.join("fifo"));
                    let (fifo, _) = open_durable(&fifo_store, true, LONG, 5).await;
                    for body in ["f1", "f2"] {
                        fifo.send(Outgoing::new(body).in_group("g", body))
                            .await
                            .unwrap();
                    }
                })
            },
        );
        run(async {
            let store = open_store(dir.path());
            let (standard, _) = open_durable(&store, false, LONG, 5).await;
            let got = standard.receive(10, WAIT).await.unwrap();
            assert_eq!(bodies(&got), [("s1".into(), 1), ("s2".into(), 1)]);
            let store = open_store(&dir.path().join("fifo"));
            let (fifo, _) = open_durable(&store, true, LONG, 5).await;
            let mut order = Vec::new();
            for _ in 0..2 {
                let got = fifo.receive(10, WAIT).await.unwrap();
                assert_eq!(got.len(), 1, "one of the group in flight");
                order.push(got[0].body.clone());
                fifo.ack(&got[0].receipt).await.unwrap();
            }
            assert_eq!(order, ["f1", "f2"], "the group's order kept");
            // The deduplication ids outlived the process too.
            fifo.send(Outgoing::new("f1").in_group("g", "f1"))
                .await
                .unwrap();
            assert!(fifo.receive(10, WAIT).await.unwrap().is_empty());
        });
    }

    #[test]
    fn a_kill_between_receive_and_ack_redelivers_with_the_receive_counts() {
        let dir = tempfile::tempdir().unwrap();
        killed_in_a_process(
            module_path!(),
            "a_kill_between_receive_and_ack_redelivers_with_the_receive_counts",
            dir.path(),
            |dir: &Path| {
                run(async {
                    let store = open_store(dir);
                    let (queue, _) = open_durable(&store, false, LONG, 3).await;
                    for body in ["a", "b", "done"] {
                        queue.send(Outgoing::new(body)).await.unwrap();
                    }
                    let got = queue.receive(10, WAIT).await.unwrap();
                    assert_eq!(got.len(), 3);
                    for m in &got {
                        match m.body.as_str() {
                            "done" => queue.ack(&m.receipt).await.unwrap(),
                            "b" => queue.retry(&m.receipt, Duration::ZERO).await.unwrap(),
                            _ => {}
                        }
                    }
                    let again = queue.receive(10, WAIT).await.unwrap();
                    assert_eq!(bodies(&again), [("b".into(), 2)]);
                })
            },
        );
        run(async {
            let store = open_store(dir.path());
            let (queue, dead) = open_durable(&store, false, LONG, 3).await;
            let started = Instant::now();
            let got = queue.receive(10, WAIT).await.unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "in flight at the kill: visible at once"
            );
            assert_eq!(
                bodies(&got),
                [("a".into(), 2), ("b".into(), 3)],
                "not the acked one; receive counts kept"
            );
            // b has been received 3 times: retried once more, it goes to the dead letters.
            let b = got.iter().find(|m| m.body == "b").unwrap();
            queue.retry(&b.receipt, Duration::ZERO).await.unwrap();
            assert!(queue.receive(10, WAIT).await.unwrap().is_empty());
            let dead = dead.receive(10, WAIT).await.unwrap();
            assert_eq!(bodies(&dead), [("b".into(), 1)]);
        });
    }

    #[test]
    fn a_kill_during_a_delay_keeps_the_delay() {
        const DELAY: Duration = Duration::from_secs(3);
        let dir = tempfile::tempdir().unwrap();
        let before_send = std::time::SystemTime::now();
        killed_in_a_process(
            module_path!(),
            "a_kill_during_a_delay_keeps_the_delay",
            dir.path(),
            |dir: &Path| {
                run(async {
                    let store = open_store(dir);
                    let (queue, _) = open_durable(&store, false, LONG, 5).await;
                    queue
                        .send(Outgoing::new("later").delayed(DELAY))
                        .await
                        .unwrap();
                    queue.send(Outgoing::new("retried")).await.unwrap();
                    let got = queue.receive(10, WAIT).await.unwrap();
                    assert_eq!(bodies(&got), [("retried".into(), 1)]);
                    queue.retry(&got[0].receipt, DELAY).await.unwrap();
                })
            },
        );
        run(async {
            let store = open_store(dir.path());
            let (queue, _) = open_durable(&store, false, LONG, 5).await;
            let mut got = Vec::new();
            while got.len() < 2 && before_send.elapsed().unwrap() < Duration::from_secs(10) {
                let batch = queue.receive(10, WAIT).await.unwrap();
                if !batch.is_empty() {
                    assert!(
                        before_send.elapsed().unwrap() >= DELAY,
                        "delivered before its delay: {batch:?}"
                    );
                }
                got.extend(batch);
            }
            assert_eq!(
                bodies(&got),
                [("later".into(), 1), ("retried".into(), 2)],
                "both delivered once their delay was over"
            );
        });
    }
}
