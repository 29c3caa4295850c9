//! SAM (semi-analytic model) catalogues, feature `sam`: chunked readers of HDF5, Parquet and
//! FITS catalogues ([`open`], [`Source`], [`SamChunk`]), a block-wise writer
//! ([`write_catalogue`]), and the result files of catalogue runs: Parquet part files written
//! atomically per chunk and merged into one Parquet or HDF5 file ([`write_part`], [`merge`],
//! [`OutputColumns`]).

mod sink;
mod source;
mod write;

pub use sink::{
    ChunkResult, OutputColumns, OutputFormat, SCALAR_COLUMNS, StatusCounts, merge, part_path,
    write_part,
};
pub use source::{
    FitsSource, HISTORIES, Hdf5Source, ParquetSource, SCALARS, SamChunk, Source, open,
};
pub use write::write_catalogue;
