#!/usr/bin/env bash
# Try a gantry cluster on one machine: a `gantry server` on the host and N `gantry agent` nodes,
# each in a network namespace of its own (its own address, private containerd, pod CIDR and
# routes), joined by a bridge as machines on one LAN would be. The same commands, without the
# namespaces, make a cluster of real machines (README, "A cluster of nodes").
#
#   bash scripts/cluster-netns.sh up [--nodes N] [gantry server options…]   # Ctrl-C stops it
#   bash scripts/cluster-netns.sh down                                      # removes it all
#
# Ctrl-C stops the server and the agents and leaves the pods running (as `gantry up` does); the
# next `up` adopts them. `down` removes the pods, the namespaces, the bridge and the state.
# State and logs live in $GANTRY_CLUSTER_DIR (default /var/lib/gantry-netns).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${GANTRY_CLUSTER_DIR:-/var/lib/gantry-netns}"
bridge="${GANTRY_CLUSTER_BRIDGE:-gnetns0}"
subnet="${GANTRY_CLUSTER_SUBNET:-10.250.0}"   # the "LAN": the host is .1, node i is .(10+i)
host_ip="$subnet.1"
port=7480
ingress_port=18080
gantry=(node "$PWD/bin/gantry.js")
forward_rule=(FORWARD -i "$bridge" -o "$bridge" -m comment --comment "gantry netns cluster" -j ACCEPT)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'cluster-netns: %s\n' "$*" >&2; exit 1; }
ns_of() { echo "gantry-node-$1"; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, bridges, containerd)"

node_count() {
  local n=0
  while [ -d "$dir/node-$((n + 1))" ]; do n=$((n + 1)); done
  echo "$n"
}

down() {
  local n i ns
  n=$(node_count)
  for i in $(seq 1 "$n"); do
    ns=$(ns_of "$i")
    if ip netns pids "$ns" >/dev/null 2>&1; then
      say "removing node-$i (its pods, pod network and containerd)"
      nsenter --net="/run/netns/$ns" "${gantry[@]}" down --data-dir "$dir/node-$i" || true
      ip netns delete "$ns"
    fi
  done
  ip link delete "$bridge" 2>/dev/null || true
  while iptables -w -D "${forward_rule[@]}" 2>/dev/null; do :; done
  # Routes this script added to the nodes' pod CIDRs went with the bridge.
  rm -rf "$dir"
  say "cluster removed"
}

up() {
  local nodes=3
  local server_args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="$2"; shift 2 ;;
      *) server_args+=("$1"); shift ;;
    esac
  done
  [[ "$nodes" =~ ^[1-9][0-9]?$ ]] || die "--nodes takes a number from 1 to 99"

  bash scripts/setup.sh

  say "the LAN: bridge $bridge ($host_ip/24) and $nodes namespaces"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$host_ip/24" dev "$bridge"
  fi
  ip link set "$bridge" up
  # A host filtering bridged frames (br_netfilter) must still let the nodes talk.
  iptables -w -C "${forward_rule[@]}" 2>/dev/null || iptables -w -I "${forward_rule[@]}"
  sysctl -qw net.ipv4.ip_forward=1
  for i in $(seq 1 "$nodes"); do
    local ns veth
    ns=$(ns_of "$i")
    veth="${bridge}n$i"
    mkdir -p "$dir/node-$i"
    ip netns pids "$ns" >/dev/null 2>&1 && continue
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$bridge" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add "$subnet.$((10 + i))/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip route add default via "$host_ip"
  done

  local pids=()
  stop() {
    trap - INT TERM
    say "stopping the agents and the server (pods keep running; \`$0 down\` removes them)"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    exit 0
  }
  trap stop INT TERM

  say "gantry server on https://$host_ip:$port (log: $dir/server.log)"
  mkdir -p "$dir/server"
  "${gantry[@]}" server --data-dir "$dir/server" --listen "$host_ip:$port" --tls-san "$host_ip" \
    --ingress-listen "127.0.0.1:$ingress_port" --ingress-tls-listen off "${server_args[@]}" \
    >"$dir/server.log" 2>&1 &
  pids+=($!)
  local tries=0
  until [ -s "$dir/server/kubeconfig" ] && curl -sf --cacert "$dir/server/pki/ca.crt" "https://$host_ip:$port/healthz" >/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || die "the server did not come up in 30 s; see $dir/server.log"
    kill -0 "${pids[0]}" 2>/dev/null || die "the server exited; see $dir/server.log"
    sleep 0.1
  done

  for i in $(seq 1 "$nodes"); do
    local token ns
    ns=$(ns_of "$i")
    "${gantry[@]}" token revoke "node-$i" --data-dir "$dir/server" >/dev/null 2>&1 || true
    token=$("${gantry[@]}" token create "node-$i" --role agent --node "node-$i" --data-dir "$dir/server")
    say "node-$i ($subnet.$((10 + i))) joins (log: $dir/node-$i.log)"
    # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup mount runc needs.
    nsenter --net="/run/netns/$ns" "${gantry[@]}" agent --server "https://$host_ip:$port" --token "$token" \
      --certificate-authority "$dir/server/pki/ca.crt" --node-name "node-$i" --data-dir "$dir/node-$i" \
      >"$dir/node-$i.log" 2>&1 &
    pids+=($!)
  done

  export KUBECONFIG="$dir/server/kubeconfig"
  say "waiting for $nodes Ready nodes"
  tries=0
  until [ "$(kubectl get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)" -eq "$nodes" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 600 ] || die "the nodes did not all turn Ready in 60 s; see $dir/node-*.log"
    sleep 0.1
  done
  # The host is not a node: give it routes to the pods (for the ingress and for curl).
  kubectl get nodes -o jsonpath='{range .items[*]}{.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' |
    while read -r cidr addr; do [ -n "$cidr" ] && ip route replace "$cidr" via "$addr" dev "$bridge"; done
  kubectl get nodes -o wide

  cat >&2 <<EOF

The cluster runs. In another terminal:
  export KUBECONFIG=$dir/server/kubeconfig
  kubectl get pods -A -o wide                 # the sample app, on the nodes Ready when it synced
  kubectl logs deploy/web; kubectl exec -it deploy/web -- sh   # on whichever node it runs
  curl -H 'Host: web.localhost' http://127.0.0.1:$ingress_port/   # through the ingress
  ip netns exec $(ns_of 1) curl http://<cluster-ip>/              # a Service, from node-1
Ctrl-C stops gantry (pods keep running); \`bash $0 down\` removes the cluster.
EOF
  wait "${pids[0]}"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) die "usage: $0 up [--nodes N] [gantry server options…] | down" ;;
esac
