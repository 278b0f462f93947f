"""Peer computation for tests/pvlib_validation.rs: pvlib's PVWatts chain on the TMY3 file pvlib ships,
or on an EPW file (the typical year the platform ships, crates/site/data/weather/).

Usage: python pvwatts_chain.py OUT.csv [FILE.epw]  -> writes one row per hour, prints the path it read.
The chain (mirrored exactly by crates/site/src/pv.rs; documented in docs/site-energy.md):
  times       read_tmy3(coerce_year=2023) end-of-hour stamps, or read_epw(coerce_year=2023), whose
              index is the start of each hour (EPW hour 1 = 00:00-01:00): one hour added to get the
              end; the sun placed at the middle of the hour
  sun         solarposition.get_solarposition(method='nrel_numpy', altitude=file elevation)
              (pressure from altitude, temperature 12 C, delta_t from the Espenak-Meeus polynomials)
  POA         irradiance.get_total_irradiance(model='isotropic', albedo=0.25) with apparent zenith
  cell temp   temperature.sapm_cell, SAPM open_rack_glass_polymer
  DC          pvsystem.pvwatts_dc(poa_global, t_cell, pdc0=5000, gamma_pdc=-0.0047)
  losses      pvsystem.pvwatts_losses() defaults (14.0757 %)
  AC          inverter.pvwatts(pdc, pdc0=4000/0.96, eta_inv_nom=0.96)
"""
import os
import sys

import pandas as pd
import pvlib
from pvlib import inverter, irradiance, pvsystem, solarposition, temperature
from pvlib.iotools import read_epw, read_tmy3

TILT, AZIMUTH, ALBEDO = 30.0, 180.0, 0.25
PDC0, GAMMA, PAC0, ETA_NOM = 5000.0, -0.0047, 4000.0, 0.96

out = sys.argv[1]
if len(sys.argv) > 2:
    path = sys.argv[2]
    data, meta = read_epw(path, coerce_year=2023)
    data.index = data.index + pd.Timedelta(hours=1)  # pvlib stamps the start of the hour
else:
    path = os.path.join(os.path.dirname(pvlib.__file__), "data", "723170TYA.CSV")
    data, meta = read_tmy3(path, coerce_year=2023, map_variables=True)
mid = data.index - pd.Timedelta(minutes=30)
sun = solarposition.get_solarposition(mid, meta["latitude"], meta["longitude"], altitude=meta["altitude"])
sun.index = data.index  # align the mid-hour sun with the end-of-hour weather rows
poa = irradiance.get_total_irradiance(
    TILT, AZIMUTH, sun["apparent_zenith"], sun["azimuth"],
    data["dni"], data["ghi"], data["dhi"], albedo=ALBEDO, model="isotropic",
)
params = temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
t_cell = temperature.sapm_cell(poa["poa_global"], data["temp_air"], data["wind_speed"], **params)
pdc_raw = pvsystem.pvwatts_dc(poa["poa_global"], t_cell, PDC0, GAMMA)
pdc = pdc_raw * (1 - pvsystem.pvwatts_losses() / 100)
pac = inverter.pvwatts(pdc, PAC0 / ETA_NOM, eta_inv_nom=ETA_NOM)
frame = pd.DataFrame({
    "unix_end": (data.index.tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1),
    "apparent_zenith": sun["apparent_zenith"].values,
    "zenith": sun["zenith"].values,
    "azimuth": sun["azimuth"].values,
    "poa_global": poa["poa_global"].values,
    "temp_cell": t_cell.values,
    "pdc": pdc.values,
    "pac": pd.Series(pac).values,
})
frame.to_csv(out, index=False, float_format="%.10g")
print(path)
