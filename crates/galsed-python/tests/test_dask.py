"""A SAM catalogue in Parquet shards through dask.distributed (2 worker processes, each loading the
model once) gives, bitwise, what one process computes for the whole catalogue."""

import os
import sys

import numpy as np
import pytest

import galsed
from conftest import MODEL_DIR, golden

distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
cloudpickle = pytest.importorskip("cloudpickle")

FILTERS = galsed.DEFAULT19
SCALARS = ["theta", "m_dust", "r_dust", "r_disk", "r_bulge"]
HISTORIES = ["mass_disk", "metal_disk", "mass_bulge", "metal_bulge"]
SHARD_SIZES = [150, 97, 256, 8, 1, 188]  # uneven, including tiny shards


def synthetic_catalogue(n, n_bins, seed=7):
    """Random SAM galaxies: a few snapshot redshifts and a light cone, and two invalid rows."""
    rng = np.random.default_rng(seed)
    z = np.where(rng.random(n) < 0.5, rng.choice([0.0, 0.1, 0.25], n), rng.uniform(0.005, 0.3, n))
    cat = {
        "id": np.arange(n, dtype=np.int64),
        "redshift": z,
        "theta": rng.uniform(0.0, 90.0, n),
        "m_dust": 10 ** rng.uniform(5.0, 8.0, n),
        "r_dust": 10 ** rng.uniform(0.0, 1.0, n),
        "r_disk": 10 ** rng.uniform(-0.3, 1.0, n),
        "r_bulge": 10 ** rng.uniform(-0.5, 0.5, n),
    }
    for comp, scale in [("disk", 9.0), ("bulge", 8.5)]:
        mass = 10 ** rng.uniform(scale - 3, scale, (n, n_bins)) * (rng.random((n, n_bins)) < 0.8)
        cat[f"mass_{comp}"] = mass
        cat[f"metal_{comp}"] = mass * 10 ** rng.uniform(-3.5, -1.5, (n, n_bins))
    cat["r_disk"][11] = 0.0  # invalid: r_disk must be > 0
    cat["theta"][400] = np.nan  # invalid: not finite
    return cat


def write_shards(cat, directory):
    paths, start = [], 0
    for i, size in enumerate(SHARD_SIZES):
        rows = slice(start, start + size)
        columns = {k: pa.array(cat[k][rows]) for k in ["id", "redshift"] + SCALARS}
        for k in HISTORIES:
            h = np.ascontiguousarray(cat[k][rows])
            columns[k] = pa.FixedSizeListArray.from_arrays(pa.array(h.ravel()), h.shape[1])
        path = os.path.join(directory, f"part-{i:03d}.parquet")
        pq.write_table(pa.table(columns), path)
        paths.append(path)
        start += size
    return paths


def read_shard(path):
    table = pq.read_table(path)
    n = table.num_rows
    out = {k: table.column(k).to_numpy() for k in ["id", "redshift"] + SCALARS}
    for k in HISTORIES:
        values = table.column(k).combine_chunks().flatten().to_numpy()
        out[k] = values.reshape(n, -1)
    return out


class GalsedModel(distributed.WorkerPlugin):
    """Loads the model and the SAM converter once per worker process."""

    name = "galsed-model"

    def __init__(self, model_dir, age_edges, frac_recycle):
        self.model_dir, self.age_edges, self.frac_recycle = model_dir, age_edges, frac_recycle
        self.loads = 0

    def setup(self, worker):
        import galsed

        self.model = galsed.Model(self.model_dir, grid="base")
        self.converter = galsed.SamConverter(self.model, age_edges=self.age_edges, frac_recycle=self.frac_recycle)
        self.loads += 1


def shard_photometry(path, filters):
    """One task: a Parquet shard → (ids, AB magnitudes, status, worker pid, model id)."""
    w = distributed.get_worker().plugins["galsed-model"]
    s = read_shard(path)
    mags, status = w.model.sam_photometry(
        w.converter, *[s[k] for k in SCALARS + HISTORIES], filters, redshift=s["redshift"])
    return s["id"], mags, status, os.getpid(), id(w.model)


def test_dask_distributed_sam_photometry(model, tmp_path):
    # The worker processes cannot import this test module: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    edges = golden("sam_test.npz")["age_bins"]
    frac = 0.44
    cat = synthetic_catalogue(sum(SHARD_SIZES), edges.size - 1)
    paths = write_shards(cat, str(tmp_path))

    # Single process, the whole catalogue in one call.
    conv = galsed.SamConverter(model, age_edges=edges, frac_recycle=frac)
    want, want_status = model.sam_photometry(conv, *[cat[k] for k in SCALARS + HISTORIES], FILTERS,
                                             redshift=cat["redshift"])
    assert [i for i, s in enumerate(want_status) if s] == [11, 400]
    assert np.isfinite(np.delete(want, [11, 400], axis=0)).all()

    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(GalsedModel(str(MODEL_DIR), edges, frac))
        parts = client.gather(client.map(shard_photometry, paths, filters=FILTERS))
        loads = client.run(lambda dask_worker: dask_worker.plugins["galsed-model"].loads)
        worker_pids = set(client.run(os.getpid).values())

    ids = np.concatenate([p[0] for p in parts])
    got = np.concatenate([p[1] for p in parts])
    status = [s for p in parts for s in p[2]]
    np.testing.assert_array_equal(ids, cat["id"])
    assert got.tobytes() == want.tobytes(), "distributed photometry differs from the single-process run"
    assert status == want_status
    # Each worker loaded the model once, and every task used its worker's model.
    assert list(loads.values()) == [1, 1]
    models = {}
    for *_, pid, model_id in parts:
        assert pid in worker_pids
        assert models.setdefault(pid, model_id) == model_id
    print(f"{len(paths)} shards on {len(models)} worker(s); {len(ids)} galaxies bitwise equal")
