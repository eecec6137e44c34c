//! A scripted WhatsApp Web transport for tests: the real watcher ([`super::watch`]) and the
//! real event translation over a client whose events and state a test plays by hand. The
//! WhatsApp protocol can't be exercised here (no internet, and whatsapp-rust's own mock
//! server is private), so the lifecycle is tested by replaying the library's sequences
//! with its real `Event` values, as 0.7.0 emits them (see [`super::lifecycle`]): the test
//! emits events, flips the client's online state, receives data, and ends the run loop
//! where the library would. The gateway under test is the real one, over a real store.
//!
//! Closing or logging out a connection ends its run (as `Client::disconnect` does). Given a
//! store ([`ScriptedWeb::keep_keys_in`]), each client also gets the real key store over
//! it, fenced and wired to the gateway as the real transport's is, for the test to write
//! through as the library would.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch as signal};
use tokio::task::JoinHandle;
use whatsapp_rust::types::events::Event;

use super::watch::{self, LiveClient, Pace};
use crate::crypto::SecretBox;
use crate::store::Store;
use crate::whatsapp::events::{ConnectionEvent, SlotKey};
use crate::whatsapp::transport::{Connection, Inbound, Transport, TransportError};
use crate::whatsapp::wa_store::StoreBackend;

/// Opens scripted clients, and hands each to the test.
pub struct ScriptedWeb {
    pace: Pace,
    phone: String,
    opened: Mutex<Vec<Arc<ScriptedClient>>>,
    forgotten: AtomicUsize,
    keys: Mutex<Option<KeysIn>>,
}

/// Where opened clients keep their keys.
type KeysIn = (Arc<dyn Store>, Arc<SecretBox>);

impl ScriptedWeb {
    /// Clients that report `phone` as their linked number once connected, watched at `pace`.
    pub fn new(phone: &str, pace: Pace) -> Arc<Self> {
        Arc::new(Self {
            pace,
            phone: phone.to_owned(),
            opened: Mutex::default(),
            forgotten: AtomicUsize::new(0),
            keys: Mutex::default(),
        })
    }

    /// Clients opened from now on keep their keys in `store` (see [`ScriptedClient::keys`]).
    pub fn keep_keys_in(&self, store: Arc<dyn Store>, secrets: Arc<SecretBox>) {
        *self.keys.lock().expect("lock") = Some((store, secrets));
    }

    /// How many clients were opened so far.
    pub fn opens(&self) -> usize {
        self.opened.lock().expect("lock").len()
    }

    /// How many times the transport was told to forget a slot's keys.
    pub fn forgets(&self) -> usize {
        self.forgotten.load(Ordering::SeqCst)
    }

    /// The `n`-th client opened (1-based), waiting up to 5 s for it.
    pub async fn client(&self, n: usize) -> Arc<ScriptedClient> {
        for _ in 0..500 {
            if let Some(client) = self.opened.lock().expect("lock").get(n - 1) {
                return client.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("client {n} was never opened ({} were)", self.opens());
    }
}

/// One opened client, as the test drives it.
pub struct ScriptedClient {
    events: mpsc::UnboundedSender<Arc<Event>>,
    online: AtomicBool,
    received_ms: AtomicU64,
    run_ended: signal::Sender<bool>,
    closed: AtomicBool,
    code_requests: AtomicUsize,
    phone: String,
    /// The pairing phone the connection was opened with.
    pub pair_phone: Option<String>,
    keys: Option<StoreBackend>,
}

impl ScriptedClient {
    /// The client dispatches `event` (in order with the others).
    pub fn emit(&self, event: Event) {
        if let Event::Connected(_) = event {
            self.online.store(true, Ordering::SeqCst);
            self.receive_data();
        }
        let _ = self.events.send(Arc::new(event));
    }

    /// The client's key store, when the transport was given a store.
    pub fn keys(&self) -> Option<&StoreBackend> {
        self.keys.as_ref()
    }

    /// `is_connected() && is_logged_in()` as the client would answer now.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
    }

    /// A frame arrived (a keepalive pong, a message).
    pub fn receive_data(&self) {
        self.received_ms
            .store(crate::ids::now_ms() as u64, Ordering::SeqCst);
    }

    /// `Client::run` returns: the library's run loop has ended for good.
    pub fn end_run(&self) {
        self.online.store(false, Ordering::SeqCst);
        let _ = self.run_ended.send(true);
    }

    /// Has the run loop ended?
    pub fn run_ended(&self) -> bool {
        *self.run_ended.borrow()
    }

    /// Did the gateway close (or log out) this connection?
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// How many new pairing codes were asked for.
    pub fn code_requests(&self) -> usize {
        self.code_requests.load(Ordering::SeqCst)
    }
}

/// The watcher's view of a scripted client.
struct Probe(Arc<ScriptedClient>);

impl LiveClient for Probe {
    fn online(&self) -> bool {
        self.0.online.load(Ordering::SeqCst)
    }

