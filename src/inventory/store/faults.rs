//! A test hook: store writes that fail on demand, so that tests (and a fault
//! harness driving a real `gyro serve`) can see what a full or broken disk
//! does. Off unless a test sets a fault, or `GYRO_TEST_STORE_FAULTS` names a
//! file whose content chooses one; never set in production.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

use super::StoreError;

/// The environment variable `gyro serve` reads for the fault file.
pub const FAULT_FILE_ENV: &str = "GYRO_TEST_STORE_FAULTS";

/// Where a write fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Writes succeed.
    Off,
    /// Every write fails before anything is applied.
    BeforeApply,
    /// Every flush fails after its batch is applied in memory (as when the
    /// disk refuses the log write), and so does every flush that tries to
    /// take a failed batch back.
    AtFlush,
    /// The next flush fails, then writes succeed again.
    AtFlushOnce,
}

impl Fault {
    fn from_u8(v: u8) -> Fault {
        match v {
            1 => Fault::BeforeApply,
            2 => Fault::AtFlush,
            3 => Fault::AtFlushOnce,
            _ => Fault::Off,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Fault::Off => 0,
            Fault::BeforeApply => 1,
            Fault::AtFlush => 2,
            Fault::AtFlushOnce => 3,
        }
    }

    /// The fault file's content: `apply`, `flush`, or anything else (or no
    /// file) for none. (Once is for tests in the process: a file cannot
    /// tell that its fault was used.)
    fn parse(text: &str) -> Fault {
        match text.trim() {
            "apply" => Fault::BeforeApply,
            "flush" => Fault::AtFlush,
            _ => Fault::Off,
        }
    }
}

/// The faults a store injects: one set by a test, or the fault file's.
#[derive(Debug, Default)]
pub struct StoreFaults {
    set: AtomicU8,
    file: Option<PathBuf>,
}

impl StoreFaults {
    /// Faults read from `file` at every write (its absence: none).
    pub fn from_file(file: PathBuf) -> StoreFaults {
        StoreFaults {
            set: AtomicU8::new(0),
            file: Some(file),
        }
    }

    /// Faults from `GYRO_TEST_STORE_FAULTS` when it is set, else none.
    pub fn from_env() -> StoreFaults {
        match std::env::var_os(FAULT_FILE_ENV) {
            Some(f) if !f.is_empty() => {
                tracing::warn!(file = ?f, "{FAULT_FILE_ENV} is set: store writes fail while that file says so (a test hook)");
                StoreFaults::from_file(PathBuf::from(f))
            }
            _ => StoreFaults::default(),
        }
    }

    /// Sets the fault (tests in the same process).
    pub fn set(&self, f: Fault) {
        self.set.store(f.as_u8(), Ordering::SeqCst);
    }

    /// The fault in force now.
    pub fn current(&self) -> Fault {
        let set = Fault::from_u8(self.set.load(Ordering::SeqCst));
        match (&self.file, set) {
            (Some(file), Fault::Off) => {
                Fault::parse(&std::fs::read_to_string(file).unwrap_or_default())
            }
            _ => set,
        }
    }

    pub(super) fn before_apply(&self) -> Result<(), StoreError> {
        if self.current() == Fault::BeforeApply {
            return Err(injected("write refused"));
        }
        Ok(())
    }

    pub(super) fn at_flush(&self) -> Result<(), StoreError> {
        let once = (Fault::AtFlushOnce.as_u8(), Fault::Off.as_u8());
        let used_once = self
            .set
            .compare_exchange(once.0, once.1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if used_once || self.current() == Fault::AtFlush {
            return Err(injected("flush failed"));
        }
        Ok(())
    }
}

fn injected(what: &str) -> StoreError {
    StoreError::Backend(format!("injected fault: {what} (no space left on device)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_chooses_the_fault_and_its_absence_none() {
        let dir = std::env::temp_dir().join(format!("gyro-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("faults");
        let f = StoreFaults::from_file(file.clone());
        assert_eq!(f.current(), Fault::Off);
        std::fs::write(&file, "flush\n").unwrap();
        assert_eq!(f.current(), Fault::AtFlush);
        assert!(f.at_flush().is_err() && f.before_apply().is_ok());
        std::fs::write(&file, "apply").unwrap();
        assert!(f.before_apply().is_err() && f.at_flush().is_ok());
        std::fs::write(&file, "").unwrap();
        assert_eq!(f.current(), Fault::Off);
        f.set(Fault::AtFlush);
        assert_eq!(f.current(), Fault::AtFlush, "a fault set in-process wins");
        f.set(Fault::AtFlushOnce);
        assert!(f.at_flush().is_err());
        assert!(f.at_flush().is_ok(), "once is once");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
