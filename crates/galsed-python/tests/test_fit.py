"""Model.fit on the reference tutorial's galaxy (golden/fitting_tutorial.npz: 19 bands at z = 0.01,
distance modulus 0), with small settings so that it runs in about a second; against the `galsed
fit` command (same driver, bitwise) when its binary is built; bad input."""

import csv
import os
import shutil
import subprocess

import numpy as np
import pytest

import galsed
from conftest import MODEL_DIR, REPO, golden

SMALL = """
[parametrization.sfh]
model = "interpolated"
[optimizer]
method = "pso"
[optimizer.pso]
n_particles = 16
n_iterations = 100
n_restarts = 2
"""

SAMPLER = SMALL + """
[sampler]
method = "ensemble"
n_derived = 50
[sampler.ensemble]
n_steps = 200
until_converged = false
"""


@pytest.fixture(scope="module")
def tutorial():
    return golden("fitting_tutorial.npz")


def fit(model, t, config=SMALL, **kwargs):
    return model.fit(t["mags_true"], t["mags_err"], galsed.DEFAULT19, redshift=0.01, distmod=0.0, config=config, **kwargs)


def test_fit_tutorial(model, tutorial):
    r = fit(model, tutorial)
    names = ["theta", "den_dust", "r_dust_to_rd", "r_disk", "r_bulge", "l_norm", "b_to_t",
             "log_tau_disk", "log_met_disk", "log_tau_bulge", "log_met_bulge"]
    assert r["param_names"] == names
    assert r["best"].shape == (11,) and list(r["params"]) == names
    bounds = tutorial["bounds"]
    assert np.all(r["best"] >= bounds[:, 0]) and np.all(r["best"] <= bounds[:, 1])
    assert r["n_detections"] == 19 and r["filters"] == galsed.DEFAULT19
    assert r["redshift"] == 0.01 and r["distmod"] == 0.0
    # Noise-free tutorial magnitudes with 0.1–0.2 mag errors: a good fit has χ² ≪ 19.
    print(f"tutorial fit: chi2 = {r['chi2']:.3f}, -ln p = {r['neg_log_post']:.3f}")
    assert np.isfinite(r["chi2"]) and r["chi2"] < 19
    assert np.all(np.abs(r["model_mags"] - tutorial["mags_true"]) < 3 * tutorial["mags_err"])
    np.testing.assert_allclose(r["model_mags"], -2.5 * np.log10(r["model_flux_jy"]) + 8.9)
    d = r["derived"]
    assert d["m_star"] > 0 and d["m_dust"] > 0 and d["sfr"] >= 0 and 0 < d["frac_abs"] < 1
    # The luminosity is well constrained by 19 bands: within 0.1 dex of the truth.
    assert abs(r["params"]["l_norm"] - tutorial["params_true"][5]) * 4 < 0.1
    assert r["optimizer"]["method"] == "pso" and r["optimizer"]["n_evaluations"] > 0
    assert "samples" not in r and "percentiles" not in r
    # Deterministic for a seed.
    again = fit(model, tutorial)
    np.testing.assert_array_equal(again["best"], r["best"])


def test_fit_with_sampler(model, tutorial):
    r = fit(model, tutorial, config=SAMPLER, seed=3)
    assert r["samples"].ndim == 2 and r["samples"].shape[1] == 11
    for name, (p16, p50, p84) in r["percentiles"].items():
        assert p16 <= p50 <= p84, name
    assert set(r["derived_percentiles"]) == set(r["derived"])
    s = r["sampler"]
    assert 0 < s["acceptance"] < 1 and s["tau_max"] > 0 and s["log_z"] is None


def test_missing_band(model, tutorial):
    mags = tutorial["mags_true"].astype(np.float64).copy()
    mags[3] = np.nan
    r = model.fit(mags, tutorial["mags_err"], galsed.DEFAULT19, redshift=0.01, distmod=0.0, config=SMALL)
    assert r["n_detections"] == 18 and galsed.DEFAULT19[3] not in r["filters"]


