//! Survey files: HDF5 (`.h5`, `.hdf5`) and Parquet (`.parquet`), chosen by extension.
//!
//! **HDF5** — datasets at the root: `loglam` (n_pix, f64), `flux`, `ivar` (n × n_pix, f32),
//! `and_mask` (n × n_pix, u32), `id` (n, i64), `redshift` (n, f64), `ugriz`, `ugriz_err` (n × 5),
//! `wise`, `wise_err` (n × 4, f64); for synthetic surveys a group `truth` with `gp` (n × 7, f32),
//! `sfh_disk`, `sfh_bulge` (n × 36, f32), `log_mstar`, `log_sfr`, `distmod` (n, f64),
//! `quiescent` (n, u8 0/1) and `wise_true` (n × 4, f64).
//!
//! **Parquet** — one row per galaxy: `id` (Int64), `redshift` (Float64), `flux`, `ivar`
//! (`FixedSizeList<Float32>[n_pix]`), `and_mask` (`FixedSizeList<UInt32>[n_pix]`), `ugriz`,
//! `ugriz_err` (`FixedSizeList<Float64>[5]`), `wise`, `wise_err` (\[4\]); truth columns `truth_gp`
//! (Float32\[7\]), `truth_sfh_disk`, `truth_sfh_bulge` (Float32\[36\]), `truth_log_mstar`,
//! `truth_log_sfr`, `truth_distmod` (Float64), `truth_quiescent` (Boolean), `truth_wise_true`
//! (Float64\[4\]). The wavelength grid is the key-value metadata `galsed.loglam` (a JSON array).
//!
//! Values round-trip bitwise in both formats.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type, UInt32Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, FixedSizeListArray, Float64Array,
    Int64Array, PrimitiveArray, RecordBatch,
};
use arrow_schema::{DataType, Field, Schema};
use ndarray::{Array1, Array2};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::survey::{Spectra, Survey, Truth};
use crate::{OptirError, file_err};

/// Parquet metadata key of the wavelength grid.
pub const LOGLAM_KEY: &str = "galsed.loglam";
/// Rows per Parquet record batch when writing.
const ROWS_PER_BATCH: usize = 2048;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Hdf5,
    Parquet,
}

fn format_of(path: &Path) -> Result<Format, OptirError> {
    match galsed_io::Format::from_path(path).ok() {
        Some(galsed_io::Format::Hdf5) => Ok(Format::Hdf5),
        Some(galsed_io::Format::Parquet) => Ok(Format::Parquet),
        _ => Err(file_err(
            path,
            "unknown survey format: use .h5/.hdf5 (HDF5) or .parquet",
        )),
    }
}

/// Writes a survey; the format follows the extension (`.h5`/`.hdf5` or `.parquet`).
pub fn write_survey(path: impl AsRef<Path>, survey: &Survey) -> Result<(), OptirError> {
    let path = path.as_ref();
    let format = format_of(path)?;
    check_shapes(survey).map_err(|m| file_err(path, m))?;
    match format {
        Format::Hdf5 => write_hdf5(path, survey),
        Format::Parquet => write_parquet(path, survey),
    }
}

/// Reads a survey written by [`write_survey`] (or laid out the same way).
pub fn read_survey(path: impl AsRef<Path>) -> Result<Survey, OptirError> {
    let path = path.as_ref();
    let survey = match format_of(path)? {
        Format::Hdf5 => read_hdf5(path)?,
        Format::Parquet => read_parquet(path)?,
    };
    check_shapes(&survey).map_err(|m| file_err(path, m))?;
    Ok(survey)
}

/// Consistency of every array with n galaxies and n_pix pixels.
fn check_shapes(s: &Survey) -> Result<(), String> {
    let n = s.id.len();
    let p = s.spectra.loglam.len();
    let mut bad = Vec::new();
    let mut need = |name: &str, got: (usize, usize), want: (usize, usize)| {
        if got != want {
            bad.push(format!(
                "{name} is {} × {}, expected {} × {}",
                got.0, got.1, want.0, want.1
            ));
        }
    };
    need("redshift", (s.redshift.len(), 1), (n, 1));
    need("flux", s.spectra.flux.dim(), (n, p));
    need("ivar", s.spectra.ivar.dim(), (n, p));
    need("and_mask", s.spectra.and_mask.dim(), (n, p));
    need("ugriz", s.ugriz.dim(), (n, 5));
    need("ugriz_err", s.ugriz_err.dim(), (n, 5));
    need("wise", s.wise.dim(), (n, 4));
    need("wise_err", s.wise_err.dim(), (n, 4));
    if let Some(t) = &s.truth {
        need("truth/gp", t.gp.dim(), (n, 7));
        need("truth/sfh_disk", t.sfh_disk.dim(), (n, 36));
        need("truth/sfh_bulge", t.sfh_bulge.dim(), (n, 36));
        need("truth/log_mstar", (t.log_mstar.len(), 1), (n, 1));
        need("truth/log_sfr", (t.log_sfr.len(), 1), (n, 1));
        need("truth/quiescent", (t.quiescent.len(), 1), (n, 1));
        need("truth/distmod", (t.distmod.len(), 1), (n, 1));
        need("truth/wise_true", t.wise_true.dim(), (n, 4));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "inconsistent survey ({n} galaxies): {}",
            bad.join("; ")
        ))
    }
}

