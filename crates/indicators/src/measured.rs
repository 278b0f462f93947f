//! Measured results of scenario measures: where facilities report both what a measure saved and
//! the reference it saved against (as indicator components), Σ saved / Σ reference over an org's
//! subtree is the measure's measured effect, in the unit of the scenario catalogue's effect value
//! (a fraction). A ratio of sums, like every roll-up here: a big station weighs more than a small one.

use crate::registry::Component;
use crate::values::{micro_to_f64, Micro, Observations};
use model::{OrgId, OrgTree};
use serde::Serialize;
use std::collections::BTreeSet;

/// Which components measure which scenario measure (`crates/scenario/data/measures.toml` ids).
#[derive(Debug, Clone, Copy)]
pub struct MeasuredBy {
    pub measure_id: &'static str,
    /// The catalogue effect the measured value replaces.
    pub effect_kind: &'static str,
    pub class: &'static str,
    pub saved: Component,
    pub reference: Component,
}

pub static MEASURED: &[MeasuredBy] = &[MeasuredBy {
    measure_id: "ai_bs_energy_saving",
    effect_kind: "intensity",
    class: "wireless",
    saved: Component::BsAiSavedKwh,
    reference: Component::BsAiReferenceKwh,
}];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredResult {
    pub measure_id: String,
    pub effect_kind: String,
    pub class: String,
    /// Σ saved / Σ reference; `None` when the reference sums to zero.
    pub value: Option<f64>,
    pub saved_kwh: f64,
    pub reference_kwh: f64,
    /// Distinct facilities with a value (org-level values count in the sums, not here).
    pub facilities: usize,
    /// Periods with a value (`YYYY` or `YYYY-MM`), sorted.
    pub periods: Vec<String>,
    /// The distinct `source` of the values, sorted.
    pub sources: Vec<String>,
}

/// Every measure of [`MEASURED`] with at least one value in `org`'s subtree, over all periods.
pub fn measured(obs: &Observations, tree: &OrgTree, org: OrgId) -> Vec<MeasuredResult> {
    let mut out = Vec::new();
    for m in MEASURED {
        let (mut saved, mut reference): (Micro, Micro) = (0, 0);
        let (mut facilities, mut periods, mut sources) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut any = false;
        for o in obs.rows.iter().filter(|o| o.component == m.saved || o.component == m.reference) {
            if !tree.is_within(o.org, org) {
                continue;
            }
            any = true;
            if o.component == m.saved {
                saved += o.value;
            } else {
                reference += o.value;
            }
            if let Some(f) = &o.facility {
                facilities.insert(f.clone());
            }
            periods.insert(if o.period.month == 0 {
                o.period.year.to_string()
            } else {
                format!("{}-{:02}", o.period.year, o.period.month)
            });
            if !o.source.is_empty() {
                sources.insert(o.source.clone());
            }
        }
        if any {
            out.push(MeasuredResult {
                measure_id: m.measure_id.into(),
                effect_kind: m.effect_kind.into(),
                class: m.class.into(),
                value: (reference != 0).then(|| saved as f64 / reference as f64),
                saved_kwh: micro_to_f64(saved),
                reference_kwh: micro_to_f64(reference),
                facilities: facilities.len(),
                periods: periods.into_iter().collect(),
                sources: sources.into_iter().collect(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::tests::tree;

    #[test]
    fn measured_saving_is_a_ratio_of_sums_within_the_subtree() {
        let t = tree();
        let org_of = |f: &str| match f {
            "BS-SZ" => t.get("GD-SZ"),
            "BS-GZ" => t.get("GD-GZ"),
            "BS-JS" => t.get("JS"),
            _ => None,
        };
        // A small station saving 50 % and a big one saving 10 %: the province saves 110/1100, not 30 %.
        let csv = "facility_code,period,component,value,source\n\
                   BS-SZ,2024-03,bs_ai_saved_kwh,50,run-a\nBS-SZ,2024-03,bs_ai_reference_kwh,100,run-a\n\
                   BS-GZ,2024-04,bs_ai_saved_kwh,60,run-b\nBS-GZ,2024-04,bs_ai_reference_kwh,600,run-b\n\
                   BS-GZ,2024-05,bs_ai_reference_kwh,400,run-c\n\
                   BS-JS,2024,bs_ai_saved_kwh,1,run-d\nBS-JS,2024,bs_ai_reference_kwh,2,run-d\n";
        let obs = Observations::read_csv(csv.as_bytes(), &t, org_of).unwrap();
        let gd = measured(&obs, &t, t.get("GD").unwrap());
        assert_eq!(gd.len(), 1);
        let m = &gd[0];
        assert_eq!(
            (m.measure_id.as_str(), m.effect_kind.as_str(), m.class.as_str()),
            ("ai_bs_energy_saving", "intensity", "wireless")
        );
        assert!((m.value.unwrap() - 110.0 / 1100.0).abs() < 1e-15, "{m:?}");
        assert_eq!((m.saved_kwh, m.reference_kwh, m.facilities), (110.0, 1100.0, 2));
        assert_eq!(m.periods, ["2024-03", "2024-04", "2024-05"]);
        assert_eq!(m.sources, ["run-a", "run-b", "run-c"]);
        let g = measured(&obs, &t, t.get("G").unwrap());
        assert!((g[0].value.unwrap() - 111.0 / 1102.0).abs() < 1e-15);
        assert_eq!(g[0].facilities, 3);
        // No value in a subtree: no measured result; a zero reference: no value.
        let empty =
            Observations::read_csv("org_code,period,component,value\nJS,2024,dc_it_kwh,1\n".as_bytes(), &t, |_| None)
                .unwrap();
        assert!(measured(&empty, &t, t.get("G").unwrap()).is_empty());
        let zero = Observations::read_csv(
            "org_code,period,component,value\nJS,2024,bs_ai_saved_kwh,1\n".as_bytes(),
            &t,
            |_| None,
        )
        .unwrap();
        assert_eq!(measured(&zero, &t, t.get("G").unwrap())[0].value, None);
    }
}
