//! Conditions (1.1): a conditional MLP's score with per-row, broadcast and
//! null conditions, and the loss and trainer taking (x, c) pairs.
use scoresde::{sys, Cond, Loss, MlpOptions, Model, Sde, Trainer};

#[test]
fn conditional_score_loss_and_training() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let opts = MlpOptions::new().widths(&[16]).seed(3)
        .cond(3, sys::SCORESDE_MLP_COND_EMBED).cond_null(true);
    let mut m = Model::mlp(&sde, 2, &opts).unwrap();
    assert_eq!((m.cond_dim(), m.cond_classes(), m.cond_null()), (3, 0, true));
    let x = [0.1, -0.2, 0.3, 0.4];
    let t = [0.5, 0.5];
    let row = [0.5, -1.0, 2.0];
    let both = [0.5, -1.0, 2.0, 0.5, -1.0, 2.0];
    let (mut a, mut b, mut z) = ([0.0; 4], [0.0; 4], [0.0; 4]);
    m.score_cond(&x, &t, Some(&Cond::rows(&row, 3)), &mut a).unwrap();
    m.score_cond(&x, &t, Some(&Cond::rows(&both, 3)), &mut b).unwrap();
    assert_eq!(a, b);
    m.score(&x, &t, &mut z).unwrap(); // the null condition
    let mask = [0u8, 1];
    m.score_cond(&x, &t, Some(&Cond::rows(&row, 3).with_null_mask(&mask)), &mut b).unwrap();
    assert_eq!(&b[..2], &a[..2]);
    assert_eq!(&b[2..], &z[2..]);
    let err = m.score_cond(&x, &t, Some(&Cond::rows(&[0.0; 4], 2)), &mut b).unwrap_err();
    assert_eq!(err.status(), sys::SCORESDE_EDIM);

    let loss = Loss::new(scoresde::LossKind::Dsm).unwrap();
    let v = loss.eval_cond(&m, &x, Some(&Cond::rows(&both, 3)), 1, 0, None, None).unwrap();
    assert!(v.is_finite());
    let data: Vec<f64> = (0..64).map(|i| ((i * 7) % 13) as f64 / 6.0 - 1.0).collect();
    let conds: Vec<f64> = (0..96).map(|i| ((i * 5) % 11) as f64 / 5.0 - 1.0).collect();
    let mut tr = Trainer::new(&mut m, &loss).unwrap();
    tr.set_int(scoresde::TrainerSetting::Batch, 8).unwrap();
    tr.set_double(scoresde::TrainerSetting::CondDropout, 0.2).unwrap();
    let s = tr.fit_cond(&data, Some(&Cond::rows(&conds, 3)), 3, None).unwrap();
    assert_eq!(s.steps, 3);
    tr.step_cond(&x, Some(&Cond::rows(&row, 3))).unwrap();
    tr.backward_cond(&x, Some(&Cond::null(3)), 0).unwrap();
}

/// IID observations (Gauss-corrected) on the exact linear-Gaussian model:
/// N = 1 is the single-observation score; the composed model is
/// unconditional and samples; Factorized refuses precisions.
#[test]
fn iid_model_and_support_hook() {
    use scoresde::{IidMethod, Method, ModelKind, Sampler, SamplerSetting};
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let (m0, s0) = ([0.0, 0.0], [1.0, 0.0, 0.0, 1.0]);
    let (a, se) = ([1.0, 0.0, 0.0, 1.0], [0.5, 0.0, 0.0, 0.5]);
    let lg = Model::linear_gaussian(&sde, &m0, &s0, &a, None, &se).unwrap();
    let p0 = [1.0, 0.0, 0.0, 1.0];
    let pp = [3.0, 0.0, 0.0, 3.0]; // I + A^T Se^-1 A
    let y = [0.5, -0.5];
    let iid = Model::iid(&lg, None, &y, IidMethod::Gauss, Some(&p0), Some(&pp)).unwrap();
    assert_eq!(iid.kind(), ModelKind::Iid);
    assert_eq!(iid.cond_dim(), 0);
    let (x, t) = ([0.3, -0.2], [0.4]);
    let (mut s1, mut s2) = ([0.0; 2], [0.0; 2]);
    iid.score(&x, &t, &mut s1).unwrap();
    lg.score_cond(&x, &t, Some(&Cond::rows(&y, 2)), &mut s2).unwrap();
    assert!((s1[0] - s2[0]).abs() < 1e-12 && (s1[1] - s2[1]).abs() < 1e-12);
    let err = Model::iid(&lg, None, &y, IidMethod::Factorized, Some(&p0), None).err().unwrap();
    assert_eq!(err.status(), sys::SCORESDE_EINVAL);
    let ys = [0.5, -0.5, 0.7, -0.1, 0.2, 0.0];
    let three = Model::iid(&lg, None, &ys, IidMethod::Factorized, None, None).unwrap();

    let mut smp = Sampler::new(Method::Pc).unwrap();
    smp.set_int(SamplerSetting::Steps, 50).unwrap();
    smp.set_support(Some(Box::new(|x: &[f64], d: usize, out: &mut [bool]| {
        for (i, o) in out.iter_mut().enumerate() {
            *o = x[i * d] < 0.0;
        }
        Ok(())
    }))).unwrap();
    let mut xs = [0.0; 2 * 64];
    let st = smp.sample(&three, None, 5, 0, &mut xs).unwrap();
    assert_eq!(st.outside, 0);
    assert!(st.redrawn > 0);
    assert!(xs.chunks(2).all(|r| r[0] >= 0.0));
    smp.set_support(None).unwrap();
    let st = smp.sample(&three, None, 5, 0, &mut xs).unwrap();
    assert_eq!((st.redrawn, st.outside), (0, 0));
}

#[test]
fn embedding_in_every_hidden_layer() {
    // EMBED_LAYERS (the MLP's default for a conditional model): one projection
    // of the 16 time-and-condition features per hidden layer after the first.
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let layers = MlpOptions::new().widths(&[8, 6]).seed(1)
        .cond(3, sys::SCORESDE_MLP_COND_EMBED_LAYERS);
    let first = MlpOptions::new().widths(&[8, 6]).seed(1).cond(3, sys::SCORESDE_MLP_COND_EMBED);
    let a = Model::mlp(&sde, 2, &layers).unwrap();
    let b = Model::mlp(&sde, 2, &first).unwrap();
    assert_eq!(a.num_params(), b.num_params() + 6 * 16);
    // At creation the projections are zero: the same scores as EMBED.
    let x = [0.1, -0.2, 0.3, 0.4];
    let t = [0.3, 0.7];
    let c = [0.5, -1.0, 2.0];
    let (mut sa, mut sb) = ([0.0; 4], [0.0; 4]);
    a.score_cond(&x, &t, Some(&Cond::rows(&c, 3)), &mut sa).unwrap();
    b.score_cond(&x, &t, Some(&Cond::rows(&c, 3)), &mut sb).unwrap();
    assert_eq!(sa, sb);
}
