//! A fake WhatsApp media CDN at the HTTP level, and the sender's side of WhatsApp's media
//! encryption, written here from the documented algorithm (not taken from the library that
//! decrypts), so a download test proves the two agree:
//!
//! 1. a random 32-byte media key, expanded with HKDF-SHA256 (no salt, the media type's
//!    info string, e.g. `WhatsApp Audio Keys`) to 112 bytes: IV (16), cipher key (32),
//!    MAC key (32), the rest unused;
//! 2. the file encrypted with AES-256-CBC under that IV, PKCS#7-padded;
//! 3. HMAC-SHA256 of IV ‖ ciphertext with the MAC key, its first 10 bytes appended;
//! 4. the message carries the media key, the SHA-256 of the plaintext (`fileSha256`) and of
//!    the uploaded blob (`fileEncSha256`, also the download's `token`).
//!
//! The CDN serves a blob at its direct path (`GET /v/...?token=...`), 404 for any other,
//! and records every path and token it was asked for. A client reaches it through
//! [`ToFakeCdn`], whatsapp-rust's own ureq client with the CDN's `https://<host>` rewritten
//! to this server's plain-HTTP address: WhatsApp's URLs are always https.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes::cipher::{BlockEncrypt, KeyInit};
use async_trait::async_trait;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::Mac;
use sha2::{Digest, Sha256};
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse, UreqHttpClient};

use crate::fake_llm::serve;

/// The host name the fake CDN goes by in a download route.
pub const HOST: &str = "mmg.fake-cdn.test";

/// A file as WhatsApp's sender uploads it, and what its message carries.
pub struct Encrypted {
    /// Ciphertext ‖ 10-byte MAC: what the CDN stores.
    pub blob: Vec<u8>,
    pub media_key: [u8; 32],
    pub file_sha256: [u8; 32],
    pub file_enc_sha256: [u8; 32],
}

/// Encrypts `plaintext` under `media_key` for the media type whose HKDF info is `info`
/// (`WhatsApp Audio Keys`, `WhatsApp Image Keys`, …).
pub fn encrypt(plaintext: &[u8], media_key: [u8; 32], info: &str) -> Encrypted {
    let hkdf = hkdf::Hkdf::<Sha256>::new(None, &media_key);
    let mut expanded = [0u8; 112];
    hkdf.expand(info.as_bytes(), &mut expanded).unwrap();
    let (iv, cipher_key, mac_key) = (&expanded[..16], &expanded[16..48], &expanded[48..80]);
    let aes = aes::Aes256::new_from_slice(cipher_key).unwrap();
    let pad = 16 - plaintext.len() % 16;
    let mut padded = plaintext.to_vec();
    padded.extend(std::iter::repeat_n(pad as u8, pad));
    let mut blob = Vec::with_capacity(padded.len() + 10);
    let mut previous = [0u8; 16];
    previous.copy_from_slice(iv);
    for chunk in padded.chunks(16) {
        let mut block = [0u8; 16];
        for (b, (c, p)) in block.iter_mut().zip(chunk.iter().zip(previous)) {
            *b = c ^ p;
        }
        let mut block: aes::Block = block.into();
        aes.encrypt_block(&mut block);
        blob.extend_from_slice(&block);
        previous.copy_from_slice(&block);
    }
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(mac_key).unwrap();
    mac.update(iv);
    mac.update(&blob);
    blob.extend_from_slice(&mac.finalize().into_bytes()[..10]);
    Encrypted {
        file_sha256: Sha256::digest(plaintext).into(),
        file_enc_sha256: Sha256::digest(&blob).into(),
        blob,
        media_key,
    }
}

#[derive(Default)]
struct Cdn {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    /// Path and query of every request, in order.
    requests: Mutex<Vec<String>>,
}

pub struct FakeCdn {
    pub url: String,
    cdn: Arc<Cdn>,
}

impl FakeCdn {
    /// Serves `blob` at `direct_path`.
    pub fn put(&self, direct_path: &str, blob: Vec<u8>) {
        self.cdn
            .blobs
            .lock()
            .unwrap()
            .insert(direct_path.to_owned(), blob);
    }

    /// Path and query of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.cdn.requests.lock().unwrap().clone()
    }

    /// whatsapp-rust's ureq client, aimed at this CDN.
    pub fn client(&self) -> Arc<dyn HttpClient> {
        Arc::new(ToFakeCdn {
            base: self.url.clone(),
            inner: UreqHttpClient::new(),
        })
    }
}

async fn blob(State(cdn): State<Arc<Cdn>>, uri: Uri) -> Response {
    cdn.requests.lock().unwrap().push(uri.to_string());
    match cdn.blobs.lock().unwrap().get(uri.path()) {
        Some(blob) => blob.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The fake CDN on a local port.
pub async fn cdn() -> FakeCdn {
    let cdn = Arc::new(Cdn::default());
    let router = Router::new().fallback(blob).with_state(cdn.clone());
    FakeCdn {
        url: serve(router).await,
        cdn,
    }
}

/// whatsapp-rust's ureq client with `https://HOST` rewritten to the fake CDN's address;
/// everything else (streaming, status handling) is the real client's.
struct ToFakeCdn {
    base: String,
    inner: UreqHttpClient,
}

impl ToFakeCdn {
    fn rewrite(&self, mut request: HttpRequest) -> HttpRequest {
        let https = format!("https://{HOST}");
        assert!(
            request.url.starts_with(&https),
            "only the fake CDN is reachable: {}",
            request.url
        );
        request.url = request.url.replacen(&https, &self.base, 1);
        request
    }
}

#[async_trait]
impl HttpClient for ToFakeCdn {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        self.inner.execute(self.rewrite(request)).await
    }
    fn supports_streaming(&self) -> bool {
        self.inner.supports_streaming()
    }
    fn execute_streaming(
        &self,
        request: HttpRequest,
    ) -> anyhow::Result<whatsapp_rust::wacore::net::StreamingHttpResponse> {
        self.inner.execute_streaming(self.rewrite(request))
    }
}
