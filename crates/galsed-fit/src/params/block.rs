//! One parametrisation block (the reference's `Parametrization` subclasses): free parameters
//! with bounds and a boundary condition, fixed parameters inserted at their positions, then the
//! block's mapping to model inputs (galaxy parameters or a 36-weight SFH grid).

use burn::prelude::*;
use galsed_core::params::{GALAXY_PARAMS, GalaxyParam, Transform};
use galsed_core::ssp::SspLibrary;
use rand::Rng;

use super::ParamError;
use super::boundary::{self, Boundary};
use super::mh::MhModel;
use super::sfh::{SfhModel, f32s};
use super::tensor::{const2, index1, rescale_pow2, simplex};

/// Slack allowed when checking user bounds against the model domain, to absorb the rounding
/// of physical → unit conversions (e.g. r_disk = 10^2.5 kpc giving u = 1 + 2e−16).
const DOMAIN_SLACK: f64 = 1e-9;

/// The 36 SSP weights as free parameters `sfr_0 … sfr_35` in [0, 1] (the reference's
/// `VanillaGrid`), optionally mapped to the simplex (x → −ln(1−x), divided by the row sum).
#[derive(Debug, Clone, PartialEq)]
pub struct VanillaGrid {
    pub(super) n_ssp: usize,
    pub(super) simplex: bool,
}

impl VanillaGrid {
    /// A vanilla grid over a library's SSPs.
    pub fn new(ssp: &SspLibrary, simplex: bool) -> Self {
        Self {
            n_ssp: ssp.n_ssp(),
            simplex,
        }
    }

    /// `sfr_0 … sfr_{n_ssp−1}`.
    pub fn param_names(&self) -> Vec<String> {
        (0..self.n_ssp).map(|k| format!("sfr_{k}")).collect()
    }

    /// The weights (N, n_ssp) of parameters (N, n_ssp).
    pub fn forward(&self, p: Tensor<2>) -> Tensor<2> {
        if self.simplex { simplex(p) } else { p }
    }
}

/// An SFH model and a metallicity model combined into the SSP grid (the reference's
/// `CompositeGrid`): parameters [SFH parameters, MH parameters];
/// grid[6·i_met + i_age] = w_age\[i_age\]·W_met[i_met, i_age]. For mass-weighted (analytic) SFH
/// models the grid is multiplied by the SSP luminosities per unit mass `norm[i_met, i_age]`
/// (float32) and renormalised to sum 1, giving light fractions.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeGrid {
    sfh: SfhModel,
    mh: MhModel,
    pub(super) n_met: usize,
    pub(super) n_age: usize,
    pub(super) light_norm: Vec<f32>,
}

impl CompositeGrid {
    /// Combines an SFH and a metallicity model built on `ssp`.
    pub fn new(sfh: SfhModel, mh: MhModel, ssp: &SspLibrary) -> Self {
        Self {
            sfh,
            mh,
            n_met: ssp.n_met(),
            n_age: ssp.n_age(),
            light_norm: f32s(
                ssp.norm
                    .as_standard_layout()
                    .as_slice()
                    .expect("standard layout"),
            ),
        }
    }

    /// The SFH model.
    pub fn sfh(&self) -> &SfhModel {
        &self.sfh
    }

    /// The metallicity model.
    pub fn mh(&self) -> &MhModel {
        &self.mh
    }

    /// SFH parameter names followed by MH parameter names.
    pub fn param_names(&self) -> Vec<String> {
        let mut v = self.sfh.param_names();
        v.extend(self.mh.param_names());
        v
    }

    /// Model domain of the parameters, in the order of [`CompositeGrid::param_names`].
    pub fn domain(&self) -> Vec<(f64, f64)> {
        let mut v = self.sfh.domain();
        v.extend(self.mh.domain());
        v
    }

