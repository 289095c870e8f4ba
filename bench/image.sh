#!/usr/bin/env bash
# `hale build` images, ratios in one run (not a timed test), for one `hale new` service:
#   1. image size over the stripped binary: native at most 512 KiB compressed overhead, engine
#      (`--engine docker`) at most 3 MB;
#   2. a warm native build against a warm engine build: at most 0.5;
#   3. hale native against ko side by side, both pushing to the local registry, ko's base being
#      hale's own base layer pushed there (KO_DEFAULTBASEIMAGE): build time and image size at
#      most ko's;
#   4. a re-push of an unchanged image: 0 bytes uploaded.
# No image can be pulled here: the engine build's builder stage is GO_BUILDER_IMAGE (default
# $HALE_TEST_GO_BUILDER_IMAGE, which scripts/test-env.sh imports) and its runtime stage is hale's
# own base layer pushed to the local registry (the same base ko gets), with `--network none` and
# a vendor/ folder; without a builder image the engine rows are skipped, saying so.
#
#   bench/image.sh                   # RUNS=3, release build, REGISTRY=$HALE_TEST_OCI_REGISTRY
#   HALE=target/debug/hale KO_VERSION=v0.19.1 bench/image.sh
#
# ko is `go install`ed from the Go module proxy once, into /var/cache/hale-test/ko-<version>.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
KO_VERSION=${KO_VERSION:-v0.19.1}
REGISTRY=${REGISTRY:-${HALE_TEST_OCI_REGISTRY:-}}
if [ -z "$REGISTRY" ]; then
  echo "bench/image.sh: no registry: set REGISTRY=127.0.0.1:PORT (or source /tmp/hale-test-env/env)" >&2
  exit 2
fi
GO_BUILDER_IMAGE=${GO_BUILDER_IMAGE:-${HALE_TEST_GO_BUILDER_IMAGE:-}}
command -v go >/dev/null || { echo "bench/image.sh: go is not on PATH" >&2; exit 2; }
if [ -z "${HALE:-}" ]; then
  cargo build --release --quiet
  HALE=$PWD/target/release/hale
