//! Loss, Trainer and Sampler: error paths, closures (panics resumed), and the
//! end-to-end case of the Python tests: train an MLP with DSM on a 2-D
//! mixture, sample with PC and the probability-flow ODE, compare with the data.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use scoresde::{sys, Activation, Embedding, MlpOutput, Precision, Corrector, ErrorKind, Export, LossKind, LossSetting, Method, MlpOptions, Model, ResMlpOptions,
               ModelKind, Predictor, Sampler, SamplerSetting, Sde, Solver, Trainer, TrainerSetting, Loss};

/// m points of the mixture 0.3 N((-2, 0), 0.3^2) + 0.7 N((2, 1), 0.5^2),
/// drawn with the library's Philox generator (stream 0 under `seed`).
fn mixture(m: usize, seed: u64) -> Vec<f64> {
    let mut u = vec![0.0; m];
    let mut z = vec![0.0; 2 * m];
    scoresde::rng_uniform(seed, 0, 0, &mut u).unwrap();
    scoresde::rng_normal(seed, 0, 0, &mut z).unwrap();
    let mut x = vec![0.0; 2 * m];
    for i in 0..m {
        let (c, s) = if u[i] < 0.3 { ([-2.0, 0.0], 0.3) } else { ([2.0, 1.0], 0.5) };
        x[2 * i] = c[0] + s * z[2 * i];
        x[2 * i + 1] = c[1] + s * z[2 * i + 1];
    }
    x
}

/// (mass with x_1 < 0, mean, covariance [c11, c12, c22]) of 2-D points.
fn moments(x: &[f64]) -> (f64, [f64; 2], [f64; 3]) {
    let n = (x.len() / 2) as f64;
    let left = x.chunks(2).filter(|p| p[0] < 0.0).count() as f64 / n;
    let m = [x.chunks(2).map(|p| p[0]).sum::<f64>() / n, x.chunks(2).map(|p| p[1]).sum::<f64>() / n];
    let mut c = [0.0; 3];
    for p in x.chunks(2) {
        let (a, b) = (p[0] - m[0], p[1] - m[1]);
        c[0] += a * a / (n - 1.0);
        c[1] += a * b / (n - 1.0);
        c[2] += b * b / (n - 1.0);
    }
    (left, m, c)
}

/// The bounds of the Python end-to-end test (test_train.py), 5 sigma each.
fn close_to_data(x: &[f64], data: &[f64]) -> bool {
    let (l1, m1, c1) = moments(x);
    let (l0, m0, c0) = moments(data);
    (l1 - l0).abs() < 0.085
        && (m1[0] - m0[0]).abs() < 0.26
        && (m1[1] - m0[1]).abs() < 0.09
        && (0..3).all(|k| (c1[k] - c0[k]).abs() <= 0.15 * c0[k].abs() + 0.05)
}

#[test]
fn end_to_end_train_then_sample() {
    let data = mixture(4000, 11);
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let mut net = Model::mlp(&sde, 2, &MlpOptions::new().widths(&[64, 64]).seed(1)).unwrap();
    assert_eq!(net.kind(), ModelKind::Mlp);
    let loss = Loss::new(LossKind::Dsm).unwrap();
    let mut tr = Trainer::new(&mut net, &loss).unwrap();
    tr.set_double(TrainerSetting::Lr, 3e-3).unwrap();
    tr.set_double(TrainerSetting::EmaRate, 0.99).unwrap();
    tr.set_int(TrainerSetting::Warmup, 100).unwrap();
    tr.set_int(TrainerSetting::Batch, 256).unwrap();
    let mut ode = Sampler::new(Method::Ode).unwrap();
    ode.set_solver(Solver::Rk4).unwrap().set_steps(50).unwrap();
    let mut x = vec![0.0; 2 * 2000];
    // the untrained network fails the bounds, so the check below can fail
    ode.sample(&tr.export(Export::Ema).unwrap(), None, 1, 0, &mut x[..1000]).unwrap();
    assert!(!close_to_data(&x[..1000], &data));
    let fit = tr.fit(&data, 1500, None).unwrap();
    assert_eq!(fit.steps, 1500);
    assert!(fit.ema_loss < 0.3, "{fit:?}");
    let model = tr.export(Export::Ema).unwrap();
    let mut pc = Sampler::new(Method::Pc).unwrap();
    pc.set_steps(200).unwrap().set_corrector(Corrector::None).unwrap();
    let st = pc.sample(&model, None, 3, 0, &mut x).unwrap();
    assert_eq!(st.nfe, 201);
    assert!(close_to_data(&x, &data), "PC: {:?} vs {:?}", moments(&x), moments(&data));
    ode.sample(&model, None, 3, 0, &mut x).unwrap();
    assert!(close_to_data(&x, &data), "ODE: {:?} vs {:?}", moments(&x), moments(&data));
}

