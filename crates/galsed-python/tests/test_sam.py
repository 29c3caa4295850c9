"""SamConverter and Model.sam_photometry against the reference's SAM golden files (converted inputs
bit for bit, SEDs at the forward-model tolerances of crates/galsed-emulator/tests/sam_sed.rs)."""

import numpy as np
import pytest

import galsed
from conftest import GOLDEN_FILTERS, check_spectra, golden

# golden/index_fitting_sam.json: file, frac_recycle, instantaneous ages.
CASES = [("sam_tutorial", 0.0, False), ("sam_test", 0.44, False), ("sam_instant", 0.0, True)]
SCALARS = ["theta", "m_dust", "r_dust", "r_disk", "r_bulge"]
HISTORIES = ["sfh_mass_disk", "sfh_metal_mass_disk", "sfh_mass_bulge", "sfh_metal_mass_bulge"]


def converter(model, gold, frac, instant):
    bins = gold["age_bins"]
    if instant:
        return galsed.SamConverter(model, ages=bins, frac_recycle=frac)
    return galsed.SamConverter(model, age_edges=bins, frac_recycle=frac)


def sam_args(gold):
    return [gold[k] for k in SCALARS + HISTORIES]


@pytest.mark.parametrize("name, frac, instant", CASES)
def test_convert_golden(model, name, frac, instant):
    gold = golden(f"{name}.npz")
    conv = converter(model, gold, frac, instant)
    n = gold["theta"].size
    assert conv.n_bins == gold["sfh_mass_disk"].shape[1]
    assert conv.frac_recycle == frac
    np.testing.assert_array_equal(conv.tau_matrix, gold["tau_matrix"].astype(np.float64))
    out = conv.convert(*sam_args(gold))
    assert out["status"] == [""] * n
    # The reference rounds gp to float32 before its model; SFHs and l_norm are float32 values.
    np.testing.assert_array_equal(out["gp"].astype(np.float32), gold["gp"])
    for k in ["sfh_disk", "sfh_bulge", "l_norm_disk", "l_norm_bulge"]:
        assert out[k].dtype == np.float64
        np.testing.assert_array_equal(out[k], gold[k].astype(np.float64), err_msg=k)


@pytest.mark.parametrize("name, frac, instant", CASES)
@pytest.mark.parametrize("grid", ["base", "auto"])
def test_sam_seds_golden(model, model_auto, grid, name, frac, instant):
    m = model if grid == "base" else model_auto
    gold = golden(f"{name}.npz")
    out = converter(m, gold, frac, instant).convert(*sam_args(gold))
    fnu = m.sed(out["gp"], out["sfh_disk"], out["sfh_bulge"], units="jy")
    check_spectra(f"{name} sed_fnu_{grid}", fnu, gold[f"sed_fnu_{grid}"], 1e-4, 1e-6)


def test_sam_photometry(model):
    gold = golden("sam_test.npz")
    conv = converter(model, gold, 0.44, False)
    args = sam_args(gold)
    out = conv.convert(*args)
    want = model.photometry(out["gp"], out["sfh_disk"], out["sfh_bulge"], GOLDEN_FILTERS, redshift=0.05)
    got, status = model.sam_photometry(conv, *args, GOLDEN_FILTERS, redshift=0.05)
    assert status == [""] * 10
    np.testing.assert_array_equal(got, want)
    # Per-galaxy redshifts and fluxes.
    z = np.linspace(0.01, 0.2, 10)
    got, _ = model.sam_photometry(conv, *args, GOLDEN_FILTERS, redshift=z, mag=False)
    want = model.photometry(out["gp"], out["sfh_disk"], out["sfh_bulge"], GOLDEN_FILTERS, redshift=z, mag=False)
    np.testing.assert_array_equal(got, want)


def test_invalid_rows_are_reported_not_raised(model):
    gold = golden("sam_test.npz")
    conv = converter(model, gold, 0.44, False)
    args = [a.copy() for a in sam_args(gold)]
    args[0][1] = np.nan  # theta
    args[2][3] = 0.0  # r_dust = 0
    args[5][5] = 0.0  # no stars at all in row 5
    args[7][5] = 0.0
    args[5][7, 2] = -1.0  # negative disk mass
    out = conv.convert(*args)
    bad = [1, 3, 5, 7]
    for i in range(10):
        assert (out["status"][i] != "") == (i in bad), (i, out["status"][i])
        assert np.isnan(out["gp"][i]).all() == (i in bad)
    assert "theta" in out["status"][1] and "r_dust" in out["status"][3] and "no stars" in out["status"][5]
    phot, status = model.sam_photometry(conv, *args, ["sdss_r0", "wise_w1"], redshift=0.1)
    assert status == out["status"]
    assert np.isnan(phot[bad]).all() and np.isfinite(np.delete(phot, bad, axis=0)).all()
    good = [i for i in range(10) if i not in bad]
    full, _ = model.sam_photometry(conv, *[a[good] for a in args], ["sdss_r0", "wise_w1"], redshift=0.1)
    np.testing.assert_array_equal(phot[good], full)
    # All rows invalid: NaN everywhere, no error.
    none, status = model.sam_photometry(conv, *[a[[1, 3]] for a in args], ["sdss_r0"])
    assert np.isnan(none).all() and all(status)


def test_converter_bad_input(model):
    gold = golden("sam_test.npz")
    with pytest.raises(ValueError, match="exactly one"):
        galsed.SamConverter(model)
    with pytest.raises(ValueError, match="exactly one"):
        galsed.SamConverter(model, age_edges=gold["age_bins"], ages=gold["age_bins"])
    with pytest.raises(ValueError, match="frac_recycle"):
        galsed.SamConverter(model, age_edges=gold["age_bins"], frac_recycle=1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        galsed.SamConverter(model, age_edges=gold["age_bins"][::-1])
    conv = converter(model, gold, 0.0, False)
    args = sam_args(gold)
    with pytest.raises(ValueError, match="m_dust must be a 1-D array of length 10"):
        conv.convert(args[0], args[1][:5], *args[2:])
    with pytest.raises(ValueError, match=r"mass_disk must have shape \(N, n_bins\) = \(10, 10\)"):
        conv.convert(*args[:5], args[5][:, :9], *args[6:])
    with pytest.raises(ValueError, match="metal_bulge"):
        conv.convert(*args[:8], args[8][0])
    with pytest.raises(ValueError, match="redshift"):
        model.sam_photometry(conv, *args, ["sdss_r0"], redshift=-1.0)
