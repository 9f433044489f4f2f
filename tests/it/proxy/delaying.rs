//! A TCP relay between the proxy and its upstream that, when told to, holds
//! the upstream's bytes back for a while: an OCS that charges at once and
//! answers after Tx.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

pub(super) struct Delaying {
    pub port: u16,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Delaying {
    /// Relays 127.0.0.1:`port` (its own) to 127.0.0.1:`to`.
    pub fn start(to: u16) -> Delaying {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (delay_ms.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((down, _)) => relay(down, to, d.clone()),
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Delaying {
            port,
            delay_ms,
            stop,
        }
    }

    /// From now on, what the upstream sends is held back this long.
    pub fn delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for Delaying {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(down: TcpStream, to: u16, delay_ms: Arc<AtomicU64>) {
    down.set_nonblocking(false).unwrap();
    let Ok(up) = TcpStream::connect(("127.0.0.1", to)) else {
        return;
    };
    let (mut down_r, mut up_w) = (down.try_clone().unwrap(), up.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut down_r, &mut up_w);
        let _ = up_w.shutdown(std::net::Shutdown::Write);
    });
    // The upstream's bytes: each chunk leaves `delay` after it came.
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let mut up_r = up;
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = up_r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let due = Instant::now() + Duration::from_millis(delay_ms.load(Ordering::Relaxed));
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    let mut down_w = down;
    thread::spawn(move || {
        for (due, bytes) in rx {
            thread::sleep(due.saturating_duration_since(Instant::now()));
            if down_w.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = down_w.shutdown(std::net::Shutdown::Both);
    });
}