#[test]
fn trainer_steps_checkpoints_and_errors() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let opts = MlpOptions::new().widths(&[8]).seed(2);
    let mut a = Model::mlp(&sde, 2, &opts).unwrap();
    let mut b = Model::mlp(&sde, 2, &opts).unwrap();
    let loss = Loss::new(LossKind::Dsm).unwrap();
    let x0 = mixture(32, 3);
    let (pa, pb);
    {
        let mut ta = Trainer::new(&mut a, &loss).unwrap();
        let mut tb = Trainer::new(&mut b, &loss).unwrap();
        let la = ta.step(&x0).unwrap();
        let lb = tb.backward(&x0, 0).unwrap();
        let mut g = vec![0.0; tb.num_params()];
        tb.get_grad(&mut g).unwrap();
        tb.set_grad(&g).unwrap();
        let norm = tb.apply().unwrap();
        assert_eq!(la, lb);
        let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - gn).abs() <= 1e-12 * gn);
        assert_eq!((ta.steps(), tb.steps()), (1, 1));
        // checkpoint bytes resume bit for bit
        let blob = ta.to_bytes().unwrap();
        let after: Vec<f64> = (0..3).map(|_| ta.step(&x0).unwrap()).collect();
        ta.load_bytes(&blob).unwrap();
        let again: Vec<f64> = (0..3).map(|_| ta.step(&x0).unwrap()).collect();
        assert_eq!(after, again);
        let mut bad = blob.clone();
        let k = bad.len() - 3;
        bad[k] ^= 0x55;
        assert_eq!(ta.load_bytes(&bad).unwrap_err().status(), sys::SCORESDE_ECORRUPT);
        let e = ta.set_double(TrainerSetting::Lr, -1.0).unwrap_err();
        assert_eq!(e.status(), sys::SCORESDE_EINVAL);
        assert!(e.message().contains("LR = -1 is outside"), "{e}");
        // settings: a new trainer at the defaults, bounds round-trip, wrong type refused
        for raw in sys::SCORESDE_TRAIN_LR as i32..=sys::SCORESDE_TRAIN_SEED as i32 {
            let id = TrainerSetting::from_raw(raw);
            assert!(!matches!(id, TrainerSetting::Other(_)), "{raw} is not named");
            let (lo, hi, is_int) = Trainer::bounds(id).unwrap();
            let def = Trainer::default_value(id).unwrap();
            assert!(lo <= def && def <= hi, "setting {id:?}");
            if is_int {
                assert_eq!(tb.get_int(id).unwrap() as f64, def, "setting {id:?}");
                assert_eq!(tb.get_double(id).unwrap_err().status(), sys::SCORESDE_EINVAL);
            } else {
                assert_eq!(tb.get_double(id).unwrap(), def, "setting {id:?}");
                assert_eq!(tb.get_int(id).unwrap_err().status(), sys::SCORESDE_EINVAL);
                tb.set_double(id, hi).unwrap();
                assert_eq!(tb.get_double(id).unwrap(), hi);
                tb.set_double(id, def).unwrap();
            }
        }
        tb.set_int(TrainerSetting::Seed, -1).unwrap();
        assert_eq!(tb.get_int(TrainerSetting::Seed).unwrap(), -1);
        assert_eq!(Trainer::bounds(TrainerSetting::Other(0)).unwrap_err().status(), sys::SCORESDE_EINVAL);
        assert_eq!(ta.set_grad(&[0.0; 3]).unwrap_err().status(), sys::SCORESDE_EDIM);
        assert_eq!(ta.step(&[1.0, 2.0, 3.0]).unwrap_err().status(), sys::SCORESDE_EDIM);
        let dir = std::env::temp_dir().join(format!("scoresde-rs-{}.ckpt", std::process::id()));
        ta.save(&dir).unwrap();
        ta.load(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(ta.load(&dir).unwrap_err().status(), sys::SCORESDE_EIO);
        // progress closure: records, stops early, and a panic resumes here
        let mut seen = Vec::new();
        let mut rec = |s: u64, _l: f64, _e: f64| { seen.push(s); false };
        let data = mixture(100, 4);
        let start = ta.steps();
        ta.fit(&data, 3, Some(&mut rec)).unwrap();
        assert_eq!(seen, vec![start + 1, start + 2, start + 3]);
        let mut stop = |s: u64, _l: f64, _e: f64| s >= start + 5;
        // a stop is an ECALLBACK error, as for a sampler; the steps done are kept
        let e = ta.fit(&data, 10, Some(&mut stop)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Callback);
        assert!(e.message().contains("stopped by the progress hook"), "{}", e.message());
        assert_eq!(ta.steps(), start + 5);
        let mut boom = |_s: u64, _l: f64, _e: f64| -> bool { panic!("progress boom") };
        let r = catch_unwind(AssertUnwindSafe(|| ta.fit(&data, 10, Some(&mut boom))));
        assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "progress boom");
        pa = ta.export(Export::Raw).unwrap();
        pb = ta.export(Export::Ema).unwrap();
    }
    let n = pa.num_params();
    let (mut ra, mut rb) = (vec![0.0; n], vec![0.0; n]);
    a.get_params(&mut ra).unwrap();
    pa.get_params(&mut rb).unwrap();
    assert_eq!(ra, rb);
    let mut pa = pa;
    pa.copy_params_from(&pb).unwrap();
    pa.get_params(&mut ra).unwrap();
    pb.get_params(&mut rb).unwrap();
    assert_eq!(ra, rb);
    // a mixture has no parameters to train; bad MLP options are named
    let gmm = Model::gmm(&sde, 1, &[1.0], &[0.0], &[1.0]).unwrap();
    let mut gmm = gmm;
    assert_eq!(Trainer::new(&mut gmm, &loss).err().unwrap().status(), sys::SCORESDE_EUNSUPPORTED);
    let e = Model::mlp(&sde, 2, &MlpOptions::new().embed_dim(3)).err().unwrap();
    assert!(e.message().contains("embed_dim"), "{e}");
    assert_eq!(Model::mlp(&sde, 2, &MlpOptions::new().widths(&[4; 65])).err().unwrap().status(),
               sys::SCORESDE_EINVAL);
    // the enum-valued options reach the library; one it does not know is refused
    let opts = MlpOptions::new().widths(&[4]).activation(Activation::Tanh).output(MlpOutput::Data)
        .embedding(Embedding::Sinusoidal).precision(Precision::Float32);
    let tanh = Model::mlp(&sde, 2, &opts).unwrap();
    let mut x0 = [0.25, -0.5];
    tanh.predict_data(&[0.1, 0.2], &[0.5], &mut x0).unwrap();
    assert!(x0.iter().all(|v| v.is_finite()));
    let bad = MlpOptions::new().activation(Activation::Other(99));
    assert_eq!(Model::mlp(&sde, 2, &bad).err().unwrap().kind(), ErrorKind::InvalidArgument);
    // widths: given ones are used; none given, every hidden layer is 256 wide
    let small = Model::mlp(&sde, 2, &MlpOptions::new().widths(&[3, 5]).embed_dim(4)).unwrap();
    assert_eq!(small.num_params(), 6 * 3 + 3 + 3 * 5 + 5 + 5 * 2 + 2);
    let lin = Model::mlp(&sde, 2, &MlpOptions::new().widths(&[]).embed_dim(4)).unwrap();
    assert_eq!(lin.num_params(), 6 * 2 + 2);
    let dflt = Model::mlp(&sde, 2, &MlpOptions::new().embed_dim(4)).unwrap();
    assert_eq!(dflt.num_params(), 6 * 256 + 256 + 2 * (256 * 256 + 256) + 256 * 2 + 2);
}

