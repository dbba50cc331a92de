//! Every handle, closure model and clone is freed by Drop: the library's live
//! allocation count returns to its start. A test binary of its own, since the
//! count is process-wide and the tests of one binary run in parallel.
use std::sync::Arc;

use scoresde::{Export, LossKind, Method, Loss, MlpOptions, Model, Sampler, Sde, Trainer};

#[test]
fn drop_frees_everything() {
    let base = scoresde::live_allocations();
    {
        let sde = Sde::schedule(2.0, |t, a, s, da, ds| {
            for i in 0..t.len() {
                a[i] = (-t[i]).exp();
                s[i] = (1.0 - a[i] * a[i]).sqrt();
                da[i] = -a[i];
                ds[i] = if s[i] > 0.0 { a[i] * a[i] / s[i] } else { f64::INFINITY };
            }
            Ok(())
        }).unwrap();
        let gmm = Arc::new(Model::gmm(&sde, 1, &[1.0], &[0.5], &[2.0]).unwrap());
        let inner = gmm.clone();
        let hooked = Model::from_score(&sde, 1, move |x, t, _, out| {
            inner.score(x, t, out).map_err(|e| e.to_string())
        }, None).unwrap();
        let copy = hooked.try_clone().unwrap();
        drop(sde);
        let mut out = [0.0; 2];
        copy.score(&[0.1, 0.2], &[0.5, 1.5], &mut out).unwrap();
        assert!(scoresde::live_allocations() > base);
        // losses, trainers, exported models and samplers (with hooks, clones)
        let mut net = Model::mlp(&sde_vp(), 1, &MlpOptions::new().widths(&[4])).unwrap();
        let loss = Loss::new(LossKind::Dsm).unwrap();
        let mut tr = Trainer::new(&mut net, &loss).unwrap();
        tr.step(&[0.5, -0.5]).unwrap();
        let blob = tr.to_bytes().unwrap();
        tr.load_bytes(&blob).unwrap();
        let exported = tr.export(Export::Ema).unwrap();
        let mut s = Sampler::new(Method::Pc).unwrap();
        s.set_steps(3).unwrap();
        s.set_guidance(Some(Box::new(|_x, _t, _d, o| { o.fill(0.0); Ok(()) })), 1.0).unwrap();
        s.set_progress(Some(Box::new(|_, _, _| false))).unwrap();
        let c = s.try_clone().unwrap();
        drop(s);
        c.sample(&exported, None, 1, 0, &mut [0.0; 2]).unwrap();
    }
    assert_eq!(scoresde::live_allocations(), base);
}

fn sde_vp() -> Sde {
    Sde::vp(0.1, 20.0).unwrap()
}
