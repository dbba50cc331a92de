//! The tests and examples of this crate run against a library found through
//! SCORESDE_LIB_DIR without LD_LIBRARY_PATH: scoresde-sys reports that
//! directory (its `rpath` metadata) and it becomes their rpath. A program of
//! another crate gets the same with one line in its own build script (README).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_SCORESDE_RPATH");
    if let Ok(dir) = std::env::var("DEP_SCORESDE_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
