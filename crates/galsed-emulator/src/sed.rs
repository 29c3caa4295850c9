//! The forward model (spec §5.1–5.2): galaxy parameters and star-formation histories → λL_λ.

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;

use crate::ModelError;
use crate::config::ModelConfig;
use crate::networks::{AttenuationCurve, EmissionDistribution, InputColumns, Mlp};
use crate::weights::{Weights, tensor2};
use galsed_core::ssp::DerivedSsp;

pub(crate) mod fast;
mod vmath;

/// Number of galaxy parameters (columns of `gp`).
pub const N_GP: usize = 7;
/// Number of SSPs (6 metallicities × 6 ages) = length of an SFH vector.
pub const N_SSP: usize = 36;

/// Which part of the SED to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Component {
    /// Attenuated stars plus dust emission.
    #[default]
    Combine,
    /// Stars without dust.
    DustFree,
    /// Attenuated stars only.
    DustAttenuation,
    /// Dust emission only.
    DustEmission,
}

impl Component {
    /// All components, in the reference's order.
    pub const ALL: [Component; 4] = [
        Component::Combine,
        Component::DustFree,
        Component::DustAttenuation,
        Component::DustEmission,
    ];

    /// The reference's name of the component.
    pub fn name(self) -> &'static str {
        match self {
            Component::Combine => "combine",
            Component::DustFree => "dust_free",
            Component::DustAttenuation => "dust_attenuation",
            Component::DustEmission => "dust_emission",
        }
    }

    /// Parses a comma-separated list of component names, or `all` (which adds the four in the
    /// reference's order); repeated names are kept once, in their first position.
    ///
    /// ```
    /// use galsed_emulator::Component;
    /// let c = Component::parse_list("dust_free, combine,dust_free")?;
    /// assert_eq!(c, [Component::DustFree, Component::Combine]);
    /// # Ok::<(), galsed_emulator::ModelError>(())
    /// ```
    pub fn parse_list(list: &str) -> Result<Vec<Component>, ModelError> {
        let mut out: Vec<Component> = vec![];
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "all" {
                for c in Component::ALL {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
                continue;
            }
            let c: Component = item.parse()?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        if out.is_empty() {
            return Err(ModelError::Input(format!("{list:?} names no component")));
        }
        Ok(out)
    }
}

impl std::str::FromStr for Component {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Component::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                ModelError::Input(format!(
                    "unknown component '{s}' (expected combine, dust_free, dust_attenuation or dust_emission)"
                ))
            })
    }
}

/// Linear interpolation onto the model grid as a gather: v = y\[lo\] + w·(y\[hi\] − y\[lo\]),
/// then `fill` where the target lies outside the source range (spec §3.4).
#[derive(Debug, Clone)]
struct Regrid {
    lo: Tensor<1, Int>,
    hi: Tensor<1, Int>,
    w: Tensor<2>,
    inside: Tensor<2>,
    outside_fill: Tensor<2>,
}

impl Regrid {
    fn new(r: &galsed_core::ssp::Regrid, device: &Device) -> Self {
        let n = r.inds.len();
        let idx = |off: usize| {
            let v: Vec<i64> = r.inds.iter().map(|&i| (i - off) as i64).collect();
            Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device)
        };
        let inside: Vec<f32> = r.mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
        let outside_fill: Vec<f32> = inside.iter().map(|m| (1.0 - m) * r.fill).collect();
        Self {
            lo: idx(1),
            hi: idx(0),
            w: tensor2(r.weights.clone(), [1, n], device),
            inside: tensor2(inside, [1, n], device),
            outside_fill: tensor2(outside_fill, [1, n], device),
        }
    }

    fn apply(&self, y: Tensor<2>) -> Tensor<2> {
        let lo = y.clone().select(1, self.lo.clone());
        let hi = y.select(1, self.hi.clone());
        (lo.clone() + self.w.clone() * (hi - lo)) * self.inside.clone() + self.outside_fill.clone()
    }
}

/// How the network outputs reach the evaluation grid.
#[derive(Debug, Clone)]
enum GridMap {
    /// `base`: the grid is lam_main; transmissions beyond the curves' range are 1.
    Native { n_lam: usize },
    /// Any other grid: fixed linear interpolation in λ.
    Interpolated {
        att: Box<Regrid>,
        emission: Box<Regrid>,
    },
}

