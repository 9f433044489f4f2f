//! The nemesis: at random moments (seeded: the same seed gives the same
//! schedule of faults), one fault at a time on a gyro or a link between
//! nodes, each undone before the next. It logs every fault with its time
//! to `nemesis.log` and counts them.

use std::io::Write;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::control::Control;
use super::target::Target;
use super::tcp_proxy::{Direction, TcpProxy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kill -9 of `gyro serve`, then a start on the same data and ports.
    Kill,
    /// Every connection through the proxy cut at once.
    Cut,
    /// Bytes held back a while, one way or both: clients time out and
    /// resend while their first requests are still on the way.
    Delay,
    /// Store writes failing in the running gyro for a while.
    StoreFailure,
    /// Answers held back on the way to the clients, and gyro killed
    /// meanwhile: usage durable, the answer never delivered.
    DelayThenKill,
}

/// The faults a run may inject.
pub const EVERY_FAULT: &[Fault] = &[
    Fault::Kill,
    Fault::Cut,
    Fault::Delay,
    Fault::StoreFailure,
    Fault::DelayThenKill,
];

/// The faults that leave gyro's process running.
pub const NO_CRASH: &[Fault] = &[Fault::Cut, Fault::Delay, Fault::StoreFailure];

#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub kills: u64,
    pub cuts: u64,
    pub connections_cut: u64,
    pub delays: u64,
    pub store_failures: u64,
    /// Times a gyro was found dead that the nemesis had not killed.
    pub exits: u64,
}

impl Tally {
    pub fn faults(&self) -> u64 {
        self.kills + self.cuts + self.delays + self.store_failures
    }
}

pub struct Nemesis<'a> {
    rng: StdRng,
    faults: &'a [Fault],
    /// The gyros it may kill or fail the store of.
    targets: Vec<Target>,
    /// The links it may cut or delay; the first is the clients'.
    links: Vec<&'a TcpProxy>,
    log: std::fs::File,
    tally: Tally,
}

impl<'a> Nemesis<'a> {
    pub fn new(
        seed: u64,
        faults: &'a [Fault],
        targets: Vec<Target>,
        links: Vec<&'a TcpProxy>,
    ) -> Self {
        let log = std::fs::File::create(targets[0].dir().join("nemesis.log")).unwrap();
        Nemesis {
            rng: StdRng::seed_from_u64(seed),
            faults,
            targets,
            links,
            log,
            tally: Tally::default(),
        }
    }

    /// Injects faults until the run stops; gives the gyros back running
    /// with the links clear. A gyro that does not start again aborts the
    /// run.
    pub fn run(mut self, ctl: &Control) -> (Vec<Target>, Tally) {
        loop {
            let gap = Duration::from_millis(self.rng.random_range(1500..5000));
            if !ctl.nap(gap) {
                break;
            }
            let fault = self.faults[self.rng.random_range(0..self.faults.len())];
            let done = self.inject(fault, ctl).and_then(|()| self.revive(ctl));
            if let Err(e) = done {
                ctl.abort(format!("gyro did not start again after {fault:?}: {e}"));
                break;
            }
        }
        for l in &self.links {
            l.clear_delay();
        }
        for t in &self.targets {
            t.fail_store(false);
        }
        (self.targets, self.tally)
    }

    fn inject(&mut self, fault: Fault, ctl: &Control) -> Result<(), String> {
        let t = ctl.elapsed();
        let target = self.rng.random_range(0..self.targets.len());
        let link = self.links[self.rng.random_range(0..self.links.len())];
        match fault {
            Fault::Kill => {
                self.note(t, &format!("kill -9 of gyro {target}"));
                let down = Duration::from_millis(self.rng.random_range(0..1500));
                self.kill_and_restart(target, down)?;
            }
            Fault::Cut => {
                let n = link.cut_all();
                self.tally.cuts += 1;
                self.tally.connections_cut += n as u64;
                self.note(t, &format!("cut {n} connections at {}", link.addr));
            }
            Fault::Delay => {
                let dir = [Direction::ToGyro, Direction::ToClients, Direction::Both]
                    [self.rng.random_range(0..3)];
                let by = Duration::from_millis(self.rng.random_range(300..3000));
                let lasting = Duration::from_millis(self.rng.random_range(500..4000));
                let at = link.addr;
                self.note(
                    t,
                    &format!("delay {dir:?} at {at} by {by:?} for {lasting:?}"),
                );
                link.set_delay(dir, by);
                std::thread::sleep(lasting);
                link.clear_delay();
                self.tally.delays += 1;
            }
            Fault::StoreFailure => {
                let lasting = Duration::from_millis(self.rng.random_range(300..4000));
                self.note(
                    t,
                    &format!("store writes of gyro {target} fail for {lasting:?}"),
                );
                self.targets[target].fail_store(true);
                std::thread::sleep(lasting);
                self.targets[target].fail_store(false);
                self.tally.store_failures += 1;
            }
            Fault::DelayThenKill => {
                let held = Duration::from_millis(self.rng.random_range(100..1500));
                self.note(
                    t,
                    &format!("answers held, kill -9 of gyro {target} after {held:?}"),
                );
                let clients = self.links[0];
                clients.set_delay(Direction::ToClients, Duration::from_secs(5));
                self.tally.delays += 1;
                std::thread::sleep(held);
                let restarted = self.kill_and_restart(target, Duration::ZERO);
                clients.clear_delay();
                restarted?;
            }
        }
        Ok(())
    }

    /// Starts again a gyro that ended by itself (a fault made it exit):
    /// counted, for the run to fail on.
    fn revive(&mut self, ctl: &Control) -> Result<(), String> {
        for i in 0..self.targets.len() {
            if self.targets[i].exited() {
                self.note(ctl.elapsed(), &format!("gyro {i} exited by itself"));
                self.tally.exits += 1;
                self.targets[i].restart()?;
            }
        }
        Ok(())
    }

    fn kill_and_restart(&mut self, target: usize, down: Duration) -> Result<(), String> {
        self.targets[target].kill9();
        self.tally.kills += 1;
        std::thread::sleep(down);
        self.targets[target].restart()
    }

    fn note(&mut self, t: f64, what: &str) {
        let _ = writeln!(self.log, "{t:8.3} s  {what}");
    }
}
