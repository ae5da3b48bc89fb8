//! `vastfleet watch`.
use crate::{cli::WatchArgs, Fatal};

pub async fn run(_args: WatchArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("watch: not built yet"))
}
