//! Issue 14: the habits of the command-line tools people already trust — pipes, terminals,
//! flags, packaging — checked on the real binary.

mod pipes;
mod snapshot;
