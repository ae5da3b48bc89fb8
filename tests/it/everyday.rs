//! The everyday commands of issue 13 as the binary against the simulator over loopback:
//! `status` totals / `--wide` / `--all`, `logs`, `ssh`, and label/glob selection.

mod logs;
mod select;
mod ssh;
mod status;
