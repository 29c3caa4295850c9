#!/usr/bin/env python3
"""galsed's fits of the KINGFISH galaxies next to the posteriors of bagpipes, prospector and
Lightning (docs/real-galaxies.md): prints the Markdown tables of that page.

    python3 scripts/kingfish-compare.py RESULTS.csv [DIR]

RESULTS.csv is the output of `galsed fit --catalog data/kingfish/kingfish.csv --config
data/kingfish/fit.toml` (with a sampler, for the _p16/_p50/_p84 columns); DIR holds the other
codes' posteriors (default ../shared/realdata/kingfish beside the repository; they are read, never
copied into the project). Needs numpy and astropy.

What is compared, per posterior draw (median and 16–84 % range):

* M_formed — the mass formed by the SFH. galsed: `m_star` (the FSPS SSPs of the published library
  are per solar mass formed: the reference's SAM converter divides surviving masses by
  1 − frac_recycle); bagpipes: Σ 10^`constantN:massformed`; prospector: Σ `mass_N` (masses formed,
  prospector's convention); Lightning: Σ PSI_N·Δt_N over its STEPS_BOUNDS.
* M_star — the surviving stellar mass, reported by the other codes (bagpipes `stellar_mass`,
  prospector Σ mass_N · `survive_mass_frac`, Lightning `MSTAR`); galsed does not compute it.
* SFR over the last 100 Myr: galsed `sfr`; bagpipes (mass formed in its 0–10 and 10–100 Myr bins)
  / 1e8 yr; prospector the same with its agebins; Lightning Σ PSI·Δt over the steps below 100 Myr
  / 1e8 yr.
* L_dust: galsed `l_ir` (frac_abs·l_norm); the others' `ltir`/`LTIR` [L_sun].
* A_V: galsed `att_v`, m(with dust) − m(dust-free) of all the stars in a 5450–5550 Å window; for
  Lightning the same quantity in its Mosaic V band, −2.5 log10(LNU_STARMOD / LNU_STARMOD_UNRED),
  and its parameter (1.086 τ_V); bagpipes `dust:Av` and prospector 1.086·`dust2` are the
  parameters of their attenuation laws (screen / diffuse dust), not the effective attenuation.
* inclination: galsed `theta`; Lightning's inclination-dependent model (Doore et al. 2021):
  arccos(COSI).
"""

import csv
import math
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

LN10_25 = 2.5 / math.log(10)  # 1.0857: A = 1.086 τ


def pct(v):
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    return np.percentile(v, [50, 16, 84])


def fmt(p, scale=1.0, digits=2):
    if p is None:
        return "—"
    m, lo, hi = (x / scale for x in p)
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def row1(d, name):
    return np.asarray(d[name][0], dtype=float)


def draws(a, n):
    """A (…, n_draws) or (n_draws, …) array with the draws first."""
    a = np.asarray(a, dtype=float)
    return a if a.shape[0] == n else a.T


def bagpipes(path):
    d = fits.open(path)[1].data
    n = len(row1(d, "stellar_mass"))
    mf = np.array([10 ** row1(d, f"constant{i}:massformed") for i in range(1, 6)]).T
    return {
        "m_formed": mf.sum(axis=1),
        "m_star": 10 ** row1(d, "stellar_mass"),
        # The bins' widths from mass formed / SFR ("sfh" holds the SFR of each bin): 0–10 Myr,
        # 10–100 Myr, …; checked below.
        "sfr": (mf[:, 0] + mf[:, 1]) / 1e8,
        "l_dust": row1(d, "ltir"),
        "a_v_param": row1(d, "dust:Av"),
        "_sfh": draws(d["sfh"][0], n),
        "_mf": mf,
    }


def prospector(path):
    d = fits.open(path)[1].data
    labels = [str(s).strip() for s in d["theta_labels"][0]]
    chain = np.asarray(d["chain"][0], dtype=float)
    n = len(row1(d, "lnprob"))
    chain = draws(chain, n)
    mass = np.array([chain[:, labels.index(f"mass_{i}")] for i in range(1, 6)]).T
    agebins = np.asarray(d["agebins"][0], dtype=float)  # log10 yr, (5, 2)
    if agebins.shape != (5, 2):
        agebins = agebins.T
    assert abs(agebins[1, 1] - 8.0) < 1e-9, agebins  # the first two bins end at 100 Myr
    return {
        "m_formed": mass.sum(axis=1),
        "m_star": mass.sum(axis=1) * row1(d, "survive_mass_frac"),
        "sfr": (mass[:, 0] + mass[:, 1]) / 10 ** agebins[1, 1],
        "l_dust": row1(d, "ltir"),
        "a_v_param": LN10_25 * chain[:, labels.index("dust2")],
        "_agebins": agebins,
    }


