//! One connection of the load: the CER/CEA handshake, a writer task that
//! batches requests into few writes, and a reader task that hands each
//! answer's Result-Code to the request waiting for it (and answers the
//! server's DWRs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::messages::cer;
use crate::diameter::codes;
use crate::diameter::{Framer, Message, MessageBuilder};

pub(super) struct Conn {
    pub tx: mpsc::Sender<Bytes>,
    pub pending: Mutex<HashMap<u32, oneshot::Sender<u32>>>,
    pub next_hbh: AtomicU64,
    pub origin: String,
    /// The Origin-Host of the load's profiles this connection plays.
    pub role: &'static str,
}

/// Connects as `origin`, exchanges capabilities, and starts the connection's
/// writer and reader.
pub(super) async fn connect(
    addr: SocketAddr,
    origin: String,
    role: &'static str,
    n: usize,
) -> anyhow::Result<Arc<Conn>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(&cer(&origin, n)).await?;
    let framer = Framer::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let cea = loop {
        if let Some(f) = framer.next_frame(&mut buf)? {
            break f;
        }
        if rd.read_buf(&mut buf).await? == 0 {
            bail!("{addr} closed the connection before the CEA");
        }
    };
    match Message::new(&cea).and_then(|m| m.result_code()) {
        Some(2001) => {}
        other => bail!("CEA from {addr}: Result-Code {other:?}"),
    }
    let (tx, rx) = mpsc::channel::<Bytes>(8192);
    let conn = Arc::new(Conn {
        tx,
        pending: Mutex::new(HashMap::new()),
        next_hbh: AtomicU64::new(1),
        origin,
        role,
    });
    tokio::spawn(write(wr, rx));
    tokio::spawn(read(conn.clone(), rd, framer, buf));
    Ok(conn)
}

/// Sends what is queued, as many messages per write as are waiting (up to
/// about 60 kB).
async fn write(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        out.extend_from_slice(&first);
        while let Ok(more) = rx.try_recv() {
            out.extend_from_slice(&more);
            if out.len() > 60_000 {
                break;
            }
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
}

/// Reads frames until the connection closes or sends garbage.
async fn read(c: Arc<Conn>, mut rd: OwnedReadHalf, framer: Framer, mut buf: BytesMut) {
    loop {
        loop {
            match framer.next_frame(&mut buf) {
                Ok(Some(f)) => {
                    if let Some(m) = Message::new(&f) {
                        c.take(&m).await;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

impl Conn {
    /// An answer goes to the request waiting for its Hop-by-Hop id; a DWR
    /// from the server is answered; other requests are ignored.
    async fn take(&self, m: &Message<'_>) {
        if m.header.is_request() {
            if m.header.command == 280 {
                self.answer_dwr(m).await;
            }
            return;
        }
        let waiter = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&m.header.hop_by_hop));
        if let Some(w) = waiter {
            let _ = w.send(m.result_code().unwrap_or(0));
        }
    }

    async fn answer_dwr(&self, m: &Message<'_>) {
        let mut a = BytesMut::new();
        let mut b = MessageBuilder::answer(&mut a, &m.header, false);
        b.u32(codes::RESULT_CODE, 2001)
            .utf8(codes::ORIGIN_HOST, &self.origin)
            .utf8(codes::ORIGIN_REALM, "test.local");
        b.finish();
        let _ = self.tx.send(a.freeze()).await;
    }
}
