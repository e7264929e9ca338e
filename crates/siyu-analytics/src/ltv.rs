//! Customer lifetime value: the BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005,
//! "Counting Your Customers the Easy Way") and the Gamma-Gamma model of spend per transaction
//! (Fader, Hardie & Lee 2005, "RFM and CLV"), fitted by maximum likelihood as the `lifetimes`
//! package does: Nelder-Mead over the logarithms of the parameters, so they stay positive, within
//! bounds and a budget of likelihood evaluations, with time and money measured in their means and
//! a start on that scale. A fit says whether it converged; one that ran to a bound or out of budget must not be
//! used for predictions.
//!
//! Inputs are the usual summary per customer: `frequency` (repeat purchases), `recency` (age at the
//! last purchase) and `T` (age now), in any one time unit, and for spend the mean value of the
//! repeat purchases.

use libm::lgamma;

/// One customer's purchase summary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Repeat purchases (purchases after the first), ≥ 0.
    pub frequency: f64,
    /// Time from the first to the last purchase (0 without repeats), ≤ `t`.
    pub recency: f64,
    /// Time from the first purchase to the end of the observation, > 0.
    pub t: f64,
    /// Mean value of the repeat purchases (used by Gamma-Gamma when `frequency` > 0).
    pub monetary: Option<f64>,
}

/// What a fit could not use: the first bad row (0-based) and why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// A row breaks the model's assumptions.
    #[error("row {row}: {reason}")]
    BadRow {
        /// 0-based row.
        row: usize,
        /// Why.
        reason: String,
    },
    /// Too little data to fit.
    #[error("{0}")]
    TooLittle(String),
    /// The optimiser did not reach finite parameters.
    #[error("the fit did not converge: {0}")]
    NoConvergence(String),
}

/// BG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale of the purchase-rate gamma.
    pub alpha: f64,
    /// Dropout beta, a.
    pub a: f64,
    /// Dropout beta, b.
    pub b: f64,
    /// Log-likelihood of the data at these parameters.
    pub log_likelihood: f64,
    /// Likelihood evaluations the fit took (at most [`MAX_EVALUATIONS`]).
    pub evaluations: u32,
    /// How the optimisation ended; predictions are meaningful only when it converged.
    pub convergence: Convergence,
}

/// Gamma-Gamma parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGamma {
    /// Shape of the spend gamma.
    pub p: f64,
    /// Shape of the gamma of the spend scale.
    pub q: f64,
    /// Scale of the gamma of the spend scale (the papers' γ).
    pub v: f64,
    /// Log-likelihood of the data at these parameters.
    pub log_likelihood: f64,
    /// Likelihood evaluations the fit took (at most [`MAX_EVALUATIONS`]).
    pub evaluations: u32,
    /// How the optimisation ended; predictions are meaningful only when it converged.
    pub convergence: Convergence,
}

fn check(rows: &[Summary]) -> Result<(), FitError> {
    for (row, s) in rows.iter().enumerate() {
        let bad = |reason: &str| Err(FitError::BadRow { row, reason: reason.into() });
        if !(s.frequency.is_finite() && s.recency.is_finite() && s.t.is_finite()) {
            return bad("frequency, recency and T must be numbers");
        }
        if s.frequency < 0.0 || s.frequency.fract() != 0.0 {
            return bad("frequency must be a whole number ≥ 0");
        }
        if s.t <= 0.0 {
            return bad("T must be > 0");
        }
        if s.recency < 0.0 || s.recency > s.t {
            return bad("recency must be between 0 and T");
        }
        if s.frequency == 0.0 && s.recency != 0.0 {
            return bad("recency must be 0 without repeat purchases");
        }
        if let Some(m) = s.monetary
            && s.frequency > 0.0
            && !(m.is_finite() && m > 0.0)
        {
            return bad("monetary_value must be > 0 for customers with repeat purchases");
        }
    }
    Ok(())
}

