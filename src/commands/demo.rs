//! `vastfleet demo`.
use crate::{cli::DemoArgs, Fatal};

pub async fn run(_args: DemoArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("demo: not built yet"))
}
