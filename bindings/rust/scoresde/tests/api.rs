//! The safe API against closed forms, with the error paths and closures.
use std::panic::{catch_unwind, AssertUnwindSafe};

use scoresde::{sys, Error, ErrorKind, Method, ModelKind, Predictor, SdeKind, Model, Sde};

const W: [f64; 2] = [0.3, 0.7];
const MU: [f64; 4] = [-1.0, 0.5, 2.0, -0.5];
const V: [f64; 4] = [0.5, 1.0, 0.25, 2.0];
const T: [f64; 4] = [0.05, 0.3, 0.7, 1.0];
const X: [f64; 8] = [1.0, -2.0, 0.5, 0.25, 3.0, 0.0, -1.0, 1.0];

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

/// The score of sum_k w_k N(alpha mu_k, alpha^2 v_k + sigma^2) at one point.
fn gmm_score(x: &[f64], alpha: f64, sigma: f64) -> [f64; 2] {
    let mut logc = [0.0; 2];
    for k in 0..2 {
        logc[k] = W[k].ln();
        for j in 0..2 {
            let var = alpha * alpha * V[k * 2 + j] + sigma * sigma;
            let d = x[j] - alpha * MU[k * 2 + j];
            logc[k] -= 0.5 * (2.0 * std::f64::consts::PI * var).ln() + 0.5 * d * d / var;
        }
    }
    let m = logc[0].max(logc[1]);
    let tot: f64 = logc.iter().map(|l| (l - m).exp()).sum();
    let mut s = [0.0; 2];
    for k in 0..2 {
        let r = (logc[k] - m).exp() / tot;
        for j in 0..2 {
            let var = alpha * alpha * V[k * 2 + j] + sigma * sigma;
            s[j] -= r * (x[j] - alpha * MU[k * 2 + j]) / var;
        }
    }
    s
}

#[test]
fn version_is_compatible() {
    scoresde::check_version().unwrap();
    let n = scoresde::version_number();
    assert_eq!(scoresde::version(), format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100));
}