/// The BG/NBD log-likelihood of one customer.
fn bgnbd_ll(r: f64, alpha: f64, a: f64, b: f64, s: &Summary) -> f64 {
    let x = s.frequency;
    let a1 = lgamma(r + x) - lgamma(r) + r * alpha.ln();
    let a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
    let a3 = -(r + x) * (alpha + s.t).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + s.recency).ln();
        let high = a3.max(a4);
        a1 + a2 + high + ((a3 - high).exp() + (a4 - high).exp()).ln()
    } else {
        a1 + a2 + a3
    }
}

/// The Gamma-Gamma log-likelihood of one customer with repeat purchases (mean spend `m`).
fn gamma_gamma_ll(p: f64, q: f64, v: f64, x: f64, m: f64) -> f64 {
    lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * v.ln() + (p * x - 1.0) * m.ln() + (p * x) * x.ln()
        - (p * x + q) * (x * m + v).ln()
}

/// How a fit's optimisation ended. Only a [`Convergence::Converged`] fit is fit for predictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convergence {
    /// The simplex shrank below the tolerances, in the parameters and in the likelihood, inside
    /// the parameters' range.
    Converged,
    /// The work budget ([`MAX_EVALUATIONS`] likelihood evaluations) ran out first.
    BudgetSpent,
    /// A parameter ended beyond 1e-4 or 1e4 (with time and money measured in their means): the
    /// likelihood still improves towards 0 or infinity, as when the data show no spread the model
    /// could ascribe to it (e.g. nobody seems to drop out, or everyone buys at one rate).
    AtBound {
        /// The parameter's name.
        parameter: &'static str,
    },
}

impl Convergence {
    /// Returns whether the fit converged.
    pub fn converged(self) -> bool {
        self == Self::Converged
    }

    /// Returns the outcome's key: `converged`, `budget_spent` or `at_bound`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Converged => "converged",
            Self::BudgetSpent => "budget_spent",
            Self::AtBound { .. } => "at_bound",
        }
    }

    /// Returns the parameter that ran to its bound, if one did.
    pub fn bound_parameter(self) -> Option<&'static str> {
        match self {
            Self::AtBound { parameter } => Some(parameter),
            _ => None,
        }
    }
}

impl std::fmt::Display for Convergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Converged => f.write_str("converged"),
            Self::BudgetSpent => {
                write!(f, "the fit did not converge within {MAX_EVALUATIONS} likelihood evaluations")
            }
            Self::AtBound { parameter } => write!(
                f,
                "the fit did not converge: \"{parameter}\" runs to the edge of its range (the data show no spread \
                 the model can ascribe to it)"
            ),
        }
    }
}

/// The most likelihood evaluations one fit makes (each is one pass over the rows), so a fit's
/// work is bounded by this times the number of rows, whatever the data.
pub const MAX_EVALUATIONS: u32 = 4_000;

/// Parameters are searched between e^-BOUND and e^BOUND (1e-6 to 1e6), with time and money
/// measured in their means.
const LOG_BOUND: f64 = 13.815_510_557_964_274;
/// A fit whose parameter ends outside 1e-4 to 1e4 (on that scale) stopped on a plateau that runs
/// towards 0 or infinity, not at a maximum: the simplex stops there when the likelihood no longer
/// changes measurably.
const LOG_PLAUSIBLE: f64 = 9.210_340_371_976_184;
/// The simplex has converged when its vertices lie this close in every log-parameter (a relative
/// difference of 1e-7 in the parameters) …
const X_TOLERANCE: f64 = 1e-7;
/// … and their mean negative log-likelihoods this close, relative to the value.
const F_TOLERANCE: f64 = 1e-11;

/// What a minimisation found.
struct Minimum {
    params: Vec<f64>,
    value: f64,
    evaluations: u32,
    convergence: Convergence,
}

