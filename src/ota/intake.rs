//! (#15, in progress)
