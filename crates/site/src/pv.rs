//! PV yield equivalent to NREL PVWatts v5 (Dobos 2014, NREL/TP-6A20-62641), built as the chain pvlib
//! calls "pvwatts": SPA solar position → isotropic-sky plane-of-array transposition → SAPM cell
//! temperature → `pvwatts_dc` → PVWatts system losses → PVWatts inverter. Each function states its
//! equation; the chain is validated against pvlib itself (tests/pvlib_validation.rs).

use crate::solar::{delta_t, solar_position, Observer, SolarPosition};
use crate::weather::Weather;
use serde::{Deserialize, Serialize};

/// Plane-of-array irradiance, W/m².
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PoaIrradiance {
    pub global: f64,
    pub direct: f64,
    pub sky_diffuse: f64,
    pub ground_diffuse: f64,
}

/// Cosine of the angle of incidence on a surface (tilt from horizontal, azimuth clockwise from north),
/// clipped to [−1, 1].
pub fn aoi_projection(surface_tilt: f64, surface_azimuth: f64, solar_zenith: f64, solar_azimuth: f64) -> f64 {
    let (tilt, zen) = (surface_tilt.to_radians(), solar_zenith.to_radians());
    (tilt.cos() * zen.cos() + tilt.sin() * zen.sin() * (solar_azimuth - surface_azimuth).to_radians().cos())
        .clamp(-1.0, 1.0)
}

/// Isotropic-sky transposition (Liu & Jordan; Loutzenhiser et al. 2007): beam DNI·cos θ (≥ 0), sky
/// diffuse DHI·(1 + cos β)/2, ground-reflected GHI·ρ·(1 − cos β)/2.
#[allow(clippy::too_many_arguments)]
pub fn poa_isotropic(
    surface_tilt: f64,
    surface_azimuth: f64,
    solar_zenith: f64,
    solar_azimuth: f64,
    dni: f64,
    ghi: f64,
    dhi: f64,
    albedo: f64,
) -> PoaIrradiance {
    let direct = (dni * aoi_projection(surface_tilt, surface_azimuth, solar_zenith, solar_azimuth)).max(0.0);
    let cos_tilt = surface_tilt.to_radians().cos();
    let sky_diffuse = dhi * (1.0 + cos_tilt) * 0.5;
    let ground_diffuse = ghi * albedo * (1.0 - cos_tilt) * 0.5;
    PoaIrradiance { global: direct + sky_diffuse + ground_diffuse, direct, sky_diffuse, ground_diffuse }
}

/// Sandia (SAPM) module temperature coefficients (King et al. 2004, SAND2004-3535, table 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SapmTemperature {
    pub a: f64,
    pub b: f64,
    pub delta_t: f64,
}

/// The mounting types of the SAPM table, as named in pvlib's `TEMPERATURE_MODEL_PARAMETERS['sapm']`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mounting {
    OpenRackGlassGlass,
    CloseMountGlassGlass,
    OpenRackGlassPolymer,
    InsulatedBackGlassPolymer,
}

impl Mounting {
    pub fn sapm(self) -> SapmTemperature {
        let (a, b, delta_t) = match self {
            Mounting::OpenRackGlassGlass => (-3.47, -0.0594, 3.0),
            Mounting::CloseMountGlassGlass => (-2.98, -0.0471, 1.0),
            Mounting::OpenRackGlassPolymer => (-3.56, -0.0750, 3.0),
            Mounting::InsulatedBackGlassPolymer => (-2.81, -0.0455, 0.0),
        };
        SapmTemperature { a, b, delta_t }
    }
}

/// SAPM cell temperature: T_m = E·exp(a + b·WS) + T_a, T_c = T_m + (E/1000)·ΔT.
pub fn sapm_cell_temperature(poa_global: f64, temp_air: f64, wind_speed: f64, p: SapmTemperature) -> f64 {
    let module = poa_global * (p.a + p.b * wind_speed).exp() + temp_air;
    module + poa_global / 1000.0 * p.delta_t
}

/// PVWatts v5 DC power: P = (G/1000)·P_dc0·(1 + γ·(T_cell − 25 °C)).
pub fn pvwatts_dc(effective_irradiance: f64, temp_cell: f64, pdc0: f64, gamma_pdc: f64) -> f64 {
    effective_irradiance * 0.001 * pdc0 * (1.0 + gamma_pdc * (temp_cell - 25.0))
}