/// Minimises `nll` over positive parameters by Nelder-Mead over their logarithms, within
/// [`LOG_BOUND`], from `start`, in at most [`MAX_EVALUATIONS`] evaluations. Deterministic: the
/// same rows give the same steps.
fn minimise(names: &[&'static str], nll: impl Fn(&[f64]) -> f64, start: &[f64]) -> Result<Minimum, FitError> {
    let n = start.len();
    let evaluations = std::cell::Cell::new(0u32);
    let cost = |log_params: &[f64]| {
        evaluations.set(evaluations.get() + 1);
        let params: Vec<f64> = log_params.iter().map(|p| p.exp()).collect();
        let value = nll(&params);
        // Outside the model's domain the likelihood is zero: an infinite cost keeps the simplex away.
        if value.is_finite() { value } else { f64::INFINITY }
    };
    let clamp = |mut x: Vec<f64>| {
        x.iter_mut().for_each(|v| *v = v.clamp(-LOG_BOUND, LOG_BOUND));
        x
    };
    let origin = clamp(start.iter().map(|s| s.ln()).collect());
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((origin.clone(), cost(&origin)));
    for i in 0..n {
        let mut vertex = origin.clone();
        vertex[i] += 0.5;
        let vertex = clamp(vertex);
        let value = cost(&vertex);
        simplex.push((vertex, value));
    }
    let convergence = loop {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, best_value) = (&simplex[0].0, simplex[0].1);
        let x_spread =
            simplex[1..].iter().flat_map(|(x, _)| x.iter().zip(best).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max);
        let f_spread = simplex[1..].iter().map(|(_, f)| (f - best_value).abs()).fold(0.0, f64::max);
        if best_value.is_finite() && x_spread <= X_TOLERANCE && f_spread <= F_TOLERANCE * best_value.abs().max(1.0) {
            break Convergence::Converged;
        }
        // The next step takes at most n + 2 evaluations (a reflection, a contraction, a shrink).
        if evaluations.get() + n as u32 + 2 > MAX_EVALUATIONS {
            break Convergence::BudgetSpent;
        }
        let worst = simplex[n].clone();
        let centroid: Vec<f64> =
            (0..n).map(|j| simplex[..n].iter().map(|(x, _)| x[j]).sum::<f64>() / n as f64).collect();
        let toward = |factor: f64| clamp(centroid.iter().zip(&worst.0).map(|(c, w)| c + factor * (c - w)).collect());
        let reflected = toward(1.0);
        let reflected_value = cost(&reflected);
        if reflected_value < simplex[0].1 {
            let expanded = toward(2.0);
            let expanded_value = cost(&expanded);
            simplex[n] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            continue;
        }
        if reflected_value < simplex[n - 1].1 {
            simplex[n] = (reflected, reflected_value);
            continue;
        }
        // Contract: outside towards the reflection when it beat the worst vertex, else inside.
        let contracted = if reflected_value < worst.1 { toward(0.5) } else { toward(-0.5) };
        let contracted_value = cost(&contracted);
        if contracted_value < reflected_value.min(worst.1) {
            simplex[n] = (contracted, contracted_value);
            continue;
        }
        // Shrink every vertex halfway towards the best.
        let best = simplex[0].0.clone();
        for vertex in &mut simplex[1..] {
            let shrunk: Vec<f64> = vertex.0.iter().zip(&best).map(|(x, b)| b + 0.5 * (x - b)).collect();
            let value = cost(&shrunk);
            *vertex = (shrunk, value);
        }
    };
    let (log_params, value) = simplex.swap_remove(0);
    if !value.is_finite() {
        return Err(FitError::NoConvergence(format!("no finite likelihood near the start {start:?}")));
    }
    let at_bound = log_params.iter().position(|p| p.abs() > LOG_PLAUSIBLE);
    let convergence = match (convergence, at_bound) {
        (Convergence::Converged, Some(i)) => Convergence::AtBound { parameter: names[i] },
        (convergence, _) => convergence,
    };
    let params = log_params.iter().map(|p| p.exp()).collect();
    Ok(Minimum { params, value, evaluations: evaluations.get(), convergence })
}

