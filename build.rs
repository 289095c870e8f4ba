//! Rebuild hale when anything under templates/ changes: `include_dir!` embeds the templates but
//! cannot tell cargo about files added or removed after the last build.
fn main() {
    println!("cargo:rerun-if-changed=templates");
}
