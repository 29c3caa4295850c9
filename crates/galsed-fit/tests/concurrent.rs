//! Many fits at once: gradients come from hand-written reverse passes with no shared state, so
//! concurrent L-BFGS-B fits on more threads than cores neither hang (as burn-autodiff's global
//! graph did, tracel-ai/burn#5193) nor change a result (#5573 lost gradients silently).

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::model_and_ssp;
use galsed_core::ssp::WavelengthGrid;
use galsed_fit::bench::mock_posterior;
use galsed_fit::optim::{Lbfgsb, Objective};
use galsed_fit::posterior::Posterior;
use rayon::prelude::*;

/// (x, −ln p, value and gradient evaluations) of each fit: sequentially, then twice on 8 threads.
type Fits = Vec<(Vec<f64>, f64, usize, usize)>;

fn run_all() -> (Fits, Vec<Fits>) {
    let (model, ssp) = model_and_ssp(WavelengthGrid::Auto);
    let posts: Vec<_> = (0..12)
        .map(|seed| {
            mock_posterior(&model, &ssp, seed)
                .expect("mock posterior")
                .0
        })
        .collect();
    let lbfgsb = Lbfgsb {
        max_iter: 60,
        ..Default::default()
    };
    // From the centre of the box: tens of gradient evaluations per fit.
    let fit = |post: &Posterior<'_>| {
        let x0: Vec<f64> = post.bounds().iter().map(|b| 0.5 * (b.0 + b.1)).collect();
        let r = lbfgsb.minimize(post, &x0).expect("fit");
        (r.x, r.value, r.n_value_evals, r.n_grad_evals)
    };
    let sequential: Fits = posts.iter().map(fit).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .expect("pool");
    let rounds = (0..2)
        .map(|_| pool.install(|| posts.par_iter().map(fit).collect()))
        .collect();
    (sequential, rounds)
}

#[test]
fn concurrent_fits_neither_hang_nor_change_results() {
    let (tx, rx) = mpsc::channel();
    // A detached thread, so that a hang fails the test instead of stalling the suite.
    std::thread::spawn(move || tx.send(run_all()));
    let (sequential, rounds) = rx
        .recv_timeout(Duration::from_secs(1200))
        .expect("concurrent fits did not finish within 20 minutes");
    assert!(sequential.iter().all(|r| r.1.is_finite() && r.3 > 5));
    for (round, parallel) in rounds.iter().enumerate() {
        for (i, (a, b)) in sequential.iter().zip(parallel).enumerate() {
            assert_eq!(a, b, "round {round}, galaxy {i}: result changed");
        }
    }
}
