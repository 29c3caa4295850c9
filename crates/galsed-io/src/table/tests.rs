use std::fs::File;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};

use super::*;

fn sample() -> Table {
    Table::new(vec![
        Column::str(
            "id",
            vec!["NGC 1, \"a\"".into(), "J1234+56".into(), "x".into()],
        ),
        Column::i64("objid", vec![1_237_648_720_693_755_918, -3, 0]),
        Column::f64("flux_g", vec![1.5, f64::NAN, 1e-300]),
        Column::f64("z", vec![0.0, f64::INFINITY, -2.25e20]),
    ])
    .unwrap()
}

/// Equality with NaN == NaN.
fn assert_same(a: &Table, b: &Table) {
    assert_eq!(a.names(), b.names());
    for (x, y) in a.columns.iter().zip(&b.columns) {
        match (&x.data, &y.data) {
            (ColumnData::F64(u), ColumnData::F64(v)) => {
                assert_eq!(u.len(), v.len(), "{}", x.name);
                for (p, q) in u.iter().zip(v) {
                    assert!(
                        p == q || (p.is_nan() && q.is_nan()),
                        "{}: {p} vs {q}",
                        x.name
                    );
                }
            }
            _ => assert_eq!(x, y),
        }
    }
}

fn msg(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[test]
fn round_trips_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let t = sample();
    for ext in ["csv", "fits", "parquet"] {
        let p = dir.path().join(format!("cat.{ext}"));
        write_table(&p, &t).unwrap();
        // Overwriting goes through a temporary file that does not stay behind.
        write_table(&p, &t).unwrap();
        let back = read_table(&p).unwrap();
        assert_same(&t, &back);
        assert_eq!(back.source.as_deref(), Some(p.as_path()));
        assert_eq!(back.n_rows(), 3);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("cat.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o044, 0, "not readable by others: {mode:o}");
    }
}

#[test]
fn fits_hdu_selection() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cat.fits");
    write_table(&p, &sample()).unwrap();
    let by_name = read_table(&dir.path().join("cat.fits[TABLE]")).unwrap();
    let by_number = read_fits(&p, Some("1")).unwrap();
    assert_same(&by_name, &sample());
    assert_same(&by_number, &sample());

    let e = msg(read_table(&dir.path().join("cat.fits[PHOT]")).unwrap_err());
    assert!(
        e.contains("cat.fits") && e.contains("no HDU named 'PHOT'"),
        "{e}"
    );
    assert!(e.contains("1 'TABLE' (binary table)"), "{e}");
    let e = msg(read_fits(&p, Some("7")).unwrap_err());
    assert!(e.contains("no HDU number 7"), "{e}");
    let e = msg(read_fits(&p, Some("0")).unwrap_err());
    assert!(e.contains("HDU 0 is an image"), "{e}");
    let e = msg(read_table(&dir.path().join("cat.csv[1]")).unwrap_err());
    assert!(e.contains("only meaningful for FITS"), "{e}");
}

/// A FITS file made with the high-level `fitsio` API: several types, nulls, a second table.
#[test]
fn fits_column_types() {
    use fitsio::FitsFile;
    use fitsio::tables::{ColumnDataType, ColumnDescription};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("types.fits");
    {
        let _g = fits_test_lock();
        let mut f = FitsFile::create(&p).open().unwrap();
        let cols = [
            ColumnDescription::new("ID")
                .with_type(ColumnDataType::Int)
                .create()
                .unwrap(),
            ColumnDescription::new("MAG")
                .with_type(ColumnDataType::Float)
                .create()
                .unwrap(),
            ColumnDescription::new("NAME")
                .with_type(ColumnDataType::String)
                .that_repeats(8)
                .create()
                .unwrap(),
        ];
        let hdu = f.create_table("OBS", &cols).unwrap();
        hdu.write_col(&mut f, "ID", &[10i32, -20]).unwrap();
        hdu.write_col(&mut f, "MAG", &[21.5f32, f32::NAN]).unwrap();
        hdu.write_col(&mut f, "NAME", &["a".to_string(), "bb c".to_string()])
            .unwrap();
        let cols = [
            ColumnDescription::new("OK")
                .with_type(ColumnDataType::Double)
                .create()
                .unwrap(),
            ColumnDescription::new("FLUX_APER")
                .with_type(ColumnDataType::Double)
                .that_repeats(3)
                .create()
                .unwrap(),
        ];
        f.create_table("VEC", &cols).unwrap();
    }
    let t = read_table(&p).unwrap();
    assert_eq!(t.names(), ["ID", "MAG", "NAME"]);
    assert_eq!(t.column("ID").unwrap().data, ColumnData::I64(vec![10, -20]));
    let mag = t.f64_column("MAG").unwrap();
    assert_eq!(mag[0], 21.5);
    assert!(mag[1].is_nan());
    assert_eq!(t.str_column("NAME").unwrap(), ["a", "bb c"]);
    assert_eq!(t.str_column("ID").unwrap(), ["10", "-20"]);
    let e = msg(read_fits(&p, Some("VEC")).unwrap_err());
    assert!(
        e.contains("types.fits")
            && e.contains("HDU 2 'VEC'")
            && e.contains("column 'FLUX_APER'")
            && e.contains("vector"),
        "{e}"
    );
}