fi
export DOCKER_HOST=${DOCKER_HOST:-${HALE_TEST_DOCKER_HOST:-unix:///var/run/docker.sock}}
unset SOURCE_DATE_EPOCH

KO_DIR=/var/cache/hale-test/ko-$KO_VERSION
KO=$KO_DIR/bin/ko
if [ ! -x "$KO" ]; then
  echo "installing ko $KO_VERSION into $KO_DIR (once)"
  rm -rf "$KO_DIR.partial"
  mkdir -p "$KO_DIR.partial/bin"
  GOBIN=$KO_DIR.partial/bin GOFLAGS=-buildvcs=false go install "github.com/google/ko@$KO_VERSION"
  mv "$KO_DIR.partial" "$KO_DIR"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HALE_STATE_DIR=$work/state
svc=$work/benchsvc
"$HALE" -q new benchsvc --dir "$svc" --no-tidy
(cd "$svc" && go mod vendor) # every build below needs no network
git -C "$svc" init -q
git -C "$svc" add -A
git -C "$svc" -c user.email=bench@localhost -c user.name=bench -c commit.gpgsign=false commit -qm bench
arch=$(go env GOARCH)

ms_now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# time_ms OUT command... → milliseconds of one run; the command's stdout goes to OUT.
time_ms() {
  local out=$1 t0 t1
  shift
  t0=$(ms_now)
  "$@" >"$out"
  t1=$(ms_now)
  echo $(((t1 - t0) / 1000000))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t ? "met" : "NOT met")}'; }

# Python helpers: image size in a layout or a registry, gzip of the binary, pushing a base.
cat >"$work/img.py" <<'PY'
import gzip, io, json, sys, tarfile, urllib.request, hashlib

def layout_blob(layout, digest):
    return open(f"{layout}/blobs/{digest.replace(':', '/', 1)}", "rb").read()

def layout_manifest(layout):
    top = json.load(open(f"{layout}/index.json"))["manifests"][0]
    return json.loads(layout_blob(layout, top["digest"]))

def binary_gzip(layout, path):
    """gzip -6 of the binary at PATH (a suffix of its name) inside the image."""
    m = layout_manifest(layout)
    for l in m["layers"]:
        with tarfile.open(fileobj=io.BytesIO(layout_blob(layout, l["digest"]))) as t:
            for e in t.getmembers():
                if e.isfile() and e.name.endswith(path):
                    return len(gzip.compress(t.extractfile(e).read(), 6, mtime=0))
    raise SystemExit("no binary in the image")

ACCEPT = ",".join(["application/vnd.oci.image.manifest.v1+json",
                   "application/vnd.docker.distribution.manifest.v2+json",
                   "application/vnd.oci.image.index.v1+json",
                   "application/vnd.docker.distribution.manifest.list.v2+json"])

def get(url):
    req = urllib.request.Request(url, headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req) as r:
        return r.read()

def registry_size(ref, arch):
    """Bytes a registry stores for one platform: manifest + config + layers."""
    host, rest = ref.split("/", 1)
    repo, tag = (rest.split("@") if "@" in rest else rest.rsplit(":", 1))
    data = get(f"http://{host}/v2/{repo}/manifests/{tag}")
    m = json.loads(data)
    if "manifests" in m:
        d = next(e["digest"] for e in m["manifests"] if e.get("platform", {}).get("architecture") == arch)
        data = get(f"http://{host}/v2/{repo}/manifests/{d}")
        m = json.loads(data)
    return len(data) + m["config"]["size"] + sum(l["size"] for l in m["layers"])

def put_blob(host, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST")
    loc = urllib.request.urlopen(req).headers["Location"]
    if loc.startswith("/"):
        loc = f"http://{host}{loc}"
    sep = "&" if "?" in loc else "?"
    req = urllib.request.Request(f"{loc}{sep}digest={digest}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(req)
    return digest

def push_hale_base(layout, ref):
    """hale's static base layer (the first layer of a native image) as an image of its own."""
    host, rest = ref.split("/", 1)
    repo, tag = rest.rsplit(":", 1)
    m = layout_manifest(layout)
    cfg = json.loads(layout_blob(layout, m["config"]["digest"]))
    base = m["layers"][0]
    put_blob(host, repo, layout_blob(layout, base["digest"]))
    config = json.dumps({
        "architecture": cfg["architecture"], "os": cfg["os"],
        "config": {"User": "65532:65532",
                   "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]},
        "rootfs": {"type": "layers", "diff_ids": cfg["rootfs"]["diff_ids"][:1]},
    }, sort_keys=True).encode()
    cd = put_blob(host, repo, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                   "size": len(config)},
        "layers": [base],
    }).encode()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", data=manifest,
                                 method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(req)

cmd = sys.argv[1]
if cmd == "binary-gzip":
    print(binary_gzip(sys.argv[2], sys.argv[3]))
elif cmd == "registry-size":
    print(registry_size(sys.argv[2], sys.argv[3]))
elif cmd == "push-base":
    push_hale_base(sys.argv[2], sys.argv[3])
elif cmd == "field":
    doc = json.load(open(sys.argv[2]))
    for k in sys.argv[3].split("."):
        doc = doc[int(k)] if k.isdigit() else doc[k]
    print(doc)
PY
py() { python3 "$work/img.py" "$@"; }

build_native() { "$HALE" build "$svc" --engine native --output json "$@"; }

# 1 + 2: native, warm.
build_native >"$work/native.json"
native_runs=()
for _ in $(seq "$RUNS"); do native_runs+=("$(time_ms "$work/native.json" build_native)"); done
native_ms=$(printf '%s\n' "${native_runs[@]}" | median)
layout=$(py field "$work/native.json" oci_layout)
native_size=$(py field "$work/native.json" compressed_size)
binary=$(py field "$work/native.json" platforms.0.binary_size)
binary_gz=$(py binary-gzip "$layout" app/benchsvc)
native_over=$((native_size - binary_gz))
# hale's own base layer as an image in the registry: ko's base and the engine build's runtime.
base_ref=$REGISTRY/bench/hale-static:1
py push-base "$layout" "$base_ref"

echo "service benchsvc (hale new), linux/$arch, $RUNS warm runs each, medians"
echo
echo "## image size over the stripped binary ($binary bytes, $binary_gz gzipped)"
printf '%-28s %10s bytes compressed, overhead %8s bytes (target <= %s): %s\n' \
  "native" "$native_size" "$native_over" 524288 "$(verdict "$native_over" 524288)"

engine_ms=""
build_engine() {
  "$HALE" build "$svc" --engine docker --output json --network none \
    --build-arg "BUILDER_IMAGE=$GO_BUILDER_IMAGE" --build-arg "RUNTIME_IMAGE=$base_ref"
}
set +e
if [ -n "$GO_BUILDER_IMAGE" ]; then
  engine_err=$(build_engine 2>&1 >"$work/engine.json")
  engine_code=$?
else
  engine_err="no Go builder image: set GO_BUILDER_IMAGE (scripts/test-env.sh imports one)"
  engine_code=2
fi
set -e
if [ "$engine_code" = 2 ]; then
  echo "engine: skipped: $(echo "$engine_err" | tail -1)"
elif [ "$engine_code" != 0 ]; then
  echo "engine: skipped: hale build --engine docker failed ($engine_code): $(echo "$engine_err" | tail -1)"
else
  engine_runs=()
  for _ in $(seq "$RUNS"); do engine_runs+=("$(time_ms "$work/engine.json" build_engine)"); done
  engine_ms=$(printf '%s\n' "${engine_runs[@]}" | median)
  engine_size=$(py field "$work/engine.json" compressed_size)
  engine_binary_gz=$(py binary-gzip "$(py field "$work/engine.json" oci_layout)" benchsvc)
  engine_over=$((engine_size - engine_binary_gz))
  printf '%-28s %10s bytes compressed, overhead %8s bytes (target <= %s): %s\n' \
    "engine (--engine docker)" "$engine_size" "$engine_over" 3000000 "$(verdict "$engine_over" 3000000)"
fi

echo
echo "## warm native build against a warm engine build"
echo "native: ${native_ms} ms (runs: ${native_runs[*]})"
if [ -n "$engine_ms" ]; then
  r=$(ratio "$native_ms" "$engine_ms")
  echo "engine: ${engine_ms} ms (runs: ${engine_runs[*]})"
  echo "native / engine: $r (target <= 0.5): $(verdict "$r" 0.5)"
else
  echo "engine: skipped (see above)"
fi

# 3: ko, its base being hale's own base layer pushed to the registry.
export KO_DEFAULTBASEIMAGE=$base_ref KO_DOCKER_REPO=$REGISTRY/bench/ko
hale_ref=$REGISTRY/bench/hale:bench
push_hale() { build_native --push "$hale_ref"; }
push_ko() { (cd "$svc" && "$KO" build --bare --platform "linux/$arch" ./cmd/benchsvc 2>"$work/ko.log"); }
push_hale >"$work/push.json"
push_ko >"$work/ko.ref" || { cat "$work/ko.log" >&2; exit 1; }
hale_push_runs=()
ko_runs=()
for _ in $(seq "$RUNS"); do
  hale_push_runs+=("$(time_ms "$work/push.json" push_hale)")
  ko_runs+=("$(time_ms "$work/ko.ref" push_ko)")
done
hale_push_ms=$(printf '%s\n' "${hale_push_runs[@]}" | median)
ko_ms=$(printf '%s\n' "${ko_runs[@]}" | median)
hale_reg_size=$(py registry-size "$hale_ref" "$arch")
ko_reg_size=$(py registry-size "$(tail -1 "$work/ko.ref")" "$arch")
rt=$(ratio "$hale_push_ms" "$ko_ms")
rs=$(ratio "$hale_reg_size" "$ko_reg_size")
echo
echo "## hale native against ko $KO_VERSION (build + push to $REGISTRY, base $base_ref)"
echo "hale build --push: ${hale_push_ms} ms (runs: ${hale_push_runs[*]}), $hale_reg_size bytes in the registry"
echo "ko build --bare:   ${ko_ms} ms (runs: ${ko_runs[*]}), $ko_reg_size bytes in the registry"
echo "time hale / ko: $rt (target <= 1): $(verdict "$rt" 1)"
echo "size hale / ko: $rs (target <= 1): $(verdict "$rs" 1)"

# 4: the timed hale runs above were re-pushes; one more, read from its report.
push_hale >"$work/repush.json"
up_bytes=$(py field "$work/repush.json" push.uploaded_bytes)
up_blobs=$(py field "$work/repush.json" push.uploaded_blobs)
there=$(py field "$work/repush.json" push.existing_blobs)
echo
echo "## re-push of an unchanged image"
echo "uploaded $up_blobs blobs, $up_bytes bytes; $there already there (target 0 bytes): $(verdict "$up_bytes" 0)"