#[test]
fn philox_known_answer_and_rng_offsets() {
    // Random123's known answer for zero counter and key.
    assert_eq!(scoresde::philox4x32_10([0; 4], [0; 2]),
               [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    let mut a = [0.0; 8];
    let mut b = [0.0; 3];
    scoresde::rng_normal(3, 1, scoresde::rng_offset(2, 0), &mut a).unwrap();
    scoresde::rng_normal(3, 1, scoresde::rng_offset(2, 5), &mut b).unwrap();
    assert_eq!(&a[5..], &b[..]);
}

#[test]
fn vp_marginal_matches_closed_form() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    assert_eq!(sde.kind(), SdeKind::Vp);
    assert_eq!(sde.end_time(), 1.0);
    let (mut a, mut s, mut da, mut ds) = ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
    sde.marginal(&T, &mut a, &mut s, &mut da, &mut ds).unwrap();
    for i in 0..4 {
        let t = T[i];
        let alpha = (-0.25 * t * t * 19.9 - 0.05 * t).exp();
        assert!(close(a[i], alpha, 1e-13));
        assert!(close(s[i], (1.0 - alpha * alpha).sqrt(), 1e-12));
        assert!(close(da[i], -0.5 * (0.1 + 19.9 * t) * alpha, 1e-12));
    }
    // one Euler-Maruyama step uses the documented noise
    let mut x = X;
    sde.simulate(&mut x, 2, 0.2, 0.3, 1, 9, 0, 0).unwrap();
    // steps is a u64: 2^32 + 1 steps are checked against the 2^56 draws, not truncated
    let mut y = X;
    let e = sde.simulate(&mut y, 2, 0.2, 0.3, (1u64 << 32) + 1, 9, 0, (1u64 << 56) - (1u64 << 33))
        .unwrap_err();
    assert!(e.message().contains("steps (4294967297)"), "{e}");
    let beta = 0.1 + 19.9 * 0.2;
    for i in 0..4 {
        let mut z = [0.0; 2];
        scoresde::rng_normal(9, i as u64, scoresde::rng_offset(sys::SCORESDE_RNG_SIMULATE, 0),
                             &mut z).unwrap();
        for j in 0..2 {
            let e = X[2 * i + j] * (1.0 - 0.05 * beta) + (0.1 * beta).sqrt() * z[j];
            assert!(close(x[2 * i + j], e, 1e-13));
        }
    }
}

#[test]
fn errors_carry_status_and_message() {
    let e = Sde::vp(0.1, 0.05).err().unwrap();
    assert_eq!(e.status(), sys::SCORESDE_EINVAL);
    assert_eq!(e.status_name(), "SCORESDE_EINVAL");
    assert!(e.message().contains("beta_max"), "{e}");
    assert!(Sde::new_default(SdeKind::Custom).is_err());

    let sde = Sde::vp(0.1, 20.0).unwrap();
    let m = Model::gmm(&sde, 2, &W, &MU, &V).unwrap();
    let mut out = [0.0; 6];
    let e = m.score(&X, &T, &mut out).unwrap_err();         // out too short for n = 4
    assert_eq!(e.status(), sys::SCORESDE_EDIM);
    let bad_t = [0.5, 1.5, 0.5, 0.5];
    let mut out = [0.0; 8];
    let e = m.score(&X, &bad_t, &mut out).unwrap_err();
    assert_eq!(e.status(), sys::SCORESDE_EINVAL);
    assert!(e.message().contains("1.5"), "{e}");
    assert_eq!(m.num_params(), 0);
    assert_eq!(Error::new(-99, "x").status_name(), "SCORESDE_UNKNOWN");
    assert_eq!(Error::new(-99, "x").kind(), ErrorKind::Other(-99));
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(Error::new(sys::SCORESDE_EDIM, "x").kind(), ErrorKind::Dimension);
    assert_eq!(scoresde::strerror(-99), "unknown status");
}

#[test]
fn gmm_and_closure_models_agree_with_closed_form() {
    {
        let sde = Sde::ve(0.01, 50.0).unwrap();
        let gmm = Model::gmm(&sde, 2, &W, &MU, &V).unwrap();
        assert_eq!((gmm.kind(), gmm.dim()), (ModelKind::Gmm, 2));
        let mut s = [0.0; 8];
        gmm.score(&X, &T, &mut s).unwrap();
        let own = gmm.sde();
        let (mut a, mut sg, mut da, mut ds) = ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
        own.marginal(&T, &mut a, &mut sg, &mut da, &mut ds).unwrap();
        for i in 0..4 {
            let e = gmm_score(&X[2 * i..2 * i + 2], a[i], sg[i]);
            assert!(close(s[2 * i], e[0], 1e-11) && close(s[2 * i + 1], e[1], 1e-11));
        }

        // a closure score calling the mixture gives the same bits; the model
        // and its clone outlive the SDE and the original
        let shared = std::sync::Arc::new(gmm.try_clone().unwrap());
        let inner = shared.clone();
        let hooked = Model::from_score(&sde, 2, move |x, t, _d, out| {
            inner.score(x, t, out).map_err(|e| e.to_string())
        }, None).unwrap();
        drop(sde);
        let copy = hooked.try_clone().unwrap();
        drop(hooked);
        let mut s2 = [0.0; 8];
        copy.score(&X, &T, &mut s2).unwrap();
        assert_eq!(s, s2);
        assert_eq!(copy.kind(), ModelKind::ScoreFn);
        let mut div = [0.0; 4];
        assert_eq!(copy.divergence(&X, &T, &mut div).unwrap_err().status(),
                   sys::SCORESDE_EUNSUPPORTED);

        // a denoiser closure from the mixture's data prediction
        let sde2 = gmm.sde_clone().unwrap();
        let inner = shared.clone();
        let den = Model::from_denoiser(&sde2, 2, move |x, t, _d, out| {
            inner.predict_data(x, t, out).map_err(|e| e.to_string())
        }, None).unwrap();
        let mut s3 = [0.0; 8];
        den.score(&X, &T, &mut s3).unwrap();
        for k in 0..8 {
            assert!(close(s3[k], s[k], 1e-8), "{k}: {} vs {}", s3[k], s[k]);
        }
    }
}

#[test]
fn hook_err_and_panic_stop_the_call() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let failing = Model::from_score(&sde, 2, |_, _, _, _| Err("no score today".into()), None)
        .unwrap();
    let mut out = [0.0; 8];
    let e = failing.score(&X, &T, &mut out).unwrap_err();
    assert_eq!(e.status(), sys::SCORESDE_ECALLBACK);
    assert!(e.message().contains("no score today"), "{e}");

    let panicking = Model::from_score(&sde, 2, |_, _, _, _| panic!("hook exploded"), None)
        .unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| panicking.score(&X, &T, &mut out)));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"hook exploded"));
    // the model is still usable after the panic
    let fine = Model::from_score(&sde, 2, |x, _, _, out| {
        out.copy_from_slice(x);
        Ok(())
    }, None).unwrap();
    fine.score(&X, &T, &mut out).unwrap();
    assert_eq!(out, X);

    // a schedule closure failing at creation
    let e = Sde::schedule(1.0, |_, _, _, _, _| Err("bad schedule".into())).err().unwrap();
    assert_eq!(e.status(), sys::SCORESDE_ECALLBACK);
}