#[test]
fn loss_values_reference_and_weights() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let net = Model::mlp(&sde, 2, &MlpOptions::new().widths(&[16]).seed(5)).unwrap();
    let x0 = mixture(16, 6);
    let mut loss = Loss::new(LossKind::Dsm).unwrap();
    let mut per = vec![0.0; 16];
    let v = loss.eval(&net, &x0, 1, 0, Some(&mut per), None).unwrap();
    assert!((v - per.iter().sum::<f64>() / 16.0).abs() <= 1e-12 * v.abs());
    loss.set_int(LossSetting::Weighting, sys::SCORESDE_LOSS_WEIGHT_UNIFORM as i64).unwrap();
    let mut unw = vec![0.0; 16];
    loss.eval(&net, &x0, 1, 0, Some(&mut unw), None).unwrap();
    loss.set_weight(|t, w| { w.iter_mut().zip(t).for_each(|(o, _)| *o = 3.0); Ok(()) }).unwrap();
    loss.eval(&net, &x0, 1, 0, Some(&mut per), None).unwrap();
    for i in 0..16 {
        assert!((per[i] - 3.0 * unw[i]).abs() <= 1e-12 * per[i].abs());
    }
    loss.set_weight(|_t, _w| Err("no weights today".into())).unwrap();
    let e = loss.eval(&net, &x0, 1, 0, None, None).unwrap_err();
    assert_eq!(e.status(), sys::SCORESDE_ECALLBACK);
    assert!(e.message().contains("no weights today"), "{e}");
    assert_eq!(loss.set_int(LossSetting::NumProbes, 0).unwrap_err().status(), sys::SCORESDE_EINVAL);
    // settings: every kind starts at the defaults; EPS starts at NaN
    for kind in (sys::SCORESDE_LOSS_ESM as i32..=sys::SCORESDE_LOSS_DDPM as i32).map(LossKind::from_raw) {
        let fresh = Loss::new(kind).unwrap();
        assert_eq!(fresh.kind(), kind);
        for raw in sys::SCORESDE_LOSS_TIME_MODE as i32..=sys::SCORESDE_LOSS_SIGMA_DATA as i32 {
            let id = LossSetting::from_raw(raw);
            assert!(!matches!(id, LossSetting::Other(_)), "{raw} is not named");
            let (lo, hi, is_int) = Loss::bounds(id).unwrap();
            assert!(lo <= hi);
            let def = Loss::default_value(kind, id).unwrap();
            let got = if is_int { fresh.get_int(id).unwrap() as f64 } else { fresh.get_double(id).unwrap() };
            assert!(got == def || (got.is_nan() && def.is_nan()), "kind {kind:?} setting {id:?}");
        }
    }
    assert!(loss.get_double(LossSetting::Eps).unwrap().is_nan());
    loss.set_double(LossSetting::PStd, 2.5).unwrap();
    assert_eq!(loss.get_double(LossSetting::PStd).unwrap(), 2.5);
    assert_eq!(loss.set_double(LossSetting::Levels, 3.0).unwrap_err().status(), sys::SCORESDE_EINVAL);
    assert_eq!(Loss::new(LossKind::Other(99)).err().unwrap().status(), sys::SCORESDE_EINVAL);
    // ESM against the mixture itself is exactly 0
    let gmm = Arc::new(Model::gmm(&sde, 2, &[1.0], &[0.5, -0.5], &[1.0, 2.0]).unwrap());
    let mut esm = Loss::new(LossKind::Esm).unwrap();
    assert_eq!(esm.eval(&gmm, &x0, 0, 0, None, None).unwrap_err().status(), sys::SCORESDE_EINVAL);
    esm.set_reference(Some(gmm.clone())).unwrap();
    assert_eq!(esm.eval(&gmm, &x0, 0, 0, None, None).unwrap(), 0.0);
}

