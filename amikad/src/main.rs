//! `amikad`: the amika daemon.

mod command;
mod lock;
mod presets;
mod safefs;
mod storage;
mod unpack;

fn main() {}