/// The Starduster forward model on one wavelength grid.
#[derive(Debug)]
pub struct Starduster {
    curve_disk: AttenuationCurve,
    curve_bulge: AttenuationCurve,
    frac_disk: Mlp,
    frac_bulge: Mlp,
    distri: EmissionDistribution,
    selector_disk: Mlp,
    selector_bulge: Mlp,
    /// Normalised SSP spectra on the grid, (36, n_λ).
    l_ssp: Tensor<2>,
    /// SSP luminosity in each absorption segment, (36, n_seg).
    big_l_ssp: Tensor<2>,
    map: GridMap,
    /// The same model on plain slices, for predictions without gradients.
    pub(crate) fast: fast::FastModel,
    grid: DerivedSsp,
    device: Device,
}

/// Everything the SED components are made of, for a batch (values per unit l_norm).
pub struct Forward {
    /// Clipped galaxy parameters (N, 7).
    pub gp: Tensor<2>,
    /// Intrinsic luminosity L \[L_sun\], (N, 1).
    pub l_norm: Tensor<2>,
    /// Bulge-to-total ratio, (N, 1).
    pub b_to_t: Tensor<2>,
    /// Stellar light of disk and bulge, (N, n_λ), per unit l_norm, unweighted by b_to_t.
    pub l_disk_intrinsic: Tensor<2>,
    /// Stellar light of the bulge, as for the disk.
    pub l_bulge_intrinsic: Tensor<2>,
    /// Transmissions on the grid, (N, n_λ) (None when the component does not need them).
    pub trans_disk: Option<Tensor<2>>,
    /// Transmission of the bulge, as for the disk.
    pub trans_bulge: Option<Tensor<2>>,
    /// Absorbed fraction of the intrinsic light, (N, 1).
    pub frac: Option<Tensor<2>>,
    /// Dust emission per unit l_norm on the grid, (N, n_λ).
    pub l_dust: Option<Tensor<2>>,
}

impl Starduster {
    /// Assembles the model from its weights, hyper-parameters and the SSP tables of a grid.
    pub fn new(
        weights: &ModelWeights,
        config: &ModelConfig,
        grid: DerivedSsp,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let on_gp = |columns: &[usize]| InputColumns {
            columns: columns.to_vec(),
            width: N_GP,
        };
        let dust = &weights.dust_emission;
        let curve_disk = AttenuationCurve::from_weights(
            &weights.curve_disk,
            &config.curve_disk.net,
            &on_gp(&config.curve_disk.columns),
            device,
        )?;
        let curve_bulge = AttenuationCurve::from_weights(
            &weights.curve_bulge,
            &config.curve_bulge.net,
            &on_gp(&config.curve_bulge.columns),
            device,
        )?;
        let frac_disk = Mlp::from_weights(
            &dust.with_prefix("frac_disk."),
            "mlp",
            &config.frac_disk.net,
            &on_gp(&config.frac_disk.columns),
            device,
        )?;
        let frac_bulge = Mlp::from_weights(
            &dust.with_prefix("frac_bulge."),
            "mlp",
            &config.frac_bulge.net,
            &on_gp(&config.frac_bulge.columns),
            device,
        )?;
        let distri = EmissionDistribution::from_weights(
            &dust.with_prefix("distri."),
            &config.distri,
            device,
        )?;
        let selector_disk = Mlp::from_weights(
            &weights.selector_disk,
            "mlp",
            &config.selector_disk.net,
            &on_gp(&config.selector_disk.columns),
            device,
        )?;
        let selector_bulge = Mlp::from_weights(
            &weights.selector_bulge,
            "mlp",
            &config.selector_bulge.net,
            &on_gp(&config.selector_bulge.columns),
            device,
        )?;

        let n_lam = grid.lam_eval.len();
        let n_seg = grid.big_l_ssp.ncols();
        if frac_disk.output_size() != n_seg || frac_bulge.output_size() != n_seg {
            return Err(ModelError::Config(format!(
                "absorption networks predict {} segments but the SSP reduction gives {n_seg}",
                frac_disk.output_size()
            )));
        }
        let f32_rows = |a: &ndarray::Array2<f64>| a.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let (l_ssp_rows, big_l_ssp_rows) = (f32_rows(&grid.l_ssp), f32_rows(&grid.big_l_ssp));
        let (map, fast_map) = match (&grid.regrid_attenuation, &grid.regrid_emission) {
            (Some(att), Some(em)) => (
                GridMap::Interpolated {
                    att: Box::new(Regrid::new(att, device)),
                    emission: Box::new(Regrid::new(em, device)),
                },
                fast::FastMap::Interpolated {
                    att: fast::FastRegrid::new(att),
                    emission: fast::FastRegrid::new(em),
                },
            ),
            _ => (GridMap::Native { n_lam }, fast::FastMap::Native),
        };
        let fast = fast::FastModel {
            curve_disk: fast::FastCurve::new(&curve_disk),
            curve_bulge: fast::FastCurve::new(&curve_bulge),
            frac_disk: fast::FastMlp::new(&frac_disk),
            frac_bulge: fast::FastMlp::new(&frac_bulge),
            distri: fast::FastEmission::new(&distri),
            selector_disk: fast::FastMlp::new(&selector_disk),
            selector_bulge: fast::FastMlp::new(&selector_bulge),
            l_ssp: fast::Dense::new(&l_ssp_rows, N_SSP, n_lam, None),
            big_l_ssp: fast::Dense::new(&big_l_ssp_rows, N_SSP, n_seg, None),
            map: fast_map,
        };
        let l_ssp = tensor2(l_ssp_rows, [N_SSP, n_lam], device);
        let big_l_ssp = tensor2(big_l_ssp_rows, [N_SSP, n_seg], device);
        Ok(Self {
            fast,
            curve_disk,
            curve_bulge,
            frac_disk,
            frac_bulge,
            distri,
            selector_disk,
            selector_bulge,
            l_ssp,
            big_l_ssp,
            map,
            grid,
            device: device.clone(),
        })
    }