    /// The SSP weights (N, n_met·n_age) of the full parameter matrix (N, n_sfh + n_mh).
    pub fn forward(&self, p: Tensor<2>) -> Tensor<2> {
        let device = p.device();
        let [n, _] = p.dims();
        let n_sfh = self.sfh.param_names().len();
        let n_mh = self.mh.param_names().len();
        let p_sfh = (n_sfh > 0).then(|| p.clone().narrow(1, 0, n_sfh));
        let p_mh = p.narrow(1, n_sfh, n_mh);
        let mut sfh = self.sfh.forward(p_sfh, n, &device);
        if self.sfh.is_mass_weighted() {
            // Masses in arbitrary units up to ~1e30: an exact power-of-two rescaling keeps the
            // gradient of the final normalisation finite and changes no value.
            sfh = rescale_pow2(sfh);
        }
        let mh = self.mh.forward(p_mh, sfh.clone());
        let shape = [n, self.n_met, self.n_age];
        let grid = sfh.unsqueeze_dim::<3>(1).expand(shape) * mh.expand(shape);
        let grid = grid.reshape([n, self.n_met * self.n_age]);
        if self.sfh.is_mass_weighted() {
            let norm = const2(
                self.light_norm.clone(),
                [1, self.n_met * self.n_age],
                &device,
            );
            let grid = grid * norm;
            let total = grid.clone().sum_dim(1);
            grid / total
        } else {
            grid
        }
    }
}

/// What a block maps its parameters to.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockKind {
    /// The seven galaxy parameters in unit space (identity; the reference's `GalaxyParameter`).
    Galaxy,
    /// The SSP weights directly.
    Vanilla(VanillaGrid),
    /// An SFH × metallicity grid.
    Composite(CompositeGrid),
}

/// A parametrisation block: names, working bounds, fixed values and boundary condition of the
/// parameters of one model input (`gp`, `sfh_disk` or `sfh_bulge`).
///
/// Values are in the block's own units: unit space u ∈ [−1, 1] for the galaxy block (use
/// [`ParamBlock::set_physical_bounds`] and [`ParamBlock::fix_physical`] for physical units),
/// the SFH/MH models' parameters otherwise. Fixed parameters are inserted after the boundary
/// transform (so they are used as given).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamBlock {
    kind: BlockKind,
    names: Vec<String>,
    domain: Vec<(f64, f64)>,
    bounds: Vec<(f64, f64)>,
    fixed: Vec<Option<f64>>,
    boundary: Boundary,
}

impl ParamBlock {
    fn with_kind(
        kind: BlockKind,
        names: Vec<String>,
        domain: Vec<(f64, f64)>,
        boundary: Boundary,
    ) -> Self {
        let n = names.len();
        Self {
            kind,
            names,
            bounds: domain.clone(),
            domain,
            fixed: vec![None; n],
            boundary,
        }
    }

    /// The galaxy parameters (theta, den_dust, r_dust_to_rd, r_disk, r_bulge, l_norm, b_to_t),
    /// all free in [−1, 1].
    pub fn galaxy(boundary: Boundary) -> Self {
        let names = GALAXY_PARAMS.iter().map(|p| p.name.to_string()).collect();
        Self::with_kind(
            BlockKind::Galaxy,
            names,
            vec![(-1.0, 1.0); GALAXY_PARAMS.len()],
            boundary,
        )
    }

    /// The SSP weights as free parameters in [0, 1].
    pub fn vanilla(grid: VanillaGrid, boundary: Boundary) -> Self {
        let names = grid.param_names();
        let domain = vec![(0.0, 1.0); names.len()];
        Self::with_kind(BlockKind::Vanilla(grid), names, domain, boundary)
    }

    /// An SFH × metallicity grid; the parameters' domains are the models' default bounds.
    pub fn composite(grid: CompositeGrid, boundary: Boundary) -> Self {
        let names = grid.param_names();
        let domain = grid.domain();
        Self::with_kind(BlockKind::Composite(grid), names, domain, boundary)
    }

    /// What the block maps to.
    pub fn kind(&self) -> &BlockKind {
        &self.kind
    }

