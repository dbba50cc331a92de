//! The README's "Training and sampling" example is this test's body, verbatim
//! (checked below), so the README shows code that compiles and runs.
use scoresde::{Corrector, Export, Loss, LossKind, Method, MlpOptions, Model, Sampler, Sde, Trainer, TrainerSetting};

fn example() -> scoresde::Result<Vec<f64>> {
    // BEGIN README
    let mut data = vec![0.0; 2 * 2000];                            // 2000 points, N((2, -1), 0.25 I)
    scoresde::rng_normal(7, 0, 0, &mut data)?;
    data.iter_mut().enumerate().for_each(|(i, v)| *v = 0.5 * *v + [2.0, -1.0][i % 2]);
    let sde = Sde::vp(0.1, 20.0)?;
    let mut net = Model::mlp(&sde, 2, &MlpOptions::new().widths(&[64, 64]))?;
    let loss = Loss::new(LossKind::Dsm)?;
    let mut trainer = Trainer::new(&mut net, &loss)?;
    trainer.set_double(TrainerSetting::Lr, 3e-3)?;
    trainer.set_int(TrainerSetting::Warmup, 100)?;
    trainer.fit(&data, 1000, None)?;                               // Some(&mut |step, loss, ema| false) reports progress
    let mut pc = Sampler::new(Method::Pc)?;
    pc.set_steps(200)?.set_corrector(Corrector::None)?;
    let mut x = vec![0.0; 2 * 1000];
    pc.sample(&trainer.export(Export::Ema)?, None, 1, 0, &mut x)?;         // x: 1000 samples, row-major
    // END README
    Ok(x)
}

#[test]
fn readme_example_runs() {
    let x = example().unwrap();
    // means of 1000 samples (sd 0.5 per axis: 5 sd = 0.08) plus the model's error
    let n = (x.len() / 2) as f64;
    let m0 = x.chunks(2).map(|p| p[0]).sum::<f64>() / n;
    let m1 = x.chunks(2).map(|p| p[1]).sum::<f64>() / n;
    assert!((m0 - 2.0).abs() < 0.15 && (m1 + 1.0).abs() < 0.15, "{m0} {m1}");
}

#[test]
fn readme_shows_this_example() {
    let me = include_str!("readme.rs");
    let body: String = me.split("// BEGIN README\n").nth(1).unwrap().split("    // END README").next()
        .unwrap().lines().map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l))).collect();
    let readme = include_str!("../../README.md");
    let block = readme.split("## Training and sampling").nth(1).unwrap()
        .split("```rust\n").nth(1).unwrap().split("```").next().unwrap();
    let block: String = block.lines().filter(|l| !l.starts_with("use ")).map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(block.trim(), body.trim(), "README example differs from tests/readme.rs");
}
