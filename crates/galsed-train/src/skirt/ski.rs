//! SKIRT 9 parameter files (`.ski`) of the Starduster setup, generated from a [`SkiConfig`].
//!
//! The simulated galaxy (Qiu & Kang 2022, §2.1): an exponential stellar disk and an exponential
//! dust disk, both with scale height = 0.1 × scale length, and a Sérsic n = 4 bulge; Draine & Li
//! dust normalised by its mass; a 2-D cylindrical grid of power-law bins (128 × 128 in the paper,
//! more here when the galaxy's scales span many decades); 10⁷ photon packets; one SED instrument
//! at the sample's inclination that records the flux components,
//! among them the *transparent* flux (the same sources seen without dust).
//!
//! The grid follows the reference's `create_skifile` (starduster `sed_model.py`), which fills the
//! template's open values: it reaches [`SkiConfig::grid_extent`] times the largest scale of the
//! galaxy, and the power-law meshes stretch from the centre by the ratio extent / r_min, with
//! r_min = [`SkiConfig::grid_min_fraction`] × the smallest of the scale heights and the bulge
//! radius. The reference gives both meshes 128 bins whatever the ratio, so a galaxy whose scales
//! span many decades gets coarse bins where it matters; each mesh here gets at least
//! [`SkiConfig::grid_bins`] and enough more for [`SkiConfig::grid_bins_per_decade`] of its
//! ratio (see docs/training.md, "Grid convergence").
//!
//! SKIRT 9 changed its schema after 2020 ([`SkirtVersion`]); the same simulation is written in
//! either spelling, every physical value set in one place. Options the 2020 code fixed
//! (forced scattering, no explicit absorption) are written explicitly for the current one so that
//! its defaults cannot change the physics.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{INSTRUMENT_NAME, Run, SkirtError};

/// Name of the absorption probe ([`SkiConfig::absorption_probe`]). SKIRT writes run
/// `<prefix>.ski`'s absorbed luminosities to `<prefix>_abs_Labs.dat` and the bin widths to
/// `<prefix>_abs_wavelengths.dat`.
pub const ABSORPTION_PROBE: &str = "abs";

/// The SKIRT 9 release whose parameter-file schema is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SkirtVersion {
    /// SKIRT 9 as installed from its master branch today (tested with git 1facef2, 2026).
    #[default]
    Current,
    /// SKIRT 9.0 of 2020 (git 9b8b221), the version of Starduster's template.
    V2020,
}

impl SkirtVersion {
    /// Name on the command line (`current`, `2020`).
    pub fn name(self) -> &'static str {
        match self {
            SkirtVersion::Current => "current",
            SkirtVersion::V2020 => "2020",
        }
    }

    /// Parses a version name (`current`, `2020`).
    pub fn parse(name: &str) -> Result<SkirtVersion, SkirtError> {
        match name.trim() {
            "current" => Ok(SkirtVersion::Current),
            "2020" => Ok(SkirtVersion::V2020),
            other => Err(SkirtError::Invalid(format!(
                "unknown SKIRT version '{other}' (expected current or 2020)"
            ))),
        }
    }
}

/// A logarithmic wavelength grid of SKIRT (`LogWavelengthGrid`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogGrid {
    /// Shortest wavelength \[µm\].
    pub min_um: f64,
    /// Longest wavelength \[µm\].
    pub max_um: f64,
    /// Number of wavelengths.
    pub n: usize,
}