    /// The wavelength grid and SSP tables in use.
    pub fn grid(&self) -> &DerivedSsp {
        &self.grid
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Transmission 10^(−0.4 A) of a curve, mapped onto the grid.
    fn transmission(&self, a_mag: Tensor<2>) -> Tensor<2> {
        // 10^(−0.4 A) = exp(−0.4 ln10 · A)
        let t = a_mag.mul_scalar(-0.4 * std::f64::consts::LN_10).exp();
        match &self.map {
            GridMap::Native { n_lam } => {
                let [n, m] = t.dims();
                if *n_lam > m {
                    Tensor::cat(vec![t, Tensor::ones([n, n_lam - m], &self.device)], 1)
                } else {
                    t.narrow(1, 0, *n_lam)
                }
            }
            GridMap::Interpolated { att, .. } => att.apply(t),
        }
    }

    /// Runs the networks needed for `component` on clipped inputs.
    pub fn forward(
        &self,
        gp: Tensor<2>,
        sfh_disk: Tensor<2>,
        sfh_bulge: Tensor<2>,
        component: Component,
    ) -> Forward {
        let b_to_t = gp.clone().narrow(1, 6, 1).add_scalar(1.0).mul_scalar(0.5);
        // L = 10^(4(u+1)+6)
        let l_norm = gp
            .clone()
            .narrow(1, 5, 1)
            .add_scalar(1.0)
            .mul_scalar(4.0)
            .add_scalar(6.0)
            .mul_scalar(std::f64::consts::LN_10)
            .exp();
        let l_disk_intrinsic = sfh_disk.clone().matmul(self.l_ssp.clone());
        let l_bulge_intrinsic = sfh_bulge.clone().matmul(self.l_ssp.clone());

        let attenuate = matches!(component, Component::Combine | Component::DustAttenuation);
        let (trans_disk, trans_bulge) = if attenuate {
            let ad = self.curve_disk.forward(gp.clone());
            let ab = self.curve_bulge.forward(gp.clone());
            (Some(self.transmission(ad)), Some(self.transmission(ab)))
        } else {
            (None, None)
        };

        let emit = matches!(component, Component::Combine | Component::DustEmission);
        let (frac, l_dust) = if emit {
            let (frac_disk, frac_bulge) = self.absorption(gp.clone(), sfh_disk, sfh_bulge);
            let frac = (frac_disk.clone() * (b_to_t.clone().neg().add_scalar(1.0)))
                + frac_bulge.clone() * b_to_t.clone();
            let x = Tensor::cat(vec![gp.clone(), frac_disk, frac_bulge], 1);
            let y1 = self.distri.forward(x);
            let y1 = match &self.map {
                GridMap::Native { .. } => y1,
                GridMap::Interpolated { emission, .. } => emission.apply(y1),
            };
            (Some(frac.clone()), Some(y1 * frac))
        } else {
            (None, None)
        };
        Forward {
            gp,
            l_norm,
            b_to_t,
            l_disk_intrinsic,
            l_bulge_intrinsic,
            trans_disk,
            trans_bulge,
            frac,
            l_dust,
        }
    }

    /// Absorbed fractions of disk and bulge light, each (N, 1) (spec §4.2).
    pub fn absorption(
        &self,
        gp: Tensor<2>,
        sfh_disk: Tensor<2>,
        sfh_bulge: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let a_disk = self.frac_disk.forward(gp.clone());
        let a_bulge = self.frac_bulge.forward(gp);
        let frac_disk = (sfh_disk.matmul(self.big_l_ssp.clone()) * a_disk).sum_dim(1);
        let frac_bulge = (sfh_bulge.matmul(self.big_l_ssp.clone()) * a_bulge).sum_dim(1);
        (frac_disk, frac_bulge)
    }

    /// λL_λ \[L_sun\] of a component, (N, n_λ).
    pub fn luminosity(
        &self,
        gp: Tensor<2>,
        sfh_disk: Tensor<2>,
        sfh_bulge: Tensor<2>,
        component: Component,
    ) -> Tensor<2> {
        let f = self.forward(gp, sfh_disk, sfh_bulge, component);
        f.component(component)
    }

    /// Selector log-probabilities logsigmoid(logit) of (disk, bulge), each (N, 1) (spec §4.4).
    pub fn selector_log_prob(&self, gp: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let (ld, lb) = self.selector_logits(gp);
        (log_sigmoid(ld), log_sigmoid(lb))
    }

    /// Selector logits (disk, bulge), each (N, 1).
    pub fn selector_logits(&self, gp: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let ld = self.selector_disk.forward(gp.clone());
        let lb = self.selector_bulge.forward(gp);
        (ld, lb)
    }

    /// The attenuation-curve networks, for layer-by-layer inspection.
    pub fn curves(&self) -> (&AttenuationCurve, &AttenuationCurve) {
        (&self.curve_disk, &self.curve_bulge)
    }

    /// The emission network, for layer-by-layer inspection.
    pub fn emission(&self) -> &EmissionDistribution {
        &self.distri
    }
}

impl Forward {
    /// Stellar light after (or without) attenuation, per unit l_norm: (1−b)·T_d·I_d + b·T_b·I_b.
    pub fn l_main(&self, attenuated: bool) -> Tensor<2> {
        let (mut d, mut b) = (
            self.l_disk_intrinsic.clone(),
            self.l_bulge_intrinsic.clone(),
        );
        if attenuated && let (Some(td), Some(tb)) = (&self.trans_disk, &self.trans_bulge) {
            d = d * td.clone();
            b = b * tb.clone();
        }
        d * self.b_to_t.clone().neg().add_scalar(1.0) + b * self.b_to_t.clone()
    }