// ------------------------------------------------------------------------------------------------
// HDF5

fn write_hdf5(path: &Path, s: &Survey) -> Result<(), OptirError> {
    use hdf5_metno as h5;
    let e = |err: h5::Error| file_err(path, format!("HDF5: {err}"));
    let f = h5::File::create(path).map_err(e)?;
    macro_rules! put {
        ($loc:expr, $name:expr, $data:expr) => {
            $loc.new_dataset_builder()
                .with_data($data)
                .create($name)
                .map_err(|err| file_err(path, format!("HDF5 dataset '{}': {err}", $name)))?
        };
    }
    put!(f, "loglam", &Array1::from(s.spectra.loglam.clone()));
    put!(f, "flux", &s.spectra.flux);
    put!(f, "ivar", &s.spectra.ivar);
    put!(f, "and_mask", &s.spectra.and_mask);
    put!(f, "id", &Array1::from(s.id.clone()));
    put!(f, "redshift", &Array1::from(s.redshift.clone()));
    put!(f, "ugriz", &s.ugriz);
    put!(f, "ugriz_err", &s.ugriz_err);
    put!(f, "wise", &s.wise);
    put!(f, "wise_err", &s.wise_err);
    if let Some(t) = &s.truth {
        let g = f.create_group("truth").map_err(e)?;
        put!(g, "gp", &t.gp);
        put!(g, "sfh_disk", &t.sfh_disk);
        put!(g, "sfh_bulge", &t.sfh_bulge);
        put!(g, "log_mstar", &Array1::from(t.log_mstar.clone()));
        put!(g, "log_sfr", &Array1::from(t.log_sfr.clone()));
        put!(g, "distmod", &Array1::from(t.distmod.clone()));
        put!(
            g,
            "quiescent",
            &Array1::from(
                t.quiescent
                    .iter()
                    .map(|&q| u8::from(q))
                    .collect::<Vec<u8>>()
            )
        );
        put!(g, "wise_true", &t.wise_true);
    }
    f.close().map_err(e)
}

fn read_hdf5(path: &Path) -> Result<Survey, OptirError> {
    use hdf5_metno as h5;
    let f = h5::File::open(path).map_err(|err| file_err(path, format!("HDF5: {err}")))?;
    let ds = |loc: &h5::Group, name: &str| {
        loc.dataset(name)
            .map_err(|err| file_err(path, format!("missing dataset '{name}': {err}")))
    };
    let rd_err = |name: &str, err: h5::Error| file_err(path, format!("dataset '{name}': {err}"));
    fn v1<T: h5::H5Type + Clone>(d: &h5::Dataset) -> Result<Vec<T>, h5::Error> {
        Ok(d.read_1d::<T>()?.to_vec())
    }
    fn a2<T: h5::H5Type>(d: &h5::Dataset) -> Result<Array2<T>, h5::Error> {
        d.read_2d::<T>()
    }
    let root: &h5::Group = &f;
    let loglam = v1::<f64>(&ds(root, "loglam")?).map_err(|e| rd_err("loglam", e))?;
    let get2f32 = |g: &h5::Group, n: &str| a2::<f32>(&ds(g, n)?).map_err(|e| rd_err(n, e));
    let get2f64 = |g: &h5::Group, n: &str| a2::<f64>(&ds(g, n)?).map_err(|e| rd_err(n, e));
    let get1f64 = |g: &h5::Group, n: &str| v1::<f64>(&ds(g, n)?).map_err(|e| rd_err(n, e));
    let spectra = Spectra {
        loglam,
        flux: get2f32(root, "flux")?,
        ivar: get2f32(root, "ivar")?,
        and_mask: a2::<u32>(&ds(root, "and_mask")?).map_err(|e| rd_err("and_mask", e))?,
    };
    let truth = match f.group("truth") {
        Ok(g) => Some(Truth {
            gp: get2f32(&g, "gp")?,
            sfh_disk: get2f32(&g, "sfh_disk")?,
            sfh_bulge: get2f32(&g, "sfh_bulge")?,
            log_mstar: get1f64(&g, "log_mstar")?,
            log_sfr: get1f64(&g, "log_sfr")?,
            quiescent: v1::<u8>(&ds(&g, "quiescent")?)
                .map_err(|e| rd_err("truth/quiescent", e))?
                .into_iter()
                .map(|q| q != 0)
                .collect(),
            distmod: get1f64(&g, "distmod")?,
            wise_true: get2f64(&g, "wise_true")?,
        }),
        Err(_) => None,
    };
    Ok(Survey {
        id: v1::<i64>(&ds(root, "id")?).map_err(|e| rd_err("id", e))?,
        redshift: get1f64(root, "redshift")?,
        spectra,
        ugriz: get2f64(root, "ugriz")?,
        ugriz_err: get2f64(root, "ugriz_err")?,
        wise: get2f64(root, "wise")?,
        wise_err: get2f64(root, "wise_err")?,
        truth,
    })
}

