//! gyro's integration tests, one binary.

mod layers;
