#!/usr/bin/env bash
# The real-QEMU test bed: real migrations of the test guest on a shaped 100 Mbit/s link shared
# with a paced service flow, the guest's memory checked on the destination after each.
#
#   tests/qemu/testbed.sh [--policies P1,P2,...] [--workload "rate=N ws_mib=M ..."]
#                         [--memory-mib N] [--service-rate R] [--cc cubic|bbr]
#                         [--service-burst-rate R --service-burst T --service-period T]
#                         [--max-time T] [--repeats N] [--label NAME] [--json] [--keep DIR]
#                         [--bda-qemu-arg ARG ...]
#
# --service-burst-rate R makes the service flow bursty: R instead of --service-rate for the
# last --service-burst (default 5s) of every --service-period (default 20s).
# --bda-qemu-arg ARG passes ARG on to bda-qemu (repeat it for each), for example
# --bda-qemu-arg --on-non-convergence --bda-qemu-arg auto-converge.
# --keep DIR copies each run's work directory (bda-qemu's transcript, serial logs) to DIR.
#
# Defaults are the reduced CI case: QEMU's own policy and BDA, one run each, a 128 MiB guest
# dirtying 1000 pages/s over 16 MiB, a 20 Mbit/s service flow, TCP cubic.
#
# Three network namespaces, made here and removed on exit (on failure and Ctrl-C too), with
# addresses only inside them:
#
#   vm  (the VM's side of its tap: the service sender) --veth-- src (source QEMU, router)
#   src --veth, tbf 100 Mbit/s on src's side-- dst (destination QEMU, service receiver)
#
# The migration and the service share the shaped link. bda-qemu reads the shaped interface's
# tx counter and, as the VM's own traffic, the rx counter of src's end of the vm link (as it
# would read a VM's tap device). Needs root (namespaces), QEMU >= 9 and the guest's gcc
# (scripts/setup.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

policies=qemu-default,bda
workload="rate=1000 ws_mib=16"
memory_mib=128
service_rate=20Mbit/s
burst=()
cc=cubic
max_time=120s
repeats=1
json=()
label=()
bda_qemu_args=()
keep=
while [ $# -gt 0 ]; do
    case "$1" in
        --policies) policies=$2; shift 2 ;;
        --workload) workload=$2; shift 2 ;;
        --memory-mib) memory_mib=$2; shift 2 ;;
        --service-rate) service_rate=$2; shift 2 ;;
        --service-burst-rate | --service-burst | --service-period) burst+=("$1" "$2"); shift 2 ;;
        --cc) cc=$2; shift 2 ;;
        --max-time) max_time=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --json) json=(--json); shift ;;
        --label) label=(--label "$2"); shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        --bda-qemu-arg) bda_qemu_args+=("--bda-qemu-arg=$2"); shift 2 ;;
        *) echo "testbed.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "testbed.sh: needs root for network namespaces" >&2
    exit 1
fi

tests/qemu/guest/build.sh
cargo build --quiet --release -p bda-qemu
guest=target/qemu-guest/guest.elf
bin=target/release

# Names unique to this run, so parallel or leftover runs never collide.
tag="bdq$$"
ns_vm="$tag-vm" ns_src="$tag-src" ns_dst="$tag-dst"
work=$(mktemp -d "${TMPDIR:-/tmp}/bda-testbed.XXXXXX")

cleanup() {
    local status=$?
    for ns in "$ns_vm" "$ns_src" "$ns_dst"; do
        if ip netns list | grep -w "$ns" >/dev/null; then
            # Only processes this run started live in its namespaces.
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
            sleep 0.2
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    if [ -n "$keep" ]; then mkdir -p "$keep" && cp -r "$work"/. "$keep"/ 2>/dev/null || true; fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$ns_vm" "$ns_src" "$ns_dst"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
# The shaped link: src mig0 <-> dst mig0.
ip link add mig0 netns "$ns_src" type veth peer name mig0 netns "$ns_dst"
# The VM's link: vm vm0 <-> src tap0.
ip link add vm0 netns "$ns_vm" type veth peer name tap0 netns "$ns_src"
ip -n "$ns_src" addr add 10.211.0.1/24 dev mig0
ip -n "$ns_dst" addr add 10.211.0.2/24 dev mig0
ip -n "$ns_src" addr add 10.211.1.1/24 dev tap0
ip -n "$ns_vm" addr add 10.211.1.2/24 dev vm0
for pair in "$ns_src mig0" "$ns_dst mig0" "$ns_src tap0" "$ns_vm vm0"; do
    set -- $pair
    ip -n "$1" link set "$2" up
done
ip netns exec "$ns_src" sysctl -q -w net.ipv4.ip_forward=1
# New namespaces inherit the host's congestion control and it cannot be set as a namespace
# default: set it on every route the flows use.
ip -n "$ns_src" route replace 10.211.0.0/24 dev mig0 congctl "$cc"
ip -n "$ns_vm" route replace default via 10.211.1.1 congctl "$cc"
ip -n "$ns_dst" route replace 10.211.1.0/24 via 10.211.0.1 congctl "$cc"
# 100 Mbit/s, the paper's Fast Ethernet.
ip netns exec "$ns_src" tc qdisc add dev mig0 root tbf rate 100mbit burst 64kb latency 20ms

echo "test bed: link 100 Mbit/s (tbf), congestion control $cc, guest ${memory_mib} MiB, workload \"$workload\", service $service_rate ${burst[*]}"
failed=0
for ((repeat = 1; repeat <= repeats; repeat++)); do
    for policy in ${policies//,/ }; do
        if ! "$bin/bda-testbed" run --policy "$policy" --guest "$guest" --memory-mib "$memory_mib" \
            --workload "$workload" --src-ns "$ns_src" --dst-ns "$ns_dst" --vm-ns "$ns_vm" \
            --dst-addr 10.211.0.2 --iface mig0 --service-iface tap0 --service-addr 10.211.0.2:5001 \
            --service-rate "$service_rate" "${burst[@]}" --cc "$cc" --link-capacity 100Mbit/s --max-time "$max_time" \
            --bda-qemu "$bin/bda-qemu" --workdir "$work/$policy-$repeat" "${label[@]}" "${json[@]}" "${bda_qemu_args[@]}"; then
            echo "test bed: the $policy run failed" >&2
            failed=1
        fi
    done
done
exit "$failed"