// ------------------------------------------------------------------------------------------------
// Parquet

fn list_field(name: &str, item: DataType, width: usize) -> Field {
    Field::new(
        name,
        DataType::FixedSizeList(Arc::new(Field::new("item", item, false)), width as i32),
        false,
    )
}

fn schema(n_pix: usize, truth: bool) -> Schema {
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("redshift", DataType::Float64, false),
        list_field("flux", DataType::Float32, n_pix),
        list_field("ivar", DataType::Float32, n_pix),
        list_field("and_mask", DataType::UInt32, n_pix),
        list_field("ugriz", DataType::Float64, 5),
        list_field("ugriz_err", DataType::Float64, 5),
        list_field("wise", DataType::Float64, 4),
        list_field("wise_err", DataType::Float64, 4),
    ];
    if truth {
        fields.extend([
            list_field("truth_gp", DataType::Float32, 7),
            list_field("truth_sfh_disk", DataType::Float32, 36),
            list_field("truth_sfh_bulge", DataType::Float32, 36),
            Field::new("truth_log_mstar", DataType::Float64, false),
            Field::new("truth_log_sfr", DataType::Float64, false),
            Field::new("truth_quiescent", DataType::Boolean, false),
            Field::new("truth_distmod", DataType::Float64, false),
            list_field("truth_wise_true", DataType::Float64, 4),
        ]);
    }
    Schema::new(fields)
}

/// Rows a..b of a 2-D array as a fixed-size-list column.
fn list_col<T>(
    a: &Array2<T::Native>,
    rows: std::ops::Range<usize>,
    item: DataType,
) -> Result<ArrayRef, String>
where
    T: ArrowPrimitiveType,
    T::Native: Clone,
{
    let width = a.ncols();
    let values: Vec<T::Native> = a.slice(ndarray::s![rows, ..]).iter().cloned().collect();
    let values = Arc::new(PrimitiveArray::<T>::from_iter_values(values));
    let field = Arc::new(Field::new("item", item, false));
    FixedSizeListArray::try_new(field, width as i32, values, None)
        .map(|l| Arc::new(l) as ArrayRef)
        .map_err(|e| e.to_string())
}

