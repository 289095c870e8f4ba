# Sourced by scripts/kube-env.sh and scripts/kube-node.sh: the test daemons they start, each
# with its pid in $STATE/<name>.pid and its log in $STATE/<name>.log. Needs STATE, log and die.
running() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
start() { # name, then the command
  local name=$1; shift
  if running "$name"; then return 0; fi
  log "starting $name"
  nohup setsid "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}
wait_for() { # name, seconds, then the probe command
  local name=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      tail -n 30 "$STATE/$name.log" >&2 || true
      die "$name did not become healthy within ${secs}s (log above: $STATE/$name.log)"
    fi
    sleep 0.3
  done
}
