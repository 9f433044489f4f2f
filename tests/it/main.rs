//! The integration tests that run as one binary.

mod docs;