/// The settings of the written simulations. [`Default`] is the published setup.
#[derive(Debug, Clone, PartialEq)]
pub struct SkiConfig {
    /// Photon packets per simulation (10⁷).
    pub packets: f64,
    /// Scale height / scale length of the stellar and dust disks (0.1).
    pub scale_height_ratio: f64,
    /// Sérsic index of the bulge (4).
    pub sersic_index: f64,
    /// The fewest radial and vertical bins of the cylindrical grid (128 each, as the published
    /// setup; even, because the vertical mesh is symmetric about the mid-plane).
    pub grid_bins: usize,
    /// Bins per decade of each mesh's ratio (last / first bin width): a mesh gets more than
    /// [`grid_bins`](Self::grid_bins) when its ratio spans more than grid_bins / this many
    /// decades (22, so radial bins grow by ≤ 11 % each and vertical ones, half on each side, by
    /// ≤ 23 %; 0 keeps exactly `grid_bins`, the published setup).
    pub grid_bins_per_decade: f64,
    /// The grid reaches this multiple of the largest scale: radius grid_extent × max(r_disk,
    /// r_dust, r_bulge), half-height grid_extent × max(h_disk, h_dust, r_bulge) (5).
    pub grid_extent: f64,
    /// Sets the power-law ratios of the meshes (last / first bin width) to extent / r_min with
    /// r_min = grid_min_fraction × min(h_disk, h_dust, r_bulge), radially and vertically
    /// (1e−4, as the reference's `create_skifile`; the innermost bins are then ≈ 10⁻⁶ of the
    /// smallest scale, so the central optical depth is resolved).
    pub grid_min_fraction: f64,
    /// Wavelength range of the stellar sources \[µm\] (0.09–100).
    pub source_range_um: (f64, f64),
    /// Wavelength grid of the SED instrument (0.09–10⁴ µm, 500 points: the model grid
    /// `lam_main` is its points 5 … 499).
    pub instrument_grid: LogGrid,
    /// Wavelengths at which the radiation field heating the dust is stored (0.09–100 µm, 300).
    pub radiation_field_grid: LogGrid,
    /// Wavelengths of the dust emission spectrum (1–10⁴ µm, 300).
    pub dust_emission_grid: LogGrid,
    /// Distance of the instrument \[Mpc\] (100; cancels in everything collected).
    pub distance_mpc: f64,
    /// Schema of the written files (the current SKIRT 9).
    pub version: SkirtVersion,
    /// Add SKIRT's `DustAbsorptionPerCellProbe` to every run: the luminosity absorbed per cell
    /// and radiation-field wavelength, for checking the energy balance, and in the disk and
    /// bulge runs (which then store the radiation field) the absorbed fraction of each
    /// component without the cost of dust emission (false; the file has cells × 300 values,
    /// ≈ 80 MB on the default grid).
    pub absorption_probe: bool,
}

impl Default for SkiConfig {
    fn default() -> Self {
        SkiConfig {
            packets: 1e7,
            scale_height_ratio: 0.1,
            sersic_index: 4.0,
            grid_bins: 128,
            grid_bins_per_decade: 22.0,
            grid_extent: 5.0,
            grid_min_fraction: 1e-4,
            source_range_um: (0.09, 100.0),
            instrument_grid: LogGrid {
                min_um: 0.09,
                max_um: 1e4,
                n: 500,
            },
            radiation_field_grid: LogGrid {
                min_um: 0.09,
                max_um: 100.0,
                n: 300,
            },
            dust_emission_grid: LogGrid {
                min_um: 1.0,
                max_um: 1e4,
                n: 300,
            },
            distance_mpc: 100.0,
            version: SkirtVersion::Current,
            absorption_probe: false,
        }
    }
}

