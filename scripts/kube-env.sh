#!/usr/bin/env bash
# A real Kubernetes control plane for hale's tests, on loopback: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok (tainted fake nodes that run fake pods) and one
# real node (kubelet, kube-proxy, containerd: scripts/kube-node.sh), plus kubectl. Every binary is built from its Go module through the Go module proxy (no
# release archive or image can be downloaded here) and cached in a folder keyed by version, so
# only the first run pays (about 10 minutes and 6 GB of module and build cache on 2 cores).
#
#   scripts/kube-env.sh          build what is missing, start what is not running, write the env
#   scripts/kube-env.sh build    only build (cache the binaries)
#
# Called by scripts/test-env.sh; re-running it is harmless. Adds HALE_TEST_KUBECONFIG (an admin
# kubeconfig) and HALE_TEST_KUBECTL to $HALE_TEST_STATE/env.
set -euo pipefail

STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
CACHE=${HALE_TEST_CACHE:-/var/cache/hale-test}
KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
# The Prometheus operator's CRDs, which the tests install to check that monitoring objects are
# applied only when their kinds are served.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# The staging modules (k8s.io/api, k8s.io/client-go, ...) are released as v0.<minor>.<patch>.
STAGING_VERSION=v0.${KUBE_VERSION#v1.}

KUBE_BIN=$CACHE/kube-$KUBE_VERSION/bin
ETCD_BIN=$CACHE/etcd-$ETCD_VERSION/bin
KWOK_DIR=$CACHE/kwok-$KWOK_VERSION

KUBE_STATE=$STATE/kube
APISERVER_PORT=${HALE_KUBE_APISERVER_PORT:-6443}
KUBE_ETCD_PORT=${HALE_KUBE_ETCD_PORT:-2389}
CM_PORT=${HALE_KUBE_CONTROLLER_MANAGER_PORT:-10357}
SCHED_PORT=${HALE_KUBE_SCHEDULER_PORT:-10359}
KWOK_PORT=${HALE_KUBE_KWOK_PORT:-10347}

log() { printf 'kube-env: %s\n' "$*" >&2; }
die() { printf 'kube-env: error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go not found: the control plane is built from Go modules"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# --- build ------------------------------------------------------------------------------------

# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from a helper module that
# requires k8s.io/kubernetes. Its go.mod points every staging module at ./staging/..., which a
# dependency's replace directives cannot do for us: each one is replaced by its released
# version, the list generated from that go.mod. sample-cli-plugin and sample-controller are
# left out (the proxy refuses them and nothing built here imports them).
build_kube() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy) missing=0
  for b in "${want[@]}"; do [ -x "$KUBE_BIN/$b" ] || missing=1; done
  [ $missing = 0 ] && return 0
  log "building Kubernetes $KUBE_VERSION from its Go module (cold: about 10 minutes)"
  local started=$SECONDS mod src
  mod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  [ -f "$mod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
  src=$CACHE/kube-$KUBE_VERSION/module
  rm -rf "$src" && mkdir -p "$src"
  {
    echo "module hale-test/kube-plane"
    echo
    echo "go $(sed -n 's/^go //p' "$mod")"
    echo
    sed -n 's/^godebug /godebug /p' "$mod"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    sed -n 's,^[[:space:]]*\(k8s\.io/[A-Za-z0-9_.-]*\) => \./staging/.*,\1,p' "$mod" \
      | grep -v -x -e k8s.io/sample-cli-plugin -e k8s.io/sample-controller \
      | while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
    echo ")"
  } >"$src/go.mod"
  grep -q "k8s.io/client-go => k8s.io/client-go $STAGING_VERSION" "$src/go.mod" \
    || die "no staging replacements found in $mod"
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$src/bin"
  (cd "$src" && go build -mod=mod -trimpath -ldflags "$ldflags" -o bin/ \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy) \
    || die "go build of Kubernetes $KUBE_VERSION failed"
  mkdir -p "$KUBE_BIN"
  for b in "${want[@]}"; do mv "$src/bin/$b" "$KUBE_BIN/$b.tmp" && mv "$KUBE_BIN/$b.tmp" "$KUBE_BIN/$b"; done
  log "built Kubernetes $KUBE_VERSION in $((SECONDS - started))s"
}

# etcd from a helper module requiring go.etcd.io/etcd/server/v3 (whose main package is the
# server): `go install` refuses modules with replace directives, and the server's go.mod has some.
build_etcd() {
  [ -x "$ETCD_BIN/etcd" ] && return 0
  log "building etcd $ETCD_VERSION from its Go module"
  local started=$SECONDS src=$CACHE/etcd-$ETCD_VERSION/module
  rm -rf "$src" && mkdir -p "$src"
  printf 'module hale-test/etcd\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$src/go.mod"
  (cd "$src" && go build -mod=mod -trimpath -ldflags "-s -w" -o etcd go.etcd.io/etcd/server/v3) \
    || die "go build of etcd $ETCD_VERSION failed"
  mkdir -p "$ETCD_BIN"
  mv "$src/etcd" "$ETCD_BIN/etcd.tmp" && mv "$ETCD_BIN/etcd.tmp" "$ETCD_BIN/etcd"
  log "built etcd $ETCD_VERSION in $((SECONDS - started))s"
}

# kwok and the stages it needs: v0.8.0 has no built-in stages, they ship as files in the module.
build_kwok() {
  [ -x "$KWOK_DIR/bin/kwok" ] && [ -f "$KWOK_DIR/stages.yaml" ] && [ -f "$KWOK_DIR/rbac.yaml" ] && return 0
  log "building kwok $KWOK_VERSION from its Go module"
  local started=$SECONDS dir
  mkdir -p "$KWOK_DIR/bin"
  [ -x "$KWOK_DIR/bin/kwok" ] || GOBIN="$KWOK_DIR/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
    || die "go install of kwok $KWOK_VERSION failed"
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -d "$dir/kustomize/stage" ] || die "no kustomize/stage/ in sigs.k8s.io/kwok@$KWOK_VERSION"
  local stages=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml) s out=$KWOK_DIR/stages.yaml.tmp
  : >"$out"
  for s in "${stages[@]}"; do
    [ -f "$dir/kustomize/stage/$s" ] || die "stage $s not found under $dir/kustomize/stage"
    { echo "---"; cat "$dir/kustomize/stage/$s"; } >>"$out"
  done
  mv "$out" "$KWOK_DIR/stages.yaml"
  cp "$dir/kustomize/rbac/role.yaml" "$KWOK_DIR/rbac.yaml.tmp" && mv "$KWOK_DIR/rbac.yaml.tmp" "$KWOK_DIR/rbac.yaml"
  [ -x "$KWOK_DIR/gobin/kwok" ] && mv "$KWOK_DIR/gobin/kwok" "$KWOK_DIR/bin/kwok"
  log "built kwok $KWOK_VERSION in $((SECONDS - started))s"
}

