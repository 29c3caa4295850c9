//! galsed emulator