/// The test builds FITS files with `fitsio` itself: under the module's lock.
fn fits_test_lock() -> std::sync::MutexGuard<'static, ()> {
    crate::fits::lock()
}

/// A gzip member with stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*c);
    }
    out.extend((!crc).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

#[test]
fn reads_gzipped_fits_but_does_not_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cat.fits");
    write_table(&p, &sample()).unwrap();
    let gz = dir.path().join("cat.fits.gz");
    std::fs::write(&gz, gzip_stored(&std::fs::read(&p).unwrap())).unwrap();
    assert_same(&read_table(&gz).unwrap(), &sample());
    assert_same(
        &read_table(&dir.path().join("cat.fits.gz[TABLE]")).unwrap(),
        &sample(),
    );
    let e = msg(write_table(&gz, &sample()).unwrap_err());
    assert!(e.contains("compressed FITS is not supported"), "{e}");
}

#[test]
fn malformed_fits_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cat.fits");
    write_table(&p, &sample()).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    // Cut inside the table's data, inside its header, and inside the primary header.
    for keep in [bytes.len() - 2880 + 10, 2880 + 100, 1000, 0] {
        let cut = dir.path().join(format!("cut{keep}.fits"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let e = msg(read_table(&cut).unwrap_err());
        assert!(e.contains(&format!("cut{keep}.fits")), "{e}");
    }
    let junk = dir.path().join("junk.fits");
    std::fs::write(&junk, b"id,flux\n1,2\n").unwrap();
    let e = msg(read_table(&junk).unwrap_err());
    assert!(
        e.contains("junk.fits") && e.contains("not a readable FITS file"),
        "{e}"
    );
    let e = msg(read_table(&dir.path().join("missing.fits")).unwrap_err());
    assert!(
        e.contains("missing.fits") && e.contains("cannot open"),
        "{e}"
    );
}

#[test]
fn csv_type_inference_and_nan() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.csv");
    std::fs::write(
        &p,
        "\u{feff}id , flux_r,err,code,name,\n\
         007, 1.5 ,nan,1,a,x\n\
         12,,NaN,2,3,\n\
         13,2e-3,inf,-4,\"c, d\",\n",
    )
    .unwrap();
    let t = read_table(&p).unwrap();
    assert_eq!(t.names(), ["id", "flux_r", "err", "code", "name", "col6"]);
    assert_eq!(
        t.column("id").unwrap().data,
        ColumnData::Str(vec!["007".into(), "12".into(), "13".into()])
    );
    let f = t.f64_column("flux_r").unwrap();
    assert_eq!((f[0], f[2]), (1.5, 2e-3));
    assert!(f[1].is_nan());
    let err = t.f64_column("err").unwrap();
    assert!(err[0].is_nan() && err[1].is_nan() && err[2] == f64::INFINITY);
    assert_eq!(
        t.column("code").unwrap().data,
        ColumnData::I64(vec![1, 2, -4])
    );
    assert_eq!(t.str_column("name").unwrap(), ["a", "3", "c, d"]);
    assert_eq!(t.column("col6").unwrap().data.type_name(), "string");
    // A text column read as numbers names the file, column, row and cell.
    assert_eq!(&t.f64_column("id").unwrap()[..], &[7.0, 12.0, 13.0]);
    let e = msg(t.f64_column("name").unwrap_err());
    assert!(
        e.contains("in.csv") && e.contains("'name'") && e.contains("row 1 holds \"a\""),
        "{e}"
    );
}

#[test]
fn missing_columns_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.csv");
    std::fs::write(&p, "ID,Flux_r\n1,2\n").unwrap();
    let t = read_table(&p).unwrap();
    let e = msg(t.column("flux_r").unwrap_err());
    assert!(e.contains("no column 'flux_r' in"), "{e}");
    assert!(e.contains("in.csv"), "{e}");
    assert!(e.contains("did you mean 'Flux_r'"), "{e}");
    assert!(e.contains("available columns: ID, Flux_r"), "{e}");
}

