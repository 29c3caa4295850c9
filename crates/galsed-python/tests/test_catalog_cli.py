"""Model.sam_photometry round-trips against `galsed catalog run`: the same synthetic SAM catalogue
(written by `galsed catalog synth`) gives bitwise the same observed-frame photometry and the same
invalid rows through Python and through the command line."""

import json
import os
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest

import galsed
from conftest import MODEL_DIR
from test_fit import cli


def test_sam_photometry_matches_galsed_catalog(model, tmp_path):
    exe = cli()
    if not exe:
        pytest.skip("the galsed binary is not built (cargo build --release -p galsed-cli)")
    env = dict(os.environ, GALSED_MODEL_DIR=str(MODEL_DIR))
    run = lambda *args: subprocess.run([exe, *args], cwd=tmp_path, env=env, check=True, capture_output=True)
    # 700 rows: one CLI chunk, cut into the same 256-row evaluation blocks as one Python call.
    run("catalog", "synth", "--output", "sam.parquet", "--rows", "700", "--invalid-fraction", "0.005", "--seed", "3")
    run("catalog", "run", "--input", "sam.parquet", "--output", "phot.parquet", "--filters", "default19")

    cat = pq.read_table(tmp_path / "sam.parquet")
    edges = json.loads(pq.read_metadata(tmp_path / "sam.parquet").metadata[b"galsed.age_edges"])
    col = lambda name: cat.column(name).to_numpy()
    hist = lambda name: np.stack(cat.column(name).to_pylist())
    conv = galsed.SamConverter(model, age_edges=np.array(edges))
    got, status = model.sam_photometry(
        conv, col("theta"), col("m_dust"), col("r_dust"), col("r_disk"), col("r_bulge"),
        hist("mass_disk"), hist("metal_disk"), hist("mass_bulge"), hist("metal_bulge"),
        galsed.DEFAULT19, redshift=col("redshift"))

    out = pq.read_table(tmp_path / "phot.parquet")
    assert out.column("id").to_pylist() == col("id").tolist()
    invalid_cli = [s.startswith("invalid") for s in out.column("status").to_pylist()]
    assert invalid_cli == [s != "" for s in status]
    assert sum(invalid_cli) == 4
    for b, band in enumerate(galsed.DEFAULT19):
        np.testing.assert_array_equal(got[:, b], out.column(band).to_numpy(), err_msg=band)