#[test]
fn schedule_closure_matches_vp_and_is_shared_across_threads() {
    let sch = Sde::schedule(1.0, |t, a, s, da, ds| {
        for i in 0..t.len() {
            let al = (-0.25 * t[i] * t[i] * 19.9 - 0.05 * t[i]).exp();
            a[i] = al;
            s[i] = (1.0 - al * al).sqrt();
            da[i] = -0.5 * (0.1 + 19.9 * t[i]) * al;
            ds[i] = if s[i] > 0.0 { -al * da[i] / s[i] } else { f64::INFINITY };
        }
        Ok(())
    }).unwrap();
    let vp = Sde::vp(0.1, 20.0).unwrap();
    let run = |sde: &Sde| {
        let mut g = [0.0; 4];
        sde.diffusion(&T, &mut g).unwrap();
        g
    };
    let want = run(&vp);
    std::thread::scope(|scope| {
        let hs: Vec<_> = (0..3).map(|_| scope.spawn(|| run(&sch))).collect();
        for h in hs {
            let got = h.join().unwrap();
            for i in 0..4 {
                assert!(close(got[i], want[i], 1e-9));
            }
        }
    });
    let copy = sch.try_clone().unwrap();
    drop(sch);
    assert_eq!(copy.kind(), SdeKind::Schedule);
    let _ = run(&copy);
}

