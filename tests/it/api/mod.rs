//! The admin API's door over real sockets: the bearer token checked before
//! any body byte is read, the gate of a few imports at once, and imports
//! streamed so that a big file does not grow the process.

mod door;
mod streamed_imports;
