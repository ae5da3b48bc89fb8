//! `vastfleet sim`.
use crate::{cli::SimArgs, Fatal};

pub async fn run(_args: SimArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("sim: not built yet"))
}