    fn last_received_ms(&self) -> u64 {
        self.0.received_ms.load(Ordering::SeqCst)
    }

    fn own_phone(&self) -> Option<String> {
        Some(self.0.phone.clone())
    }

    fn request_pairing_code(&self) {
        self.0.code_requests.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Transport for ScriptedWeb {
    fn kind(&self) -> &'static str {
        "scripted-whatsapp-web"
    }

    fn reconnects_itself(&self) -> bool {
        true
    }

    async fn forget(&self, _slot: &SlotKey) -> Result<(), TransportError> {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn open(
        &self,
        _slot: &SlotKey,
        fence: &crate::whatsapp::slots::Fence,
        _credentials: Option<Vec<u8>>,
        pair_phone: Option<&str>,
        events: mpsc::Sender<ConnectionEvent>,
        _inbound: Arc<dyn Inbound>,
    ) -> Result<Box<dyn Connection>, TransportError> {
        let keys = self
            .keys
            .lock()
            .expect("lock")
            .clone()
            .map(|(store, secrets)| {
                let backend = StoreBackend::new(store, secrets, fence.clone());
                super::report_lease_lost(backend.fenced_out(), events.clone());
                backend
            });
        let (tx, rx) = mpsc::unbounded_channel();
        let (run_ended, mut ended) = signal::channel(false);
        let client = Arc::new(ScriptedClient {
            events: tx,
            online: AtomicBool::new(false),
            received_ms: AtomicU64::new(0),
            run_ended,
            closed: AtomicBool::new(false),
            code_requests: AtomicUsize::new(0),
            phone: self.phone.clone(),
            pair_phone: pair_phone.map(str::to_owned),
            keys,
        });
        let run = async move {
            let _ = ended.wait_for(|ended| *ended).await;
        };
        let probe = Arc::new(Probe(client.clone()));
        let watcher = tokio::spawn(watch::watch(probe, rx, run, events, self.pace));
        self.opened.lock().expect("lock").push(client.clone());
        Ok(Box::new(ScriptedConnection {
            client,
            watcher: tokio::sync::Mutex::new(Some(watcher)),
        }))
    }
}

struct ScriptedConnection {
    client: Arc<ScriptedClient>,
    watcher: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl ScriptedConnection {
    async fn end(&self) {
        self.client.closed.store(true, Ordering::SeqCst);
        self.client.end_run();
        if let Some(watcher) = self.watcher.lock().await.take() {
            let _ = watcher.await;
        }
    }
}

#[async_trait]
impl Connection for ScriptedConnection {
    async fn send_text(&self, _to: &str, _text: &str, id: &str) -> Result<String, TransportError> {
        if self.client.online.load(Ordering::SeqCst) {
            Ok(id.to_owned())
        } else {
            Err(TransportError::NotConnected)
        }
    }

    async fn logout(&self) -> Result<(), TransportError> {
        self.end().await;
        Ok(())
    }

    async fn close(&self) {
        self.end().await;
    }
}
