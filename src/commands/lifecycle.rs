//! `vastfleet stop | start | destroy`.
use crate::{
    cli::{DestroyArgs, IdsArgs},
    Fatal,
};

pub async fn stop(_args: IdsArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("stop: not built yet"))
}

pub async fn start(_args: IdsArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("start: not built yet"))
}

pub async fn destroy(_args: DestroyArgs) -> Result<(), Fatal> {
    Err(Fatal::runtime("destroy: not built yet"))
}
