//! The means over a benchmark's subsets that its paper reports beside them, added to the
//! results as rows of their own, so that every table and JSON holds them:
//!
//! - SugarCrepe: per category (`sugarcrepe/replace` over replace_att, replace_obj and
//!   replace_rel; `sugarcrepe/swap`; `sugarcrepe/add`) and overall (`sugarcrepe`, over the
//!   seven subsets). The authors' code (RAIVNLab/sugar-crepe `main_eval.py`) prints only the
//!   subsets; the paper's table groups them under REPLACE, SWAP and ADD.
//! - SugarCrepe++: `sugarcrepe++/replace`, `sugarcrepe++/swap` and `sugarcrepe++` (the five
//!   subsets), for each of its scores.
//! - VALSE: `valse`, the mean over the eleven pieces (the paper's "Avg." column).
//!
//! A mean is a plain mean of the subsets' numbers, one per metric the subsets share, with
//! `subsets` its count; it is added only when every subset it covers was evaluated (asking for
//! `sugar_crepe/add_att` and `sugar_crepe/add_obj` alone gives `sugarcrepe/add` and no
//! overall).

use std::collections::BTreeMap;

use negclip_data::benchmarks::sugarcrepe::SUGARCREPE_SUBSETS;
use negclip_data::benchmarks::sugarcrepe_pp::SUGARCREPE_PP_SUBSETS;
use negclip_data::benchmarks::valse::VALSE_PIECES;

use super::{Report, SuiteResult};

/// A family of suites `<family>/<member>` and whether its members form categories by the
/// word before their `_` (`replace_att` is in `replace`).
struct Family {
    name: &'static str,
    members: &'static [&'static str],
    categories: bool,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "sugarcrepe",
        members: &SUGARCREPE_SUBSETS,
        categories: true,
    },
    Family {
        name: "sugarcrepe++",
        members: &SUGARCREPE_PP_SUBSETS,
        categories: true,
    },
    Family {
        name: "valse",
        members: &VALSE_PIECES,
        categories: false,
    },
];

/// Appends each family's category means and overall mean ([module docs](self)).
pub fn add_benchmark_means(mut results: Vec<SuiteResult>) -> Vec<SuiteResult> {
    let mut means = Vec::new();
    for family in FAMILIES {
        for (name, members) in family.means() {
            if let Some(mean) = mean_of(&name, &members, &results) {
                means.push(mean);
            }
        }
    }
    results.extend(means);
    results
}

impl Family {
    /// `(name, member suites)` of each mean: the categories in order of first appearance,
    /// then the overall mean.
    fn means(&self) -> Vec<(String, Vec<String>)> {
        let suite = |member: &str| format!("{}/{member}", self.name);
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        if self.categories {
            for member in self.members {
                let category = suite(member.split('_').next().unwrap_or(member));
                match out.iter_mut().find(|(name, _)| *name == category) {
                    Some((_, members)) => members.push(suite(member)),
                    None => out.push((category, vec![suite(member)])),
                }
            }
        }
        out.push((
            self.name.to_string(),
            self.members.iter().map(|m| suite(m)).collect(),
        ));
        out
    }
}

/// The mean row `name` over `members`, when every member is among `results`.
fn mean_of(name: &str, members: &[String], results: &[SuiteResult]) -> Option<SuiteResult> {
    let found: Vec<&SuiteResult> = members
        .iter()
        .map(|member| results.iter().find(|r| r.suite == *member))
        .collect::<Option<_>>()?;
    let mut metrics: BTreeMap<String, f64> = BTreeMap::new();
    for metric in found[0].metrics.keys() {
        let values: Option<Vec<f64>> = found
            .iter()
            .map(|r| r.metrics.get(metric).copied())
            .collect();
        if let Some(values) = values {
            metrics.insert(
                metric.clone(),
                values.iter().sum::<f64>() / values.len() as f64,
            );
        }
    }
    metrics.insert("subsets".to_string(), found.len() as f64);
    Some(SuiteResult {
        suite: name.to_string(),
        report: Report::SeedMean(metrics.clone()),
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(suite: &str, accuracy: f64) -> SuiteResult {
        SuiteResult {
            suite: suite.into(),
            metrics: BTreeMap::from([("accuracy".to_string(), accuracy)]),
            report: Report::None,
        }
    }

    fn accuracy(results: &[SuiteResult], suite: &str) -> Option<f64> {
        results
            .iter()
            .find(|r| r.suite == suite)
            .map(|r| r.metrics["accuracy"])
    }

    #[test]
    fn sugarcrepe_gets_category_means_and_the_mean_of_its_seven_subsets() {
        let values = [0.5, 0.25, 1.0, 0.75, 0.5, 0.0, 0.25];
        let results: Vec<SuiteResult> = SUGARCREPE_SUBSETS
            .iter()
            .zip(values)
            .map(|(s, v)| result(&format!("sugarcrepe/{s}"), v))
            .collect();
        let out = add_benchmark_means(results);
        // add_att, add_obj | replace_att, replace_obj, replace_rel | swap_att, swap_obj.
        assert_eq!(accuracy(&out, "sugarcrepe/add"), Some(0.375));
        assert_eq!(accuracy(&out, "sugarcrepe/replace"), Some(0.75));
        assert_eq!(accuracy(&out, "sugarcrepe/swap"), Some(0.125));
        assert_eq!(accuracy(&out, "sugarcrepe"), Some(3.25 / 7.0));
        let overall = out.iter().find(|r| r.suite == "sugarcrepe").unwrap();
        assert_eq!(overall.metrics["subsets"], 7.0);
        let names: Vec<&str> = out[7..].iter().map(|r| r.suite.as_str()).collect();
        assert_eq!(
            names,
            [
                "sugarcrepe/add",
                "sugarcrepe/replace",
                "sugarcrepe/swap",
                "sugarcrepe"
            ]
        );
    }

    #[test]
    fn a_mean_needs_every_subset_it_covers() {
        let out = add_benchmark_means(vec![
            result("sugarcrepe/add_att", 1.0),
            result("sugarcrepe/add_obj", 0.5),
            result("sugarcrepe/swap_att", 0.5),
            result("valse/existence", 0.5),
        ]);
        let names: Vec<&str> = out[4..].iter().map(|r| r.suite.as_str()).collect();
        assert_eq!(names, ["sugarcrepe/add"]);
        assert_eq!(accuracy(&out, "sugarcrepe/add"), Some(0.75));
    }

    #[test]
    fn valse_averages_its_pieces_and_only_the_metrics_they_share() {
        let mut results: Vec<SuiteResult> = VALSE_PIECES
            .iter()
            .enumerate()
            .map(|(i, p)| result(&format!("valse/{p}"), if i < 4 { 1.0 } else { 0.0 }))
            .collect();
        results[0].metrics.insert("only_here".into(), 1.0);
        let out = add_benchmark_means(results);
        let valse = out.iter().find(|r| r.suite == "valse").unwrap();
        assert_eq!(valse.metrics["accuracy"], 4.0 / 11.0);
        assert!(!valse.metrics.contains_key("only_here"));
        assert!(out.iter().all(|r| !r.suite.starts_with("valse/existence_")));
    }
}
