//! Finds libscoresde. No crates are needed.
//!
//! - `SCORESDE_LIB_DIR=DIR` (a build tree's `lib/`): links `DIR/libscoresde.so`
//!   and records DIR as an rpath (this crate's metadata `rpath`, which the
//!   `scoresde` crate turns into a link argument of its tests and examples),
//!   so those programs run without LD_LIBRARY_PATH.
//! - Otherwise `pkg-config --libs scoresde` says where the library is.
//! - `SCORESDE_STATIC=1` links `libscoresde.a` instead, with the libraries
//!   `pkg-config --static --libs scoresde` lists after it (BLIS, OpenMP, libm);
//!   with SCORESDE_LIB_DIR too, pkg-config still supplies those (point
//!   PKG_CONFIG_PATH at the build tree's `meson-uninstalled/`).
use std::env;
use std::process::Command;

fn pkg_config(static_link: bool) -> String {
    let mut args = vec!["--libs"];
    if static_link {
        args.push("--static");
    }
    args.push("scoresde");
    let output = Command::new("pkg-config").args(&args).output().unwrap_or_else(|e| {
        panic!("scoresde-sys: cannot run pkg-config ({e}); install it or set SCORESDE_LIB_DIR")
    });
    if !output.status.success() {
        panic!(
            "scoresde-sys: pkg-config does not know scoresde ({}); install libscoresde's \
             development files, extend PKG_CONFIG_PATH (a build tree: BUILD/meson-uninstalled), \
             or set SCORESDE_LIB_DIR (shared linking only)",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn main() {
    for var in ["SCORESDE_LIB_DIR", "SCORESDE_STATIC", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let static_link = env::var("SCORESDE_STATIC").is_ok_and(|v| v == "1");
    let lib_dir = env::var("SCORESDE_LIB_DIR").ok();

    if let Some(dir) = &lib_dir {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:lib_dir={dir}");
        if !static_link {
            println!("cargo:rustc-link-lib=dylib=scoresde");
            println!("cargo:rpath={dir}");
            return;
        }
    }
    let kind = if static_link { "static" } else { "dylib" };
    for flag in pkg_config(static_link).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            if lib_dir.is_none() {
                println!("cargo:rustc-link-search=native={dir}");
                println!("cargo:lib_dir={dir}");
            }
        } else if flag == "-lscoresde" {
            println!("cargo:rustc-link-lib={kind}=scoresde");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if flag == "-fopenmp" {
            // GCC's OpenMP runtime, which the C compiler's -fopenmp links
            println!("cargo:rustc-link-lib=dylib=gomp");
        } else if flag == "-pthread" {
            println!("cargo:rustc-link-lib=dylib=pthread");
        }
    }
}