impl SkiConfig {
    /// Checks that every setting is usable by SKIRT.
    pub fn validate(&self) -> Result<(), SkirtError> {
        let bad = |what: String| Err(SkirtError::Invalid(what));
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !(self.packets.is_finite() && self.packets >= 1.0) {
            return bad(format!(
                "the number of photon packets must be ≥ 1, got {}",
                self.packets
            ));
        }
        if !positive(self.scale_height_ratio) || !positive(self.sersic_index) {
            return bad("the scale-height ratio and the Sérsic index must be > 0".into());
        }
        if self.grid_bins < 2 || !self.grid_bins.is_multiple_of(2) {
            return bad(format!(
                "the grid needs an even number ≥ 2 of bins, got {}",
                self.grid_bins
            ));
        }
        if !(self.grid_bins_per_decade.is_finite()
            && (0.0..=1e3).contains(&self.grid_bins_per_decade))
        {
            return bad(format!(
                "the grid's bins per decade must be in 0–1000, got {}",
                self.grid_bins_per_decade
            ));
        }
        if !(self.grid_extent.is_finite() && self.grid_extent >= 1.0) {
            return bad(format!(
                "the grid extent must be ≥ 1 scale, got {}",
                self.grid_extent
            ));
        }
        if !(positive(self.grid_min_fraction) && self.grid_min_fraction <= 1.0) {
            return bad(format!(
                "the grid's minimum scale must be a fraction in (0, 1] of the smallest scale, got {}",
                self.grid_min_fraction
            ));
        }
        let (lo, hi) = self.source_range_um;
        if !(positive(lo) && positive(hi) && lo < hi) {
            return bad(format!("invalid source wavelength range {lo}–{hi} µm"));
        }
        for (name, g) in [
            ("instrument", self.instrument_grid),
            ("radiation-field", self.radiation_field_grid),
            ("dust-emission", self.dust_emission_grid),
        ] {
            if !(positive(g.min_um) && positive(g.max_um) && g.min_um < g.max_um && g.n >= 2) {
                return bad(format!(
                    "invalid {name} wavelength grid {}–{} µm with {} points",
                    g.min_um, g.max_um, g.n
                ));
            }
        }
        if !positive(self.distance_mpc) {
            return bad(format!(
                "the distance must be > 0, got {} Mpc",
                self.distance_mpc
            ));
        }
        Ok(())
    }
}

/// The SKIRT quantities of one sample, derived from its physical parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// Inclination of the instrument \[deg\] (0 = face-on).
    pub inclination_deg: f64,
    /// Stellar disk scale length \[pc\].
    pub disk_scale_length_pc: f64,
    /// Stellar disk scale height \[pc\].
    pub disk_scale_height_pc: f64,
    /// Dust disk scale length r_dust = r_dust_to_rd · r_disk \[pc\].
    pub dust_scale_length_pc: f64,
    /// Dust disk scale height \[pc\].
    pub dust_scale_height_pc: f64,
    /// Bulge effective radius \[pc\].
    pub bulge_radius_pc: f64,
    /// Dust mass den_dust · 2π r_dust² \[M_sun\].
    pub dust_mass_msun: f64,
    /// Radius of the grid \[pc\].
    pub grid_radius_pc: f64,
    /// Half-height of the grid \[pc\] (it spans −h … +h).
    pub grid_half_height_pc: f64,
    /// Width ratio of the last to the first radial bin (`PowMesh`).
    pub grid_ratio_radial: f64,
    /// Width ratio of the outermost to the innermost vertical bins (`SymPowMesh`).
    pub grid_ratio_vertical: f64,
    /// Radial bins ([`SkiConfig::grid_bins`], more for a large ratio).
    pub grid_bins_radial: usize,
    /// Vertical bins, half on each side of the mid-plane.
    pub grid_bins_vertical: usize,
}

/// Bins of a mesh with the given width ratio: at least `cfg.grid_bins`, and at least
/// `cfg.grid_bins_per_decade` per decade of the ratio, rounded up to an even number.
fn mesh_bins(ratio: f64, cfg: &SkiConfig) -> usize {
    let wanted = (cfg.grid_bins_per_decade * ratio.log10().max(0.0) / 2.0).ceil() as usize * 2;
    cfg.grid_bins.max(wanted)
}

impl Geometry {
    /// Derives the geometry from the physical parameters (order of `GALAXY_PARAMS`).
    pub fn new(physical: &[f64; 7], cfg: &SkiConfig) -> Geometry {
        let [theta, den_dust, r_dust_to_rd, r_disk_kpc, r_bulge_kpc, _, _] = *physical;
        let r_disk = 1e3 * r_disk_kpc;
        let r_dust = r_dust_to_rd * r_disk;
        let r_bulge = 1e3 * r_bulge_kpc;
        let (h_disk, h_dust) = (
            cfg.scale_height_ratio * r_disk,
            cfg.scale_height_ratio * r_dust,
        );
        let grid_radius = cfg.grid_extent * r_disk.max(r_dust).max(r_bulge);
        let grid_half_height = cfg.grid_extent * h_disk.max(h_dust).max(r_bulge);
        let r_min = cfg.grid_min_fraction * h_disk.min(h_dust).min(r_bulge);
        Geometry {
            inclination_deg: theta,
            disk_scale_length_pc: r_disk,
            disk_scale_height_pc: h_disk,
            dust_scale_length_pc: r_dust,
            dust_scale_height_pc: h_dust,
            bulge_radius_pc: r_bulge,
            dust_mass_msun: den_dust
                * 2.0
                * std::f64::consts::PI
                * (r_dust_to_rd * r_disk_kpc).powi(2),
            grid_radius_pc: grid_radius,
            grid_half_height_pc: grid_half_height,
            grid_ratio_radial: grid_radius / r_min,
            grid_ratio_vertical: grid_half_height / r_min,
            grid_bins_radial: mesh_bins(grid_radius / r_min, cfg),
            grid_bins_vertical: mesh_bins(grid_half_height / r_min, cfg),
        }
    }
}