#[test]
fn malformed_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let e = msg(read_table(&write("ragged.csv", "a,b\n1,2\n3\n")).unwrap_err());
    assert!(
        e.contains("ragged.csv") && e.contains("row 2 (line 3) has 1 fields but the header has 2"),
        "{e}"
    );
    let e = msg(read_table(&write("header.csv", "a,b\n")).unwrap_err());
    assert!(
        e.contains("header.csv holds no rows (columns: a, b)"),
        "{e}"
    );
    let e = msg(read_table(&write("empty.csv", "")).unwrap_err());
    assert!(e.contains("empty.csv"), "{e}");
    let e = msg(read_table(&write("dup.csv", "a,a\n1,2\n")).unwrap_err());
    assert!(
        e.contains("dup.csv") && e.contains("two columns are named 'a'"),
        "{e}"
    );
    let p = dir.path().join("bad.csv");
    std::fs::write(&p, b"a,b\n1,\xff\n").unwrap();
    let e = msg(read_table(&p).unwrap_err());
    assert!(e.contains("bad.csv") && e.contains("UTF-8"), "{e}");
    let e = msg(read_table(&dir.path().join("none.csv")).unwrap_err());
    assert!(e.contains("none.csv") && e.contains("cannot open"), "{e}");
    let e = msg(read_table(&dir.path().join("cat.txt")).unwrap_err());
    assert!(e.contains("cannot tell the table format of"), "{e}");
}

#[test]
fn parquet_types_and_nulls() {
    use arrow_array::{Float32Array, Int32Array, LargeStringArray};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("f32", DataType::Float32, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i32null", DataType::Int32, true),
        Field::new("s", DataType::LargeUtf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float32Array::from(vec![Some(0.5), None])),
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(Int32Array::from(vec![Some(1), None])),
            Arc::new(LargeStringArray::from(vec![Some("x"), None])),
        ],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(File::create(&p).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let t = read_table(&p).unwrap();
    let f = t.f64_column("f32").unwrap();
    assert!(f[0] == 0.5 && f[1].is_nan());
    assert_eq!(t.column("i32").unwrap().data, ColumnData::I64(vec![1, 2]));
    let n = t.f64_column("i32null").unwrap();
    assert!(n[0] == 1.0 && n[1].is_nan());
    assert_eq!(t.str_column("s").unwrap(), ["x", ""]);

    let bad = dir.path().join("bool.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new(
        "flag",
        DataType::Boolean,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow_array::BooleanArray::from(vec![true]))],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(File::create(&bad).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let e = msg(read_table(&bad).unwrap_err());
    assert!(
        e.contains("bool.parquet") && e.contains("column 'flag'"),
        "{e}"
    );

    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"not parquet").unwrap();
    let e = msg(read_table(&junk).unwrap_err());
    assert!(
        e.contains("junk.parquet") && e.contains("not a readable Parquet"),
        "{e}"
    );
}

#[test]
fn in_memory_tables_are_checked() {
    let e = Table::new(vec![Column::f64("a", vec![1.0]), Column::f64("b", vec![])]);
    assert!(msg(e.unwrap_err()).contains("'b' has 0 rows"));
    let mut t = Table::default();
    t.push(Column::f64("a", vec![1.0, 2.0])).unwrap();
    assert!(t.push(Column::f64("a", vec![1.0, 2.0])).is_err());
    assert!(t.push(Column::i64("b", vec![1])).is_err());
    let dir = tempfile::tempdir().unwrap();
    let e = msg(write_table(&dir.path().join("no/such/dir/x.csv"), &t).unwrap_err());
    assert!(e.contains("x.csv"), "{e}");
    let bad = Table::new(vec![Column::f64("é", vec![1.0])]).unwrap();
    let e = msg(write_table(&dir.path().join("x.fits"), &bad).unwrap_err());
    assert!(e.contains("x.fits") && e.contains("'é'"), "{e}");
    // Zero rows can be written (e.g. no galaxy converged) but not read back as a catalogue.
    let empty = Table::new(vec![Column::f64("a", vec![]), Column::str("s", vec![])]).unwrap();
    for ext in ["csv", "fits", "parquet"] {
        let p = dir.path().join(format!("empty.{ext}"));
        write_table(&p, &empty).unwrap();
        let e = msg(read_table(&p).unwrap_err());
        assert!(e.contains("holds no rows"), "{ext}: {e}");
    }
}

