//! (in progress)

/// The hidden first argument that selects this program.
pub const ARG: &str = "__amika-exec";

/// Entry point.
pub fn main(_args: Vec<std::ffi::OsString>) -> ! {
    std::process::exit(1)
}
