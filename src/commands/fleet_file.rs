//! `vastfleet add | remove | check`: the fleet file's own commands.
use crate::{
    cli::{AddArgs, CheckArgs, RemoveArgs},
    Fatal,
};

pub async fn add(_args: AddArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("add: not built yet"))
}

pub fn remove(_args: RemoveArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("remove: not built yet"))
}

pub fn check(_args: CheckArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("check: not built yet"))
}
