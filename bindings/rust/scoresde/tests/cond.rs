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
