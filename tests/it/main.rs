//! gyro's integration tests, one binary.

mod docs;
mod layers;
