#!/usr/bin/env python3
"""Regenerates data/kingfish/kingfish.csv from the KINGFISH photometry of Dale et al. (2017) as
shipped with the Lightning SED-fitting code (MIT licence, data/kingfish/LICENSE).

    python3 scripts/kingfish-catalog.py [DIR_WITH_THE_FITS_FILES] > data/kingfish/kingfish.csv

DIR defaults to ../shared/realdata/kingfish beside the repository. Needs numpy and astropy.

The output is a `galsed fit` catalogue (quantity = "flux", flux_unit = "Jy"): one row per galaxy
with `id` (SED_ID), `redshift`, `distmod`, `lumin_dist_mpc` (LUMIN_DIST as stored) and, for each
band galsed has a filter curve for, `<band>` = FNU_OBS and `<band>_err` = FNU_UNC [Jy], written as
shortest round-trip decimals so that they read back to the identical float64 values.

* distmod = 5 log10(LUMIN_DIST / Mpc) + 25: the flux scale uses exactly the catalogued distance.
* redshift: the Planck18 redshift whose luminosity distance is LUMIN_DIST (bisection on
  astropy's Planck18 1/E(z), to 1e-12 relative); it only stretches the filter curves over the rest-frame model (z ≈ 0.002–0.004).
* Bands left out: Mosaic B, V, R, I (galsed has no curves of those filters; the Bessell curves
  are a different system), Planck HFI 353 GHz and SCUBA-2 850 µm (no curves).
"""

import math
import sys
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.cosmology import Planck18
from astropy.io import fits

GALAXIES = ["ngc628", "ngc337", "ngc4631"]

# FILTER_LABELS of the FITS files → galsed's built-in filter names (`galsed filters list`).
BANDS = {
    "GALEX_FUV": "galex_FUV",
    "GALEX_NUV": "galex_NUV",
    "SDSS_u": "sdss_u0",
    "SDSS_g": "sdss_g0",
    "SDSS_r": "sdss_r0",
    "SDSS_i": "sdss_i0",
    "SDSS_z": "sdss_z0",
    "2MASS_J": "twomass_J",
    "2MASS_H": "twomass_H",
    "2MASS_Ks": "twomass_Ks",
    "IRAC_CH1": "spitzer_irac_ch1",
    "IRAC_CH2": "spitzer_irac_ch2",
    "IRAC_CH3": "spitzer_irac_ch3",
    "IRAC_CH4": "spitzer_irac_ch4",
    "WISE_W3": "wise_w3",
    "MIPS_CH1": "spitzer_mips_24",
    "MIPS_CH2": "spitzer_mips_70",
    "PACS_blue": "herschel_pacs_70",
    "PACS_green": "herschel_pacs_100",
    "MIPS_CH3": "spitzer_mips_160",
    "PACS_red": "herschel_pacs_160",
    "SPIRE_250": "herschel_spire_250",
    "SPIRE_350": "herschel_spire_350",
    "SPIRE_500": "herschel_spire_500",
}
SKIPPED = {"Mosaic_B", "Mosaic_V", "Mosaic_R", "Mosaic_I", "HFI_F353", "SCUBA2_850"}


def num(x):
    """Shortest round-trip decimal of a float64 (`nan` for NaN)."""
    x = float(x)
    return "nan" if math.isnan(x) else repr(x)


def luminosity_distance_mpc(z):
    """Planck18's luminosity distance [Mpc]: astropy's 1/E(z) (no scipy needed), Simpson's rule."""
    x = np.linspace(0.0, z, 2001)
    f = Planck18.inv_efunc(x)
    integral = (x[1] - x[0]) / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return (1 + z) * Planck18.hubble_distance.to_value(u.Mpc) * integral


def z_of_distance(d_mpc):
    """The redshift at which Planck18's luminosity distance is d_mpc (bisection)."""
    lo, hi = 0.0, 0.1
    while hi - lo > 1e-12 * hi:
        mid = 0.5 * (lo + hi)
        if luminosity_distance_mpc(mid) < d_mpc:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def main():
    here = Path(__file__).resolve().parent.parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "shared/realdata/kingfish"
    header = ["id", "redshift", "distmod", "lumin_dist_mpc"]
    for b in BANDS.values():
        header += [b, b + "_err"]
    rows = []
    for g in GALAXIES:
        with fits.open(src / f"{g}_dale17_photometry.fits") as h:
            d = h[1].data
            labels = [str(s).strip() for s in d["FILTER_LABELS"][0]]
            unknown = set(labels) - set(BANDS) - SKIPPED
            assert not unknown, f"{g}: unknown filter labels {unknown}"
            fnu = dict(zip(labels, np.asarray(d["FNU_OBS"][0], dtype=np.float64)))
            unc = dict(zip(labels, np.asarray(d["FNU_UNC"][0], dtype=np.float64)))
            dist = float(d["LUMIN_DIST"][0])
            sed_id = str(d["SED_ID"][0]).strip()
        z = z_of_distance(dist)
        row = [sed_id, num(z), num(5 * math.log10(dist) + 25), num(dist)]
        for label in BANDS:
            row += [num(fnu[label]), num(unc[label])]
        rows.append(row)
    print(",".join(header))
    for r in rows:
        print(",".join(r))


if __name__ == "__main__":
    main()