/// Each row's position in a list of the distinct frequencies (the terms that depend only on the
/// frequency and the parameters are then computed once per distinct value, not per customer).
fn by_frequency(frequencies: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<u32>) {
    let mut distinct: Vec<f64> = Vec::new();
    let mut at: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    let index = frequencies
        .map(|x| {
            *at.entry(x.to_bits()).or_insert_with(|| {
                distinct.push(x);
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    (distinct, index)
}

/// Sums `term(i)` over `0..n`: the terms are computed on every core, then added in row order, so
/// the sum does not depend on how many cores there are (a sum per core would round differently
/// on another machine, and the optimiser would take other steps).
fn parallel_sum(n: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts = crate::parallel::over_slots(n, |range| range.map(&term).collect::<Vec<f64>>());
    parts.iter().flatten().sum()
}

/// Fits BG/NBD by maximum likelihood, in at most [`MAX_EVALUATIONS`] passes over the rows; the
/// answer says whether the optimisation converged (a fit that did not is no basis for predictions).
pub fn fit_bgnbd(rows: &[Summary]) -> Result<BgNbd, FitError> {
    check(rows)?;
    if rows.iter().filter(|s| s.frequency > 0.0).count() < 2 {
        return Err(FitError::TooLittle("BG/NBD needs customers with repeat purchases".into()));
    }
    let (distinct, index) = by_frequency(rows.iter().map(|s| s.frequency));
    let n = rows.len() as f64;
    // Time is measured in mean T, so α's range (and the plausible range the fit checks) does not
    // depend on the unit of the data; α is scaled back at the end.
    let time_unit = rows.iter().map(|s| s.t).sum::<f64>() / n;
    let scaled: Vec<(f64, f64)> = rows.iter().map(|s| (s.recency / time_unit, s.t / time_unit)).collect();
    // The mean negative log-likelihood (as `lifetimes` minimises it), with the frequency-only terms
    // per distinct frequency.
    let nll = |p: &[f64]| {
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        let shared: Vec<(f64, f64)> = distinct
            .iter()
            .map(|&x| {
                let a12 = lgamma(r + x) - lgamma(r) + r * alpha.ln() + lgamma(a + b) + lgamma(b + x)
                    - lgamma(b)
                    - lgamma(a + b + x);
                let dropout = if x > 0.0 { a.ln() - (b + x - 1.0).ln() } else { f64::NEG_INFINITY };
                (a12, dropout)
            })
            .collect();
        let total = parallel_sum(rows.len(), |i| {
            let (recency, t) = scaled[i];
            let (a12, dropout) = shared[index[i] as usize];
            let x = rows[i].frequency;
            let a3 = -(r + x) * (alpha + t).ln();
            if x > 0.0 {
                let a4 = dropout - (r + x) * (alpha + recency).ln();
                let high = a3.max(a4);
                a12 + high + ((a3 - high).exp() + (a4 - high).exp()).ln()
            } else {
                a12 + a3
            }
        });
        -total / n
    };
    // A start on the data's own scale: r = 1 and α such that the mean rate r/α is the mean number
    // of repeats per mean T; a = b = 1 (a dropout chance of one half per purchase).
    let mean_x = rows.iter().map(|s| s.frequency).sum::<f64>() / n;
    let minimum = minimise(&["r", "alpha", "a", "b"], nll, &[1.0, 1.0 / mean_x, 1.0, 1.0])?;
    let p = &minimum.params;
    let alpha = p[1] * time_unit;
    // Summed row by row at the optimum, in the data's unit (the optimiser's value differs by the
    // constant Σx·ln(unit), and agrees up to rounding otherwise).
    let log_likelihood = rows.iter().map(|s| bgnbd_ll(p[0], alpha, p[2], p[3], s)).sum::<f64>();
    debug_assert!(
        {
            let shift = rows.iter().map(|s| s.frequency).sum::<f64>() * time_unit.ln();
            (log_likelihood + minimum.value * n + shift).abs() <= 1e-6 * log_likelihood.abs().max(n)
        },
        "{log_likelihood} vs {}",
        -minimum.value * n
    );
    Ok(BgNbd {
        r: p[0],
        alpha,
        a: p[2],
        b: p[3],
        log_likelihood,
        evaluations: minimum.evaluations,
        convergence: minimum.convergence,
    })
}

/// Fits Gamma-Gamma by maximum likelihood on the customers with repeat purchases and a spend, in
/// at most [`MAX_EVALUATIONS`] passes; the answer says whether it converged.
pub fn fit_gamma_gamma(rows: &[Summary]) -> Result<GammaGamma, FitError> {
    check(rows)?;
    let spenders: Vec<(f64, f64)> =
        rows.iter().filter(|s| s.frequency > 0.0).filter_map(|s| s.monetary.map(|m| (s.frequency, m))).collect();
    if spenders.len() < 2 {
        return Err(FitError::TooLittle("Gamma-Gamma needs customers with repeat purchases and a spend".into()));
    }
    let (distinct, index) = by_frequency(spenders.iter().map(|(x, _)| *x));
    let n = spenders.len() as f64;
    // Money is measured in the mean spend, so γ's range does not depend on the currency; γ is
    // scaled back at the end.
    let money_unit = spenders.iter().map(|(_, m)| m).sum::<f64>() / n;
    let scaled: Vec<(f64, f64)> = spenders.iter().map(|(x, m)| (*x, m / money_unit)).collect();
    let ln_m: Vec<f64> = scaled.iter().map(|(_, m)| m.ln()).collect();
    let nll = |params: &[f64]| {
        let (p, q, v) = (params[0], params[1], params[2]);
        let shared: Vec<f64> = distinct
            .iter()
            .map(|&x| lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * v.ln() + (p * x) * x.ln())
            .collect();
        let total = parallel_sum(scaled.len(), |i| {
            let (x, m) = scaled[i];
            shared[index[i] as usize] + (p * x - 1.0) * ln_m[i] - (p * x + q) * (x * m + v).ln()
        });
        -total / n
    };
    // A start on the data's own scale: p = 1, q = 2, and γ = 1, so that the population's mean
    // spend p·γ/(q − 1) is the mean of the spends.
    let minimum = minimise(&["p", "q", "v"], nll, &[1.0, 2.0, 1.0])?;
    let p = &minimum.params;
    let v = p[2] * money_unit;
    let log_likelihood = spenders.iter().map(|(x, m)| gamma_gamma_ll(p[0], p[1], v, *x, *m)).sum::<f64>();
    Ok(GammaGamma {
        p: p[0],
        q: p[1],
        v,
        log_likelihood,
        evaluations: minimum.evaluations,
        convergence: minimum.convergence,
    })
}

impl BgNbd {
    /// The probability that a customer with this history is still alive.
    pub fn p_alive(&self, s: &Summary) -> f64 {
        if s.frequency == 0.0 {
            return 1.0;
        }
        let x = s.frequency;
        let ratio = ((self.alpha + s.t) / (self.alpha + s.recency)).powf(self.r + x);
        1.0 / (1.0 + self.a / (self.b + x - 1.0) * ratio)
    }

    /// Expected purchases in the next `horizon` time units (Fader, Hardie & Lee 2005, eq. 10).
    pub fn expected_purchases(&self, s: &Summary, horizon: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = s.frequency;
        let z = horizon / (alpha + s.t + horizon);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second =
            1.0 - ((alpha + s.t) / (alpha + s.t + horizon)).powf(r + x) * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let alive =
            if x > 0.0 { 1.0 + a / (b + x - 1.0) * ((alpha + s.t) / (alpha + s.recency)).powf(r + x) } else { 1.0 };
        first * second / alive
    }
}

impl GammaGamma {
    /// The expected mean spend of a customer's future transactions.
    pub fn expected_spend(&self, s: &Summary) -> f64 {
        let population = self.p * self.v / (self.q - 1.0);
        match s.monetary {
            Some(m) if s.frequency > 0.0 => {
                let x = s.frequency;
                let weight = (self.q - 1.0) / (self.p * x + self.q - 1.0);
                weight * population + (1.0 - weight) * m
            }
            _ => population,
        }
    }
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, by its power series (the
/// argument here is `horizon / (α + T + horizon)`, well inside the unit disc).
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for n in 0..100_000 {
        let n = f64::from(n);
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        let z: f64 = 0.4;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-12);
    }

    #[test]
    fn bad_rows_are_named() {
        let row = |frequency, recency, t| Summary { frequency, recency, t, monetary: None };
        let bad = fit_bgnbd(&[row(1.0, 5.0, 10.0), row(2.0, 11.0, 10.0)]);
        assert!(matches!(bad, Err(FitError::BadRow { row: 1, .. })));
        assert!(matches!(fit_bgnbd(&[row(0.0, 0.0, 10.0)]), Err(FitError::TooLittle(_))));
    }

    #[test]
    fn one_purchase_each_is_refused_at_once() {
        let rows: Vec<Summary> = (0..10_000)
            .map(|i| Summary { frequency: 0.0, recency: 0.0, t: f64::from(i % 90 + 1), monetary: None })
            .collect();
        assert!(matches!(fit_bgnbd(&rows), Err(FitError::TooLittle(_))));
    }

    /// Customers who buy every week and are all still buying: nobody seems to drop out, so the
    /// likelihood grows as the dropout chance a / (a + b) goes to 0 and has no maximum.
    fn nobody_drops_out() -> Vec<Summary> {
        (0..2_000)
            .map(|i| {
                let frequency = f64::from(i % 12 + 1);
                let recency = frequency * 7.0;
                Summary { frequency, recency, t: recency + 0.5, monetary: Some(30.0) }
            })
            .collect()
    }

    #[test]
    fn a_fit_without_a_maximum_stops_within_its_budget_and_says_it_did_not_converge() {
        let fit = fit_bgnbd(&nobody_drops_out()).unwrap();
        assert!(fit.evaluations <= MAX_EVALUATIONS, "{fit:?}");
        assert!(!fit.convergence.converged(), "{fit:?}");
        assert!(fit.convergence.to_string().starts_with("the fit did not converge"), "{}", fit.convergence);
    }

    #[test]
    fn a_gamma_gamma_fit_without_spread_in_spend_says_it_did_not_converge() {
        // Everyone spends exactly the same: the spend's shape parameter grows without bound.
        let fit = fit_gamma_gamma(&nobody_drops_out()).unwrap();
        assert!(fit.evaluations <= MAX_EVALUATIONS, "{fit:?}");
        assert!(!fit.convergence.converged(), "{fit:?}");
    }

    #[test]
    fn the_same_rows_give_the_same_fit() {
        let rows: Vec<Summary> = (0..3_000)
            .map(|i| {
                let frequency = f64::from(i % 5);
                let t = f64::from(i % 80 + 10);
                let recency = if frequency == 0.0 { 0.0 } else { t * f64::from(i % 7 + 1) / 8.0 };
                Summary { frequency, recency, t, monetary: None }
            })
            .collect();
        let (first, second) = (fit_bgnbd(&rows).unwrap(), fit_bgnbd(&rows).unwrap());
        assert_eq!(first, second);
    }

    #[test]
    fn parallel_sums_add_in_row_order_whatever_the_cores() {
        // Large enough to be split over the cores; the terms differ in magnitude so that a
        // different order of addition would round differently.
        let n = 200_000;
        let term = |i: usize| (i as f64).sqrt() * if i.is_multiple_of(3) { 1e8 } else { 1e-3 };
        let in_order = (0..n).map(term).fold(0.0, |sum, t| sum + t);
        assert_eq!(parallel_sum(n, term).to_bits(), in_order.to_bits());
    }
}
