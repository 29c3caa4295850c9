//! Helpers shared by the tests that write FITS files in the real SDSS and WISE layouts.

use fitsio::tables::{ColumnDataType, ColumnDescription, ConcreteColumnDescription};

/// A binary-table column `name` of type `t`, `repeat` values per row.
pub fn col(name: &str, t: ColumnDataType, repeat: usize) -> ConcreteColumnDescription {
    ColumnDescription::new(name)
        .with_type(t)
        .that_repeats(repeat)
        .create()
        .unwrap()
}