fn write_parquet(path: &Path, s: &Survey) -> Result<(), OptirError> {
    let e = |m: String| file_err(path, format!("Parquet: {m}"));
    let schema = Arc::new(schema(s.spectra.loglam.len(), s.truth.is_some()));
    let loglam = serde_json::to_string(&s.spectra.loglam).map_err(|err| e(err.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new(LOGLAM_KEY.to_string(), loglam)]))
        .build();
    let file = File::create(path).map_err(|err| e(err.to_string()))?;
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .map_err(|err| e(err.to_string()))?;
    let n = s.len();
    let mut start = 0;
    loop {
        let end = (start + ROWS_PER_BATCH).min(n);
        let r = start..end;
        let f64s = |v: &[f64]| Arc::new(Float64Array::from(v[r.clone()].to_vec())) as ArrayRef;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(s.id[r.clone()].to_vec())),
            f64s(&s.redshift),
            list_col::<Float32Type>(&s.spectra.flux, r.clone(), DataType::Float32).map_err(e)?,
            list_col::<Float32Type>(&s.spectra.ivar, r.clone(), DataType::Float32).map_err(e)?,
            list_col::<UInt32Type>(&s.spectra.and_mask, r.clone(), DataType::UInt32).map_err(e)?,
            list_col::<Float64Type>(&s.ugriz, r.clone(), DataType::Float64).map_err(e)?,
            list_col::<Float64Type>(&s.ugriz_err, r.clone(), DataType::Float64).map_err(e)?,
            list_col::<Float64Type>(&s.wise, r.clone(), DataType::Float64).map_err(e)?,
            list_col::<Float64Type>(&s.wise_err, r.clone(), DataType::Float64).map_err(e)?,
        ];
        if let Some(t) = &s.truth {
            cols.extend([
                list_col::<Float32Type>(&t.gp, r.clone(), DataType::Float32).map_err(e)?,
                list_col::<Float32Type>(&t.sfh_disk, r.clone(), DataType::Float32).map_err(e)?,
                list_col::<Float32Type>(&t.sfh_bulge, r.clone(), DataType::Float32).map_err(e)?,
                f64s(&t.log_mstar),
                f64s(&t.log_sfr),
                Arc::new(BooleanArray::from(t.quiescent[r.clone()].to_vec())) as ArrayRef,
                f64s(&t.distmod),
                list_col::<Float64Type>(&t.wise_true, r.clone(), DataType::Float64).map_err(e)?,
            ]);
        }
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|err| e(err.to_string()))?;
        w.write(&batch).map_err(|err| e(err.to_string()))?;
        start = end;
        if start >= n {
            break;
        }
    }
    w.close().map_err(|err| e(err.to_string()))?;
    Ok(())
}

/// Accumulates one column over record batches.
struct Col<T> {
    values: Vec<T>,
    width: usize,
}

