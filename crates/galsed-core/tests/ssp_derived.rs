//! The SSP-derived tables (§3.2–§3.4) against the reference's `ssp/derived_{base,auto}.npz`.

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use galsed_core::ssp::{DerivedSsp, Regrid, SspError, SspLibrary, WavelengthGrid};
use ndarray::{Array, Array2, Dimension, OwnedRepr};
use ndarray_npy::{NpzReader, ReadableElement};

/// The checkpoint's reduction tolerance.
const EPS_REDUCE: f64 = 5e-4;

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/starduster")
}

fn library() -> SspLibrary {
    let path = reference_dir().join("ssp/ssp_library.npz");
    SspLibrary::from_npz(&path).unwrap_or_else(|e| panic!("{e}"))
}

struct Npz(NpzReader<File>);

impl Npz {
    fn open(name: &str) -> Self {
        let path = reference_dir().join("ssp").join(name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self(NpzReader::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    fn get<T: ReadableElement, D: Dimension>(&mut self, name: &str) -> Array<T, D> {
        self.0
            .by_name::<OwnedRepr<T>, D>(name)
            .unwrap_or_else(|e| panic!("member {name}: {e}"))
    }

    fn vec<T: ReadableElement + Clone>(&mut self, name: &str) -> Vec<T> {
        self.get::<T, ndarray::Ix1>(name).to_vec()
    }
}

fn as_usize(v: &[i64]) -> Vec<usize> {
    v.iter()
        .map(|&i| usize::try_from(i).expect("negative index in reference"))
        .collect()
}

fn check_regrid(npz: &mut Npz, prefix: &str, regrid: &Regrid, fill: f32) {
    assert_eq!(
        regrid.inds,
        as_usize(&npz.vec::<i64>(&format!("{prefix}_inds"))),
        "{prefix} inds"
    );
    let weights = npz.vec::<f32>(&format!("{prefix}_weights_f32"));
    let same_bits = regrid
        .weights
        .iter()
        .zip(&weights)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(
        same_bits && regrid.weights.len() == weights.len(),
        "{prefix} weights differ"
    );
    let mask: Vec<bool> = npz
        .vec::<f32>(&format!("{prefix}_mask_f32"))
        .iter()
        .map(|&m| m == 1.0)
        .collect();
    assert_eq!(regrid.mask, mask, "{prefix} mask");
    let ref_fill = npz.vec::<f64>(&format!("{prefix}_fill"));
    assert_eq!(ref_fill, vec![f64::from(fill)], "{prefix} reference fill");
    assert_eq!(regrid.fill, fill, "{prefix} fill");
}

/// One unit in the last place of `x`'s binade, times `x`'s magnitude (≈ ulp(x)).
fn ulp(x: f64) -> f64 {
    f64::EPSILON * x.abs()
}

/// Agreement of one table: the largest relative error and the largest error/bound ratio.
struct Agreement {
    max_rel: f64,
    max_ratio: f64,
}

/// The reference takes ln λ with NumPy's vectorised `np.log`, which can differ from the
/// correctly rounded `f64::ln` by one ulp. The stored tables are reproduced up to the effect of
/// a few-ulp perturbation of the abscissae; the bounds below are that effect, not a fudge factor.
const LN_ULPS: f64 = 2.0;

/// `l_ssp` is a linear interpolation in ln λ: perturbing the abscissae by δ changes the value by
/// at most |Δy/Δx|·δ on the bracketing interval.
fn check_l_ssp(lib: &SspLibrary, d: &DerivedSsp, reference: &Array2<f64>) -> Agreement {
    let xp: Vec<f64> = lib.lam.iter().map(|v| v.ln()).collect();
    let raw = lib.raw_normalised();
    let mut agreement = Agreement {
        max_rel: 0.0,
        max_ratio: 0.0,
    };
    for (i, lam) in d.lam_eval.iter().enumerate() {
        let x = lam.ln();
        let j = xp
            .partition_point(|&a| a <= x)
            .saturating_sub(1)
            .min(xp.len() - 2);
        let dx = xp[j + 1] - xp[j];
        let shift = LN_ULPS * ulp(x).max(ulp(xp[j])).max(ulp(xp[j + 1]));
        for k in 0..raw.nrows() {
            let (a, b) = (d.l_ssp[[k, i]], reference[[k, i]]);
            let slope = (raw[[k, j + 1]] - raw[[k, j]]).abs() / dx;
            let bound = 1e-15 * b.abs() + slope * shift;
            let err = (a - b).abs();
            assert!(
                err <= bound,
                "l_ssp[{k}, {i}] = {a:e}, reference {b:e}, bound {bound:e}"
            );
            if err > 0.0 {
                agreement.max_rel = agreement.max_rel.max(err / b.abs());
                agreement.max_ratio = agreement.max_ratio.max(err / bound);
            }
        }
    }
    agreement
}

/// `L_ssp` segment values depend on the abscissae through the spacings h, h₀, h₁ (Simpson) or
/// Δx (trapezoid): a shift δ of the abscissae changes them by ≲ 2δ/min(spacing) relative.
fn check_big_l_ssp(lib: &SspLibrary, d: &DerivedSsp, reference: &Array2<f64>) -> Agreement {
    let x: Vec<f64> = lib.lam.iter().map(|v| v.ln()).collect();
    let mut agreement = Agreement {
        max_rel: 0.0,
        max_ratio: 0.0,
    };
    for (j, seg) in d.reduce_breakpoints.windows(2).enumerate() {
        let (a, b) = (seg[0], seg[1]);
        let m = (a + b) / 2;
        let spacing = if b - a == 1 {
            x[b] - x[a]
        } else {
            (x[m] - x[a]).min(x[b] - x[m])
        };
        let rel_bound = 1e-14 + 2.0 * LN_ULPS * ulp(x[a]).max(ulp(x[b])) / spacing;
        for k in 0..d.big_l_ssp.nrows() {
            let (v, r) = (d.big_l_ssp[[k, j]], reference[[k, j]]);
            let err = (v - r).abs();
            let bound = rel_bound * r.abs();
            assert!(
                err <= bound,
                "L_ssp[{k}, {j}] = {v:e}, reference {r:e}, bound {bound:e}"
            );
            if err > 0.0 {
                agreement.max_rel = agreement.max_rel.max(err / r.abs());
                agreement.max_ratio = agreement.max_ratio.max(err / bound);
            }
        }
    }
    agreement
}

/// Checks every table shared by both grids; returns the agreement of `l_ssp` and `L_ssp`.
fn check_common(npz: &mut Npz, lib: &SspLibrary, d: &DerivedSsp) -> (Agreement, Agreement) {
    // The grid only selects stored wavelengths, so it must be bit-identical.
    assert_eq!(d.lam_eval, npz.vec::<f64>("lam_eval_f64"), "lam_eval_f64");
    assert_eq!(
        d.lam_eval_f32(),
        npz.vec::<f32>("lam_eval_f32"),
        "lam_eval_f32"
    );

    let l_ssp: Array2<f64> = npz.get("l_ssp_f64");
    assert_eq!(d.l_ssp.dim(), l_ssp.dim());
    let small = check_l_ssp(lib, d, &l_ssp);
    assert_eq!(d.l_ssp_f32(), npz.get::<f32, _>("l_ssp_f32"), "l_ssp_f32");

    let big_l: Array2<f64> = npz.get("L_ssp_f64");
    assert_eq!(d.big_l_ssp.dim(), (36, 283));
    assert_eq!(d.big_l_ssp.dim(), big_l.dim());
    assert_eq!(
        d.reduce_breakpoints,
        as_usize(&npz.vec::<i64>("reduce_inds")),
        "reduce_inds"
    );
    let big = check_big_l_ssp(lib, d, &big_l);
    assert_eq!(
        d.big_l_ssp_f32(),
        npz.get::<f32, _>("L_ssp_f32"),
        "L_ssp_f32"
    );

    let x_out = npz.vec::<f64>("reduce_x_out");
    assert_eq!(d.reduce_x_mid.len(), x_out.len());
    for (a, b) in d.reduce_x_mid.iter().zip(&x_out) {
        assert!(
            (a - b).abs() <= LN_ULPS * ulp(*b),
            "reduce_x_out {a:e} vs {b:e}"
        );
    }

    let lam_base: Vec<f32> = lib.lam_main.iter().map(|&v| v as f32).collect();
    assert_eq!(lam_base, npz.vec::<f32>("lam_base_f32"), "lam_base_f32");
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
    assert_eq!(f32s(&lib.tau), npz.vec::<f32>("tau_f32"));
    assert_eq!(f32s(&lib.met), npz.vec::<f32>("met_f32"));
    assert_eq!(f32s(&lib.tau_edges), npz.vec::<f32>("tau_edges_f32"));
    assert_eq!(lib.norm.mapv(|v| v as f32), npz.get::<f32, _>("norm_f32"));
    (small, big)
}

fn report(grid: &str, small: &Agreement, big: &Agreement) {
    eprintln!(
        "{grid}: l_ssp max rel {:.2e} (max err/bound {:.2}), L_ssp max rel {:.2e} (max err/bound {:.2})",
        small.max_rel, small.max_ratio, big.max_rel, big.max_ratio
    );
}

#[test]
fn base_grid_matches_reference() {
    let lib = library();
    let d =
        DerivedSsp::new(&lib, &WavelengthGrid::Base, EPS_REDUCE).unwrap_or_else(|e| panic!("{e}"));
    let mut npz = Npz::open("derived_base.npz");
    let (small, big) = check_common(&mut npz, &lib, &d);
    report("base", &small, &big);
    assert_eq!(d.lam_eval.len(), 495);
    assert!(d.regrid_attenuation.is_none() && d.regrid_emission.is_none());
}

#[test]
fn auto_grid_matches_reference() {
    let lib = library();
    let d =
        DerivedSsp::new(&lib, &WavelengthGrid::Auto, EPS_REDUCE).unwrap_or_else(|e| panic!("{e}"));
    let mut npz = Npz::open("derived_auto.npz");
    let (small, big) = check_common(&mut npz, &lib, &d);
    report("auto", &small, &big);
    assert_eq!(d.lam_eval.len(), 2086);

    let auto = lib
        .reduce(galsed_core::ssp::AUTO_GRID_EPS)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        auto.breakpoints,
        as_usize(&npz.vec::<i64>("auto_reduce_inds")),
        "auto_reduce_inds"
    );

    let da = d
        .regrid_attenuation
        .as_ref()
        .expect("auto grid has an attenuation regrid");
    let de = d
        .regrid_emission
        .as_ref()
        .expect("auto grid has an emission regrid");
    check_regrid(&mut npz, "regrid_da", da, 1.0);
    check_regrid(&mut npz, "regrid_de", de, 0.0);
    assert_eq!((da.n_src, de.n_src), (297, 495));
}

#[test]
fn raw_spectra_integrate_to_one_and_reduction_is_consistent() {
    let lib = library();
    let raw = lib.raw_normalised();
    assert_eq!(raw.dim(), (36, 5493));
    let log_lam: Vec<f64> = lib.lam.iter().map(|v| v.ln()).collect();
    let red = lib.reduce(EPS_REDUCE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(red.breakpoints.first(), Some(&0));
    assert_eq!(red.breakpoints.last(), Some(&5492));
    assert_eq!(red.x_mid.len() + 1, red.breakpoints.len());
    for (k, row) in raw.rows().into_iter().enumerate() {
        let row = row.to_vec();
        let total = galsed_core::numeric::trapz(&row, &log_lam);
        assert!((total - 1.0).abs() < 0.02, "SSP {k} integrates to {total}");
        // Each accepted segment agrees with the trapezoid rule to eps, so the sums agree to n·eps.
        let reduced: f64 = red.values.row(k).sum();
        assert!(
            (reduced - total).abs() < EPS_REDUCE * red.x_mid.len() as f64,
            "SSP {k}"
        );
    }
}

#[test]
fn reduction_runs_fast() {
    let lib = library();
    for eps in [EPS_REDUCE, galsed_core::ssp::AUTO_GRID_EPS] {
        let t = Instant::now();
        let red = lib.reduce(eps).unwrap_or_else(|e| panic!("{e}"));
        let elapsed = t.elapsed();
        eprintln!(
            "reduce(eps={eps:e}): {} segments in {elapsed:?}",
            red.x_mid.len()
        );
        // Generous bound for an unoptimised shared CI machine; typically a few ms.
        assert!(
            elapsed.as_secs_f64() < 2.0,
            "reduction too slow: {elapsed:?}"
        );
    }
    let t = Instant::now();
    let d =
        DerivedSsp::new(&lib, &WavelengthGrid::Auto, EPS_REDUCE).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "DerivedSsp::new(Auto): {} points in {:?}",
        d.lam_eval.len(),
        t.elapsed()
    );
}

#[test]
fn full_grid_is_sorted_union() {
    let lib = library();
    let lam = lib
        .lam_eval(&WavelengthGrid::Full)
        .unwrap_or_else(|e| panic!("{e}"));
    let n_ssp_kept = lib.lam.iter().filter(|&&v| v >= lib.lam_main[0]).count();
    assert_eq!(lam.len(), n_ssp_kept + lib.lam_main.len());
    assert!(
        lam.windows(2).all(|w| w[0] < w[1]),
        "full grid has duplicates or is unsorted"
    );
}

#[test]
fn custom_grid_equal_to_base_reproduces_base_spectra() {
    let lib = library();
    let base =
        DerivedSsp::new(&lib, &WavelengthGrid::Base, EPS_REDUCE).unwrap_or_else(|e| panic!("{e}"));
    let custom = DerivedSsp::new(
        &lib,
        &WavelengthGrid::Custom(lib.lam_main.clone()),
        EPS_REDUCE,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(custom.l_ssp, base.l_ssp);
    assert_eq!(custom.big_l_ssp, base.big_l_ssp);

    // Regridding a function onto its own grid returns it (inside) and the fill (outside).
    let da = custom
        .regrid_attenuation
        .as_ref()
        .expect("custom grids are regridded");
    let src: Vec<f32> = (0..297u16).map(|i| f32::from(i) * 0.5 - 3.0).collect();
    let mut out = vec![f32::NAN; 495];
    da.apply(&src, &mut out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&out[..297], &src[..]);
    assert!(out[297..].iter().all(|&v| v == 1.0));

    let de = custom
        .regrid_emission
        .as_ref()
        .expect("custom grids are regridded");
    let src: Vec<f64> = lib.lam_main.iter().map(|v| v.ln()).collect();
    let mut out = vec![f64::NAN; 495];
    de.apply(&src, &mut out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, src);
}

#[test]
fn regrid_interpolates_linearly_in_lambda() {
    let src_x = [1.0_f32, 2.0, 4.0];
    let r =
        Regrid::new(&src_x, &[0.5, 1.0, 1.5, 3.0, 4.0, 5.0], 7.0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.inds, vec![1, 1, 1, 2, 2, 2]);
    assert_eq!(r.weights, vec![-0.5, 0.0, 0.5, 0.5, 1.0, 1.5]);
    assert_eq!(r.mask, vec![false, true, true, true, true, false]);
    let mut out = [0.0_f32; 6];
    r.apply(&[10.0, 20.0, 40.0], &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out, [7.0, 10.0, 15.0, 30.0, 40.0, 7.0]);
    assert!(matches!(
        r.apply(&[1.0_f32, 2.0], &mut out),
        Err(SspError::Regrid(_))
    ));
    assert!(matches!(
        r.apply(&[1.0_f32, 2.0, 3.0], &mut out[..5]),
        Err(SspError::Regrid(_))
    ));
    assert!(matches!(
        Regrid::new(&[1.0], &[1.0], 0.0),
        Err(SspError::Regrid(_))
    ));
    assert!(matches!(
        Regrid::new(&[1.0, 1.0], &[1.0], 0.0),
        Err(SspError::Regrid(_))
    ));
}

#[test]
fn invalid_custom_grids_are_rejected() {
    let lib = library();
    let (lo, hi) = (lib.lam_main[0], lib.lam_main[494]);
    let bad: [(&str, Vec<f64>); 8] = [
        ("empty", vec![]),
        ("nan", vec![1.0, f64::NAN, 3.0]),
        ("infinite", vec![1.0, f64::INFINITY]),
        ("decreasing", vec![1.0, 3.0, 2.0]),
        ("duplicate", vec![1.0, 2.0, 2.0]),
        ("below range", vec![lo * 0.999, 1.0]),
        ("above range", vec![1.0, hi * 1.001]),
        ("negative", vec![-1.0, 1.0]),
    ];
    for (what, grid) in bad {
        match DerivedSsp::new(&lib, &WavelengthGrid::Custom(grid), EPS_REDUCE) {
            Err(e @ SspError::CustomGrid(_)) => eprintln!("{what}: {e}"),
            other => panic!("{what}: expected a CustomGrid error, got {other:?}"),
        }
    }
    let edges = WavelengthGrid::Custom(vec![lo, 1.0, 99.08, 100.0, hi]);
    let d = DerivedSsp::new(&lib, &edges, EPS_REDUCE).unwrap_or_else(|e| panic!("{e}"));
    // No stellar light beyond the last SSP wavelength.
    assert!(d.l_ssp.column(3).iter().all(|&v| v == 0.0));
    assert!(d.l_ssp.column(0).iter().all(|&v| v > 0.0));
}

/// An in-place corruption of a library, for the validation tests.
type Mutation = dyn Fn(&mut SspLibrary);

#[test]
fn invalid_libraries_and_eps_are_rejected() {
    let lib = library();
    let rebuild = |f: &Mutation| {
        let mut l = lib.clone();
        f(&mut l);
        SspLibrary::new(l.lam, l.met, l.tau, l.tau_edges, l.flx, l.norm, l.lam_main)
    };
    let cases: [(&str, &Mutation); 7] = [
        ("norm <= 0", &|l| l.norm[[2, 3]] = 0.0),
        ("lam unsorted", &|l| l.lam.swap(10, 11)),
        ("flx nan", &|l| l.flx[[5, 0, 0]] = f64::NAN),
        ("flx shape", &|l| {
            l.flx = l.flx.slice(ndarray::s![..100, .., ..]).to_owned()
        }),
        ("norm shape", &|l| l.norm = Array2::ones((6, 5))),
        ("tau_edges length", &|l| {
            l.tau_edges.pop();
        }),
        ("lam_main short", &|l| l.lam_main.truncate(10)),
    ];
    for (what, f) in cases {
        match rebuild(f) {
            Err(e @ SspError::Invalid { .. }) => eprintln!("{what}: {e}"),
            other => panic!(
                "{what}: expected an Invalid error, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    assert!(rebuild(&|_| {}).is_ok());
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(lib.reduce(eps), Err(SspError::Eps(_))),
            "eps {eps}"
        );
    }
    let missing = SspLibrary::from_npz(reference_dir().join("ssp/derived_base.npz"));
    assert!(
        matches!(missing, Err(SspError::Member { member: "lam", .. })),
        "{missing:?}"
    );
}
