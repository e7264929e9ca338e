//! The published CDNOW fits: BG/NBD (Fader, Hardie & Lee 2005: r = 0.243, α = 4.414, a = 0.793,
//! b = 2.426) and Gamma-Gamma (p = 6.25, q = 3.74, γ = 15.44), each parameter within 1%. The data
//! are the summaries that ship in the `lifetimes` package (tests/fixtures/cdnow_*.csv).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use siyu_analytics::ltv::{Summary, fit_bgnbd, fit_gamma_gamma};

fn rows(file: &str, columns: [&str; 4]) -> Vec<Summary> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(file);
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name);
    let (x, tx, t) = (at(columns[0]).unwrap(), at(columns[1]).unwrap(), at(columns[2]).unwrap());
    let m = at(columns[3]);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Summary {
                frequency: r[x].parse().unwrap(),
                recency: r[tx].parse().unwrap(),
                t: r[t].parse().unwrap(),
                monetary: m.map(|m| r[m].parse().unwrap()),
            }
        })
        .collect()
}

fn within_one_percent(name: &str, got: f64, published: f64) {
    assert!((got - published).abs() / published < 0.01, "{name}: {got} vs published {published}");
}

#[test]
fn bgnbd_reproduces_the_published_cdnow_fit() {
    let fit = fit_bgnbd(&rows("cdnow_customers_summary.csv", ["frequency", "recency", "T", "-"])).unwrap();
    assert!(fit.convergence.converged(), "{fit:?}");
    within_one_percent("r", fit.r, 0.243);
    within_one_percent("alpha", fit.alpha, 4.414);
    within_one_percent("a", fit.a, 0.793);
    within_one_percent("b", fit.b, 2.426);
    // The paper's log-likelihood: −9582.4.
    assert!((fit.log_likelihood + 9582.4).abs() < 1.0, "{}", fit.log_likelihood);
}

#[test]
fn gamma_gamma_reproduces_the_published_cdnow_fit() {
    let fit =
        fit_gamma_gamma(&rows("cdnow_customers_summary_with_transactions.csv", ["x", "t_x", "T", "zbar"])).unwrap();
    assert!(fit.convergence.converged(), "{fit:?}");
    within_one_percent("p", fit.p, 6.25);
    within_one_percent("q", fit.q, 3.74);
    within_one_percent("v", fit.v, 15.44);
}

#[test]
fn a_customers_expected_purchases_match_the_paper() {
    let fit = fit_bgnbd(&rows("cdnow_customers_summary.csv", ["frequency", "recency", "T", "-"])).unwrap();
    // The paper's worked example: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks.
    let customer = Summary { frequency: 2.0, recency: 30.43, t: 38.86, monetary: None };
    let expected = fit.expected_purchases(&customer, 39.0);
    assert!((expected - 1.226).abs() < 0.01, "{expected}");
    let p_alive = fit.p_alive(&customer);
    assert!(p_alive > 0.0 && p_alive < 1.0, "{p_alive}");
}
