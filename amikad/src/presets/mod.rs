//! Presets: recipes the daemon builds into images on first use.

pub mod minimal;
