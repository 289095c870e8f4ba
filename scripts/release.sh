#!/usr/bin/env bash
# Build hale's Linux release: per target a static binary in an archive, its SHA-256 and an SPDX
# SBOM, reproducibly (the same commit gives the same bytes; scripts/release-reproducible.sh
# checks it).
#
#   scripts/release.sh [--out DIR] [--target TRIPLE]... [--action OWNER/REPO]
#                                                         build with cargo, then package
#   scripts/release.sh --binary FILE --target TRIPLE      package a binary built elsewhere
#
# --action names the GitHub repository whose action.yml installs hale (where these archives are
# published as release assets): the binary writes `uses: OWNER/REPO@v<version>` into the
# workflows `hale new` generates. Default: $GITHUB_REPOSITORY when building in GitHub Actions,
# else the checkout's `origin` remote when it is a GitHub repository, else none (the generated
# workflows then install hale from a release folder, vars.HALE_RELEASE_URL). docs/ci.md.
#
# Targets: x86_64-unknown-linux-musl by default (static: musl's libc is linked in), plus
# aarch64-unknown-linux-musl when its rustup target is installed and a cross C compiler and
# linker (aarch64-linux-musl-gcc or aarch64-linux-gnu-gcc) is on PATH; say --target to choose.
# Needs: cargo with the targets' rust-std (rustup target add …), a C compiler for the target
# (musl-gcc from Debian's musl-tools for x86_64; ring compiles C), python3 (the SBOM), GNU tar,
# gzip, sha256sum.
#
# Output in DIR (default target/release-dist):
#   hale-<version>-<target>.tar.gz          hale-<version>-<target>/{hale,install.sh,README.md,LICENSE?,hale.spdx.json}
#   hale-<version>-<target>.tar.gz.sha256   `sha256sum` line for the archive (install.sh checks it)
#   hale-<version>-<target>.spdx.json       the SBOM, also beside the archive
#   SHA256SUMS                              every archive and SBOM
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

die() { printf 'release.sh: %s\n' "$*" >&2; exit 2; }
log() { printf 'release.sh: %s\n' "$*" >&2; }

out=$root/target/release-dist
targets=()
binary=""
action=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --target) targets+=("${2:?--target needs a triple}"); shift 2 ;;
    --binary) binary=${2:?--binary needs a file}; shift 2 ;;
    --action) action=${2:?--action needs OWNER/REPO}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || die "no version in Cargo.toml"
# One timestamp for everything: the last commit's, or the variable when the caller set it.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

cross_cc() { # the C compiler for a target, or nothing
  case "$1" in
    x86_64-unknown-linux-musl) command -v musl-gcc || command -v x86_64-linux-musl-gcc || true ;;
    aarch64-unknown-linux-musl) command -v aarch64-linux-musl-gcc || command -v aarch64-linux-gnu-gcc || true ;;
    *) true ;;
  esac
}
has_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

