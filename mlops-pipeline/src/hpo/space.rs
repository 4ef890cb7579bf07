//! Validation of a [`SearchSpace`], membership of a value in a [`Distribution`] and the
//! activity of a conditional parameter.
//!
//! The rules follow Optuna's distributions (`optuna.distributions`), made strict where Optuna
//! silently adjusts: a `step` that does not divide `high − low` is an error here, where Optuna
//! moves `high` down.

use std::collections::BTreeSet;

use super::{Distribution, ParamSpec, ParamValue, Params, SearchSpace};
use crate::error::{Error, Result};

/// Relative tolerance when checking that a float lies on a `step` grid (Optuna's `1e-8`).
const GRID_TOL: f64 = 1e-8;

/// Checks a search space: names unique and non-empty, finite bounds with `low < high`, `log`
/// only with `low > 0` (floats) or `low ≥ 1` and step 1 (ints), a positive `step` that divides
/// `high − low`, non-empty categorical choices without duplicates, and every condition naming a
/// parent declared earlier with values that the parent's distribution contains.
///
/// # Errors
/// [`Error::InvalidSpec`] with `at = "space.<name>"` (or `"space"` for an empty space) naming
/// the first offending parameter.
pub fn validate(space: &SearchSpace) -> Result<()> {
    if space.params.is_empty() {
        return Err(Error::spec("space", "the search space has no parameters"));
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for (i, spec) in space.params.iter().enumerate() {
        let at = format!("space.{}", spec.name);
        if spec.name.is_empty() {
            return Err(Error::spec(
                format!("space.params[{i}]"),
                "parameter name is empty",
            ));
        }
        if !seen.insert(spec.name.as_str()) {
            return Err(Error::spec(at, "parameter declared twice"));
        }
        validate_distribution(&at, &spec.distribution)?;
        if let Some(cond) = &spec.condition {
            let parent = space.params[..i]
                .iter()
                .find(|p| p.name == cond.parent)
                .ok_or_else(|| {
                    Error::spec(
                        at.clone(),
                        format!(
                            "condition parent {:?} is not declared before this parameter",
                            cond.parent
                        ),
                    )
                })?;
            if cond.values.is_empty() {
                return Err(Error::spec(at, "condition lists no parent values"));
            }
            if let Some(bad) = cond
                .values
                .iter()
                .find(|v| !contains(&parent.distribution, v))
            {
                return Err(Error::spec(
                    at,
                    format!(
                        "condition value {bad:?} is outside parent {:?}'s distribution",
                        cond.parent
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks one distribution; `at` names it in the error.
///
/// # Errors
/// [`Error::InvalidSpec`] at `at` when the bounds, `log` or `step` are invalid (see
/// [`validate`]).
pub fn validate_distribution(at: &str, dist: &Distribution) -> Result<()> {
    match dist {
        Distribution::Float {
            low,
            high,
            log,
            step,
        } => {
            if !low.is_finite() || !high.is_finite() {
                return Err(Error::spec(
                    at,
                    format!("bounds must be finite, got [{low}, {high}]"),
                ));
            }
            if low >= high {
                return Err(Error::spec(
                    at,
                    format!("low must be below high, got [{low}, {high}]"),
                ));
            }
            if *log && *low <= 0.0 {
                return Err(Error::spec(
                    at,
                    format!("log scale needs low > 0, got {low}"),
                ));
            }
            if let Some(step) = step {
                if *log {
                    return Err(Error::spec(at, "step cannot be combined with log"));
                }
                if !step.is_finite() || *step <= 0.0 {
                    return Err(Error::spec(
                        at,
                        format!("step must be finite and positive, got {step}"),
                    ));
                }
                let k = (high - low) / step;
                if (k - k.round()).abs() > GRID_TOL * k.abs().max(1.0) {
                    return Err(Error::spec(
                        at,
                        format!("step {step} does not divide high - low = {}", high - low),
                    ));
                }
            }
            Ok(())
        }
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => {
            if low >= high {
                return Err(Error::spec(
                    at,
                    format!("low must be below high, got [{low}, {high}]"),
                ));
            }
            if *step < 1 {
                return Err(Error::spec(
                    at,
                    format!("step must be at least 1, got {step}"),
                ));
            }
            if *log && (*low < 1 || *step != 1) {
                return Err(Error::spec(
                    at,
                    format!("log scale needs low >= 1 and step 1, got low {low}, step {step}"),
                ));
            }
            // `high - low` cannot overflow for the checked difference below; i128 keeps it exact.
            let span = i128::from(*high) - i128::from(*low);
            if span % i128::from(*step) != 0 {
                return Err(Error::spec(
                    at,
                    format!("step {step} does not divide high - low = {span}"),
                ));
            }
            Ok(())
        }
        Distribution::Categorical { choices } => {
            if choices.is_empty() {
                return Err(Error::spec(at, "categorical parameter has no choices"));
            }
            let mut seen = BTreeSet::new();
            if let Some(dup) = choices.iter().find(|c| !seen.insert(c.as_str())) {
                return Err(Error::spec(at, format!("choice {dup:?} is listed twice")));
            }
            Ok(())
        }
    }
}

/// Whether a conditional parameter is active given the parameters chosen so far: always for an
/// unconditional one; otherwise when the parent is present and took one of the listed values.
pub fn is_active(spec: &ParamSpec, params: &Params) -> bool {
    match &spec.condition {
        None => true,
        Some(cond) => params
            .get(&cond.parent)
            .is_some_and(|v| cond.values.iter().any(|c| c == v)),
    }
}

/// Whether `value` lies in `dist`: the right kind, inside `[low, high]`, on the `step` grid
/// (floats within a relative `1e-8`, as Optuna checks), or one of the choices.
pub fn contains(dist: &Distribution, value: &ParamValue) -> bool {
    match (dist, value) {
        (
            Distribution::Float {
                low, high, step, ..
            },
            ParamValue::Float(v),
        ) => {
            if !v.is_finite() || v < low || v > high {
                return false;
            }
            match step {
                None => true,
                Some(step) => {
                    let k = (v - low) / step;
                    (k - k.round()).abs() <= GRID_TOL * k.abs().max(1.0)
                }
            }
        }
        (
            Distribution::Int {
                low, high, step, ..
            },
            ParamValue::Int(v),
        ) => {
            v >= low
                && v <= high
                && *step >= 1
                && (i128::from(*v) - i128::from(*low)) % i128::from(*step) == 0
        }
        (Distribution::Categorical { choices }, ParamValue::Str(s)) => choices.contains(s),
        _ => false,
    }
}

/// The only value of a distribution that has one (a categorical with one choice): such a
/// parameter is fixed, and samplers return it without drawing.
pub(crate) fn single_value(dist: &Distribution) -> Option<ParamValue> {
    match dist {
        Distribution::Categorical { choices } if choices.len() == 1 => {
            choices.first().cloned().map(ParamValue::Str)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpo::Condition;

    fn float(low: f64, high: f64, log: bool, step: Option<f64>) -> Distribution {
        Distribution::Float {
            low,
            high,
            log,
            step,
        }
    }

    fn spec(name: &str, d: Distribution) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            distribution: d,
            condition: None,
        }
    }

    fn at_of(r: Result<()>) -> String {
        match r {
            Err(Error::InvalidSpec { at, .. }) => at,
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_bounds() {
        for d in [
            float(1.0, 1.0, false, None),
            float(2.0, 1.0, false, None),
            float(f64::NAN, 1.0, false, None),
            float(0.0, f64::INFINITY, false, None),
            float(0.0, 1.0, true, None),
            float(-1.0, 1.0, true, None),
            float(0.0, 1.0, false, Some(0.3)),
            float(0.0, 1.0, false, Some(0.0)),
            float(0.0, 1.0, false, Some(-0.5)),
            float(0.1, 1.0, true, Some(0.1)),
            Distribution::Int {
                low: 3,
                high: 3,
                log: false,
                step: 1,
            },
            Distribution::Int {
                low: 0,
                high: 10,
                log: false,
                step: 3,
            },
            Distribution::Int {
                low: 0,
                high: 10,
                log: true,
                step: 1,
            },
            Distribution::Int {
                low: 1,
                high: 9,
                log: true,
                step: 2,
            },
            Distribution::Int {
                low: 0,
                high: 10,
                log: false,
                step: 0,
            },
            Distribution::Categorical { choices: vec![] },
            Distribution::Categorical {
                choices: vec!["a".into(), "a".into()],
            },
        ] {
            let s = SearchSpace {
                params: vec![spec("p", d.clone())],
            };
            assert_eq!(at_of(validate(&s)), "space.p", "{d:?}");
        }
    }

    #[test]
    fn accepts_good_spaces_and_steps() {
        let s = SearchSpace {
            params: vec![
                spec("a", float(0.0, 1.0, false, Some(0.1))),
                spec("b", float(1e-5, 1.0, true, None)),
                spec(
                    "c",
                    Distribution::Int {
                        low: -4,
                        high: 8,
                        log: false,
                        step: 4,
                    },
                ),
                spec(
                    "d",
                    Distribution::Categorical {
                        choices: vec!["x".into()],
                    },
                ),
            ],
        };
        validate(&s).unwrap();
    }

    #[test]
    fn conditions_need_earlier_parent_and_valid_values() {
        let cat = Distribution::Categorical {
            choices: vec!["a".into(), "b".into()],
        };
        let mut child = spec("y", float(0.0, 1.0, false, None));
        child.condition = Some(Condition {
            parent: "x".into(),
            values: vec![ParamValue::Str("a".into())],
        });
        let later = SearchSpace {
            params: vec![child.clone(), spec("x", cat.clone())],
        };
        assert_eq!(at_of(validate(&later)), "space.y");
        let ok = SearchSpace {
            params: vec![spec("x", cat.clone()), child.clone()],
        };
        validate(&ok).unwrap();
        let mut bad = child.clone();
        bad.condition = Some(Condition {
            parent: "x".into(),
            values: vec![ParamValue::Str("c".into())],
        });
        let s = SearchSpace {
            params: vec![spec("x", cat.clone()), bad],
        };
        assert_eq!(at_of(validate(&s)), "space.y");
        let dup = SearchSpace {
            params: vec![spec("x", cat.clone()), spec("x", cat)],
        };
        assert_eq!(at_of(validate(&dup)), "space.x");
        assert_eq!(at_of(validate(&SearchSpace::default())), "space");
    }

    #[test]
    fn contains_and_is_active() {
        let d = float(0.0, 1.0, false, Some(0.1));
        assert!(contains(&d, &ParamValue::Float(0.30000000000000004)));
        assert!(!contains(&d, &ParamValue::Float(0.35)));
        assert!(!contains(&d, &ParamValue::Float(f64::NAN)));
        assert!(!contains(&d, &ParamValue::Int(0)));
        let i = Distribution::Int {
            low: -4,
            high: 8,
            log: false,
            step: 4,
        };
        assert!(contains(&i, &ParamValue::Int(4)));
        assert!(!contains(&i, &ParamValue::Int(2)));
        assert!(!contains(&i, &ParamValue::Int(12)));
        let mut child = spec("y", d);
        assert!(is_active(&child, &Params::new()));
        child.condition = Some(Condition {
            parent: "x".into(),
            values: vec![ParamValue::Str("a".into())],
        });
        let mut p = Params::new();
        assert!(!is_active(&child, &p));
        p.insert("x".into(), ParamValue::Str("b".into()));
        assert!(!is_active(&child, &p));
        p.insert("x".into(), ParamValue::Str("a".into()));
        assert!(is_active(&child, &p));
    }
}