def cli():
    exe = os.environ.get("GALSED_CLI")
    if exe:
        return exe
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    exe = os.path.join(target, "release", "galsed")
    return exe if os.path.isfile(exe) else shutil.which("galsed")


def test_fit_matches_the_command_line(model, tutorial, tmp_path):
    exe = cli()
    if not exe:
        pytest.skip("the galsed binary is not built (cargo build --release -p galsed-cli)")
    bands = galsed.DEFAULT19
    cols = ["id", "redshift", "distmod"] + bands + [b + "_err" for b in bands]
    vals = ["g0", "0.01", "0.0"] + [repr(float(x)) for x in tutorial["mags_true"]] + [repr(float(x)) for x in tutorial["mags_err"]]
    (tmp_path / "cat.csv").write_text(",".join(cols) + "\n" + ",".join(vals) + "\n")
    config = '[catalog]\ngrid = "base"\nbands = [' + ", ".join(f'"{b}"' for b in bands) + "]\n" + SMALL
    (tmp_path / "fit.toml").write_text(config)
    env = dict(os.environ, GALSED_MODEL_DIR=str(MODEL_DIR))
    subprocess.run([exe, "fit", "--catalog", "cat.csv", "--config", "fit.toml", "--output", "out.csv",
                    "--plots", "plots", "--plot-format", "svg"],
                   cwd=tmp_path, env=env, check=True, capture_output=True)
    row = next(csv.DictReader(open(tmp_path / "out.csv")))
    r = model.fit(tutorial["mags_true"], tutorial["mags_err"], bands, redshift=0.01, distmod=0.0, config=config,
                  plot=tmp_path / "python.svg", title="g0")
    # The plotting helper draws exactly the command line's figure.
    assert (tmp_path / "python.svg").read_bytes() == (tmp_path / "plots" / "g0.svg").read_bytes()
    assert float(row["chi2"]) == r["chi2"]
    assert float(row["neg_log_post"]) == r["neg_log_post"]
    for name, v in r["params"].items():
        assert float(row[f"par_{name}"]) == v, name
    for name, v in r["derived"].items():
        assert float(row[name]) == v or (np.isnan(v) and row[name] == "NaN"), name


def test_fit_plot(model, tutorial, tmp_path):
    plain = fit(model, tutorial)
    r = fit(model, tutorial, plot=tmp_path / "fit.png", title="tutorial galaxy")
    np.testing.assert_array_equal(r["best"], plain["best"])
    png = (tmp_path / "fit.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    fit(model, tutorial, plot=str(tmp_path / "fit.svg"), title="tutorial galaxy")
    svg = (tmp_path / "fit.svg").read_text()
    assert svg.startswith("<svg") and "tutorial galaxy" in svg
    # A file name that is neither .png nor .svg fails before the fit.
    with pytest.raises(ValueError, match="png or .svg"):
        fit(model, tutorial, plot=tmp_path / "fit.pdf")
    assert not (tmp_path / "fit.pdf").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mags=np.zeros(18)), "mags must be a 1-D array of length 19"),
        (dict(mags=np.full(19, np.nan)), "no band has a magnitude"),
        (dict(mag_errors=np.zeros(19)), "error must be finite and > 0"),
        (dict(config="[optimizer"), "not valid TOML"),
        (dict(config="[optimizer]\nmethod = 'simulated_annealing'"), "config"),
        (dict(config="[unknown]\nx = 1"), "unknown"),
        (dict(config='[catalog]\ngrid = "auto"'), "Model\\(grid=\"auto\"\\)"),
        (dict(config="[parametrization.bounds]\nnot_a_parameter = [0, 1]"), "parametrization"),
        (dict(redshift=-1.0), "redshift"),
        (dict(filters=["sdss_r0"] * 19), "twice"),
    ],
)
def test_fit_bad_input(model, tutorial, kwargs, match):
    args = dict(mags=tutorial["mags_true"], mag_errors=tutorial["mags_err"], filters=galsed.DEFAULT19,
                redshift=0.01, distmod=0.0, config=SMALL)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        model.fit(**args)
