#!/usr/bin/env bash
# A real worker node for the test cluster scripts/kube-env.sh starts: kubelet and kube-proxy
# (built by kube-env.sh from the same Kubernetes module as the control plane), containerd and
# runc and the CNI plugins from Debian's packages, one bridge network.
#
#   scripts/kube-node.sh pki      certificates the apiserver needs before it starts (kube-env.sh)
#   scripts/kube-node.sh start    install, configure and start the node; wait until it is Ready
#
# The node, `hale-node`:
#   - pods on the bridge `hale0`, 10.244.0.0/24 (host-local IPAM); the gateway 10.244.0.1 is the
#     node's address (a kubelet refuses a loopback node IP) and the host's address for pods:
#     pods cannot reach the host's 127.0.0.1;
#   - containerd pulls from the test registry on 127.0.0.1:5000 over plain HTTP (certs.d);
#     the sandbox ("pause") image is built here from a few lines of C and pushed there, since
#     no image can be pulled from outside;
#   - kube-proxy in iptables mode: ClusterIP Services (10.96.0.0/16) work from the host and from
#     pods (masqueradeAll, as there is no br_netfilter to de-NAT replies on the bridge);
#   - pods resolve nothing: their resolv.conf names 127.0.0.1 (their own loopback), so no DNS
#     query leaves the node.
# Settings that this kind of machine needs (cgroup v1, inside a container): kubelet
# failCgroupV1: false and cgroupDriver: cgroupfs; containerd restrict_oom_score_adj.
#
# When a part cannot run here (no cgroup controllers, no iptables, no bridge), it says so in one
# line and exits 3 without writing HALE_TEST_KUBE_NODE: the tests that need the node then fail
# under HALE_TEST_REQUIRE_ALL=1 instead of skipping.
set -euo pipefail

STATE=${HALE_TEST_STATE:-/tmp/hale-test-env}
CACHE=${HALE_TEST_CACHE:-/var/cache/hale-test}
KUBE_VERSION=${KUBE_VERSION:?set by kube-env.sh}
KUBE_BIN=$CACHE/kube-$KUBE_VERSION/bin
KUBE_STATE=$STATE/kube
PKI=$KUBE_STATE/pki
NODE_STATE=$STATE/node
APISERVER_PORT=${HALE_KUBE_APISERVER_PORT:-6443}
REGISTRY=127.0.0.1:${HALE_REGISTRY_PORT:-5000}

NODE_NAME=hale-node
BRIDGE=hale0
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
PAUSE_IMAGE=$REGISTRY/hale-test/pause:1

log() { printf 'kube-node: %s\n' "$*" >&2; }
die() { printf 'kube-node: error: %s\n' "$*" >&2; exit 1; }
cannot() { printf 'kube-node: cannot run a real node here: %s\n' "$*" >&2; exit 3; }

# --- certificates ------------------------------------------------------------------------------

# The kubelet's client identity (system:node:<name>, authorized by the Node authorizer and the
# NodeRestriction admission plugin), its serving certificate (for the gateway address, which the
# apiserver verifies against the CA), kube-proxy's identity (bound by the built-in RBAC policy to
# system:node-proxier) and the apiserver's client certificate towards kubelets (logs, exec).
node_pki() {
  [ -f "$PKI/node-done" ] && return 0
  [ -f "$PKI/ca.crt" ] || die "no CA under $PKI: run scripts/kube-env.sh"
  log "creating the node's certificates under $PKI"
  (
    cd "$PKI"
    cert() { # file, subject, extensions
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" 'extendedKeyUsage=clientAuth'
    cert kubelet-serving "/CN=$NODE_NAME" \
      "$(printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth' "$GATEWAY" "$NODE_NAME")"
    cert kube-proxy "/CN=system:kube-proxy" 'extendedKeyUsage=clientAuth'
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      'extendedKeyUsage=clientAuth'
  )
  touch "$PKI/node-done"
}

if [ "${1:-}" = pki ]; then
  node_pki
  exit 0
fi
[ "${1:-}" = start ] || die "usage: scripts/kube-node.sh pki|start"

# --- what this machine must offer --------------------------------------------------------------

[ "$(id -u)" = 0 ] || cannot "not root (kubelet and containerd need root)"
for c in cpu memory pids; do
  [ -d "/sys/fs/cgroup/$c" ] || [ -f /sys/fs/cgroup/cgroup.controllers ] \
    || cannot "no $c cgroup controller under /sys/fs/cgroup"
done
node_pki
for b in kubelet kube-proxy kubectl; do
  [ -x "$KUBE_BIN/$b" ] || die "$KUBE_BIN/$b missing: run scripts/kube-env.sh build"
done
KUBECTL=("$KUBE_BIN/kubectl" --kubeconfig "$KUBE_STATE/admin.kubeconfig")

missing=()
for p in containerd runc containernetworking-plugins iptables conntrack gcc libc6-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null; }
fi
CNI_BIN=/usr/lib/cni
[ -x "$CNI_BIN/bridge" ] || cannot "no CNI bridge plugin under $CNI_BIN"
iptables -t nat -L -n >/dev/null 2>&1 || cannot "iptables cannot read the nat table (kube-proxy needs it)"

mkdir -p "$NODE_STATE"
# Config files are replaced only when their content changes: kube-proxy exits when its
# configuration file changes under it, and re-running this script must be harmless.
write_if_changed() { # file; content on stdin
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; fi
}

