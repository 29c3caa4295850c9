"""Model, sed, photometry and filters against the reference's float32 golden outputs (spec §7.2), at
the tolerances of the Rust tests (crates/galsed-emulator/tests/golden_sed.rs), and bad input."""

import threading
import time

import numpy as np
import pytest

import galsed
from conftest import GOLDEN_FILTERS, MODEL_DIR, check_abs, check_rel, check_spectra, golden

SPEC_RTOL, SPEC_ATOL_ROW = 1e-4, 1e-6  # spectra: |a−b| ≤ 1e−4·|b| + 1e−6·max_row|b|
MAG_TOL = 1e-4  # AB magnitudes [mag]; fluxes: 1e-4 relative
Z, DISTMOD = 0.05, 36.80751187885012  # Planck18 (astropy 6.0.1) at z = 0.05
COMPONENTS = ["combine", "dust_free", "dust_attenuation", "dust_emission"]


def test_metadata(model):
    assert model.param_names == ["theta", "den_dust", "r_dust_to_rd", "r_disk", "r_bulge", "l_norm", "b_to_t"]
    assert model.n_ssp == 36
    assert model.grid == "base"
    assert model.ssp_ages.shape == (6,) and model.ssp_metallicities.shape == (6,)
    lam = model.wavelength
    assert lam.dtype == np.float64 and lam.ndim == 1
    np.testing.assert_array_equal(lam.astype(np.float32), golden("sed_base_f32.npz")["lam_um"])
    assert "galsed.Model(" in repr(model)
    names = galsed.filters()
    assert set(GOLDEN_FILTERS) <= set(names) and names == sorted(names)
    assert len(galsed.DEFAULT19) == 19


def test_model_from_environment(monkeypatch):
    monkeypatch.setenv("GALSED_MODEL_DIR", str(MODEL_DIR))
    m = galsed.Model()
    assert m.path == str(MODEL_DIR) and m.grid == "base"


@pytest.mark.parametrize("grid", ["base", "auto"])
def test_sed_and_photometry_golden(grid, model, model_auto, inputs):
    m = model if grid == "base" else model_auto
    gold = golden(f"sed_{grid}_f32.npz")
    gp, sd, sb = inputs["gp"], inputs["sfh_disk"], inputs["sfh_bulge"]
    np.testing.assert_array_equal(m.wavelength.astype(np.float32), gold["lam_um"])
    worst = 0.0
    for comp in COMPONENTS:
        lum = m.sed(gp, sd, sb, component=comp)
        assert lum.dtype == np.float64 and lum.shape == (72, m.wavelength.size)
        worst = max(worst, check_spectra(f"sed_{comp}_lum", lum, gold[f"sed_{comp}_lum"], SPEC_RTOL, SPEC_ATOL_ROW))
        fnu = m.sed(gp, sd, sb, component=comp, units="jy")
        worst = max(worst, check_spectra(f"sed_{comp}_fnu", fnu, gold[f"sed_{comp}_fnu"], SPEC_RTOL, SPEC_ATOL_ROW))
    fnu = m.sed(gp, sd, sb, units="jy", redshift=Z, distmod=DISTMOD)
    worst = max(worst, check_spectra("sed_combine_fnu_z0.05", fnu, gold["sed_combine_fnu_z0.05"], SPEC_RTOL, SPEC_ATOL_ROW))
    # The default distance modulus is Planck18's, as the reference's.
    np.testing.assert_allclose(m.sed(gp, sd, sb, units="jy", redshift=Z), fnu, rtol=1e-6)
    print(f"{grid}: worst spectrum deviation {worst:.3g} × tolerance")

    for z, mu, tag in [(0.0, None, "z0"), (Z, DISTMOD, "z0.05")]:
        mags = m.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, distmod=mu)
        assert mags.shape == (72, 20)
        check_abs(f"phot_ab_{tag}", mags, gold[f"phot_ab_{tag}"], MAG_TOL)
        flux = m.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, distmod=mu, mag=False)
        check_spectra(f"phot_fnu_{tag}", flux, gold[f"phot_fnu_{tag}"], MAG_TOL, 0.0)
    free = m.photometry(gp, sd, sb, GOLDEN_FILTERS, component="dust_free")
    check_abs("phot_ab_z0_dust_free", free, gold["phot_ab_z0_dust_free"], MAG_TOL)


