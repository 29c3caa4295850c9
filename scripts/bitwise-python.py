#!/usr/bin/env python3
"""Writes every output of the `galsed` Python module on fixed inputs into a directory, one file per
result with a stable name, so that two builds of the bindings can be compared byte for byte (see
scripts/bitwise-python.sh, which runs this with two interpreters and cmp's the files).

Covered: galsed.filters(), DEFAULT19, __version__, fetch_model() (from a local copy); Model on the
base, auto and full grids and on custom grids (an array and a file): every accessor, sed() for
every component in both units (one redshift, per-galaxy redshifts and distance moduli, z = 0,
clip=False, zero rows), photometry() (magnitudes and fluxes, every component, one and per-galaxy
redshifts and distance moduli, bands out of range, built-in names, "default19", a comma-separated
string and a filter file); SamConverter (age bins and instantaneous ages, frac_recycle; accessors,
convert() on the golden SAM galaxies and on random ones from a fixed seed, with invalid rows);
Model.sam_photometry() (as photometry()); Model.fit() (the tutorial galaxy and mock galaxies made
from the model's photometry, several optimisers, samplers, parametrisations, a missing band, fixed
seeds, small budgets); and the messages of the errors raised on bad input.

Arrays are saved with np.save; dicts, tuples, lists, strings and floats as JSON (Python's json
writes floats with repr, which round-trips exactly; NaN and infinities as NaN/Infinity). A dict or
tuple holding arrays goes to NAME.json with each array as its dtype and shape, and each array to
NAME.KEY.npy (NAME.INDEX.npy in a tuple).

Usage: python scripts/bitwise-python.py OUTDIR [--no-fit] [--no-errors | --errors-only]
  --no-fit: skip Model.fit; --no-errors: skip the error messages; --errors-only: only them (in
  errors.json: the messages are kept apart from the results, as a refactoring may reword them).
Needs GALSED_MODEL_DIR (or a fetched model) and ../shared/reference beside the repository (or
GALSED_REFERENCE). Fits use burn-autodiff: run them with RAYON_NUM_THREADS=1.
"""

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import galsed

HERE = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("GALSED_REFERENCE", HERE.parent / "shared" / "reference" / "starduster"))
GOLDEN = REFERENCE / "golden"
MODEL_DIR = os.environ.get("GALSED_MODEL_DIR") or str(REFERENCE / "original")

COMPONENTS = ["combine", "dust_free", "dust_attenuation", "dust_emission"]
# The reference's 20 golden filters, in its order (as tests/conftest.py).
GOLDEN_FILTERS = [
    "galex_FUV", "galex_NUV", "sdss_u0", "sdss_g0", "sdss_r0", "sdss_i0", "sdss_z0", "twomass_J",
    "twomass_H", "twomass_Ks", "wise_w1", "wise_w2", "wise_w3", "wise_w4", "herschel_pacs_70",
    "herschel_pacs_100", "herschel_pacs_160", "herschel_spire_250", "herschel_spire_350",
    "herschel_spire_500",
]


