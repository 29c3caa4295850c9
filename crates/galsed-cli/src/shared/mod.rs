//! Helpers shared by the commands (no command lives here).

pub mod args;
pub mod model;
pub mod plots;
pub mod progress;