fn read_parquet(path: &Path) -> Result<Survey, OptirError> {
    let e = |m: String| file_err(path, m);
    let file = File::open(path).map_err(|err| e(err.to_string()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|err| e(format!("Parquet: {err}")))?;
    let loglam: Vec<f64> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == LOGLAM_KEY))
        .and_then(|k| k.value.as_deref())
        .ok_or_else(|| e(format!("no '{LOGLAM_KEY}' metadata (the wavelength grid)")))
        .and_then(|v| {
            serde_json::from_str(v).map_err(|err| e(format!("metadata '{LOGLAM_KEY}': {err}")))
        })?;
    let has_truth = builder.schema().field_with_name("truth_gp").is_ok();
    let reader = builder
        .with_batch_size(ROWS_PER_BATCH)
        .build()
        .map_err(|err| e(format!("Parquet: {err}")))?;

    let mut id: Vec<i64> = Vec::new();
    let mut redshift: Vec<f64> = Vec::new();
    fn mk<T>() -> Col<T> {
        Col {
            values: Vec::new(),
            width: 0,
        }
    }
    let (mut flux, mut ivar): (Col<f32>, Col<f32>) = (mk(), mk());
    let mut mask: Col<u32> = mk();
    let (mut ugriz, mut ugriz_err, mut wise, mut wise_err): (
        Col<f64>,
        Col<f64>,
        Col<f64>,
        Col<f64>,
    ) = (mk(), mk(), mk(), mk());
    let (mut gp, mut sd, mut sb): (Col<f32>, Col<f32>, Col<f32>) = (mk(), mk(), mk());
    let (mut lm, mut ls, mut dm, mut wt): (Vec<f64>, Vec<f64>, Vec<f64>, Col<f64>) =
        (vec![], vec![], vec![], mk());
    let mut quiescent: Vec<bool> = Vec::new();

    for batch in reader {
        let batch = batch.map_err(|err| e(format!("Parquet: {err}")))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| e(format!("missing column '{name}'")))
        };
        fn prim<'a, T: ArrowPrimitiveType>(
            a: &'a ArrayRef,
            name: &str,
            path: &Path,
        ) -> Result<&'a PrimitiveArray<T>, OptirError> {
            a.as_primitive_opt::<T>().ok_or_else(|| {
                file_err(path, format!("column '{name}' has type {}", a.data_type()))
            })
        }
        fn list<T: ArrowPrimitiveType>(
            a: &ArrayRef,
            name: &str,
            path: &Path,
            out: &mut Col<T::Native>,
        ) -> Result<(), OptirError> {
            let l = a.as_fixed_size_list_opt().ok_or_else(|| {
                file_err(
                    path,
                    format!(
                        "column '{name}' has type {}, expected a fixed-size list",
                        a.data_type()
                    ),
                )
            })?;
            let width = l.value_length() as usize;
            if out.width != 0 && out.width != width {
                return Err(file_err(
                    path,
                    format!(
                        "column '{name}' changes width from {} to {width}",
                        out.width
                    ),
                ));
            }
            out.width = width;
            let values = prim::<T>(l.values(), name, path)?;
            if l.is_empty() {
                return Ok(());
            }
            let off = l.value_offset_at(0);
            out.values
                .extend_from_slice(&values.values()[off..off + l.len() * width]);
            Ok(())
        }
        id.extend(prim::<Int64Type>(col("id")?, "id", path)?.values().iter());
        redshift.extend(
            prim::<Float64Type>(col("redshift")?, "redshift", path)?
                .values()
                .iter(),
        );
        list::<Float32Type>(col("flux")?, "flux", path, &mut flux)?;
        list::<Float32Type>(col("ivar")?, "ivar", path, &mut ivar)?;
        list::<UInt32Type>(col("and_mask")?, "and_mask", path, &mut mask)?;
        list::<Float64Type>(col("ugriz")?, "ugriz", path, &mut ugriz)?;
        list::<Float64Type>(col("ugriz_err")?, "ugriz_err", path, &mut ugriz_err)?;
        list::<Float64Type>(col("wise")?, "wise", path, &mut wise)?;
        list::<Float64Type>(col("wise_err")?, "wise_err", path, &mut wise_err)?;
        if has_truth {
            list::<Float32Type>(col("truth_gp")?, "truth_gp", path, &mut gp)?;
            list::<Float32Type>(col("truth_sfh_disk")?, "truth_sfh_disk", path, &mut sd)?;
            list::<Float32Type>(col("truth_sfh_bulge")?, "truth_sfh_bulge", path, &mut sb)?;
            lm.extend(
                prim::<Float64Type>(col("truth_log_mstar")?, "truth_log_mstar", path)?
                    .values()
                    .iter(),
            );
            ls.extend(
                prim::<Float64Type>(col("truth_log_sfr")?, "truth_log_sfr", path)?
                    .values()
                    .iter(),
            );
            dm.extend(
                prim::<Float64Type>(col("truth_distmod")?, "truth_distmod", path)?
                    .values()
                    .iter(),
            );
            let q = col("truth_quiescent")?
                .as_boolean_opt()
                .ok_or_else(|| e("column 'truth_quiescent' is not boolean".into()))?;
            quiescent.extend(q.values().iter());
            list::<Float64Type>(col("truth_wise_true")?, "truth_wise_true", path, &mut wt)?;
        }
    }
    let n = id.len();
    let arr = |c: Col<f64>, name: &str, width: usize| -> Result<Array2<f64>, OptirError> {
        let w = if n == 0 { width } else { c.width };
        if w != width && width != 0 {
            return Err(e(format!(
                "column '{name}' has {w} values per row, expected {width}"
            )));
        }
        Array2::from_shape_vec((n, w), c.values).map_err(|err| e(format!("column '{name}': {err}")))
    };
    let n_pix = loglam.len();
    let arr32 = |c: Col<f32>, name: &str, width: usize| -> Result<Array2<f32>, OptirError> {
        let w = if n == 0 { width } else { c.width };
        if w != width {
            return Err(e(format!(
                "column '{name}' has {w} values per row, expected {width}"
            )));
        }
        Array2::from_shape_vec((n, w), c.values).map_err(|err| e(format!("column '{name}': {err}")))
    };
    let mask_w = if n == 0 { n_pix } else { mask.width };
    if mask_w != n_pix {
        return Err(e(format!(
            "column 'and_mask' has {mask_w} values per row, expected {n_pix}"
        )));
    }
    let and_mask = Array2::from_shape_vec((n, n_pix), mask.values)
        .map_err(|err| e(format!("and_mask: {err}")))?;
    let truth = if has_truth {
        Some(Truth {
            gp: arr32(gp, "truth_gp", 7)?,
            sfh_disk: arr32(sd, "truth_sfh_disk", 36)?,
            sfh_bulge: arr32(sb, "truth_sfh_bulge", 36)?,
            log_mstar: lm,
            log_sfr: ls,
            quiescent,
            distmod: dm,
            wise_true: arr(wt, "truth_wise_true", 4)?,
        })
    } else {
        None
    };
    Ok(Survey {
        id,
        redshift,
        spectra: Spectra {
            loglam,
            flux: arr32(flux, "flux", n_pix)?,
            ivar: arr32(ivar, "ivar", n_pix)?,
            and_mask,
        },
        ugriz: arr(ugriz, "ugriz", 5)?,
        ugriz_err: arr(ugriz_err, "ugriz_err", 5)?,
        wise: arr(wise, "wise", 4)?,
        wise_err: arr(wise_err, "wise_err", 4)?,
        truth,
    })
}