#[test]
fn sampler_settings_hooks_and_errors() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let gmm = Model::gmm(&sde, 2, &[0.3, 0.7], &[-1.0, 0.5, 2.0, -0.5], &[0.5, 1.0, 0.25, 2.0])
        .unwrap();
    assert_eq!(Sampler::bounds(SamplerSetting::Steps).unwrap(), (1.0, 1e6, true));
    assert_eq!(Sampler::default_value(Method::Pc, SamplerSetting::Snr).unwrap(), 0.16);
    // a new sampler starts at the per-method defaults; NaN = the library's choice
    let last = sys::SCORESDE_SAMPLER_RESTART_STEPS as i32;
    for m in [Method::Pc, Method::Ode, Method::Edm, Method::Dpmpp, Method::Ipndm, Method::Ddim,
              Method::DpmppSde, Method::Restart] {
        let fresh = Sampler::new(m).unwrap();
        assert_eq!(fresh.method(), m);
        for id in (sys::SCORESDE_SAMPLER_STEPS as i32..=last).map(SamplerSetting::from_raw) {
            assert!(!matches!(id, SamplerSetting::Other(_)), "{id:?} is not named");
            let got = if Sampler::bounds(id).unwrap().2 {
                fresh.get_int(id).unwrap() as f64
            } else {
                fresh.get_f64(id).unwrap()
            };
            let want = Sampler::default_value(m, id).unwrap();
            assert!(got == want || (got.is_nan() && want.is_nan()), "{m:?} {id:?}: {got} {want}");
        }
    }
    assert_eq!(Sampler::default_value(Method::Edm, SamplerSetting::Steps).unwrap(), 17.0);
    assert!(Sampler::default_value(Method::Pc, SamplerSetting::Eps).unwrap().is_nan());
    assert_eq!(Sampler::bounds(SamplerSetting::Other(1000)).unwrap_err().kind(),
               ErrorKind::InvalidArgument);
    let mut s = Sampler::new(Method::Pc).unwrap();
    s.set_steps(6).unwrap().set_corrector(Corrector::None).unwrap();
    assert_eq!(s.get_int(SamplerSetting::Steps).unwrap(), 6);
    assert_eq!(s.get_int(SamplerSetting::Corrector).unwrap(), Corrector::None.raw().into());
    // the wrong type for a setting is the library's EINVAL, naming the setter to use
    let e = s.set_f64(SamplerSetting::Steps, 2.5).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("set_int"), "{e}");
    assert_eq!(s.set_steps(0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(s.set_f64(SamplerSetting::Snr, f64::NAN).unwrap_err().status(), sys::SCORESDE_EINVAL);
    s.set_f64(SamplerSetting::Eps, 0.0).unwrap().set_f64(SamplerSetting::Eps, f64::NAN).unwrap();
    assert!(s.get_f64(SamplerSetting::Eps).unwrap().is_nan());
    assert_eq!(s.set_f64(SamplerSetting::HInit, 0.0).unwrap_err().status(), sys::SCORESDE_EINVAL);
    // a value this crate does not name reaches the library, which judges it
    assert_eq!(s.set_predictor(Predictor::Other(77)).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut t = vec![0.0; 7];
    s.times(&sde, &mut t).unwrap();
    assert_eq!((t[0], t[6]), (1.0, 1e-3));
    let mut x = vec![0.0; 6];
    let st = s.sample(&gmm, None, 1, 0, &mut x).unwrap();
    assert_eq!(st.nfe, 7);
    assert_eq!(s.sample(&gmm, None, 1, 0, &mut [0.0; 5]).unwrap_err().status(), sys::SCORESDE_EDIM);
    // progress: stop, then a panic resumes in the caller
    s.set_progress(Some(Box::new(|k, _t, _n| k == 2))).unwrap();
    assert_eq!(s.sample(&gmm, None, 1, 0, &mut x).unwrap_err().status(), sys::SCORESDE_ECALLBACK);
    s.set_progress(Some(Box::new(|_, _, _| panic!("progress boom")))).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| s.sample(&gmm, None, 1, 0, &mut x)));
    assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "progress boom");
    s.set_progress(None).unwrap();
    // guidance: zero changes nothing, a constant pushes up, a panic resumes
    let mut g = vec![0.0; 6];
    s.set_guidance(Some(Box::new(|_x, _t, _d, o| { o.fill(0.0); Ok(()) })), 2.0).unwrap();
    s.sample(&gmm, None, 1, 0, &mut g).unwrap();
    s.set_guidance(None, 0.0).unwrap();
    s.sample(&gmm, None, 1, 0, &mut x).unwrap();
    assert_eq!(g, x);
    s.set_guidance(Some(Box::new(|_x, _t, _d, o| { o.fill(1.0); Ok(()) })), 1.0).unwrap();
    let c = s.try_clone().unwrap();
    c.sample(&gmm, None, 1, 0, &mut g).unwrap();
    assert!(g.iter().zip(&x).all(|(a, b)| a > b));
    s.set_guidance(Some(Box::new(|_x, _t, _d, _o| panic!("guidance boom"))), 1.0).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| s.sample(&gmm, None, 1, 0, &mut x)));
    assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "guidance boom");
    // inpainting keeps the known coordinate; encode and likelihood need ODE
    let y = [0.7, 0.0, 0.7, 0.0, 0.7, 0.0];
    s.set_guidance(None, 0.0).unwrap();
    s.inpaint(&gmm, &y, &[true, false], 2, 0, &mut x).unwrap();
    assert!(x.chunks(2).all(|p| p[0] == 0.7));
    assert_eq!(s.inpaint(&gmm, &y, &[true], 2, 0, &mut x).unwrap_err().status(), sys::SCORESDE_EDIM);
    assert_eq!(s.encode(&gmm, &y, &mut x).unwrap_err().status(), sys::SCORESDE_EINVAL);
    let mut ode = Sampler::new(Method::Ode).unwrap();
    ode.set_solver(Solver::Rk4).unwrap().set_steps(200).unwrap();
    ode.sample(&gmm, None, 4, 0, &mut x).unwrap();
    let mut z = vec![0.0; 6];
    ode.encode(&gmm, &x, &mut z).unwrap();
    let mut back = vec![0.0; 6];
    ode.sample(&gmm, Some(&z), 0, 0, &mut back).unwrap();
    assert!(back.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-6));
    let mut logp = [0.0; 3];
    ode.likelihood(&gmm, &x, 0, 0, &mut logp, None).unwrap();
    let mut bpd = [0.0; 3];
    scoresde::bits_per_dim(&logp, 2, 8, 2.0, &mut bpd).unwrap();
    for i in 0..3 {
        let want = -logp[i] / (2.0 * std::f64::consts::LN_2) - 1.0 + 8.0;
        assert!((bpd[i] - want).abs() <= 1e-12 * want.abs());
    }
    // the bound's terms add up; a BOUND report of continuous data is the bound
    let b = ode.bound(&gmm, &x, 5, 0).unwrap();
    for i in 0..3 {
        assert_eq!(b.nll[i], (b.prior[i] + b.score[i]) + b.boundary[i]);
        assert!(b.stderr[i] > 0.0);
    }
    let mut rows = [0.0; 21];
    ode.report(&gmm, scoresde::ReportKind::Bound, &x, 5, 0, &mut rows).unwrap();
    assert!((0..3).all(|i| rows[i * 7 + 4] == b.nll[i]));
    ode.report(&gmm, scoresde::ReportKind::Ode, &x, 0, 0, &mut rows).unwrap();
    assert!((0..3).all(|i| (rows[i * 7 + 4] + logp[i]).abs() < 1e-9), "{rows:?} {logp:?}");
    assert_eq!(ode.report(&gmm, scoresde::ReportKind::Ode, &x, 0, 0, &mut rows[..7])
                   .unwrap_err().status(), sys::SCORESDE_EDIM);
    // Langevin with a panicking score resumes the panic
    let r = catch_unwind(AssertUnwindSafe(|| {
        s.langevin(|_x, _d, _o| panic!("score boom"), &[0.0; 2], 1, 0, 0, &mut [0.0; 2])
    }));
    assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "score boom");
    let mut out = [0.0; 2];
    s.langevin(|x, _d, o| { o.iter_mut().zip(x).for_each(|(a, b)| *a = -b); Ok(()) }, &[0.0; 2],
               1, 0, 0, &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_finite() && *v != 0.0));
}

