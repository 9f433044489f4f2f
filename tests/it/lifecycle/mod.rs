//! The subscriber lifecycle on the test clock: grace, closure, renewal,
//! recycling and end of life with the IMSI audit, bundle change and eSIM
//! swap.

mod bundle_change;
mod grace_and_closure;
mod recycling;
mod story_timeline;
mod test_clock;
mod transitions;