def test_per_galaxy_redshift(model, inputs):
    """Arrays of redshifts (and distance moduli) give each row what a call with its own observer
    gives: spectra bitwise, photometry to the summation order (per-galaxy weights are summed in
    float64, the one-observer matrix product in float32; 2e-6 relative, as the Rust test)."""
    gp, sd, sb = inputs["gp"], inputs["sfh_disk"], inputs["sfh_bulge"]
    zs, mus = [0.0, 0.05, 0.2], [0.0, DISTMOD, 40.0]
    z, mu = np.tile(zs, 24), np.tile(mus, 24)
    flux = model.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, distmod=mu, mag=False)
    mags = model.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, distmod=mu)
    fnu = model.sed(gp, sd, sb, units="jy", redshift=z, distmod=mu)
    worst = 0.0
    for k in range(3):
        rows = slice(k, None, 3)
        one = model.photometry(gp[rows], sd[rows], sb[rows], GOLDEN_FILTERS, redshift=zs[k], distmod=mus[k], mag=False)
        worst = max(worst, float(np.max(np.abs(flux[rows] / one - 1))))
        np.testing.assert_allclose(mags[rows], -2.5 * np.log10(flux[rows]) + 8.9, atol=1e-12)
        np.testing.assert_array_equal(fnu[rows], model.sed(gp[rows], sd[rows], sb[rows], units="jy", redshift=zs[k], distmod=mus[k]))
    print(f"per-galaxy vs one-observer photometry: max rel diff {worst:.3g}")
    assert worst <= 2e-6
    # Without distmod each redshift gets its Planck18 modulus (NaN entries too).
    np.testing.assert_array_equal(model.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z),
                                  model.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, distmod=np.where(z > 0, np.nan, 0.0)))
    np.testing.assert_allclose(model.sed(gp[1:2], sd[1:2], sb[1:2], units="jy", redshift=[Z]),
                               model.sed(gp[1:2], sd[1:2], sb[1:2], units="jy", redshift=Z, distmod=DISTMOD), rtol=1e-6)
    # A band outside the model at one galaxy's redshift is NaN there, not an error.
    far = model.photometry(gp[:2], sd[:2], sb[:2], ["galex_FUV", "sdss_r0"], redshift=[0.01, 0.6])
    assert np.isfinite(far[0]).all() and np.isnan(far[1, 0]) and np.isfinite(far[1, 1])


def test_rows_do_not_depend_on_the_batch(model):
    """A galaxy's result is bitwise the same whatever other galaxies share the call (batches below
    8 rows take a few-rows product that rounds exactly like the matrix-product kernel)."""
    rng = np.random.default_rng(1)
    n = 300
    gp = rng.uniform(-0.9, 0.9, (n, 7))
    sd, sb = rng.dirichlet(np.ones(36), n), rng.dirichlet(np.ones(36), n)
    full = model.sed(gp, sd, sb)
    phot = model.photometry(gp, sd, sb, galsed.DEFAULT19, redshift=0.1)
    z = rng.uniform(0.0, 0.3, n)
    phot_z = model.photometry(gp, sd, sb, galsed.DEFAULT19, redshift=z)
    for lo, hi in [(0, 1), (5, 6), (3, 10), (0, 257), (20, 283), (299, 300)]:
        np.testing.assert_array_equal(model.sed(gp[lo:hi], sd[lo:hi], sb[lo:hi]), full[lo:hi])
        np.testing.assert_array_equal(
            model.photometry(gp[lo:hi], sd[lo:hi], sb[lo:hi], galsed.DEFAULT19, redshift=0.1), phot[lo:hi])
        np.testing.assert_array_equal(
            model.photometry(gp[lo:hi], sd[lo:hi], sb[lo:hi], galsed.DEFAULT19, redshift=z[lo:hi]), phot_z[lo:hi])


def test_inputs_as_lists_float32_and_views(model, inputs):
    gp, sd, sb = inputs["gp"], inputs["sfh_disk"], inputs["sfh_bulge"]
    want = model.sed(gp[:9], sd[:9], sb[:9])
    np.testing.assert_array_equal(model.sed(gp[:9].tolist(), sd[:9].tolist(), sb[:9].tolist()), want)
    np.testing.assert_array_equal(model.sed(np.asfortranarray(gp[:9]), sd[:9], sb[:9]), want)
    both = np.concatenate([gp, gp], axis=1)[:9, ::2]  # a strided view
    np.testing.assert_array_equal(model.sed(both[:, :7], sd[:9], sb[:9]), model.sed(np.ascontiguousarray(both[:, :7]), sd[:9], sb[:9]))


