//! Issue 14: the habits of the command-line tools people already trust — pipes, terminals,
//! flags, packaging — checked on the real binary.

mod grammar;
mod pipes;
mod snapshot;
mod terminal;
