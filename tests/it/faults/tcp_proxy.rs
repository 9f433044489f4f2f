//! A small userspace TCP proxy between the clients and gyro, so that the
//! nemesis can treat the network as a bad one would: cut every connection
//! at once, or hold bytes back for a while. Each accepted connection gets
//! its own connection to gyro (none while gyro is down: the client sees its
//! connection close at once). Each direction is a reader, which stamps every
//! chunk with the time it may leave, and a writer, which writes it then: a
//! delay is latency, never reordering, and bytes held when a cut comes are
//! lost as they would be on a real network.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which way a delay holds bytes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToGyro,
    ToClients,
    Both,
}

struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
    /// How long each chunk is held, in ms, towards gyro and back.
    delay_up: AtomicU64,
    delay_down: AtomicU64,
    next_id: AtomicU64,
    /// The open connections: the client's socket and gyro's.
    live: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    accepted: AtomicU64,
    refused: AtomicU64,
}

pub struct TcpProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and relays to `target`.
    pub fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
            delay_up: AtomicU64::new(0),
            delay_down: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("faults-proxy".into())
            .spawn(move || accept_loop(&listener, &s))
            .unwrap();
        TcpProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Cuts every open connection, both ways; how many there were.
    pub fn cut_all(&self) -> usize {
        let live: Vec<(TcpStream, TcpStream)> = self
            .shared
            .live
            .lock()
            .unwrap()
            .drain()
            .map(|(_, v)| v)
            .collect();
        for (a, b) in &live {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
        live.len()
    }

    /// Holds every chunk read from now on `delay` before writing it.
    pub fn set_delay(&self, dir: Direction, delay: Duration) {
        let ms = delay.as_millis() as u64;
        if dir != Direction::ToClients {
            self.shared.delay_up.store(ms, Ordering::SeqCst);
        }
        if dir != Direction::ToGyro {
            self.shared.delay_down.store(ms, Ordering::SeqCst);
        }
    }

    pub fn clear_delay(&self) {
        self.set_delay(Direction::Both, Duration::ZERO);
    }

    /// Connections relayed, and those closed at once because gyro was down.
    pub fn connections(&self) -> (u64, u64) {
        let s = &self.shared;
        (
            s.accepted.load(Ordering::SeqCst),
            s.refused.load(Ordering::SeqCst),
        )
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.cut_all();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, s: &Arc<Shared>) {
    while !s.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => relay(client, s),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn relay(client: TcpStream, s: &Arc<Shared>) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let Ok(gyro) = TcpStream::connect_timeout(&s.target, Duration::from_millis(500)) else {
        s.refused.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = gyro.set_nodelay(true);
    s.accepted.fetch_add(1, Ordering::SeqCst);
    let id = s.next_id.fetch_add(1, Ordering::SeqCst);
    let (Ok(c2), Ok(g2)) = (client.try_clone(), gyro.try_clone()) else {
        return;
    };
    s.live.lock().unwrap().insert(id, (c2, g2));
    pipe(&client, &gyro, true, s, id);
    pipe(&gyro, &client, false, s, id);
}

/// One direction of a connection: `from` read, held, written to `to`. When
/// either side ends, both sockets of the connection are shut.
fn pipe(from: &TcpStream, to: &TcpStream, up: bool, s: &Arc<Shared>, id: u64) {
    let (Ok(mut from), Ok(mut to), Ok(from_w)) =
        (from.try_clone(), to.try_clone(), from.try_clone())
    else {
        return;
    };
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let sr = s.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            let delay = if up { &sr.delay_up } else { &sr.delay_down };
            let due = Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    let sw = s.clone();
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        sw.live.lock().unwrap().remove(&id);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from_w.shutdown(Shutdown::Both);
    });
}
