//! The data transform of a model (issue 13): x_data = shift + scale * x_model,
//! set, read, applied, saved, cloned, exported and checkpointed.
use scoresde::{sys, Export, Loss, LossKind, MlpOptions, Model, Sde, Trainer};

const SHIFT: [f64; 2] = [300.0, -2.5];
const SCALE: [f64; 2] = [50.0, 0.125];

fn gmm(sde: &Sde) -> Model {
    Model::gmm(sde, 2, &[0.4, 0.6], &[-1.0, 0.0, 1.0, 0.5], &[1.0, 1.0, 0.5, 2.0]).unwrap()
}

#[test]
fn set_apply_and_clear() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let mut m = gmm(&sde);
    assert!(m.transform().is_none());
    assert_eq!(m.transform_log_det().unwrap(), 0.0);
    m.set_transform(&SHIFT, &SCALE).unwrap();
    assert_eq!(m.transform(), Some((SHIFT.to_vec(), SCALE.to_vec())));
    let mut x = vec![1.0, 2.0, -4.0, 8.0];
    m.to_data(&mut x).unwrap();
    assert_eq!(x, vec![350.0, -2.25, 100.0, -1.5]);
    m.from_data(&mut x).unwrap();
    assert_eq!(x, vec![1.0, 2.0, -4.0, 8.0]);
    let ld = m.transform_log_det().unwrap();
    assert!((ld - (50.0f64 * 0.125).ln()).abs() <= 1e-15);
    let c = m.try_clone().unwrap();
    assert_eq!(c.transform().unwrap().1, SCALE.to_vec());
    m.clear_transform().unwrap();
    assert!(m.transform().is_none());
    assert!(c.transform().is_some());
}

#[test]
fn refusals() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let mut m = gmm(&sde);
    let e = m.set_transform(&SHIFT, &[1.0, 0.0]).unwrap_err();
    assert_eq!(e.status(), sys::SCORESDE_EINVAL);
    assert!(e.message().contains("scale[1] = 0"), "{e}");
    let e = m.set_transform(&[f64::NAN, 0.0], &SCALE).unwrap_err();
    assert!(e.message().contains("shift[0] = nan"), "{e}");
    assert_eq!(m.set_transform(&[0.0], &[1.0]).unwrap_err().status(), sys::SCORESDE_EDIM);
    assert_eq!(m.to_data(&mut [1.0, 2.0, 3.0]).unwrap_err().status(), sys::SCORESDE_EDIM);
    assert!(m.transform().is_none());
}

#[test]
fn files_export_and_checkpoints() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let mut m = gmm(&sde);
    m.set_transform(&SHIFT, &SCALE).unwrap();
    let bytes = m.to_bytes().unwrap();
    let back = Model::from_bytes(&bytes).unwrap();
    assert_eq!(back.transform(), Some((SHIFT.to_vec(), SCALE.to_vec())));
    assert_eq!(back.to_bytes().unwrap(), bytes);
    let e = Model::from_bytes(&bytes[..bytes.len() - 2]).err().unwrap();
    assert_eq!(e.status(), sys::SCORESDE_ECORRUPT);

    let opts = MlpOptions::new().widths(&[8]).seed(2);
    let mut a = Model::mlp(&sde, 2, &opts).unwrap();
    let mut b = Model::mlp(&sde, 2, &opts).unwrap();
    a.set_transform(&SHIFT, &SCALE).unwrap();
    let loss = Loss::new(LossKind::Dsm).unwrap();
    {
        let ta = Trainer::new(&mut a, &loss).unwrap();
        let mut tb = Trainer::new(&mut b, &loss).unwrap();
        let e = ta.export(Export::Raw).unwrap();
        assert_eq!(e.transform().unwrap().0, SHIFT.to_vec());
        tb.load_bytes(&ta.to_bytes().unwrap()).unwrap();
    }
    assert_eq!(b.transform(), Some((SHIFT.to_vec(), SCALE.to_vec())));
}
