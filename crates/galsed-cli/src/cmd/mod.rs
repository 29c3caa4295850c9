//! One module per `galsed` command, each with its own arguments and `run`; commands do not import
//! each other (shared helpers live in `crate::shared`).

pub mod bench;
pub mod catalog;
pub mod demo;
pub mod filters;
pub mod fit;
pub mod model;
pub mod optir;
pub mod sed;
pub mod skirt;
pub mod train;
pub mod validate;
