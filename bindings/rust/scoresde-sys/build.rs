//! Finds libscoresde: the directory in SCORESDE_LIB_DIR (a build tree's lib/),
//! or else what `pkg-config --libs scoresde` says. No crates are needed.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SCORESDE_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");

    if let Ok(dir) = env::var("SCORESDE_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=dylib=scoresde");
        println!("cargo:lib_dir={dir}");
        return;
    }
    let output = Command::new("pkg-config")
        .args(["--libs", "scoresde"])
        .output()
        .unwrap_or_else(|e| panic!("scoresde-sys: cannot run pkg-config ({e}); install it or set SCORESDE_LIB_DIR"));
    if !output.status.success() {
        panic!(
            "scoresde-sys: pkg-config does not know scoresde ({}); install libscoresde's \
             development files, extend PKG_CONFIG_PATH, or set SCORESDE_LIB_DIR",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    for flag in String::from_utf8_lossy(&output.stdout).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:lib_dir={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}