#[test]
fn resmlp_identity_training_and_files() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let opts = ResMlpOptions::new().width(8).blocks(2).embed_dim(4).activation(Activation::Gelu)
        .output(MlpOutput::Noise).seed(2);
    let mut m = Model::resmlp(&sde, 2, &opts).unwrap();
    assert_eq!(m.kind(), ModelKind::ResMlp);
    // the output layer starts at zero: the NOISE score is exactly 0
    let mut s = [1.0; 4];
    m.score(&[0.3, -0.2, 1.0, 0.5], &[0.4, 0.8], &mut s).unwrap();
    assert_eq!(s, [0.0; 4]);
    let data = mixture(64, 3);
    let loss = Loss::new(LossKind::Dsm).unwrap();
    {
        let mut tr = Trainer::new(&mut m, &loss).unwrap();
        for _ in 0..3 {
            assert!(tr.step(&data).unwrap().is_finite());
        }
    }
    let back = Model::from_bytes(&m.to_bytes().unwrap()).unwrap();
    let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
    m.score(&[0.3, -0.2, 1.0, 0.5], &[0.4, 0.8], &mut a).unwrap();
    back.score(&[0.3, -0.2, 1.0, 0.5], &[0.4, 0.8], &mut b).unwrap();
    assert_eq!(a, b);
    assert!(a.iter().any(|v| *v != 0.0));
    let e = Model::resmlp(&sde, 2, &ResMlpOptions::new().width(0)).err().unwrap();
    assert!(e.message().contains("width"), "{e}");
}