#[test]
fn files_round_trip_and_corruption() {
    let sde = Sde::edm(0.002, 80.0).unwrap();
    let gmm = Model::gmm(&sde, 2, &W, &MU, &V).unwrap();
    let bytes = gmm.to_bytes().unwrap();
    let back = Model::from_bytes(&bytes).unwrap();
    let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
    let t = [0.5, 1.0, 10.0, 80.0];
    gmm.log_density(&X, &t, &mut a).unwrap();
    back.log_density(&X, &t, &mut b).unwrap();
    assert_eq!(a, b);

    let dir = std::env::temp_dir().join(format!("scoresde-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sde");
    gmm.save(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.sde().kind(), SdeKind::Edm);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(Model::load(&path).err().unwrap().status(), sys::SCORESDE_EIO);

    let mut broken = bytes.clone();
    let mid = broken.len() / 2;
    broken[mid] ^= 0x20;
    assert_eq!(Model::from_bytes(&broken).err().unwrap().status(), sys::SCORESDE_ECORRUPT);
    assert_eq!(Model::from_bytes(&[]).err().unwrap().status(), sys::SCORESDE_ECORRUPT);
    let hooked = Model::from_score(&sde, 2, |_, _, _, _| Ok(()), None).unwrap();
    assert_eq!(hooked.to_bytes().unwrap_err().status(), sys::SCORESDE_EUNSUPPORTED);
}

// Conditional models and sampling (issue 11): the exact mixture per class,
// guidance through a conditional hook, linear-Gaussian posterior likelihoods.
#[test]
fn conditional_sampling() {
    use scoresde::{Cond, Model, Sampler, Sde};
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let means = [-3.0, 0.0, -3.0, 3.0, 3.0, 0.0, 3.0, -3.0];
    let m = Model::cond_gmm(&sde, 2, 2, &[0.3, 0.7], &[0.6, 0.4, 0.25, 0.75], &means,
                            &[0.25; 8]).unwrap();
    assert_eq!(m.kind(), ModelKind::CondGmm);
    assert_eq!(m.cond_classes(), 2);
    let mut s = Sampler::new(Method::Dpmpp).unwrap();
    let mut x = vec![0.0; 2 * 500];
    let label = [1.0];
    s.sample_cond(&m, None, Some(&Cond::rows(&label, 1)), 1, 0, &mut x).unwrap();
    let mean: f64 = x.iter().step_by(2).sum::<f64>() / 500.0;
    assert!((mean - 3.0).abs() < 0.15, "class 1 mean {mean}");
    // a conditional hook forwarding to the mixture gives the same bits, guided
    let inner = m.try_clone().unwrap();
    let h = Model::from_cond_score(&sde, 2, 1, true, move |x, t, _d, c, null, out| {
        for i in 0..t.len() {
            let cond = if null[i] { None } else { Some(Cond::rows(&c[i..i + 1], 1)) };
            inner.score_cond(&x[2 * i..2 * i + 2], &t[i..i + 1], cond.as_ref(),
                             &mut out[2 * i..2 * i + 2]).map_err(|e| e.to_string())?;
        }
        Ok(())
    }, None).unwrap();
    s.set_f64(scoresde::SamplerSetting::GuidanceScale, 1.5).unwrap();
    let labels = [0.0, 1.0, 1.0];
    let (mut a, mut b) = (vec![0.0; 6], vec![0.0; 6]);
    s.sample_cond(&m, None, Some(&Cond::rows(&labels, 1)), 2, 0, &mut a).unwrap();
    s.sample_cond(&h, None, Some(&Cond::rows(&labels, 1)), 2, 0, &mut b).unwrap();
    assert_eq!(a, b);
    // linear-Gaussian: the ODE likelihood and encoding take the observation
    let lg = Model::linear_gaussian(&sde, &[0.5, -1.0], &[1.0, 0.3, 0.3, 0.5],
                                    &[1.0, 0.0, 0.5, 1.0, -0.3, 0.8], None,
                                    &[0.2, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.25]).unwrap();
    let o = Sampler::new(Method::Ode).unwrap();
    let y = [1.2, -0.4, 0.9];
    let pts = [0.3, -0.7, 1.5, 0.2];
    let (mut lp, mut z) = (vec![0.0; 2], vec![0.0; 4]);
    o.likelihood_cond(&lg, &pts, Some(&Cond::rows(&y, 3)), 0, 0, &mut lp, None).unwrap();
    assert!(lp.iter().all(|v| v.is_finite()));
    o.encode_cond(&lg, &pts, Some(&Cond::rows(&y, 3)), &mut z).unwrap();
    let mut p = Sampler::new(Method::Pc).unwrap();
    p.set_steps(5).unwrap();
    let mut w = vec![0.0; 4];
    p.inpaint_cond(&lg, &pts, &[true, false], Some(&Cond::rows(&y, 3)), 0, 0, &mut w).unwrap();
    assert_eq!(w[0], pts[0]);
}

#[test]
fn enums_pass_values_they_do_not_name() {
    // every named value round-trips; an unknown one comes back as Other
    for raw in -3..12 {
        assert_eq!(SdeKind::from_raw(raw).raw(), raw);
        assert_eq!(ModelKind::from_raw(raw).raw(), raw);
        assert_eq!(Method::from_raw(raw).raw(), raw);
        assert_eq!(Predictor::from_raw(raw).raw(), raw);
    }
    assert_eq!(SdeKind::from_raw(sys::SCORESDE_SDE_OU as i32), SdeKind::Ou);
    assert_eq!(SdeKind::from_raw(42), SdeKind::Other(42));
    assert_eq!(Method::from_raw(sys::SCORESDE_SAMPLER_DPMPP as i32), Method::Dpmpp);
    // the library refuses a value it does not know, as it would from C
    assert_eq!(Sde::new_default(SdeKind::Other(42)).err().unwrap().kind(), ErrorKind::InvalidArgument);
    assert_eq!(scoresde::Sampler::new(Method::Other(42)).unwrap_err().kind(),
               ErrorKind::InvalidArgument);
}

/// The samplers of issue 15: iPNDM, DDIM with eta and the stochastic
/// DPM-Solver++ sample the Gaussian; FinalStep and Eta are named settings.
#[test]
fn new_samplers() {
    use scoresde::{FinalStep, Sampler, SamplerSetting};
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let g = Model::gmm(&sde, 2, &[1.0], &[0.5, -1.0], &[0.3, 0.3]).unwrap();
    for m in [Method::Ipndm, Method::Ddim, Method::DpmppSde, Method::Restart] {
        let mut s = Sampler::new(m).unwrap();
        s.set_int(SamplerSetting::FinalStep, FinalStep::Tweedie.raw().into()).unwrap();
        s.set_f64(SamplerSetting::Eta, 0.5).unwrap();
        let mut x = vec![0.0; 2 * 400];
        let st = s.sample(&g, None, 1, 0, &mut x).unwrap();
        assert!(st.nfe > 1);
        let mean: f64 = x.iter().step_by(2).sum::<f64>() / 400.0;
        assert!((mean - 0.5).abs() < 0.15, "{m:?}: mean {mean}");
    }
    assert_eq!(Sampler::default_value(Method::Ipndm, SamplerSetting::Order).unwrap(), 4.0);
}

#[test]
fn names_are_the_librarys() {
    use scoresde::{LossSetting, SamplerSetting, TrainerSetting};
    let methods = Method::all();
    assert_eq!(methods.len(), 8);
    for (name, m) in &methods {
        assert_eq!(m.name(), Some(*name));
        assert_eq!(Method::from_name(name).unwrap(), *m);
    }
    assert_eq!(Method::DpmppSde.name(), Some("dpmpp_sde"));
    assert_eq!(Method::Other(99).name(), None);
    let e = Method::from_name("DPMPP").unwrap_err();
    assert_eq!(e.status(), sys::SCORESDE_EINVAL);
    assert!(e.message().contains("restart"), "{}", e.message());
    assert_eq!(SamplerSetting::from_name("restart_tmin").unwrap(), SamplerSetting::RestartTmin);
    assert_eq!(SamplerSetting::all().len(), 48);
    assert_eq!(SamplerSetting::Predictor.value_name(sys::SCORESDE_SAMPLER_PREDICTOR_ANCESTRAL as i32),
               Some("ancestral"));
    assert_eq!(SamplerSetting::Grid.value_from_name("karras").unwrap(),
               sys::SCORESDE_SAMPLER_GRID_KARRAS as i32);
    assert!(SamplerSetting::Grid.value_from_name("uniform").is_err());
    assert_eq!(LossSetting::NumProbes.name(), Some("num_probes"));
    assert_eq!(scoresde::LossKind::from_name("ssm_vr").unwrap(), scoresde::LossKind::SsmVr);
    assert_eq!(TrainerSetting::from_name("weight_decay").unwrap(), TrainerSetting::WeightDecay);
    assert!(Method::Dpmpp.setting_applies(SamplerSetting::Rtol).unwrap());
    assert!(!Method::Ode.setting_applies(SamplerSetting::Unipc).unwrap());
}
