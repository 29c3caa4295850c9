//! SKIRT 9 interop: parameter files for radiative-transfer runs and readers of their SED outputs.