/// PVWatts system losses in percent, each loss in percent; combined as 100·(1 − Π(1 − Lᵢ/100)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PvwattsLosses {
    pub soiling: f64,
    pub shading: f64,
    pub snow: f64,
    pub mismatch: f64,
    pub wiring: f64,
    pub connections: f64,
    pub lid: f64,
    pub nameplate_rating: f64,
    pub age: f64,
    pub availability: f64,
}

impl Default for PvwattsLosses {
    /// PVWatts v5 defaults (Dobos 2014, table 6), as in pvlib's `pvwatts_losses`.
    fn default() -> Self {
        PvwattsLosses {
            soiling: 2.0,
            shading: 3.0,
            snow: 0.0,
            mismatch: 2.0,
            wiring: 2.0,
            connections: 0.5,
            lid: 1.5,
            nameplate_rating: 1.0,
            age: 0.0,
            availability: 3.0,
        }
    }
}

impl PvwattsLosses {
    pub fn total_percent(&self) -> f64 {
        let parts = [
            self.soiling,
            self.shading,
            self.snow,
            self.mismatch,
            self.wiring,
            self.connections,
            self.lid,
            self.nameplate_rating,
            self.age,
            self.availability,
        ];
        100.0 * (1.0 - parts.iter().map(|l| 1.0 - l / 100.0).product::<f64>())
    }
}

/// PVWatts inverter: ζ = P_dc/P_dc0, η = (η_nom/η_ref)·(−0.0162·ζ − 0.0059/ζ + 0.9858),
/// P_ac = clip(η·P_dc, 0, η_nom·P_dc0), with P_dc0 = P_ac0/η_nom the inverter's DC input limit.
pub fn pvwatts_inverter(pdc: f64, pdc0_inverter: f64, eta_inv_nom: f64, eta_inv_ref: f64) -> f64 {
    if pdc == 0.0 {
        return 0.0;
    }
    let zeta = pdc / pdc0_inverter;
    let eta = eta_inv_nom / eta_inv_ref * (-0.0162 * zeta - 0.0059 / zeta + 0.9858);
    (eta * pdc).min(eta_inv_nom * pdc0_inverter).max(0.0)
}

/// A PV array and its inverter or charge controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PvArray {
    /// DC nameplate at 1000 W/m² and 25 °C, W.
    pub pdc0_w: f64,
    /// Degrees from horizontal.
    pub tilt_deg: f64,
    /// Degrees clockwise from north (180 = facing south).
    pub azimuth_deg: f64,
    /// Power temperature coefficient, 1/°C (PVWatts standard module −0.0047, premium −0.0035).
    #[serde(default = "default_gamma")]
    pub gamma_pdc: f64,
    #[serde(default = "default_albedo")]
    pub albedo: f64,
    #[serde(default = "default_mounting")]
    pub mounting: Mounting,
    #[serde(default)]
    pub losses: PvwattsLosses,
    /// Inverter AC rating, W (default: the DC nameplate, a DC/AC ratio of 1).
    #[serde(default)]
    pub inverter_pac0_w: Option<f64>,
    #[serde(default = "default_eta_nom")]
    pub inverter_eta_nom: f64,
    /// Efficiency of the MPPT charge controller that puts PV DC on a site's DC bus (simulation only; the
    /// PVWatts chain stops at the inverter).
    #[serde(default = "default_mppt")]
    pub mppt_efficiency: f64,
}

fn default_mppt() -> f64 {
    0.98
}

fn default_gamma() -> f64 {
    -0.0047
}
fn default_albedo() -> f64 {
    0.25
}
fn default_mounting() -> Mounting {
    Mounting::OpenRackGlassPolymer
}
fn default_eta_nom() -> f64 {
    0.96
}

/// The PVWatts reference efficiency of the inverter model.
pub const ETA_INV_REF: f64 = 0.9637;

/// One step of the PV chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PvStep {
    pub solar: SolarPosition,
    pub poa: PoaIrradiance,
    pub temp_cell: f64,
    /// `pvwatts_dc` before system losses, W.
    pub pdc_raw: f64,
    /// DC after system losses, W.
    pub pdc: f64,
    /// Inverter AC output, W.
    pub pac: f64,
}

