//! Embeds the built console (`web/dist`, made by `npm ci && npm run build` in `web/`) into the
//! crate: every file becomes an `include_bytes!` entry of a generated table. Without a build the
//! table is empty and the server answers `/` with a page that says how to build the console, so
//! `cargo build` on a fresh clone still compiles.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, root, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((rel, p.canonicalize().unwrap_or(p.clone())));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let dist = std::env::var_os("DUALCARBON_CONSOLE_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../web/dist"));
    println!("cargo:rerun-if-env-changed=DUALCARBON_CONSOLE_DIST");
    // A missing path would make cargo rerun this script on every build; until the console is
    // built, watch the folder it will appear in (web/), so that building it later is noticed.
    let watched =
        if dist.exists() { Some(dist.clone()) } else { dist.parent().filter(|p| p.exists()).map(|p| p.to_path_buf()) };
    if let Some(w) = watched {
        println!("cargo:rerun-if-changed={}", w.display());
    }
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut code = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        writeln!(code, "    ({rel:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("assets.rs");
    std::fs::write(out, code).expect("writing the asset table");
}