class Out:
    """Writes results under one directory; every name is written once."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.names = set()

    def _path(self, name, ext):
        assert name not in self.names, f"{name} written twice"
        self.names.add(name)
        return self.root / f"{name}.{ext}"

    def npy(self, name, arr):
        arr = np.asarray(arr)
        assert arr.dtype != object, name
        np.save(self._path(name, "npy"), arr, allow_pickle=False)

    def json(self, name, obj):
        assert not isinstance(obj, np.ndarray), name
        text = json.dumps(plain(obj), indent=1, allow_nan=True)
        self._path(name, "json").write_text(text + "\n")

    def result(self, name, obj):
        """A dict/list/scalar: the whole as JSON, and each array in it also as .npy."""
        self.json(name, obj)
        n = 0
        for key, arr in arrays_in(obj):
            self.npy(f"{name}.{key}", arr)
            n += 1
        assert n == json.dumps(plain(obj)).count('"dtype"'), f"{name}: an array was not saved"


def plain(obj):
    """JSON-able copy: arrays as their dtype and shape, numpy scalars as Python ones, tuples as lists."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):  # its values are in their own .npy file (Out.result)
        return {"dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def arrays_in(obj, prefix=""):
    if isinstance(obj, np.ndarray):
        yield prefix.rstrip(".") or "value", obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from arrays_in(v, f"{prefix}{k}.")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from arrays_in(v, f"{prefix}{i}.")


def golden(name):
    with np.load(GOLDEN / name) as f:
        return {k: f[k] for k in f.files}


def error_of(fn):
    """(exception type, message) of a call that must raise; 'no error' otherwise."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any exception is a result here
        return [type(e).__name__, str(e)]
    return ["no error", ""]


# ---- module level --------------------------------------------------------------------------------
def module_level(out):
    out.json("module", {"version": galsed.__version__, "DEFAULT19": list(galsed.DEFAULT19),
                        "filters": galsed.filters()})
    # The Python-visible interface: signatures and docstrings of every public name.
    api = {}
    for owner, prefix in [(galsed, ""), (galsed.Model, "Model."), (galsed.SamConverter, "SamConverter.")]:
        for name in sorted(dir(owner)):
            if name.startswith("_") or name == "galsed":
                continue
            a = getattr(owner, name)
            if isinstance(a, (str, list)):
                continue
            api[prefix + name] = [type(a).__name__, getattr(a, "__text_signature__", None), a.__doc__]
    for cls in (galsed.Model, galsed.SamConverter):
        api[cls.__name__] = [cls.__text_signature__, cls.__doc__]
    out.json("module.api", api)
    # fetch_model from a local copy: the files it puts in place.
    with tempfile.TemporaryDirectory() as tmp:
        dest = galsed.fetch_model(os.path.join(tmp, "model"), source=MODEL_DIR)
        files = {}
        for p in sorted(Path(dest).rglob("*")):
            if p.is_file():
                files[str(p.relative_to(dest))] = hashlib.sha256(p.read_bytes()).hexdigest()
        again = galsed.fetch_model(dest, source=MODEL_DIR)  # files in place are kept
        out.json("fetch_model", {"returned_is_dest": dest == os.path.join(tmp, "model"),
                                 "again_same": again == dest, "files_sha256": files,
                                 "loads": galsed.Model(dest).n_ssp})


# ---- Model: accessors, sed, photometry -----------------------------------------------------------
def accessors(out, tag, m):
    out.npy(f"{tag}.wavelength", m.wavelength)
    out.npy(f"{tag}.ssp_ages", m.ssp_ages)
    out.npy(f"{tag}.ssp_metallicities", m.ssp_metallicities)
    out.json(f"{tag}.meta", {"param_names": m.param_names, "n_ssp": m.n_ssp, "grid": m.grid,
                             "path_is_model_dir": os.path.realpath(m.path) == os.path.realpath(MODEL_DIR),
                             "repr": repr(m).replace(m.path, "<MODEL_DIR>")})


def seds(out, tag, m, gp, sd, sb, full=True):
    n = len(gp)
    z = np.linspace(0.0, 0.3, n)
    mu = np.where(np.arange(n) % 3 == 0, np.nan, 30.0 + np.arange(n) * 0.25)
    for comp in COMPONENTS:
        out.npy(f"{tag}.sed.{comp}.lsun", m.sed(gp, sd, sb, component=comp))
        out.npy(f"{tag}.sed.{comp}.jy.z0.05", m.sed(gp, sd, sb, component=comp, units="jy", redshift=0.05))
        if full:
            out.npy(f"{tag}.sed.{comp}.jy.zrows", m.sed(gp, sd, sb, component=comp, units="jy", redshift=z))
            out.npy(f"{tag}.sed.{comp}.jy.zrows-murows",
                    m.sed(gp, sd, sb, component=comp, units="jy", redshift=z, distmod=mu))
    if full:
        out.npy(f"{tag}.sed.combine.jy.z0", m.sed(gp, sd, sb, units="jy"))
        out.npy(f"{tag}.sed.combine.jy.z0.1-mu35", m.sed(gp, sd, sb, units="Jy", redshift=0.1, distmod=35.0))
        out.npy(f"{tag}.sed.combine.jy.mu-rows", m.sed(gp, sd, sb, units="jy", redshift=0.02, distmod=mu))
        out.npy(f"{tag}.sed.combine.L_sun", m.sed(gp, sd, sb, units="L_sun", redshift=0.5))
        out.npy(f"{tag}.sed.lists", m.sed(gp[:5].tolist(), sd[:5].tolist(), sb[:5].tolist()))
        out.npy(f"{tag}.sed.float32", m.sed(gp.astype(np.float32), sd.astype(np.float32), sb.astype(np.float32)))
        out.npy(f"{tag}.sed.empty", m.sed(np.zeros((0, 7)), np.zeros((0, 36)), np.zeros((0, 36))))
        ok = slice(0, 71)  # row 71 of the golden inputs is out of range on purpose
        out.npy(f"{tag}.sed.noclip", m.sed(gp[ok], sd[ok], sb[ok], clip=False))


def photometry(out, tag, m, gp, sd, sb, filter_file):
    n = len(gp)
    z = np.linspace(0.0, 0.3, n)
    mu = np.where(np.arange(n) % 3 == 0, np.nan, 30.0 + np.arange(n) * 0.25)
    for comp in COMPONENTS:
        for mag in (True, False):
            kind = "mag" if mag else "flux"
            out.npy(f"{tag}.phot.{comp}.{kind}.z0.05",
                    m.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=0.05, component=comp, mag=mag))
            out.npy(f"{tag}.phot.{comp}.{kind}.zrows",
                    m.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, component=comp, mag=mag))
    for mag in (True, False):
        kind = "mag" if mag else "flux"
        out.npy(f"{tag}.phot.{kind}.z0", m.photometry(gp, sd, sb, galsed.DEFAULT19, mag=mag))
        out.npy(f"{tag}.phot.{kind}.zrows-murows",
                m.photometry(gp, sd, sb, GOLDEN_FILTERS, redshift=z, distmod=mu, mag=mag))
        out.npy(f"{tag}.phot.{kind}.z0.1-mu38",
                m.photometry(gp, sd, sb, ["default19"], redshift=0.1, distmod=38.0, mag=mag))
        out.npy(f"{tag}.phot.{kind}.mu-rows",
                m.photometry(gp, sd, sb, "default19", redshift=0.03, distmod=mu, mag=mag))
        # Per-galaxy redshifts where galex_FUV leaves the model's range (NaN there).
        zfar = np.linspace(0.0, 2.0, n)
        out.npy(f"{tag}.phot.{kind}.zfar",
                m.photometry(gp, sd, sb, ["galex_FUV", "sdss_r0", "herschel_spire_500"], redshift=zfar, mag=mag))
    out.npy(f"{tag}.phot.string", m.photometry(gp, sd, sb, "galex_FUV, sdss_r0 ,wise_w4,", redshift=0.02))
    out.npy(f"{tag}.phot.file", m.photometry(gp, sd, sb, [filter_file, "sdss_g0"], redshift=0.02))
    out.npy(f"{tag}.phot.empty", m.photometry(np.zeros((0, 7)), np.zeros((0, 36)), np.zeros((0, 36)), ["sdss_r0"]))
    out.npy(f"{tag}.phot.noclip", m.photometry(gp[:71], sd[:71], sb[:71], galsed.DEFAULT19, clip=False))


# ---- SAM -----------------------------------------------------------------------------------------
SCALARS = ["theta", "m_dust", "r_dust", "r_disk", "r_bulge"]


def random_sam(n, n_bins, seed):
    """Random SAM galaxies (as tests/test_dask.py makes them) with a few invalid rows."""
    rng = np.random.default_rng(seed)
    cat = {
        "theta": rng.uniform(0.0, 90.0, n),
        "m_dust": 10 ** rng.uniform(5.0, 8.0, n),
        "r_dust": 10 ** rng.uniform(0.0, 1.0, n),
        "r_disk": 10 ** rng.uniform(-0.3, 1.0, n),
        "r_bulge": 10 ** rng.uniform(-0.5, 0.5, n),
    }
    hist = {}
    for comp, scale in [("disk", 9.0), ("bulge", 8.5)]:
        mass = 10 ** rng.uniform(scale - 3, scale, (n, n_bins)) * (rng.random((n, n_bins)) < 0.8)
        hist[f"mass_{comp}"] = mass
        hist[f"metal_{comp}"] = mass * 10 ** rng.uniform(-3.5, -1.5, (n, n_bins))
    cat["r_disk"][11] = 0.0  # invalid: r_disk must be > 0
    cat["theta"][40] = np.nan  # invalid: not finite
    hist["mass_disk"][57] = 0.0  # invalid: no stars
    hist["mass_bulge"][57] = 0.0
    hist["mass_disk"][63, 2] = -1.0  # invalid: negative mass
    z = np.where(rng.random(n) < 0.5, rng.choice([0.0, 0.1, 0.25], n), rng.uniform(0.005, 0.3, n))
    args = [cat[k] for k in SCALARS] + [hist[k] for k in ["mass_disk", "metal_disk", "mass_bulge", "metal_bulge"]]
    return args, z


def golden_sam_args(g):
    return [g[k] for k in SCALARS + ["sfh_mass_disk", "sfh_metal_mass_disk", "sfh_mass_bulge", "sfh_metal_mass_bulge"]]


def converter_outputs(out, tag, conv):
    out.json(f"{tag}.meta", {"n_bins": conv.n_bins, "frac_recycle": conv.frac_recycle, "repr": repr(conv),
                             "age_edges_none": conv.age_edges is None, "ages_none": conv.ages is None})
    out.npy(f"{tag}.tau_matrix", conv.tau_matrix)
    if conv.age_edges is not None:
        out.npy(f"{tag}.age_edges", conv.age_edges)
    if conv.ages is not None:
        out.npy(f"{tag}.ages", conv.ages)


def sam(out, tag, m, full=True):
    cases = [("sam_tutorial", 0.0, False), ("sam_test", 0.44, False), ("sam_instant", 0.0, True)]
    for name, frac, instant in cases:
        g = golden(f"{name}.npz")
        if instant:
            conv = galsed.SamConverter(m, ages=g["age_bins"], frac_recycle=frac)
        else:
            conv = galsed.SamConverter(m, age_edges=g["age_bins"], frac_recycle=frac)
        t = f"{tag}.sam.{name}"
        args = golden_sam_args(g)
        if full:
            converter_outputs(out, f"{t}.converter", conv)
            out.result(f"{t}.convert", conv.convert(*args))
        n = len(args[0])
        zr = np.linspace(0.0, 0.2, n)
        for comp in COMPONENTS if full else ["combine"]:
            for mag in (True, False):
                kind = "mag" if mag else "flux"
                out.result(f"{t}.phot.{comp}.{kind}.z0.05",
                           m.sam_photometry(conv, *args, GOLDEN_FILTERS, redshift=0.05, component=comp, mag=mag))
                out.result(f"{t}.phot.{comp}.{kind}.zrows",
                           m.sam_photometry(conv, *args, GOLDEN_FILTERS, redshift=zr, component=comp, mag=mag))
    # Random galaxies from a fixed seed, on the age bins of sam_test, with invalid rows.
    g = golden("sam_test.npz")
    args, z = random_sam(300, g["age_bins"].size - 1, seed=20240611)
    mu = np.where(np.arange(300) % 4 == 0, np.nan, 33.0 + (np.arange(300) % 7) * 0.5)
    for frac in (0.0, 0.44):
        conv = galsed.SamConverter(m, age_edges=g["age_bins"], frac_recycle=frac)
        t = f"{tag}.sam.random.fr{frac}"
        if full:
            out.result(f"{t}.convert", conv.convert(*args))
        for mag in (True, False):
            kind = "mag" if mag else "flux"
            out.result(f"{t}.phot.{kind}.zrows", m.sam_photometry(conv, *args, galsed.DEFAULT19, redshift=z, mag=mag))
            if full:
                out.result(f"{t}.phot.{kind}.zrows-murows",
                           m.sam_photometry(conv, *args, galsed.DEFAULT19, redshift=z, distmod=mu, mag=mag))
                out.result(f"{t}.phot.{kind}.z0", m.sam_photometry(conv, *args, "sdss_r0,wise_w1", mag=mag))
                out.result(f"{t}.phot.dust_emission.{kind}.z0.1",
                           m.sam_photometry(conv, *args, GOLDEN_FILTERS[10:], redshift=0.1, distmod=36.0,
                                            component="dust_emission", mag=mag))
    # The same random histories read as instantaneous ages at the bin centres.
    edges = g["age_bins"]
    conv = galsed.SamConverter(m, ages=np.sqrt(np.maximum(edges[:-1], 1e5) * edges[1:]), frac_recycle=0.2)
    if full:
        converter_outputs(out, f"{tag}.sam.random.instant.converter", conv)
        out.result(f"{tag}.sam.random.instant.convert", conv.convert(*args))
    out.result(f"{tag}.sam.random.instant.phot", m.sam_photometry(conv, *args, galsed.DEFAULT19, redshift=z))
    # All rows invalid.
    if full:
        out.result(f"{tag}.sam.random.allbad",
                   m.sam_photometry(conv, *[a[[11, 40]] for a in args], ["sdss_r0"], redshift=0.1))


# ---- fits ----------------------------------------------------------------------------------------
SMALL = """
[optimizer]
method = "pso"
[optimizer.pso]
n_particles = 16
n_iterations = 100
n_restarts = 2
"""

ENSEMBLE = SMALL + """
[sampler]
method = "ensemble"
n_derived = 50
[sampler.ensemble]
n_steps = 200
until_converged = false
"""

RICH = """
[catalog]
grid = "base"
[parametrization]
boundary = "clipping"
shared_sfh = false
[parametrization.sfh]
model = "discrete"
bins = [[0, 2], [2, 4], [4, 6]]
simplex = true
[parametrization.mh]
model = "interpolated"
[parametrization.bounds]
theta = [0.0, 70.0]
[parametrization.fixed]
r_bulge = 1.0
[likelihood]
mag_offset = -0.006
model_error = 0.05
[prior]
smoothed_uniform = 1e-3
gaussian = [{ name = "b_to_t", mean = -0.5, sigma = 0.2 }]
[optimizer]
method = "pso"
polish = true
[optimizer.pso]
n_particles = 12
n_iterations = 40
n_restarts = 2
seed = 5
"""

NESTED = "selector_penalty = false\n" + SMALL + """
[sampler]
method = "nested"
n_derived = 20
[sampler.nested]
n_live = 40
dlogz = 0.5
"""


def opt_config(method, extra=""):
    return f'[optimizer]\nmethod = "{method}"\n{extra}'


def fits(out, m_base, m_auto):
    t = golden("fitting_tutorial.npz")
    mags, errs = t["mags_true"], t["mags_err"]
    f19 = galsed.DEFAULT19

    def fit(name, m, mags, errs, filters, **kw):
        out.result(f"fit.{name}", m.fit(mags, errs, filters, **kw))

    fit("tutorial.pso", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=SMALL)
    fit("tutorial.pso.seed3", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=SMALL, seed=3)
    fit("tutorial.ensemble", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=ENSEMBLE, seed=3)
    missing = mags.astype(np.float64).copy()
    missing[3] = np.nan
    fit("tutorial.missing-band.rich", m_base, missing, errs, f19, redshift=0.01, distmod=0.0, config=RICH)
    fit("tutorial.nested", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=NESTED, seed=11)
    fit("tutorial.lbfgsb", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=opt_config("lbfgsb"))
    fit("tutorial.nelder_mead", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=opt_config("nelder_mead"))
    fit("tutorial.adam", m_base, mags, errs, f19, redshift=0.01, distmod=0.0, config=opt_config("adam"))

    # Mock galaxies: the model's own photometry of two golden inputs at z = 0.02 (Planck18 distance),
    # with a deterministic offset as noise, on the auto grid (as the reference's fits).
    inp = golden("inputs.npz")
    rows = [5, 30]
    phot = m_auto.photometry(inp["gp"][rows], inp["sfh_disk"][rows], inp["sfh_bulge"][rows], f19, redshift=0.02)
    out.npy("fit.mock.photometry", phot)
    offsets = 0.05 * ((np.arange(19) % 3) - 1)
    auto_cfg = '[catalog]\ngrid = "auto"\n' + SMALL.replace("n_iterations = 100", "n_iterations = 40")
    for k, r in enumerate(rows):
        err = np.full(19, 0.1)
        fit(f"mock{r}.auto", m_auto, phot[k] + offsets, err, f19, redshift=0.02, config=auto_cfg, seed=k)
    # The same galaxy on a subset of bands given as a string, on the base grid, default distance.
    sub = "sdss_u0,sdss_g0,sdss_r0,sdss_i0,sdss_z0,twomass_J,twomass_H,twomass_Ks,wise_w1,wise_w2"
    fit("mock5.base.subset", m_base, phot[0][2:12] + offsets[:10], np.full(10, 0.08), sub, redshift=0.02,
        distmod=float("nan"), config=SMALL.replace("n_iterations = 100", "n_iterations = 40"), seed=1)


# ---- errors on bad input -------------------------------------------------------------------------
def errors(out, m, tmp):
    inp = golden("inputs.npz")
    gp, sd, sb = inp["gp"][:2], inp["sfh_disk"][:2], inp["sfh_bulge"][:2]
    t = golden("fitting_tutorial.npz")
    g = golden("sam_test.npz")
    sam_args = golden_sam_args(g)
    conv = galsed.SamConverter(m, age_edges=g["age_bins"])
    notamodel = Path(tmp) / "notamodel"
    notamodel.mkdir()
    badgrid = Path(tmp) / "bad-grid.txt"
    badgrid.write_text("0.1\n0.2\nabc\n")
    emptygrid = Path(tmp) / "empty-grid.txt"
    emptygrid.write_text("# nothing\n\n")

    def fit(**kw):
        args = dict(mags=t["mags_true"], mag_errors=t["mags_err"], filters=galsed.DEFAULT19,
                    redshift=0.01, distmod=0.0, config=SMALL)
        args.update(kw)
        return m.fit(**args)

    cases = {
        "model.missing-dir": lambda: galsed.Model("/nonexistent/galsed-model"),
        "model.not-a-model": lambda: galsed.Model(str(notamodel)),
        "model.grid-name": lambda: galsed.Model(MODEL_DIR, grid="medium"),
        "model.grid-file-bad": lambda: galsed.Model(MODEL_DIR, grid=str(badgrid)),
        "model.grid-file-empty": lambda: galsed.Model(MODEL_DIR, grid=str(emptygrid)),
        "model.grid-2d": lambda: galsed.Model(MODEL_DIR, grid=np.ones((2, 2))),
        "sed.gp-shape": lambda: m.sed(gp[:, :6], sd, sb),
        "sed.rows": lambda: m.sed(gp, sd[:1], sb),
        "sed.component": lambda: m.sed(gp, sd, sb, component="dust"),
        "sed.units": lambda: m.sed(gp, sd, sb, units="erg"),
        "sed.redshift": lambda: m.sed(gp, sd, sb, units="jy", redshift=-0.1),
        "sed.redshift-nan-row": lambda: m.sed(gp, sd, sb, units="jy", redshift=[0.1, np.nan]),
        "sed.redshift-shape": lambda: m.sed(gp, sd, sb, units="jy", redshift=[0.1, 0.2, 0.3]),
        "sed.distmod-inf": lambda: m.sed(gp, sd, sb, units="jy", redshift=0.1, distmod=np.inf),
        "sed.noclip": lambda: m.sed(inp["gp"][71:], inp["sfh_disk"][71:], inp["sfh_bulge"][71:], clip=False),
        "sed.not-floats": lambda: m.sed([["a"] * 7] * 2, sd, sb),
        "phot.filter-unknown": lambda: m.photometry(gp, sd, sb, ["sdss_r0", "no_such_filter"]),
        "phot.filter-twice": lambda: m.photometry(gp, sd, sb, ["sdss_r0", "default19"]),
        "phot.filter-none": lambda: m.photometry(gp, sd, sb, " , "),
        "phot.filter-empty-list": lambda: m.photometry(gp, sd, sb, []),
        "phot.filter-type": lambda: m.photometry(gp, sd, sb, 3),
        "phot.out-of-range": lambda: m.photometry(gp, sd, sb, ["galex_FUV"], redshift=2.0),
        "phot.component": lambda: m.photometry(gp, sd, sb, ["sdss_r0"], component="all"),
        "fit.mags-len": lambda: fit(mags=np.zeros(18)),
        "fit.all-nan": lambda: fit(mags=np.full(19, np.nan)),
        "fit.zero-error": lambda: fit(mag_errors=np.zeros(19)),
        "fit.toml": lambda: fit(config="[optimizer"),
        "fit.method": lambda: fit(config="[optimizer]\nmethod = 'simulated_annealing'"),
        "fit.unknown-section": lambda: fit(config="[unknown]\nx = 1"),
        "fit.grid": lambda: fit(config='[catalog]\ngrid = "auto"'),
        "fit.grid-type": lambda: fit(config="[catalog]\ngrid = 3"),
        # [catalog] keys other than grid do not apply to Model.fit.
        "fit.catalog-other-key": lambda: fit(config='[catalog]\nquantity = "flux"\ngrid = "base"\n' + SMALL),
        "fit.catalog-unknown-key": lambda: fit(config="[catalog]\nnot_a_key = 1\n" + SMALL),
        "fit.catalog-bad-type": lambda: fit(config="[catalog]\nbands = 3\n" + SMALL),
        "fit.catalog-not-a-table": lambda: fit(config="catalog = 3\n" + SMALL),
        "fit.param": lambda: fit(config="[parametrization.bounds]\nnot_a_parameter = [0, 1]"),
        "fit.mag-inf": lambda: fit(mags=np.where(np.arange(19) == 2, np.inf, t["mags_true"])),
        "fit.error-nan": lambda: fit(mag_errors=np.where(np.arange(19) == 4, np.nan, t["mags_err"])),
        "fit.error-nan-missing-band": lambda: fit(mags=np.where(np.arange(19) == 4, np.nan, t["mags_true"]),
                                                  mag_errors=np.where(np.arange(19) == 4, np.nan, t["mags_err"])),
        "fit.redshift": lambda: fit(redshift=-1.0),
        "fit.twice": lambda: fit(filters=["sdss_r0"] * 19),
        "sam.no-bins": lambda: galsed.SamConverter(m),
        "sam.both-bins": lambda: galsed.SamConverter(m, age_edges=g["age_bins"], ages=g["age_bins"]),
        "sam.frac": lambda: galsed.SamConverter(m, age_edges=g["age_bins"], frac_recycle=1.0),
        "sam.decreasing": lambda: galsed.SamConverter(m, age_edges=g["age_bins"][::-1]),
        "sam.m_dust-len": lambda: conv.convert(sam_args[0], sam_args[1][:5], *sam_args[2:]),
        "sam.hist-shape": lambda: conv.convert(*sam_args[:5], sam_args[5][:, :9], *sam_args[6:]),
        "sam.hist-1d": lambda: conv.convert(*sam_args[:8], sam_args[8][0]),
        "sam.phot-redshift": lambda: m.sam_photometry(conv, *sam_args, ["sdss_r0"], redshift=-1.0),
        "fetch.missing-source": lambda: galsed.fetch_model(os.path.join(tmp, "other"), source=os.path.join(tmp, "nowhere")),
    }
    res = {}
    for name, fn in cases.items():
        kind, msg = error_of(fn)
        res[name] = [kind, msg.replace(str(tmp), "<TMP>")]
    out.json("errors", res)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = {a for a in sys.argv[1:] if a.startswith("--")}
    if len(args) != 1 or not opts <= {"--no-fit", "--no-errors", "--errors-only"}:
        sys.exit("usage: bitwise-python.py OUTDIR [--no-fit] [--no-errors | --errors-only]")
    out = Out(args[0])
    if "--errors-only" in opts:
        with tempfile.TemporaryDirectory() as tmp:
            errors(out, galsed.Model(MODEL_DIR, grid="base"), tmp)
        print(f"wrote {len(out.names)} results to {out.root}")
        return
    inp = golden("inputs.npz")
    gp, sd, sb = inp["gp"], inp["sfh_disk"], inp["sfh_bulge"]

    module_level(out)
    models = {g: galsed.Model(MODEL_DIR, grid=g) for g in ["base", "auto", "full"]}
    models["env"] = galsed.Model()  # GALSED_MODEL_DIR (or the user cache), base grid
    with tempfile.TemporaryDirectory() as tmp:
        # A filter file (wavelength [Å], transmission) and a wavelength-grid file (µm).
        filter_file = os.path.join(tmp, "my_band.par")
        lam = np.linspace(5200.0, 6800.0, 33)
        trans = np.clip(1.0 - ((lam - 6000.0) / 700.0) ** 2, 0.0, None)
        Path(filter_file).write_text("".join(f"{float(a)!r} {float(b)!r}\n" for a, b in zip(lam, trans)))
        grid_file = os.path.join(tmp, "grid.txt")
        grid_lam = np.geomspace(0.11, 1000.0, 150)
        Path(grid_file).write_text("# wavelengths [um]\n" + "".join(f"{float(x)!r}\n" for x in grid_lam) + "\n")
        models["custom-array"] = galsed.Model(MODEL_DIR, grid=np.geomspace(0.12, 1000.0, 200))
        models["custom-file"] = galsed.Model(MODEL_DIR, grid=grid_file)

        for tag, m in models.items():
            accessors(out, f"model-{tag}", m)
        for tag in ["base", "auto"]:
            m = models[tag]
            seds(out, f"model-{tag}", m, gp, sd, sb)
            photometry(out, f"model-{tag}", m, gp, sd, sb, filter_file)
            sam(out, f"model-{tag}", m)
        for tag in ["full", "env", "custom-array", "custom-file"]:
            m = models[tag]
            seds(out, f"model-{tag}", m, gp, sd, sb, full=False)
            out.npy(f"model-{tag}.phot.mag.z0.05",
                    m.photometry(gp, sd, sb, [filter_file] + GOLDEN_FILTERS[2:14], redshift=0.05))
        sam(out, "model-full", models["full"], full=False)

        if "--no-errors" not in opts:
            errors(out, models["base"], tmp)
    if "--no-fit" not in opts:
        fits(out, models["base"], models["auto"])
    print(f"wrote {len(out.names)} results to {out.root}")


if __name__ == "__main__":
    main()