impl PvArray {
    /// The chain at one weather record; `time_for_sun` is the Unix time to place the sun at (the middle
    /// of the averaging interval).
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        observer: &Observer,
        time_for_sun: f64,
        delta_t_s: f64,
        ghi: f64,
        dni: f64,
        dhi: f64,
        temp_air: f64,
        wind_speed: f64,
    ) -> PvStep {
        let solar = solar_position(time_for_sun, observer, delta_t_s);
        let poa = poa_isotropic(
            self.tilt_deg,
            self.azimuth_deg,
            solar.apparent_zenith,
            solar.azimuth,
            dni,
            ghi,
            dhi,
            self.albedo,
        );
        let temp_cell = sapm_cell_temperature(poa.global, temp_air, wind_speed, self.mounting.sapm());
        let pdc_raw = pvwatts_dc(poa.global, temp_cell, self.pdc0_w, self.gamma_pdc);
        let pdc = pdc_raw * (1.0 - self.losses.total_percent() / 100.0);
        let pac0 = self.inverter_pac0_w.unwrap_or(self.pdc0_w);
        let pac = pvwatts_inverter(pdc, pac0 / self.inverter_eta_nom, self.inverter_eta_nom, ETA_INV_REF);
        PvStep { solar, poa, temp_cell, pdc_raw, pdc, pac }
    }

    /// The chain over a weather series.
    pub fn run(&self, weather: &Weather) -> Vec<PvStep> {
        let observer = Observer::at_altitude(weather.latitude, weather.longitude, weather.elevation_m);
        weather
            .records
            .iter()
            .map(|r| {
                let mid = r.unix_end - weather.interval_s as f64 / 2.0;
                let (year, month) = crate::weather::year_month(mid as i64);
                self.step(&observer, mid, delta_t(year, month), r.ghi, r.dni, r.dhi, r.temp_air, r.wind_speed)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    // Closed-form values from ../shared/reference/base-station-and-site-power.md §3.3.
    #[test]
    fn pvwatts_dc_closed_form() {
        assert!(close(pvwatts_dc(800.0, 45.0, 1000.0, -0.0047), 724.8, 1e-12));
        assert!(close(pvwatts_dc(1000.0, 25.0, 1000.0, -0.0047), 1000.0, 1e-12));
        assert_eq!(pvwatts_dc(0.0, 10.0, 1000.0, -0.0047), 0.0);
    }

    #[test]
    fn pvwatts_inverter_closed_form() {
        let eta = |z: f64| pvwatts_inverter(z * 1000.0, 1000.0, 0.96, ETA_INV_REF) / (z * 1000.0);
        assert!(close(eta(0.1), 0.921628, 1e-6), "{}", eta(0.1));
        assert!(close(eta(0.25), 0.954471, 1e-6), "{}", eta(0.25));
        assert!(close(eta(0.5), 0.962192, 1e-6), "{}", eta(0.5));
        assert!(close(eta(0.75), 0.962075, 1e-6), "{}", eta(0.75));
        assert!(close(pvwatts_inverter(1000.0, 1000.0, 0.96, ETA_INV_REF), 960.0, 1e-12));
        // Above the rating the output is clipped at η_nom·P_dc0.
        assert!(close(pvwatts_inverter(1200.0, 1000.0, 0.96, ETA_INV_REF), 960.0, 1e-12));
        // Below ζ ≈ 0.006 the efficiency curve is negative: the output is zero, never negative.
        assert_eq!(pvwatts_inverter(1.0, 1000.0, 0.96, ETA_INV_REF), 0.0);
    }

    #[test]
    fn losses_default_total() {
        assert!(close(PvwattsLosses::default().total_percent(), 14.0757, 1e-5));
    }

    #[test]
    fn sapm_cell_closed_form() {
        let t = sapm_cell_temperature(800.0, 25.0, 1.0, Mounting::OpenRackGlassPolymer.sapm());
        assert!(close(t, 48.507, 1e-4), "{t}");
    }

    #[test]
    fn isotropic_transposition() {
        // Horizontal surface: POA equals GHI's components, no ground reflection.
        let p = poa_isotropic(0.0, 180.0, 30.0, 150.0, 800.0, 792.8203, 100.0, 0.25);
        assert!(close(p.direct, 800.0 * 30f64.to_radians().cos(), 1e-12));
        assert!(close(p.sky_diffuse, 100.0, 1e-12));
        assert_eq!(p.ground_diffuse, 0.0);
        // Vertical south wall with the sun behind it: no beam, half the sky, half the ground.
        let p = poa_isotropic(90.0, 180.0, 60.0, 0.0, 800.0, 500.0, 100.0, 0.2);
        assert_eq!(p.direct, 0.0);
        assert!(close(p.sky_diffuse, 50.0, 1e-12));
        assert!(close(p.ground_diffuse, 50.0, 1e-12));
    }
}
