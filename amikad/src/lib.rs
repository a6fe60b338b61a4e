//! The amika daemon as a library: everything `amikad` does, organised so that each part can
//! be read and tested on its own.
//!
//! - [`api`]: the HTTP/JSON route table and handlers on the Unix socket.
//! - [`service`]: the product's rules, callable without HTTP.
//! - [`state`]: SQLite rows and the intent journal; the only place with SQL.
//! - [`storage`]: the pool behind one trait, with the btrfs backend and the embedded pool.
//! - [`safefs`] and [`unpack`]: writes confined to a tree, and the tar unpacker built on them.
//! - [`runtime`]: init processes in namespaces, cgroups, and commands run inside.
//! - [`daemon`]: start-up and shutdown in their fixed order; [`config`] for the flags and the
//!   configuration file, [`systemd`] and [`detach`] for running as a service.

pub mod api;
pub mod command;
pub mod config;
pub mod daemon;
pub mod detach;
pub mod error;
pub mod failpoint;
pub mod lock;
pub mod mountinfo;
pub mod names;
pub mod presets;
pub mod repo;
pub mod runtime;
pub mod safefs;
pub mod scrub;
pub mod service;
pub mod state;
pub mod storage;
pub mod systemd;
pub mod unpack;