if [ ${#targets[@]} -eq 0 ]; then
  targets=(x86_64-unknown-linux-musl)
  if has_target aarch64-unknown-linux-musl && [ -n "$(cross_cc aarch64-unknown-linux-musl)" ]; then
    targets+=(aarch64-unknown-linux-musl)
  else
    log "aarch64-unknown-linux-musl skipped: needs its rustup target and aarch64-linux-musl-gcc or aarch64-linux-gnu-gcc on PATH"
  fi
fi
# The action repository baked into the binary (scaffold::BUILT_HALE_ACTION).
if [ -n "$binary" ]; then
  [ -z "$action" ] || die "--action is baked in at build time: it does not apply to --binary"
elif [ -z "$action" ] && [ "${GITHUB_ACTIONS:-}" = true ]; then
  action=${GITHUB_REPOSITORY:-}
fi
if [ -z "$action" ] && [ -z "$binary" ]; then
  remote=$(git remote get-url origin 2>/dev/null || true)
  case "$remote" in
    https://github.com/*|git@github.com:*|ssh://git@github.com/*)
      action=${remote#https://github.com/}; action=${action#git@github.com:}
      action=${action#ssh://git@github.com/}; action=${action%.git} ;;
  esac
fi
if [ -n "$action" ]; then
  [[ $action =~ ^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$ ]] || die "--action $action: give OWNER/REPO"
  log "generated workflows will use the action $action"
elif [ -z "$binary" ]; then
  log "no action repository (--action, \$GITHUB_REPOSITORY or a GitHub origin): generated workflows install hale from vars.HALE_RELEASE_URL"
fi
if [ -n "$binary" ] && [ ${#targets[@]} -ne 1 ]; then
  die "--binary packages one binary: give exactly one --target"
fi

build() { # build TARGET → prints the binary's path
  local target=$1 cc upper
  has_target "$target" || die "rust-std for $target is not installed: rustup target add $target"
  cc=$(cross_cc "$target")
  [ -n "$cc" ] || die "no C compiler for $target on PATH (x86_64: apt-get install musl-tools)"
  upper=$(echo "$target" | tr 'a-z-' 'A-Z_')
  local cargo_home=${CARGO_HOME:-$HOME/.cargo}
  local rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
  # Reproducible: no absolute path of this machine in the binary (the checkout, cargo's
  # registry, the toolchain), one codegen unit (Cargo.toml's release profile), static C runtime.
  local flags="-C target-feature=+crt-static --remap-path-prefix=$root=/hale --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$rustup_home=/rustup"
  # The C compiler builds ring's C code. Linking stays rustc's own for the native musl target
  # (its self-contained crt and libc: a static-pie with no interpreter; musl-gcc as the linker
  # would make a dynamic one needing /lib/ld-musl-*.so.1); a cross target needs its linker.
  local linker=()
  case "$target" in
    "$(uname -m)"-*) ;;
    *) linker=("CARGO_TARGET_${upper}_LINKER=$cc") ;;
  esac
  log "building $target (cargo build --release --locked)"
  env "CC_${target//-/_}=$cc" "${linker[@]}" "CARGO_TARGET_${upper}_RUSTFLAGS=$flags" HALE_ACTION="$action" \
    nice cargo build --release --locked --target "$target" >&2
  local bin=$root/target/$target/release/hale
  # Static means no program interpreter: it runs on any Linux of its architecture.
  # (Read whole: with pipefail, `readelf | grep -q` can fail on SIGPIPE after grep's match.)
  if command -v readelf >/dev/null && [[ $(readelf -l "$bin") == *'program interpreter'* ]]; then
    die "$bin asks for a program interpreter: it is not static"
  fi
  echo "$bin"
}

sbom() { # sbom TARGET BINARY VERSION → SPDX 2.3 JSON on stdout: hale and every crate linked in
  python3 - "$1" "$2" "$3" <<'PY'
import datetime, hashlib, json, os, subprocess, sys, tomllib
target, binary, version = sys.argv[1:4]
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target],
    check=True, capture_output=True, text=True).stdout)
with open("Cargo.lock", "rb") as f:
    checksums = {(p["name"], p["version"]): p.get("checksum") for p in tomllib.load(f)["package"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
pkgs = {p["id"]: p for p in meta["packages"]}
root = meta["resolve"]["root"]
# What is linked into the binary: normal dependencies (not build scripts', not dev-), transitively.
seen, todo, edges = set(), [root], []
while todo:
    pid = todo.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        if any(k["kind"] is None for k in dep["dep_kinds"]):
            edges.append((pid, dep["pkg"]))
            todo.append(dep["pkg"])
def ref(pid):
    p = pkgs[pid]
    return "SPDXRef-Package-" + "".join(c if c.isalnum() or c in ".-" else "-" for c in f"{p['name']}-{p['version']}")
digest = hashlib.sha256(open(binary, "rb").read()).hexdigest()
created = datetime.datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), datetime.timezone.utc)
packages = []
for pid in sorted(seen, key=lambda i: (pkgs[i]["name"], pkgs[i]["version"])):
    p = pkgs[pid]
    entry = {
        "SPDXID": ref(pid),
        "name": p["name"],
        "versionInfo": p["version"],
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        # Old manifests write "MIT/Apache-2.0"; SPDX says "MIT OR Apache-2.0".
        "licenseDeclared": " OR ".join(x.strip() for x in p["license"].split("/")) if p.get("license") else "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": f"pkg:cargo/{p['name']}@{p['version']}"}],
    }
    sha = checksums.get((p["name"], p["version"]))
    if sha:
        entry["checksums"] = [{"algorithm": "SHA256", "checksumValue": sha}]
    if pid == root:
        entry["checksums"] = [{"algorithm": "SHA256", "checksumValue": digest}]
        entry["primaryPackagePurpose"] = "APPLICATION"
    packages.append(entry)
doc = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": f"hale-{version}-{target}",
    "documentNamespace": f"https://spdx.org/spdxdocs/hale-{version}-{target}-{digest}",
    "creationInfo": {"created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "creators": ["Tool: hale scripts/release.sh"]},
    "packages": packages,
    "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                       "relatedSpdxElement": ref(root)}]
                     + [{"spdxElementId": ref(a), "relationshipType": "DEPENDS_ON",
                         "relatedSpdxElement": ref(b)} for a, b in sorted(set(edges))],
}
json.dump(doc, sys.stdout, indent=2, sort_keys=True)
print()
PY
}

package() { # package TARGET BINARY
  local target=$1 bin=$2 name="hale-$version-$1"
  local stage
  stage=$(mktemp -d)
  mkdir "$stage/$name"
  install -m 0755 "$bin" "$stage/$name/hale"
  install -m 0755 install.sh "$stage/$name/install.sh"
  install -m 0644 README.md "$stage/$name/README.md"
  [ -f LICENSE ] && install -m 0644 LICENSE "$stage/$name/LICENSE"
  sbom "$target" "$bin" "$version" >"$stage/$name/hale.spdx.json"
  cp "$stage/$name/hale.spdx.json" "$out/$name.spdx.json"
  # A tar that depends on the files only: sorted, one mtime, no owner names, no pax times;
  # gzip without a name or timestamp.
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
      --mode='u+rwX,go+rX,go-w' --format=gnu -C "$stage" -cf - "$name" | gzip -9 -n >"$out/$name.tar.gz"
  rm -rf "$stage"
  (cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
  log "wrote $out/$name.tar.gz ($(cut -c1-16 "$out/$name.tar.gz.sha256")…)"
}

for target in "${targets[@]}"; do
  if [ -n "$binary" ]; then
    [ -x "$binary" ] || die "--binary $binary is not an executable file"
    package "$target" "$binary"
  else
    package "$target" "$(build "$target")"
  fi
done
(cd "$out" && sha256sum -- *.tar.gz *.spdx.json >SHA256SUMS)
log "checksums in $out/SHA256SUMS"
