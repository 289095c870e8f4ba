//! GitHub Actions step outputs: `name=value` lines appended to the file `$GITHUB_OUTPUT`
//! names, read by later steps and jobs as `steps.<id>.outputs.<name>`.
use std::io::Write as _;

use super::Env;

/// Append `outputs` to `$GITHUB_OUTPUT` under GitHub Actions; nothing elsewhere. Values are
/// single lines (a digest, a reference); one with a line break is written in the runner's
/// delimited form.
pub fn set(env: Env<'_>, outputs: &[(&str, &str)]) -> std::io::Result<()> {
    if !super::is_github_actions(env) {
        return Ok(());
    }
    let Some(path) = env("GITHUB_OUTPUT").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') {
            let delimiter = format!("hale_{}", delimiter_for(value));
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// A delimiter that the value cannot contain: its SHA-256.
fn delimiter_for(value: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_appended_as_name_value_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "earlier=1\n").unwrap();
        let p = path.display().to_string();
        let env = move |k: &str| match k {
            "GITHUB_ACTIONS" => Some("true".into()),
            "GITHUB_OUTPUT" => Some(p.clone().into()),
            _ => None,
        };
        set(&env, &[("digest", "sha256:ab"), ("image", "r/x@sha256:ab")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier=1\ndigest=sha256:ab\nimage=r/x@sha256:ab\n"
        );
    }
}