/// One stellar source of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Source<'a> {
    /// File name of its `FileSED` spectrum (relative to SKIRT's input directory).
    pub sed_file: &'a str,
    /// Luminosity inside the source wavelength range \[L_sun\].
    pub luminosity_lsun: f64,
}

/// The sources of one run; at least one must be present.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sources<'a> {
    /// The exponential stellar disk.
    pub disk: Option<Source<'a>>,
    /// The Sérsic bulge.
    pub bulge: Option<Source<'a>>,
}

/// An XML element of the parameter file.
struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<Element>,
}

impl Element {
    fn new(name: &'static str) -> Element {
        Element {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    fn attr(mut self, key: &'static str, value: impl Into<String>) -> Element {
        self.attrs.push((key, value.into()));
        self
    }

    fn child(mut self, child: Element) -> Element {
        self.children.push(child);
        self
    }

    fn children(mut self, children: impl IntoIterator<Item = Element>) -> Element {
        self.children.extend(children);
        self
    }

    fn write<W: std::io::Write>(&self, w: &mut Writer<W>) -> std::io::Result<()> {
        let mut start = BytesStart::new(self.name);
        for (k, v) in &self.attrs {
            start.push_attribute((*k, v.as_str()));
        }
        if self.children.is_empty() {
            return w.write_event(Event::Empty(start));
        }
        w.write_event(Event::Start(start))?;
        for c in &self.children {
            c.write(w)?;
        }
        w.write_event(Event::End(BytesEnd::new(self.name)))
    }
}

/// A SKIRT property holding one item: `<name type="base"><item/></name>`.
fn property(name: &'static str, base: &'static str, item: Element) -> Element {
    Element::new(name).attr("type", base).child(item)
}

/// A SKIRT property holding a list of items.
fn property_list(name: &'static str, base: &'static str, items: Vec<Element>) -> Element {
    Element::new(name).attr("type", base).children(items)
}

/// Shortest decimal that reads back as the same f64.
fn num(x: f64) -> String {
    format!("{x}")
}

fn quantity(x: f64, unit: &str) -> String {
    format!("{x} {unit}")
}

fn log_grid(g: LogGrid) -> Element {
    Element::new("LogWavelengthGrid")
        .attr("minWavelength", quantity(g.min_um, "micron"))
        .attr("maxWavelength", quantity(g.max_um, "micron"))
        .attr("numWavelengths", g.n.to_string())
}

/// Wavelength bias of the photon packets: log-uniform over a wide range, as SKIRT's default.
fn bias_distribution() -> Element {
    property(
        "wavelengthBiasDistribution",
        "WavelengthDistribution",
        Element::new("LogWavelengthDistribution")
            .attr("minWavelength", "0.0001 micron")
            .attr("maxWavelength", "1e6 micron"),
    )
}

fn exp_disk(scale_length_pc: f64, scale_height_pc: f64) -> Element {
    // Zero radii / maxZ: no truncation.
    Element::new("ExpDiskGeometry")
        .attr("scaleLength", quantity(scale_length_pc, "pc"))
        .attr("scaleHeight", quantity(scale_height_pc, "pc"))
        .attr("minRadius", "0 pc")
        .attr("maxRadius", "0 pc")
        .attr("maxZ", "0 pc")
}

fn stellar_source(geometry: Element, source: Source, cfg: &SkiConfig) -> Element {
    let (lo, hi) = cfg.source_range_um;
    Element::new("GeometricSource")
        .attr("velocityMagnitude", "0 km/s")
        .attr("sourceWeight", "1")
        .attr("wavelengthBias", "0.5")
        .child(property("geometry", "Geometry", geometry))
        .child(property(
            "sed",
            "SED",
            Element::new("FileSED").attr("filename", source.sed_file),
        ))
        .child(property(
            "normalization",
            "LuminosityNormalization",
            Element::new("IntegratedLuminosityNormalization")
                .attr("wavelengthRange", "Source")
                .attr("minWavelength", quantity(lo, "micron"))
                .attr("maxWavelength", quantity(hi, "micron"))
                .attr(
                    "integratedLuminosity",
                    quantity(source.luminosity_lsun, "Lsun"),
                ),
        ))
        .child(bias_distribution())
}

fn medium_system(run: Run, g: &Geometry, cfg: &SkiConfig) -> Element {
    use SkirtVersion::{Current, V2020};
    let v = cfg.version;
    let emission = run == Run::Emission;
    // The absorption probe needs the radiation field, also in extinction-only runs (where it
    // measures the absorbed luminosity without the cost of the dust emission).
    let store_field = emission || cfg.absorption_probe;
    // The physics, whatever the schema: stochastic heating of small grains and PAHs (not in
    // equilibrium with the radiation field), no CMB heating, no self-absorption, the secondary
    // packets and biases of SKIRT's defaults, 100 density samples per cell.
    let density_samples = "100";
    let secondary = [
        ("storeEmissionRadiationField", "false"),
        ("secondaryPacketsMultiplier", "1"),
        ("spatialBias", "0.5"),
    ];
    let radiation_field_wlg = || {
        property(
            "radiationFieldWLG",
            "DisjointWavelengthGrid",
            log_grid(cfg.radiation_field_grid),
        )
    };
    let mut dust_emission = Element::new("DustEmissionOptions")
        .attr("dustEmissionType", "Stochastic")
        .attr("includeHeatingByCMB", "false");
    match v {
        V2020 => {
            for (k, value) in secondary {
                dust_emission = dust_emission.attr(k, value);
            }
        }
        Current => dust_emission = dust_emission.attr("sourceWeight", "1"),
    }
    dust_emission = dust_emission.attr("wavelengthBias", "0.5").child(property(
        "cellLibrary",
        "SpatialCellLibrary",
        Element::new("AllCellsLibrary"),
    ));
    if v == V2020 {
        dust_emission = dust_emission.child(radiation_field_wlg());
    }
    let dust_emission = property(
        "dustEmissionOptions",
        "DustEmissionOptions",
        dust_emission
            .child(property(
                "dustEmissionWLG",
                "DisjointWavelengthGrid",
                log_grid(cfg.dust_emission_grid),
            ))
            .child(bias_distribution()),
    );

    let dust = Element::new("GeometricMedium")
        .attr("velocityMagnitude", "0 km/s")
        .attr("magneticFieldStrength", "0 uG")
        .child(property(
            "geometry",
            "Geometry",
            exp_disk(g.dust_scale_length_pc, g.dust_scale_height_pc),
        ))
        .child(property(
            "materialMix",
            "MaterialMix",
            Element::new("DraineLiDustMix")
                .attr("numSilicateSizes", "15")
                .attr("numGraphiteSizes", "15")
                .attr("numPAHSizes", "10"),
        ))
        .child(property(
            "normalization",
            "MaterialNormalization",
            Element::new("MassMaterialNormalization")
                .attr("mass", quantity(g.dust_mass_msun, "Msun")),
        ));
    let grid = Element::new("Cylinder2DSpatialGrid")
        .attr("maxRadius", quantity(g.grid_radius_pc, "pc"))
        .attr("minZ", quantity(-g.grid_half_height_pc, "pc"))
        .attr("maxZ", quantity(g.grid_half_height_pc, "pc"))
        .child(property(
            "meshRadial",
            "Mesh",
            Element::new("PowMesh")
                .attr("numBins", g.grid_bins_radial.to_string())
                .attr("ratio", num(g.grid_ratio_radial)),
        ))
        .child(property(
            "meshZ",
            match v {
                V2020 => "MoveableMesh",
                Current => "Mesh",
            },
            Element::new("SymPowMesh")
                .attr("numBins", g.grid_bins_vertical.to_string())
                .attr("ratio", num(g.grid_ratio_vertical)),
        ));
    let mut packets = Element::new("PhotonPacketOptions");
    if v == Current {
        packets = packets
            .attr("explicitAbsorption", "false")
            .attr("forceScattering", "true");
    }
    let packets = property(
        "photonPacketOptions",
        "PhotonPacketOptions",
        packets
            .attr("minWeightReduction", "1e4")
            .attr("minScattEvents", "0")
            .attr("pathLengthBias", "0.5"),
    );
    let media = property_list("media", "Medium", vec![dust]);
    let grid = property("grid", "SpatialGrid", grid);

    let system = match v {
        V2020 => {
            let options = if emission {
                dust_emission
            } else {
                let mut options = Element::new("ExtinctionOnlyOptions")
                    .attr("storeRadiationField", store_field.to_string());
                if store_field {
                    options = options.child(radiation_field_wlg());
                }
                property("extinctionOnlyOptions", "ExtinctionOnlyOptions", options)
            };
            Element::new("MediumSystem")
                .attr("numDensitySamples", density_samples)
                .child(packets)
                .child(options)
                .child(media)
                .child(grid)
        }
        Current => {
            let mut field = Element::new("RadiationFieldOptions")
                .attr("storeRadiationField", store_field.to_string());
            if store_field {
                field = field.child(radiation_field_wlg());
            }
            let mut system = Element::new("MediumSystem").child(packets).child(property(
                "radiationFieldOptions",
                "RadiationFieldOptions",
                field,
            ));
            if emission {
                let mut options = Element::new("SecondaryEmissionOptions");
                for (k, value) in secondary {
                    options = options.attr(k, value);
                }
                system = system
                    .child(property(
                        "secondaryEmissionOptions",
                        "SecondaryEmissionOptions",
                        // One secondary source (dust): the source bias has no effect.
                        options.attr("sourceBias", "0.5"),
                    ))
                    .child(dust_emission);
            }
            system
                .child(media)
                .child(property(
                    "samplingOptions",
                    "SamplingOptions",
                    Element::new("SamplingOptions")
                        .attr("numDensitySamples", density_samples)
                        .attr("numPropertySamples", "1"),
                ))
                .child(grid)
        }
    };
    property("mediumSystem", "MediumSystem", system)
}

/// The probes: grid convergence (dust mass and optical depth on the grid against the input
/// model) and, if asked for, the absorbed luminosity per cell.
fn probes(cfg: &SkiConfig) -> Element {
    let convergence = match cfg.version {
        SkirtVersion::V2020 => "SpatialGridConvergenceProbe",
        SkirtVersion::Current => "ConvergenceInfoProbe",
    };
    let mut probes = vec![
        Element::new(convergence)
            .attr("probeName", "cnv")
            .attr("wavelength", "0.55 micron"),
    ];
    if cfg.absorption_probe {
        probes.push(
            Element::new("DustAbsorptionPerCellProbe")
                .attr("probeName", ABSORPTION_PROBE)
                // The bin widths, to integrate the spectral luminosities.
                .attr("writeWavelengthGrid", "true"),
        );
    }
    property(
        "probeSystem",
        "ProbeSystem",
        Element::new("ProbeSystem").child(property_list("probes", "Probe", probes)),
    )
}

/// The parameter file of one run as XML text.
///
/// `comment` is written as an XML comment below the declaration (`--` is replaced, as XML
/// comments cannot hold it); `seed` seeds SKIRT's random generator.
pub fn ski_document(
    run: Run,
    geometry: &Geometry,
    sources: Sources,
    seed: u64,
    comment: &str,
    cfg: &SkiConfig,
) -> Result<String, SkirtError> {
    cfg.validate()?;
    let mut source_items = Vec::new();
    if let Some(disk) = sources.disk {
        let geom = exp_disk(geometry.disk_scale_length_pc, geometry.disk_scale_height_pc);
        source_items.push(stellar_source(geom, disk, cfg));
    }
    if let Some(bulge) = sources.bulge {
        let geom = Element::new("SersicGeometry")
            .attr("effectiveRadius", quantity(geometry.bulge_radius_pc, "pc"))
            .attr("index", num(cfg.sersic_index));
        source_items.push(stellar_source(geom, bulge, cfg));
    }
    if source_items.is_empty() {
        return Err(SkirtError::Invalid(format!("the {run} run has no source")));
    }
    let (lo, hi) = cfg.source_range_um;
    let mode = match run {
        Run::Emission => "DustEmission",
        Run::Disk | Run::Bulge => "ExtinctionOnly",
    };
    let simulation = Element::new("MonteCarloSimulation")
        .attr("userLevel", "Regular")
        .attr("simulationMode", mode)
        .attr("numPackets", num(cfg.packets))
        .child(property(
            "random",
            "Random",
            Element::new("Random").attr("seed", seed.to_string()),
        ))
        .child(property(
            "units",
            "Units",
            match cfg.version {
                SkirtVersion::V2020 => Element::new("ExtragalacticUnits"),
                SkirtVersion::Current => {
                    Element::new("ExtragalacticUnits").attr("wavelengthOutputStyle", "Wavelength")
                }
            }
            .attr("fluxOutputStyle", "Wavelength"),
        ))
        .child(property(
            "cosmology",
            "Cosmology",
            Element::new("LocalUniverseCosmology"),
        ))
        .child(property(
            "sourceSystem",
            "SourceSystem",
            Element::new("SourceSystem")
                .attr("minWavelength", quantity(lo, "micron"))
                .attr("maxWavelength", quantity(hi, "micron"))
                .attr("wavelengths", "0.55 micron")
                .attr("sourceBias", "0.5")
                .child(property_list("sources", "Source", source_items)),
        ))
        .child(medium_system(run, geometry, cfg))
        .child(property(
            "instrumentSystem",
            "InstrumentSystem",
            Element::new("InstrumentSystem")
                .child(property(
                    "defaultWavelengthGrid",
                    "WavelengthGrid",
                    log_grid(cfg.instrument_grid),
                ))
                .child(property_list(
                    "instruments",
                    "Instrument",
                    vec![
                        Element::new("SEDInstrument")
                            .attr("instrumentName", INSTRUMENT_NAME)
                            .attr("distance", quantity(cfg.distance_mpc, "Mpc"))
                            .attr("inclination", quantity(geometry.inclination_deg, "deg"))
                            .attr("azimuth", "0 deg")
                            .attr("roll", "0 deg")
                            // The components include the transparent (dust-free) flux.
                            .attr("recordComponents", "true")
                            .attr("numScatteringLevels", "0")
                            .attr("recordPolarization", "false")
                            .attr("recordStatistics", "false"),
                    ],
                )),
        ))
        .child(probes(cfg));
    let root = Element::new("skirt-simulation-hierarchy")
        .attr("type", "MonteCarloSimulation")
        .attr("format", "9")
        .attr(
            "producer",
            format!(
                "galsed {} (galsed skirt prepare, SKIRT 9 schema {})",
                env!("CARGO_PKG_VERSION"),
                cfg.version.name()
            ),
        )
        .child(simulation);

    let xml_error = |e: std::io::Error| SkirtError::Invalid(format!("writing the XML failed: {e}"));
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 4);
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(xml_error)?;
    let mut comment = comment.replace("--", "- -");
    if comment.ends_with('-') {
        comment.push(' ');
    }
    writer
        .write_event(Event::Comment(BytesText::from_escaped(Cow::Owned(
            format!(" {comment} "),
        ))))
        .map_err(xml_error)?;
    root.write(&mut writer).map_err(xml_error)?;
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).map_err(|e| SkirtError::Invalid(format!("the XML is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width of the first bin of a mesh of `n` geometric bins with ratio `ratio` spanning `extent`.
    fn first_width(extent: f64, ratio: f64, n: usize) -> f64 {
        let g = ratio.powf(1.0 / (n - 1) as f64);
        extent / (0..n).map(|i| g.powi(i as i32)).sum::<f64>()
    }

    #[test]
    fn geometry_follows_the_parameters() {
        let cfg = SkiConfig::default();
        let g = Geometry::new(&[30.0, 1e5, 2.0, 3.0, 0.5, 1e10, 0.3], &cfg);
        assert_eq!(g.disk_scale_length_pc, 3000.0);
        assert!((g.disk_scale_height_pc - 300.0).abs() < 1e-9);
        assert!((g.dust_scale_length_pc - 6000.0).abs() < 1e-9);
        assert!((g.dust_scale_height_pc - 600.0).abs() < 1e-9);
        assert!((g.dust_mass_msun / (1e5 * 2.0 * std::f64::consts::PI * 36.0) - 1.0).abs() < 1e-12);
        assert!((g.grid_radius_pc - 30000.0).abs() < 1e-9);
        assert!((g.grid_half_height_pc - 3000.0).abs() < 1e-9);
        // The reference's ratios: extent / (1e−4 × min(h_disk, h_dust, r_bulge)) = extent / 0.03 pc.
        assert!((g.grid_ratio_radial / 1e6 - 1.0).abs() < 1e-12);
        assert!((g.grid_ratio_vertical / 1e5 - 1.0).abs() < 1e-12);
        // The innermost bins are then far below every scale.
        let first_r = first_width(g.grid_radius_pc, g.grid_ratio_radial, 128);
        let first_z = first_width(g.grid_half_height_pc, g.grid_ratio_vertical, 64);
        assert!(first_r < 0.01 && first_z < 0.01, "{first_r} {first_z}");
        // 22 bins per decade: six decades radially need 132 bins, five vertically the
        // published 128.
        assert_eq!((g.grid_bins_radial, g.grid_bins_vertical), (132, 128));
    }

    #[test]
    fn scales_spanning_many_decades_get_more_bins() {
        // The prior's extreme corner: a 2 pc dust disk (h = 0.2 pc) in a 31.6 kpc bulge, so
        // both meshes stretch by 5 × 31.6 kpc / 2e−5 pc = 7.9e9 (9.9 decades).
        let corner = [90.0, 3.1622e7, 0.19953, 0.01, 31.6227, 1e10, 0.5];
        let cfg = SkiConfig::default();
        let g = Geometry::new(&corner, &cfg);
        let decades = g.grid_ratio_radial.log10();
        assert!((decades - 9.899).abs() < 1e-3, "{decades}");
        assert_eq!((g.grid_bins_radial, g.grid_bins_vertical), (218, 218));
        // 22 bins per decade: each radial bin at most 10^(1/22) = 1.110 times its neighbour.
        let growth = g
            .grid_ratio_radial
            .powf(1.0 / (g.grid_bins_radial - 1) as f64);
        assert!(growth <= 10f64.powf(1.0 / 22.0) * 1.001, "{growth}");
        let disk = Source {
            sed_file: "disk.dat",
            luminosity_lsun: 5e9,
        };
        let sources = Sources {
            disk: Some(disk),
            bulge: None,
        };
        let ski = ski_document(Run::Disk, &g, sources, 0, "corner", &cfg).unwrap();
        assert!(ski.contains(r#"<PowMesh numBins="218""#), "{ski}");
        assert!(ski.contains(r#"<SymPowMesh numBins="218""#), "{ski}");
        // Without the rule, the published 128 × 128.
        let fixed = SkiConfig {
            grid_bins_per_decade: 0.0,
            ..cfg
        };
        let g = Geometry::new(&corner, &fixed);
        assert_eq!((g.grid_bins_radial, g.grid_bins_vertical), (128, 128));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let bad = [
            SkiConfig {
                grid_bins: 127,
                ..SkiConfig::default()
            },
            SkiConfig {
                packets: 0.0,
                ..SkiConfig::default()
            },
            SkiConfig {
                grid_bins_per_decade: -1.0,
                ..SkiConfig::default()
            },
            SkiConfig {
                grid_extent: f64::NAN,
                ..SkiConfig::default()
            },
            SkiConfig {
                source_range_um: (100.0, 0.09),
                ..SkiConfig::default()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        assert!(SkiConfig::default().validate().is_ok());
    }
}
