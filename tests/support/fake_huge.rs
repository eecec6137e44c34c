//! A raw HTTP/1.1 server for the bounds tests: whatever the path, it answers 200 with a body
//! far bigger than any client should read (announced by `Content-Length`, or chunked with
//! no length), or one that trickles a byte at a time and never ends. It counts the body
//! bytes it managed to write, so a test can show the client stopped reading early (memory
//! stayed bounded) rather than buffering everything. Raw sockets, because a framework
//! would buffer or time out on our behalf.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `Content-Length: total`, then the bytes.
    Length,
    /// `Transfer-Encoding: chunked`, 64 KiB chunks up to `total`.
    Chunked,
    /// Chunked, one byte every 100 ms, forever.
    Trickle,
}

pub struct Huge {
    pub url: String,
    /// Body bytes written so far, over every connection.
    pub written: Arc<AtomicUsize>,
}

impl Huge {
    pub fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }
}

pub async fn start(mode: Mode, total: usize) -> Huge {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer(socket, mode, total, counter.clone()));
        }
    });
    Huge { url, written }
}

/// Reads the request head and its `Content-Length` body, so the client isn't reset.
async fn read_request(socket: &mut TcpStream) -> Option<()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = seen.len() - head_end;
    while body < length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(())
}

async fn answer(mut socket: TcpStream, mode: Mode, total: usize, written: Arc<AtomicUsize>) {
    if read_request(&mut socket).await.is_none() {
        return;
    }
    let head = match mode {
        Mode::Length => format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n"),
        Mode::Chunked | Mode::Trickle => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_owned(),
    };
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    loop {
        let ok = match mode {
            Mode::Length => {
                if sent >= total {
                    return;
                }
                let n = chunk.len().min(total - sent);
                let ok = socket.write_all(&chunk[..n]).await.is_ok();
                sent += n;
                written.fetch_add(n, Ordering::SeqCst);
                ok
            }
            Mode::Chunked => {
                if sent >= total {
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                    return;
                }
                let n = chunk.len().min(total - sent);
                let frame = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
                let ok = socket.write_all(&frame).await.is_ok();
                sent += n;
                written.fetch_add(n, Ordering::SeqCst);
                ok
            }
            Mode::Trickle => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                written.fetch_add(1, Ordering::SeqCst);
                socket.write_all(b"1\r\n \r\n").await.is_ok()
            }
        };
        if !ok {
            return; // the client hung up
        }
    }
}
