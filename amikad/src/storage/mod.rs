//! Storage: the pool that holds images, sandboxes and snapshots.

pub mod pool;