def test_empty_input(model):
    assert model.sed(np.zeros((0, 7)), np.zeros((0, 36)), np.zeros((0, 36))).shape == (0, model.wavelength.size)
    assert model.photometry(np.zeros((0, 7)), np.zeros((0, 36)), np.zeros((0, 36)), ["sdss_r0"]).shape == (0, 1)


def test_gil_released(model):
    """Python threads run while the model computes."""
    rng = np.random.default_rng(2)
    n = 20000
    gp = rng.uniform(-0.9, 0.9, (n, 7))
    sd, sb = rng.dirichlet(np.ones(36), n), rng.dirichlet(np.ones(36), n)
    t = threading.Thread(target=model.sed, args=(gp, sd, sb))
    ticks = 0
    t.start()
    while t.is_alive():
        ticks += 1
        time.sleep(0.001)
    t.join()
    assert ticks >= 20, ticks


def test_threads_share_a_model(model, inputs):
    gp, sd, sb = inputs["gp"], inputs["sfh_disk"], inputs["sfh_bulge"]
    want = model.photometry(gp, sd, sb, galsed.DEFAULT19)
    out = [None] * 4

    def run(i):
        out[i] = model.photometry(gp, sd, sb, galsed.DEFAULT19)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in out:
        np.testing.assert_array_equal(o, want)


GOOD = (np.zeros((2, 7)), np.full((2, 36), 1 / 36), np.full((2, 36), 1 / 36))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gp=np.zeros((2, 6))), r"gp must be a 2-D array of shape \(N, 7\)"),
        (dict(gp=np.zeros(7)), r"gp must be a 2-D array"),
        (dict(sfh_disk=np.zeros((3, 36))), "rows"),
        (dict(sfh_bulge=np.zeros((2, 35))), "sfh_bulge"),
        (dict(gp=np.full((2, 7), np.nan)), r"gp\[0, 0\] is NaN"),
        (dict(gp=np.full((2, 7), 2.0), clip=False), r"outside \[-1, 1\]"),
        (dict(gp="abc"), "gp"),
        (dict(component="dust"), "unknown component"),
        (dict(units="erg"), "units"),
        (dict(units="jy", redshift=-0.1), "redshift"),
        (dict(units="jy", redshift=[0.1, 0.2, 0.3]), "length 2"),
        (dict(units="jy", distmod=np.inf), "distance modulus"),
    ],
)
def test_sed_bad_input(model, kwargs, match):
    args = dict(zip(["gp", "sfh_disk", "sfh_bulge"], GOOD))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        model.sed(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(filters=["sdss_x0"]), "did you mean"),
        (dict(filters=["sdss_r0", "sdss_r0"]), "twice"),
        (dict(filters=[]), "no filter"),
        (dict(filters=[1, 2]), "list of filter names"),
        (dict(filters=["galex_FUV"], redshift=1.0), "observed wavelength range"),
        (dict(filters=["sdss_r0"], redshift=np.array([[0.1]])), "redshift"),
        (dict(filters=["sdss_r0"], redshift=[0.1, -1.0]), r"redshift\[1\]"),
        (dict(filters=["sdss_r0"], distmod=[30.0]), "length 2"),
        (dict(filters=["sdss_r0"], redshift=np.nan), "redshift"),
        (dict(filters=["sdss_r0"], component="all"), "unknown component"),
    ],
)
def test_photometry_bad_input(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.photometry(*GOOD, **kwargs)


def test_model_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        galsed.Model(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="fetch_model"):
        galsed.Model(str(tmp_path))
    with pytest.raises(ValueError, match="grid"):
        galsed.Model(str(MODEL_DIR), grid="medium")
    (tmp_path / "curve_disk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="loading the model"):
        galsed.Model(str(tmp_path))


def test_custom_grid(model):
    lam = np.geomspace(0.12, 1000.0, 200)
    m = galsed.Model(str(MODEL_DIR), grid=lam)
    assert m.grid == "custom"
    np.testing.assert_allclose(m.wavelength, lam)
    assert m.sed(*GOOD).shape == (2, 200)


def test_fetch_model_from_a_local_copy(tmp_path):
    if not (MODEL_DIR / "curve_disk.pt").is_file():
        pytest.skip("the model directory does not hold the published files")
    dest = galsed.fetch_model(str(tmp_path / "model"), source=str(MODEL_DIR))
    assert dest == str(tmp_path / "model")
    assert galsed.Model(dest).n_ssp == 36
    with pytest.raises(OSError):
        galsed.fetch_model(str(tmp_path / "other"), source=str(tmp_path / "nowhere"))
