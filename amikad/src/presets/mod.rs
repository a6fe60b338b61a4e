//! Presets: recipes the daemon builds into images on first use.

pub mod coder;
pub mod debian;
pub mod minimal;
pub mod steps;
