//! Training new galsed emulators (Starduster §2.2–2.3): SKIRT 9 interop (`skirt`), and the
//! preparation, training and validation of the networks.

pub mod skirt;
