//! galsed core
