//! `vastfleet status`.
use crate::{cli::StatusArgs, Fatal};

pub async fn run(_args: StatusArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("status: not built yet"))
}
