//! Writes `$OUT_DIR/README.md`: the repository's README with every `rust` code block wrapped in a
//! hidden `fn main() -> Result<(), Box<dyn std::error::Error>>` (rustdoc's `# ` lines), so that
//! the examples, written as a function's body with `?`, compile and run as they are shown.

use std::path::Path;

const README: &str = "../../README.md";

fn main() {
    println!("cargo:rerun-if-changed={README}");
    let readme = match std::fs::read_to_string(README) {
        Ok(text) => text,
        Err(error) => panic!("{README}: {error}"),
    };
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let path = Path::new(&out).join("README.md");
    if let Err(error) = std::fs::write(&path, wrapped(&readme)) {
        panic!("{}: {error}", path.display());
    }
}

/// `readme` with each block fenced as `rust` wrapped; every other line as it was.
fn wrapped(readme: &str) -> String {
    let mut out = String::with_capacity(readme.len() + 4096);
    let mut in_rust = false;
    for line in readme.lines() {
        let fence = line.trim_start().starts_with("```");
        if fence && in_rust {
            out.push_str("# Ok(())\n# }\n");
            in_rust = false;
        }
        out.push_str(line);
        out.push('\n');
        if fence && !in_rust && line.trim() == "```rust" {
            out.push_str("# fn main() -> Result<(), Box<dyn std::error::Error>> {\n");
            in_rust = true;
        }
    }
    out
}