# --- the bridge --------------------------------------------------------------------------------
# Made here rather than by the CNI plugin at the first pod, because the kubelet's node IP must
# exist on the host when it starts.
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link add "$BRIDGE" type bridge || cannot "cannot create the bridge $BRIDGE"
fi
# Read the addresses whole first: with pipefail, `ip … | grep -q` fails whenever grep exits on
# its match before ip has written the rest (SIGPIPE), and the add then finds the address taken.
case "$(ip -4 addr show dev "$BRIDGE")" in
  *"inet $GATEWAY/"*) ;;
  *) ip addr add "$GATEWAY/24" dev "$BRIDGE" ;;
esac
ip link set "$BRIDGE" up
sysctl -qw net.ipv4.ip_forward=1 2>/dev/null || [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] \
  || cannot "IPv4 forwarding is off and cannot be turned on"

mkdir -p "$NODE_STATE/cni/net.d" "$NODE_STATE/cni/ipam"
write_if_changed "$NODE_STATE/cni/net.d/10-hale.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "hale",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$NODE_STATE/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CNI

# --- containerd --------------------------------------------------------------------------------
mkdir -p "$NODE_STATE/containerd/certs.d/$REGISTRY"
write_if_changed "$NODE_STATE/containerd/certs.d/$REGISTRY/hosts.toml" <<HOSTS
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
HOSTS
# containerd 1.6 (Debian bookworm) reads restrict_oom_score_adj from the CRI plugin's own table.
write_if_changed "$NODE_STATE/containerd/config.toml" <<TOML
version = 2
root = "$NODE_STATE/containerd/root"
state = "$NODE_STATE/containerd/state"

[grpc]
  address = "$NODE_STATE/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$NODE_STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$NODE_STATE/containerd/certs.d"
TOML

# shellcheck source=scripts/daemons.sh
source "$(dirname "$0")/daemons.sh"

started_at=$SECONDS
start kube-containerd containerd --config "$NODE_STATE/containerd/config.toml"
wait_for kube-containerd 60 ctr --address "$NODE_STATE/containerd/containerd.sock" version

# --- the sandbox image -------------------------------------------------------------------------
# What every pod's network namespace hangs on: a process that sleeps until it is told to stop
# and reaps orphans, as Kubernetes' own pause does. Built static, pushed to the test registry
# through the test engine (no image can be pulled from outside).
if ! curl -fs -o /dev/null "http://$REGISTRY/v2/hale-test/pause/manifests/1" \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'; then
  log "building the sandbox image $PAUSE_IMAGE"
  work=$(mktemp -d "$NODE_STATE/pause.XXXXXX")
  cat >"$work/pause.c" <<'C'
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction quit = { .sa_handler = stop }, child = { .sa_handler = reap, .sa_flags = SA_NOCLDSTOP };
  sigaction(SIGINT, &quit, NULL);
  sigaction(SIGTERM, &quit, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
}
C
  mkdir -p "$work/rootfs"
  gcc -static -O2 -o "$work/rootfs/pause" "$work/pause.c"
  export DOCKER_HOST=${HALE_TEST_DOCKER_HOST:-unix://$STATE/docker.sock}
  tar -C "$work/rootfs" --owner 65535 --group 65535 -c . \
    | docker import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' - "$PAUSE_IMAGE" >/dev/null
  docker push -q "$PAUSE_IMAGE" >/dev/null || die "could not push $PAUSE_IMAGE to the test registry"
  rm -rf "$work"
fi

# --- kubeconfigs -------------------------------------------------------------------------------
kubeconfig() { # file, user
  cat >"$1.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: hale-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: $2
  context: {cluster: hale-test, user: $2}
current-context: $2
KC
  chmod 600 "$1.tmp" && mv "$1.tmp" "$1"
}
kubeconfig "$NODE_STATE/kubelet.kubeconfig" kubelet
kubeconfig "$NODE_STATE/kube-proxy.kubeconfig" kube-proxy

# --- kubelet -----------------------------------------------------------------------------------
echo "nameserver 127.0.0.1" | write_if_changed "$NODE_STATE/resolv.conf"
write_if_changed "$NODE_STATE/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
address: $GATEWAY
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$NODE_STATE/containerd/containerd.sock
resolvConf: $NODE_STATE/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
maxPods: 60
KUBELET
start kube-kubelet "$KUBE_BIN/kubelet" --config "$NODE_STATE/kubelet.yaml" \
  --kubeconfig "$NODE_STATE/kubelet.kubeconfig" --root-dir "$NODE_STATE/kubelet" \
  --hostname-override "$NODE_NAME" --node-ip "$GATEWAY" \
  --node-labels "type=real,hale.test/node=real"

# --- kube-proxy --------------------------------------------------------------------------------
# Conntrack sizes and timeouts at 0: leave the host's sysctls alone (they are read-only in a
# container). NodePorts only on the bridge address, never on the machine's other interfaces.
write_if_changed "$NODE_STATE/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $NODE_STATE/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$GATEWAY/32"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  masqueradeAll: true
PROXY
start kube-proxy "$KUBE_BIN/kube-proxy" --config "$NODE_STATE/kube-proxy.yaml"

node_ready() {
  [ "$("${KUBECTL[@]}" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for kube-kubelet 120 node_ready
wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
log "node $NODE_NAME ready in $((SECONDS - started_at))s (pods on $BRIDGE $POD_CIDR, gateway $GATEWAY)"