def lightning(path):
    d = fits.open(path)[1].data
    mstar = row1(d, "MSTAR")
    n = len(mstar)
    psi = draws(d["PSI"][0], n)  # (n, 5) M_sun/yr
    bounds = row1(d, "STEPS_BOUNDS")  # yr
    dt = np.diff(bounds)
    young = bounds[1:] <= 1e8 + 1
    labels = [str(s).strip() for s in d["FILTER_LABELS"][0]]
    v = labels.index("Mosaic_V")
    red = draws(d["LNU_STARMOD"][0], n)[:, v]
    unred = draws(d["LNU_STARMOD_UNRED"][0], n)[:, v]
    out = {
        "m_formed": (psi * dt).sum(axis=1),
        "m_star": mstar,
        "sfr": (psi[:, young] * dt[young]).sum(axis=1) / 1e8,
        "l_dust": row1(d, "LTIR"),
        "a_v_eff": -2.5 * np.log10(red / unred),
    }
    cols = d.columns.names
    if "TAUV" in cols:
        out["a_v_param"] = LN10_25 * row1(d, "TAUV")
    if "TAUV_DIFF" in cols:
        out["a_v_param"] = LN10_25 * row1(d, "TAUV_DIFF")
    if "COSI" in cols:
        out["theta"] = np.degrees(np.arccos(row1(d, "COSI")))
    return out


def galsed_columns(row):
    def p(k):
        return np.array([float(row[f"{k}_p50"]), float(row[f"{k}_p16"]), float(row[f"{k}_p84"])])

    def best(k):
        return float(row[k])

    return p, best


ROWS = [
    # key, label, scale, digits
    ("m_formed", "mass formed [1e9 M_sun]", 1e9, 1),
    ("m_star", "surviving stellar mass [1e9 M_sun]", 1e9, 1),
    ("sfr", "SFR, last 100 Myr [M_sun/yr]", 1.0, 2),
    ("l_dust", "L_dust = L_TIR [1e9 L_sun]", 1e9, 2),
    ("a_v_eff", "A_V of all the stars [mag]", 1.0, 2),
    ("a_v_param", "A_V parameter of the dust law [mag]", 1.0, 2),
    ("theta", "inclination [deg]", 1.0, 0),
]
GALSED_KEY = {"m_formed": "m_star", "sfr": "sfr", "l_dust": "l_ir", "a_v_eff": "att_v",
              "theta": "theta"}


def table(gid, row, others):
    p, best = galsed_columns(row)
    names = ["galsed (median [16, 84 %]; best fit)"] + [n for n, _ in others]
    print(f"\n#### {gid}\n")
    print("| quantity | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for key, label, scale, digits in ROWS:
        cells = []
        if key in GALSED_KEY:
            k = GALSED_KEY[key]
            cells.append(f"{fmt(p(k), scale, digits)}; {best(k) / scale:.{digits}f}")
        else:
            cells.append("—")
        for _, o in others:
            cells.append(fmt(pct(o[key]), scale, digits) if key in o else "—")
        if all(c == "—" for c in cells):
            continue
        print(f"| {label} | " + " | ".join(cells) + " |")


def main():
    here = Path(__file__).resolve().parent.parent
    results = Path(sys.argv[1])
    src = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent / "shared/realdata/kingfish"
    rows = {r["id"]: r for r in csv.DictReader(open(results))}

    bp = bagpipes(src / "ngc_628_bagpipes.fits.gz")
    # The bagpipes bins: width = mass formed / SFR, per draw (median).
    widths = np.median(bp["_mf"] / bp["_sfh"], axis=0)
    assert abs(widths[0] / 1e7 - 1) < 0.02 and abs(widths[1] / 9e7 - 1) < 0.02, widths
    pr = prospector(src / "ngc_628_prospector.fits.gz")
    table("NGC 628", rows["NGC_0628"], [("bagpipes", bp), ("prospector", pr)])
    table("NGC 337", rows["NGC_0337"],
          [("Lightning (Calzetti + birth clouds)", lightning(src / "ngc337_lightning_output.fits.gz"))])
    table("NGC 4631", rows["NGC_4631"],
          [("Lightning, Doore et al. (inclination)", lightning(src / "doore_no_xrays.fits.gz")),
           ("Lightning, Calzetti", lightning(src / "calz_no_xrays.fits.gz"))])

    # Residuals per band: observed − model [AB mag] at galsed's best fit, and in σ.
    cat = {r["id"]: r for r in csv.DictReader(open(here / "data/kingfish/kingfish.csv"))}
    bands = [k[len("model_"):] for k in next(iter(rows.values())) if k.startswith("model_")]
    order = list(next(iter(cat.values())).keys())
    bands.sort(key=order.index)
    ids = ["NGC_0628", "NGC_0337", "NGC_4631"]
    print("\n| band | " + " | ".join(f"{i} Δm [mag] (Δ/σ)" for i in ids) + " |")
    print("|---|" + "---:|" * len(ids))
    for b in bands:
        cells = []
        for i in ids:
            f, e = float(cat[i][b]), float(cat[i][b + "_err"])
            m = float(rows[i][f"model_{b}"])
            fm = 10 ** (-0.4 * (m - 8.9))
            dm = -2.5 * math.log10(f) + 8.9 - m
            cells.append(f"{dm:+.2f} ({(f - fm) / e:+.1f})")
        print(f"| `{b}` | " + " | ".join(cells) + " |")
    print("\n| | " + " | ".join(ids) + " |\n|---|" + "---:|" * len(ids))
    for k, label, digits in [("chi2", "χ²", 1), ("n_bands", "bands", 0), ("log_z", "ln Z", 1)]:
        print(f"| {label} | " + " | ".join(f"{float(rows[i][k]):.{digits}f}" for i in ids) + " |")


if __name__ == "__main__":
    main()