# The CRD files from the operator's module (no build: only its example/ folder is used).
fetch_prometheus_crds() {
  local out=$CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds dir
  [ -f "$out/monitoring.coreos.com_servicemonitors.yaml" ] && return 0
  log "fetching the Prometheus operator $PROMETHEUS_OPERATOR_VERSION CRDs from its Go module"
  dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -d "$dir/example/prometheus-operator-crd" ] || die "no example/prometheus-operator-crd in the operator's module"
  mkdir -p "$out.tmp"
  cp "$dir"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$out.tmp/"
  chmod 644 "$out.tmp"/*.yaml
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_kube
build_etcd
build_kwok
fetch_prometheus_crds
[ "${1:-}" = build ] && exit 0

# --- certificates and kubeconfigs ---------------------------------------------------------------

# One CA signs the apiserver's serving certificate (for 127.0.0.1) and a client certificate per
# user: admin (system:masters), the controller manager and the scheduler (their built-in RBAC
# identities), kwok (bound below to kwok's own ClusterRole) and a user with no rights at all, for
# the tests of an RBAC refusal.
PKI=$KUBE_STATE/pki
pki() {
  [ -f "$PKI/done" ] && return 0
  log "creating certificates under $PKI"
  rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=hale-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    client() { # file, CN, O (optional)
      local subj="/CN=$2"; [ -n "${3:-}" ] && subj="/O=$3/CN=$2"
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$subj" 2>/dev/null
      printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    }
    client admin hale-test-admin system:masters
    client controller-manager system:kube-controller-manager
    client scheduler system:kube-scheduler
    client kwok kwok
    client nobody hale-test-nobody
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
  )
  touch "$PKI/done"
}

kubeconfig() { # file, then one "context:user" per argument; the first is the current context
  local file=$1; shift
  local first=${1%%:*}
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "clusters:"
    echo "- name: hale-test"
    echo "  cluster:"
    echo "    server: https://127.0.0.1:$APISERVER_PORT"
    echo "    certificate-authority: $PKI/ca.crt"
    echo "users:"
    for cu in "$@"; do
      echo "- name: ${cu#*:}"
      echo "  user:"
      echo "    client-certificate: $PKI/${cu#*:}.crt"
      echo "    client-key: $PKI/${cu#*:}.key"
    done
    echo "contexts:"
    for cu in "$@"; do
      echo "- name: ${cu%%:*}"
      echo "  context:"
      echo "    cluster: hale-test"
      echo "    user: ${cu#*:}"
    done
    echo "current-context: $first"
  } >"$file.tmp"
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

# --- processes ----------------------------------------------------------------------------------

# shellcheck source=scripts/daemons.sh
source "$(dirname "$0")/daemons.sh"

started_at=$SECONDS
mkdir -p "$KUBE_STATE"
pki
# The real node's certificates, one of which (the apiserver's client certificate towards the
# kubelet) the apiserver is started with.
export KUBE_VERSION HALE_TEST_STATE=$STATE HALE_TEST_CACHE=$CACHE
"$(dirname "$0")/kube-node.sh" pki
ADMIN=$KUBE_STATE/admin.kubeconfig
kubeconfig "$ADMIN" hale-test:admin hale-test-nobody:nobody
kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" cm:controller-manager
kubeconfig "$KUBE_STATE/scheduler.kubeconfig" scheduler:scheduler
kubeconfig "$KUBE_STATE/kwok.kubeconfig" kwok:kwok
KUBECTL=("$KUBE_BIN/kubectl" --kubeconfig "$ADMIN")

start kube-etcd "$ETCD_BIN/etcd" --name hale-kube --data-dir "$KUBE_STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$KUBE_ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$KUBE_ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((KUBE_ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((KUBE_ETCD_PORT + 1))" \
  --initial-cluster "hale-kube=http://127.0.0.1:$((KUBE_ETCD_PORT + 1))" \
  --listen-metrics-urls "http://127.0.0.1:$((KUBE_ETCD_PORT + 2))" \
  --quota-backend-bytes 1073741824
wait_for kube-etcd 60 curl -fsS "http://127.0.0.1:$((KUBE_ETCD_PORT + 2))/health"

# --endpoint-reconciler-type=none: the apiserver would otherwise publish 127.0.0.1 as the
# kubernetes Service's endpoint, which the API refuses (loopback addresses are not endpoints).
start kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$KUBE_ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
  --endpoint-reconciler-type none --cert-dir "$KUBE_STATE/apiserver-certs" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" --authorization-mode Node,RBAC --anonymous-auth=false \
  --enable-admission-plugins NodeRestriction \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=false --profiling=false
wait_for kube-apiserver 120 "${KUBECTL[@]}" get --raw /readyz

start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
  --kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$KUBE_STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$CM_PORT" --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --use-service-account-credentials=true --profiling=false
start kube-scheduler "$KUBE_BIN/kube-scheduler" \
  --kubeconfig "$KUBE_STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$KUBE_STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$KUBE_STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --profiling=false

# kwok's own ClusterRole, bound to its user; applied with server-side apply, so re-runs are no-ops.
"${KUBECTL[@]}" apply --server-side --field-manager hale-test-env -f "$KWOK_DIR/rbac.yaml" >/dev/null
"${KUBECTL[@]}" create clusterrolebinding kwok-controller --clusterrole kwok-controller \
  --user kwok --dry-run=client -o yaml \
  | "${KUBECTL[@]}" apply --server-side --field-manager hale-test-env -f - >/dev/null

# The tests' own stage: a pod labelled hale.test/crash-loop=true "runs" and crash-loops
# (Running, Ready false, CrashLoopBackOff with a BackOff event), so a Deployment of it never
# becomes available and, with a short progressDeadlineSeconds, exceeds its deadline. Its weight
# beats pod-ready's for the pods it matches.
cat >"$KUBE_STATE/crash-loop-stage.yaml" <<'STAGE'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: hale-test-crash-loop
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["hale.test/crash-loop"]'
      operator: 'In'
      values:
      - 'true'
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
  weight: 10000
  next:
    event:
      type: Warning
      reason: BackOff
      message: Back-off restarting failed container
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: false
        restartCount: 3
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: {{ printf "back-off 40s restarting failed container=%s" .name | Quote }}
      {{ end }}
      {{ with NodeIPWith $.spec.nodeName }}
      hostIP: {{ . | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
STAGE

start kube-kwok "$KWOK_DIR/bin/kwok" --kubeconfig "$KUBE_STATE/kwok.kubeconfig" \
  --config "$KWOK_DIR/stages.yaml" --config "$KUBE_STATE/crash-loop-stage.yaml" \
  --manage-nodes-with-label-selector kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds 40 --node-ip 127.0.0.1 --cidr 10.245.0.0/16 \
  --server-address "127.0.0.1:$KWOK_PORT"

# Two fake nodes for kwok to keep Ready. They are tainted, so that only pods that ask for a fake
# node (a toleration and the nodeSelector type=kwok: the tests that want many nodes, or pods
# that only pretend to run) land there; everything else runs on the real node (kube-node.sh).
for n in 0 1; do
  cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  labels:
    kubernetes.io/hostname: kwok-node-$n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kwok.x-k8s.io/node: fake
    type: kwok
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
spec:
  taints:
  - {key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
---
NODE
done | "${KUBECTL[@]}" apply --server-side --field-manager hale-test-env -f - >/dev/null
nodes_ready() {
  [ "$("${KUBECTL[@]}" get nodes -l kwok.x-k8s.io/node=fake \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
    | grep -c True)" = 2 ]
}
wait_for kube-kwok 120 nodes_ready
# Pods need the default ServiceAccount, which the controller manager creates per namespace.
wait_for kube-controller-manager 120 "${KUBECTL[@]}" get serviceaccount default -n default
log "control plane ready in $((SECONDS - started_at))s (kubeconfig $ADMIN)"

# The namespaces of test runs that were killed (so a test's cleanup never ran) keep their
# pods, which the real node would start again at its next start and run beside the next suite:
# delete every test namespace whose test process (the pid in its name) is gone.
stale=0
while read -r ns; do
  if [[ $ns =~ ^(hale|hale-node|hale-lc|hale-watch|ci|np)-([0-9]+)(-|$) ]] \
    && [ ! -d "/proc/${BASH_REMATCH[2]}" ]; then
    "${KUBECTL[@]}" delete namespace "$ns" --wait=false >/dev/null 2>&1 && stale=$((stale + 1))
  fi
done < <("${KUBECTL[@]}" get namespaces -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
[ "$stale" = 0 ] || log "deleting $stale namespaces of test runs that were killed"

# The real node. A machine that cannot run one (no cgroups, no iptables) says so in one line
# (exit 3) and the env gets no HALE_TEST_KUBE_NODE: the tests that need it then fail under
# HALE_TEST_REQUIRE_ALL=1.
KUBE_NODE=
node_rc=0
"$(dirname "$0")/kube-node.sh" start || node_rc=$?
case $node_rc in
  0) KUBE_NODE=hale-node ;;
  3) log "continuing without a real node" ;;
  *) die "the real node did not start (logs: $STATE/kube-*.log)" ;;
esac

# The tests' environment: replace earlier lines of ours, keep everyone else's.
touch "$STATE/env"
grep -v -e '^export HALE_TEST_KUBECONFIG=' -e '^export HALE_TEST_KUBECTL=' \
  -e '^export HALE_TEST_PROMETHEUS_CRDS=' -e '^export HALE_TEST_KUBE_NODE=' \
  "$STATE/env" >"$STATE/env.tmp" || true
{
  echo "export HALE_TEST_KUBECONFIG=$ADMIN"
  echo "export HALE_TEST_KUBECTL=$KUBE_BIN/kubectl"
  echo "export HALE_TEST_PROMETHEUS_CRDS=$CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds"
  [ -z "$KUBE_NODE" ] || echo "export HALE_TEST_KUBE_NODE=$KUBE_NODE"
} >>"$STATE/env.tmp"
mv "$STATE/env.tmp" "$STATE/env"
