"""Shared fixtures: the reference pack (../shared/reference/starduster beside the repository, never
copied into it), the published model on both grids, and the tolerance checks of the Rust tests
(crates/galsed-emulator/tests/common/mod.rs)."""

import os
from pathlib import Path

import numpy as np
import pytest

import galsed

REPO = Path(__file__).resolve().parents[3]
REFERENCE = Path(os.environ.get("GALSED_REFERENCE", REPO.parent / "shared" / "reference" / "starduster"))
MODEL_DIR = Path(os.environ.get("GALSED_MODEL_DIR") or REFERENCE / "original")

# The 20 golden filters, in the reference's order.
GOLDEN_FILTERS = [
    "galex_FUV", "galex_NUV", "sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0", "twomass_J",
    "twomass_H", "twomass_Ks", "wise_w1", "wise_w2", "wise_w3", "wise_w4", "herschel_pacs_70",
    "herschel_pacs_100", "herschel_pacs_160", "herschel_spire_250", "herschel_spire_350",
    "herschel_spire_500",
]


def golden(name):
    path = REFERENCE / "golden" / name
    if not path.is_file():
        pytest.skip(f"reference file {path} not found")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def model():
    return galsed.Model(str(MODEL_DIR), grid="base")


@pytest.fixture(scope="session")
def model_auto():
    return galsed.Model(str(MODEL_DIR), grid="auto")


@pytest.fixture(scope="session")
def inputs():
    return golden("inputs.npz")


def check_spectra(name, got, want, rtol, atol_row):
    """|a−b| ≤ rtol·|b| + atol_row·max_row|b| (spec §6); returns the worst ratio to the allowance."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, name
    scale = np.abs(want).max(axis=1, keepdims=True)
    allowed = rtol * np.abs(want) + atol_row * scale
    diff = np.abs(got - want)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(allowed > 0, diff / allowed, np.where(diff == 0, 0.0, np.inf))
    worst = float(ratio.max())
    print(f"{name}: worst |a-b|/allowed = {worst:.3g}")
    assert worst <= 1.0, f"{name}: {worst:.3g}× the tolerance"
    return worst


def check_abs(name, got, want, tol):
    """|a − b| ≤ tol; infinities must match exactly."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, name
    inf = np.isinf(got) | np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), f"{name}: infinities differ"
    worst = float(np.abs(got[~inf] - want[~inf]).max(initial=0.0))
    print(f"{name}: max |a-b| = {worst:.3g}")
    assert worst <= tol, f"{name}: {worst:.3g} > {tol}"
    return worst


def check_rel(name, got, want, rtol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    worst = float((np.abs(got - want) / np.maximum(np.abs(want), np.finfo(float).tiny)).max())
    print(f"{name}: max rel diff = {worst:.3g}")
    assert worst <= rtol, f"{name}: {worst:.3g} > {rtol}"
    return worst