    /// The boundary condition of the free parameters.
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }

    /// Changes the boundary condition.
    pub fn set_boundary(&mut self, boundary: Boundary) {
        self.boundary = boundary;
    }

    /// Names of all parameters of the mapping, free or fixed.
    pub fn all_names(&self) -> &[String] {
        &self.names
    }

    /// The model domain (default bounds) of every parameter, in block units.
    pub fn domain(&self) -> &[(f64, f64)] {
        &self.domain
    }

    /// The fixed value of every parameter (`None` = free), in block units.
    pub fn fixed(&self) -> &[Option<f64>] {
        &self.fixed
    }

    /// Names of the free parameters, in input order.
    pub fn free_names(&self) -> Vec<String> {
        self.free_indices().map(|i| self.names[i].clone()).collect()
    }

    /// Working bounds of the free parameters, in block units.
    pub fn free_bounds(&self) -> Vec<(f64, f64)> {
        self.free_indices().map(|i| self.bounds[i]).collect()
    }

    /// Number of free parameters.
    pub fn n_free(&self) -> usize {
        self.fixed.iter().filter(|f| f.is_none()).count()
    }

    /// Width of the block's output (7 for the galaxy block, n_ssp for SFH grids).
    pub fn output_width(&self) -> usize {
        match &self.kind {
            BlockKind::Galaxy => GALAXY_PARAMS.len(),
            BlockKind::Vanilla(g) => g.n_ssp,
            BlockKind::Composite(g) => g.n_met * g.n_age,
        }
    }

    fn free_indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.names.len()).filter(|&i| self.fixed[i].is_none())
    }

    fn index(&self, name: &str) -> Result<usize, ParamError> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| ParamError::UnknownName {
                name: name.to_string(),
                valid: self.names.join(", "),
            })
    }

    /// Narrows the working bounds of a parameter (block units). The bounds must be finite,
    /// `lo < hi`, and inside the model domain.
    pub fn set_bounds(&mut self, name: &str, lo: f64, hi: f64) -> Result<(), ParamError> {
        let i = self.index(name)?;
        check_order(name, lo, hi)?;
        let (dlo, dhi) = self.domain[i];
        let slack = DOMAIN_SLACK * (dhi - dlo);
        if lo < dlo - slack || hi > dhi + slack {
            return Err(ParamError::BoundsOutsideDomain {
                name: name.to_string(),
                lo,
                hi,
                min: dlo,
                max: dhi,
                unit: String::new(),
            });
        }
        let (lo, hi) = (lo.max(dlo), hi.min(dhi));
        if lo >= hi {
            return Err(ParamError::InvalidBounds {
                name: name.to_string(),
                lo,
                hi,
            });
        }
        self.bounds[i] = (lo, hi);
        Ok(())
    }

    /// Fixes a parameter (block units); the value must be finite and inside the model domain.
    pub fn fix(&mut self, name: &str, value: f64) -> Result<(), ParamError> {
        let i = self.index(name)?;
        let (dlo, dhi) = self.domain[i];
        let slack = DOMAIN_SLACK * (dhi - dlo);
        if !value.is_finite() || value < dlo - slack || value > dhi + slack {
            return Err(ParamError::FixedOutsideDomain {
                name: name.to_string(),
                value,
                min: dlo,
                max: dhi,
                unit: String::new(),
            });
        }
        self.fixed[i] = Some(value.clamp(dlo, dhi));
        Ok(())
    }

    /// Makes a fixed parameter free again.
    pub fn unfix(&mut self, name: &str) -> Result<(), ParamError> {
        let i = self.index(name)?;
        self.fixed[i] = None;
        Ok(())
    }

    fn galaxy_param(&self, name: &str) -> Result<(usize, &'static GalaxyParam), ParamError> {
        if self.kind != BlockKind::Galaxy {
            return Err(ParamError::Config(format!(
                "physical units are only defined for galaxy parameters, not '{name}'"
            )));
        }
        let i = self.index(name)?;
        Ok((i, &GALAXY_PARAMS[i]))
    }

    /// Galaxy block only: bounds in physical units (θ in degrees, den_dust in M_sun/kpc²,
    /// radii in kpc, l_norm in L_sun, b_to_t), converted with the §3.1 transforms. θ's unit
    /// bounds are swapped because u = 2cos θ − 1 decreases with θ.
    pub fn set_physical_bounds(&mut self, name: &str, lo: f64, hi: f64) -> Result<(), ParamError> {
        let (i, gp) = self.galaxy_param(name)?;
        check_order(name, lo, hi)?;
        let outside = || {
            let (a, b) = gp.physical_range();
            ParamError::BoundsOutsideDomain {
                name: name.to_string(),
                lo,
                hi,
                min: a.min(b),
                max: a.max(b),
                unit: unit_suffix(gp),
            }
        };
        let (ulo, uhi) = match (gp.to_unit(lo), gp.to_unit(hi)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(outside()),
        };
        let (ulo, uhi) = if matches!(gp.transform, Transform::Theta) {
            (uhi, ulo)
        } else {
            (ulo, uhi)
        };
        let (dlo, dhi) = self.domain[i];
        let slack = DOMAIN_SLACK * (dhi - dlo);
        if ulo < dlo - slack || uhi > dhi + slack {
            return Err(outside());
        }
        let (ulo, uhi) = (ulo.max(dlo), uhi.min(dhi));
        if ulo >= uhi {
            return Err(ParamError::InvalidBounds {
                name: name.to_string(),
                lo,
                hi,
            });
        }
        self.bounds[i] = (ulo, uhi);
        Ok(())
    }

    /// Galaxy block only: fixes a parameter to a physical value (see
    /// [`ParamBlock::set_physical_bounds`] for the units). The value must lie in the model's
    /// range (|u| ≤ 1).
    pub fn fix_physical(&mut self, name: &str, value: f64) -> Result<(), ParamError> {
        let (i, gp) = self.galaxy_param(name)?;
        let outside = || {
            let (a, b) = gp.physical_range();
            ParamError::FixedOutsideDomain {
                name: name.to_string(),
                value,
                min: a.min(b),
                max: a.max(b),
                unit: unit_suffix(gp),
            }
        };
        let u = gp.to_unit(value).map_err(|_| outside())?;
        let (dlo, dhi) = self.domain[i];
        if u < dlo - DOMAIN_SLACK * (dhi - dlo) || u > dhi + DOMAIN_SLACK * (dhi - dlo) {
            return Err(outside());
        }
        self.fixed[i] = Some(u.clamp(dlo, dhi));
        Ok(())
    }

    /// Maps free parameters `p` (N, n_free; `None` when the block has no free parameter) to the
    /// block's output (N, output_width): boundary transform, fixed values, mapping.
    pub fn apply_with_rng<R: Rng + ?Sized>(
        &self,
        p: Option<Tensor<2>>,
        n: usize,
        device: &Device,
        rng: &mut R,
    ) -> Tensor<2> {
        let p = p.map(|p| {
            let [rows, cols] = p.dims();
            assert_eq!(
                cols,
                self.n_free(),
                "block expects {} free parameters",
                self.n_free()
            );
            assert_eq!(rows, n, "row count");
            boundary::apply(self.boundary, p, &self.free_bounds(), rng)
        });
        let full = self.insert_fixed(p, n, device);
        match &self.kind {
            BlockKind::Galaxy => full,
            BlockKind::Vanilla(g) => g.forward(full),
            BlockKind::Composite(g) => g.forward(full),
        }
    }

    /// The full parameter matrix (N, n_all) with fixed values inserted at their positions.
    fn insert_fixed(&self, p: Option<Tensor<2>>, n: usize, device: &Device) -> Tensor<2> {
        let n_all = self.names.len();
        let n_free = self.n_free();
        if n_free == n_all {
            return p.expect("free parameters");
        }
        let defaults: Vec<f32> = self.fixed.iter().map(|f| f.unwrap_or(0.0) as f32).collect();
        let defaults = const2(defaults, [1, n_all], device).repeat_dim(0, n);
        let Some(p) = p else {
            return defaults;
        };
        let mut j = 0;
        let idx: Vec<i64> = (0..n_all)
            .map(|i| {
                if self.fixed[i].is_none() {
                    j += 1;
                    (j - 1) as i64
                } else {
                    (n_free + i) as i64
                }
            })
            .collect();
        Tensor::cat(vec![p, defaults], 1).select(1, index1(idx, device))
    }
}

fn unit_suffix(gp: &GalaxyParam) -> String {
    if gp.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", gp.unit)
    }
}

fn check_order(name: &str, lo: f64, hi: f64) -> Result<(), ParamError> {
    if lo.is_finite() && hi.is_finite() && lo < hi {
        Ok(())
    } else {
        Err(ParamError::InvalidBounds {
            name: name.to_string(),
            lo,
            hi,
        })
    }
}
