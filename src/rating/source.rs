//! Where the rating data comes from (the `charging.rating` file, or the copy
//! compiled in) and reloading it while the node serves. A reload reads and
//! parses the whole file before anything changes, so a bad file leaves the
//! running version in force; the new version is handed over whole, so a
//! request rates wholly on the old version or wholly on the new one.

use std::path::PathBuf;
use std::sync::Mutex;

use super::{Rating, RatingError, EMBEDDED};

/// What the node calls the compiled-in copy in logs and errors.
const EMBEDDED_NAME: &str = "embedded config/rating.toml";

const RELOADS: &str = "gyro_rating_reloads_total";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] RatingError),
}

/// A version put in force, as the admin API and the log describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub file: String,
    pub bundles: usize,
    /// Sponsors with a wholesale tariff.
    pub tariffs: usize,
    pub rate_code_groups: usize,
}

impl Reloaded {
    fn of(file: String, r: &Rating) -> Reloaded {
        let mut sponsors: Vec<&str> = r.prices.keys().map(|(s, _)| s.as_str()).collect();
        sponsors.sort_unstable();
        sponsors.dedup();
        Reloaded {
            file,
            bundles: r.bundles.len(),
            tariffs: sponsors.len(),
            rate_code_groups: r.groups.len(),
        }
    }
}

pub struct RatingSource {
    /// None: the embedded copy.
    path: Option<PathBuf>,
    /// Held from the read to the swap: of two reloads at once, the one that
    /// read last is the one left in force (never an older read swapped in
    /// after a newer one).
    reloading: Mutex<()>,
}

impl RatingSource {
    pub fn new(path: Option<PathBuf>) -> RatingSource {
        RatingSource {
            path,
            reloading: Mutex::new(()),
        }
    }

    /// The file's name as errors give it: the configured path as written.
    pub fn file(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| EMBEDDED_NAME.to_string(), |p| p.display().to_string())
    }

    /// Reads and parses the rating data, changing nothing.
    pub fn load(&self) -> Result<Rating, SourceError> {
        let file = self.file();
        let text = match &self.path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| SourceError::Read {
                file: file.clone(),
                source,
            })?,
            None => EMBEDDED.to_string(),
        };
        Ok(Rating::parse(&text, &file)?)
    }

    /// Reads and parses the file again and, only if all of it is sound,
    /// hands the new version to `install` (the engine's swap). `trigger`
    /// (SIGHUP, api) goes into the log. Blocks on the file: call it off the
    /// async workers.
    pub fn reload(
        &self,
        trigger: &str,
        install: impl FnOnce(Rating),
    ) -> Result<Reloaded, SourceError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        match self.load() {
            Ok(rating) => {
                let done = Reloaded::of(self.file(), &rating);
                install(rating);
                metrics::counter!(RELOADS, "result" => "ok").increment(1);
                tracing::info!(
                    trigger,
                    file = %done.file,
                    bundles = done.bundles,
                    tariffs = done.tariffs,
                    rate_code_groups = done.rate_code_groups,
                    "rating reloaded"
                );
                Ok(done)
            }
            Err(e) => {
                metrics::counter!(RELOADS, "result" => "error").increment(1);
                tracing::error!(trigger, error = %e, "rating not reloaded; the running version stays");
                Err(e)
            }
        }
    }
}

/// Makes both series of the reload counter visible from the start, so an
/// alert on errors has a zero to rise from.
pub fn register_metrics() {
    for result in ["ok", "error"] {
        metrics::counter!(RELOADS, "result" => result).absolute(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(tag: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "gyro-rating-{tag}-{}-{:?}.toml",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_bad_file_installs_nothing() {
        let p = temp_file("bad", "reporting_currency = \n");
        let src = RatingSource::new(Some(p.clone()));
        let mut installed = false;
        let e = src.reload("test", |_| installed = true).unwrap_err();
        assert!(!installed);
        assert!(
            e.to_string().starts_with(&format!("{}:1: ", p.display())),
            "{e}"
        );
        std::fs::remove_file(&p).unwrap();
        let e = src.reload("test", |_| installed = true).unwrap_err();
        assert!(matches!(e, SourceError::Read { .. }) && !installed, "{e}");
    }

    #[test]
    fn a_good_file_is_installed_and_counted() {
        let p = temp_file("good", EMBEDDED);
        let src = RatingSource::new(Some(p.clone()));
        let mut got = None;
        let done = src.reload("test", |r| got = Some(r)).unwrap();
        assert!(got.is_some());
        let bundles = EMBEDDED.matches("[[bundle]]").count();
        let tariffs = EMBEDDED.matches("[[tariff]]").count();
        assert_eq!(
            (done.bundles, done.tariffs, done.rate_code_groups),
            (bundles, tariffs, 2)
        );
        assert_eq!(done.file, p.display().to_string());
        assert_eq!(RatingSource::new(None).file(), EMBEDDED_NAME);
        std::fs::remove_file(&p).unwrap();
    }
}