    /// λL_λ \[L_sun\] of a component. The component must be one this forward pass was run for
    /// (or `DustFree`, which needs nothing extra).
    pub fn component(&self, component: Component) -> Tensor<2> {
        let per_l = match component {
            Component::DustFree => self.l_main(false),
            Component::DustAttenuation => self.l_main(true),
            Component::DustEmission => self.dust(),
            Component::Combine => self.l_main(true) + self.dust(),
        };
        per_l * self.l_norm.clone()
    }

    fn dust(&self) -> Tensor<2> {
        match &self.l_dust {
            Some(d) => d.clone(),
            None => self.l_disk_intrinsic.zeros_like(),
        }
    }
}

/// The weights of the five published networks.
#[derive(Debug, Clone, Default)]
pub struct ModelWeights {
    /// Attenuation-curve network of the disk.
    pub curve_disk: Weights,
    /// Attenuation-curve network of the bulge.
    pub curve_bulge: Weights,
    /// Dust-emission network (`distri.`), with the absorbed-fraction networks (`frac_disk.`, `frac_bulge.`).
    pub dust_emission: Weights,
    /// Selector network of the disk (see [`Starduster::selector_logits`]).
    pub selector_disk: Weights,
    /// Selector network of the bulge (see [`Starduster::selector_logits`]).
    pub selector_bulge: Weights,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_lists_parse() {
        assert_eq!(
            Component::parse_list("all").unwrap(),
            Component::ALL.to_vec()
        );
        assert_eq!(
            Component::parse_list("dust_free, combine,dust_free").unwrap(),
            vec![Component::DustFree, Component::Combine]
        );
        assert!(Component::parse_list("dust").is_err());
        assert!(Component::parse_list(",").is_err());
    }
}
