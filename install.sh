#!/usr/bin/env bash
# Build and install hale from this checkout, then install the completion for your shell.
# Needs a Rust toolchain (cargo); downloads nothing but crates. Safe to run again.
#   HALE_INSTALL_ROOT  where cargo installs (default: cargo's own, usually ~/.cargo)
set -euo pipefail
cd "$(dirname "$0")"

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain first (https://rustup.rs), then run ./install.sh again"

root_args=()
if [ -n "${HALE_INSTALL_ROOT:-}" ]; then
  root_args=(--root "$HALE_INSTALL_ROOT")
  bin_dir="$HALE_INSTALL_ROOT/bin"
else
  bin_dir="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
fi

echo "install.sh: building hale (cargo install --path . --locked)" >&2
cargo install --quiet --path . --locked --force "${root_args[@]}"
hale="$bin_dir/hale"
[ -x "$hale" ] || die "cargo install finished but $hale is missing"

# The completion for the user's login shell, where that shell looks for it.
shell_name=$(basename "${SHELL:-}")
case "$shell_name" in
  bash) dest="${XDG_DATA_HOME:-$HOME/.local/share}/bash-completion/completions/hale" ;;
  zsh) dest="${ZDOTDIR:-$HOME}/.zfunc/_hale" ;;
  fish) dest="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions/hale.fish" ;;
  elvish) dest="${XDG_CONFIG_HOME:-$HOME/.config}/elvish/lib/hale.elv" ;;
  *) dest="" ;;
esac
if [ -n "$dest" ]; then
  mkdir -p "$(dirname "$dest")"
  "$hale" completions "$shell_name" >"$dest.tmp" && mv "$dest.tmp" "$dest"
  echo "install.sh: $shell_name completion installed in $dest" >&2
  if [ "$shell_name" = zsh ]; then
    echo "install.sh: make sure ~/.zfunc is in fpath (fpath+=~/.zfunc; autoload -Uz compinit; compinit)" >&2
  fi
else
  echo "install.sh: no completion installed for shell '${shell_name:-unknown}'; see 'hale completions --help'" >&2
fi

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "install.sh: add $bin_dir to PATH to run hale" >&2 ;;
esac
echo "install.sh: installed $("$hale" --version) at $hale" >&2