#[cfg(feature = "hdf5")]
#[test]
fn hdf5_round_trip_groups_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cat.h5");
    write_table(&p, &sample()).unwrap();
    write_table(&p, &sample()).unwrap();
    let back = read_table(&p).unwrap();
    assert_same(&sample(), &back);
    assert_eq!(back.source.as_deref(), Some(p.as_path()));

    // A group of datasets written by another program (name order), with other types.
    let q = dir.path().join("other.hdf5");
    {
        let f = hdf5_metno::File::create(&q).unwrap();
        let g = f.create_group("phot").unwrap();
        g.new_dataset_builder()
            .with_data(&[1.5f32, 2.5])
            .create("b_mag")
            .unwrap();
        g.new_dataset_builder()
            .with_data(&[7u16, 9])
            .create("a_id")
            .unwrap();
        g.new_dataset_builder()
            .with_data(&[u64::MAX, 1])
            .create("c_big")
            .unwrap();
        f.new_dataset_builder()
            .with_data(&ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]))
            .create("matrix")
            .unwrap();
    }
    let t = read_table(&dir.path().join("other.hdf5[phot]")).unwrap();
    assert_eq!(t.names(), ["a_id", "b_mag", "c_big"]);
    assert_eq!(t.column("a_id").unwrap().data, ColumnData::I64(vec![7, 9]));
    assert_eq!(&t.f64_column("b_mag").unwrap()[..], &[1.5, 2.5]);
    assert_eq!(t.f64_column("c_big").unwrap()[0], u64::MAX as f64);
    let e = msg(read_table(&q).unwrap_err());
    assert!(e.contains("other.hdf5") && e.contains("'matrix'"), "{e}");
    let e = msg(read_table(&dir.path().join("other.hdf5[nope]")).unwrap_err());
    assert!(e.contains("no group 'nope'"), "{e}");
}

#[test]
fn formats_from_file_names() {
    let f = |s: &str| Format::from_path(Path::new(s)).ok();
    assert_eq!(f("a.CSV"), Some(Format::Csv));
    assert_eq!(f("a.ecsv"), Some(Format::Ecsv));
    assert_eq!(f("a.vot"), Some(Format::VoTable));
    assert_eq!(f("dir/a.VOTable"), Some(Format::VoTable));
    assert_eq!(f("a.xml"), Some(Format::VoTable));
    assert_eq!(f("a.fits[PHOT]"), Some(Format::Fits));
    assert_eq!(f("dir/a.fit.gz"), Some(Format::FitsGz));
    assert_eq!(f("a.pq"), Some(Format::Parquet));
    assert_eq!(f("a.he5"), Some(Format::Hdf5));
    assert_eq!(f("a.hdf5[grp]"), Some(Format::Hdf5));
    assert_eq!(f("a.npz"), Some(Format::Npz));
    assert_eq!(f("a.txt"), None);
    assert_eq!(f("fits"), None);
}

#[test]
fn units_round_trip_through_fits_parquet_and_ecsv() {
    let dir = tempfile::tempdir().unwrap();
    let t = Table::new(vec![
        Column::str("id", vec!["NGC 628".into(), "a, 'b'".into()]),
        Column::f64("sfr_p50", vec![1.5, f64::NAN]).with_unit("solMass / yr"),
        Column::f64("log_mstar", vec![10.2, 9.0]).with_unit("dex(solMass)"),
        Column::f64("theta", vec![45.0, 0.0]).with_unit("deg"),
        Column::i64("n_bands", vec![19, 18]).with_unit(""),
    ])
    .unwrap();
    for ext in ["fits", "parquet", "ecsv"] {
        let p = dir.path().join(format!("units.{ext}"));
        write_table(&p, &t).unwrap();
        let back = read_table(&p).unwrap();
        assert_same(&Table::new(back.columns.clone()).unwrap(), &{
            // Dimensionless units ("") are not written: they read back as None.
            let mut u = t.clone();
            u.columns[4].unit = None;
            u
        });
        let unit = |n: &str| back.column(n).unwrap().unit.clone();
        assert_eq!(unit("sfr_p50").as_deref(), Some("solMass / yr"), "{ext}");
        assert_eq!(unit("log_mstar").as_deref(), Some("dex(solMass)"), "{ext}");
        assert_eq!(unit("theta").as_deref(), Some("deg"), "{ext}");
        assert_eq!(unit("id"), None, "{ext}");
    }
    let ecsv = std::fs::read_to_string(dir.path().join("units.ecsv")).unwrap();
    assert!(
        ecsv.starts_with("# %ECSV 1.0\n# ---\n# datatype:\n"),
        "{ecsv}"
    );
    assert!(ecsv.contains("# - {name: 'sfr_p50', unit: 'solMass / yr', datatype: float64}"));
    assert!(ecsv.contains("# - {name: 'id', datatype: string}"));
    // A plain CSV has no units.
    let p = dir.path().join("units.csv");
    write_table(&p, &t).unwrap();
    assert!(
        read_table(&p)
            .unwrap()
            .columns
            .iter()
            .all(|c| c.unit.is_none())
    );
    // Not ECSV at all.
    let bad = dir.path().join("bad.ecsv");
    std::fs::write(&bad, "a,b\n1,2\n").unwrap();
    assert!(msg(read_table(&bad).unwrap_err()).contains("not an ECSV file"));
}
