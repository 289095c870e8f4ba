#!/usr/bin/env bash
# Install hale, then the completion for your shell. Safe to run again.
#
#   ./install.sh                  from a release archive beside this script, when there is one;
#                                 else build this checkout (cargo install --locked)
#   ./install.sh --from DIR       from the archive for this machine in DIR
#   ./install.sh --from FILE      from that archive (hale-<version>-<target>.tar.gz)
#
# An archive is installed only when its SHA-256 matches the checksum file beside it
# (FILE.sha256, or a SHA256SUMS line); a missing or wrong checksum stops the install. Only when
# no archive is given or found does it build with cargo (downloading nothing but crates).
#   HALE_INSTALL_ROOT  where to install: ROOT/bin/hale (default: cargo's own root for a
#                      build, usually ~/.cargo; ~/.local for an archive)
#   HALE_NO_COMPLETION=1  skip the shell completion
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage() { printf 'install.sh: %s\n' "$*" >&2; exit 2; }

from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) [ $# -ge 2 ] || usage "--from needs a folder or an archive"; from=$2; shift 2 ;;
    --from=*) from=${1#--from=}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
    *) usage "unknown argument $1: use --from DIR|FILE, or nothing" ;;
  esac
done

# The archives built for this machine, best first: static musl builds.
machine_targets() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64|Linux-amd64) echo x86_64-unknown-linux-musl ;;
    Linux-aarch64|Linux-arm64) echo aarch64-unknown-linux-musl ;;
    *) ;;
  esac
}

find_archive() { # find_archive DIR → the newest archive for this machine in DIR, or nothing
  local dir=$1 target found=""
  for target in $(machine_targets); do
    found=$(ls -1 "$dir"/hale-*-"$target".tar.gz 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$found" ] && break
  done
  echo "$found"
}

archive=""
if [ -n "$from" ]; then
  if [ -d "$from" ]; then
    archive=$(find_archive "$from")
    [ -n "$archive" ] || usage "--from $from holds no hale-<version>-<target>.tar.gz for this machine ($(machine_targets || true) on $(uname -sm))"
  elif [ -f "$from" ]; then
    case "$from" in
      *.tar.gz) archive=$from ;;
      *) usage "--from $from is not a hale-<version>-<target>.tar.gz archive" ;;
    esac
  else
    usage "--from $from: no such folder or file"
  fi
else
  archive=$(find_archive "$here")
fi

install_completion() { # install_completion HALE
  [ "${HALE_NO_COMPLETION:-}" = 1 ] && return 0
  local hale=$1 shell_name dest
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
}

finish() { # finish HALE BIN_DIR
  install_completion "$1"
  case ":$PATH:" in
    *":$2:"*) ;;
    *) echo "install.sh: add $2 to PATH to run hale" >&2 ;;
  esac
  echo "install.sh: installed $("$1" --version) at $1" >&2
}

if [ -n "$archive" ]; then
  archive_dir=$(cd "$(dirname "$archive")" && pwd)
  name=$(basename "$archive")
  # The expected checksum: NAME.sha256 beside it, else its line in SHA256SUMS there.
  if [ -f "$archive_dir/$name.sha256" ]; then
    expected=$(awk '{print $1; exit}' "$archive_dir/$name.sha256")
  elif [ -f "$archive_dir/SHA256SUMS" ]; then
    expected=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1; exit}' "$archive_dir/SHA256SUMS")
  else
    expected=""
  fi
  [ -n "$expected" ] || die "no checksum for $name: expected $name.sha256 or a SHA256SUMS line beside it; not installing an unverified archive"
  if command -v sha256sum >/dev/null; then
    actual=$(sha256sum "$archive_dir/$name" | awk '{print $1}')
  else
    actual=$(shasum -a 256 "$archive_dir/$name" | awk '{print $1}')
  fi
  [ "$actual" = "$expected" ] || die "checksum mismatch for $name: expected $expected, got $actual; not installing it"
  echo "install.sh: $name: checksum verified (sha256 $actual)" >&2
  root=${HALE_INSTALL_ROOT:-$HOME/.local}
  bin_dir=$root/bin
  unpack=$(mktemp -d)
  trap 'rm -rf "$unpack"' EXIT
  tar -xzf "$archive_dir/$name" -C "$unpack"
  bin=$(find "$unpack" -mindepth 2 -maxdepth 2 -type f -name hale | head -n 1)
  [ -n "$bin" ] || die "$name holds no hale binary"
  mkdir -p "$bin_dir"
  install -m 0755 "$bin" "$bin_dir/.hale.tmp.$$"
  mv -f "$bin_dir/.hale.tmp.$$" "$bin_dir/hale"
  finish "$bin_dir/hale" "$bin_dir"
  exit 0
fi

# No archive: build this checkout.
[ -f "$here/Cargo.toml" ] || die "no release archive for this machine ($(uname -sm)) beside install.sh and no source to build: pass --from DIR|FILE"
command -v cargo >/dev/null || die "no release archive found and cargo not found: pass --from DIR|FILE with a release archive, or install a Rust toolchain (https://rustup.rs) and run ./install.sh again"
root_args=()
if [ -n "${HALE_INSTALL_ROOT:-}" ]; then
  root_args=(--root "$HALE_INSTALL_ROOT")
  bin_dir="$HALE_INSTALL_ROOT/bin"
else
  bin_dir="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
fi
echo "install.sh: no release archive: building hale (cargo install --path . --locked)" >&2
cargo install --quiet --path "$here" --locked --force "${root_args[@]}"
hale="$bin_dir/hale"
[ -x "$hale" ] || die "cargo install finished but $hale is missing"
finish "$hale" "$bin_dir"
