#!/usr/bin/env bash
# The real-QEMU experiments: many test-bed runs (tests/qemu/testbed.sh), their results kept as
# JSON lines, then `bda-sim qemu-report` turns them into a CSV, SVG plots and a Markdown table
# of medians and spreads beside bda-sim's prediction for the same scenario.
#
#   tests/qemu/experiment.sh policies|bda-plus [--repeats N] [--out DIR] [--cc LIST] [--append]
#                                              [--policies LIST] [--report-only]
#
# policies (default out docs/qemu/policies): QEMU's default, static, incremental and the
#   paper's BDA on a 256 MiB guest (the paper's 1 GiB scaled down for a 100 Mbit/s link under
#   TCG) in three workloads, a steady 20 Mbit/s service, under cubic and under BBR; each run
#   cancelled after 90 s and recorded as "did not converge". Workloads (the guest's command line):
#     idle            rate=0                                      nothing but the system
#     kernel-compile  rate=1200 ws_mib=32                         4.9 MB/s over a hot 32 MiB
#     intermittent    rate=0 burst=1200 burst_ms=5000 period_ms=10000   the same, 5 s on, 5 s off
# bda-plus (default out docs/qemu/bda-plus): QEMU's default, the paper's BDA, BDA+ and BDA+
#   with --on-unmet auto-converge (bda-plus-auto-converge) on a 128 MiB guest with a busy workload (1,800 pages/s over 64 MiB, 59 Mbit/s: more than half
#   the free bandwidth) and a bursty service (idle, 64 Mbit/s for the last 5 s of every 20 s),
#   under cubic and under BBR; each run cancelled after 120 s.
#
# Runs go repeat by repeat, every policy once per repeat, so drift on the machine hits every
# policy alike. Needs root (namespaces), like the test bed. DIR gets results.jsonl (a line per
# run), log.txt (the test bed's output) and stderr.txt (its messages, with bda-qemu's round
# lines). --cc LIST (comma-separated; default cubic,bbr) runs only those congestion controls;
# --append adds the runs to DIR's results instead of starting them afresh; --policies LIST
# runs only those of the experiment's policies (with --append, to add one). --report-only
# redoes the report from DIR/results.jsonl. A run that fails outright (no result line) is
# counted as missing in the report.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

experiment=${1:-}
shift || true
repeats=3
out=
report_only=0
ccs=cubic,bbr
append=0
policies=
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) repeats=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --report-only) report_only=1; shift ;;
        --cc) ccs=$2; shift 2 ;;
        --append) append=1; shift ;;
        --policies) policies=$2; shift 2 ;;
        *) echo "experiment.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$experiment" in
    policies | bda-plus) ;;
    *) echo "usage: tests/qemu/experiment.sh policies|bda-plus [--repeats N] [--out DIR] [--cc LIST] [--append] [--report-only]" >&2; exit 2 ;;
esac
out=${out:-docs/qemu/$experiment}
mkdir -p "$out"
results="$out/results.jsonl"

# One test-bed invocation; its result lines are appended to the results, its messages (the
# guests' lines, bda-qemu's round lines) to stderr.txt.
bed() {
    tests/qemu/testbed.sh --json --repeats "$repeats" "$@" 2> >(tee -a "$out/stderr.txt" >&2) |
        tee -a "$out/log.txt" | grep '^{' >>"$results" || true
}

if [ "$report_only" -eq 0 ]; then
    if [ "$append" -eq 0 ]; then
        : >"$results"
        : >"$out/log.txt"
        : >"$out/stderr.txt"
    fi
    cargo build --quiet --release -p bda-sim
    for cc in ${ccs//,/ }; do
        if [ "$experiment" = policies ]; then
            for spec in "idle|rate=0" "kernel-compile|rate=1200 ws_mib=32" \
                "intermittent|rate=0 burst=1200 burst_ms=5000 period_ms=10000"; do
                bed --label "${spec%%|*}" --workload "${spec#*|}" --memory-mib 256 \
                    --policies "${policies:-qemu-default,static,incremental,bda}" --service-rate 20Mbit/s --cc "$cc" \
                    --max-time 90s
            done
        else
            bed --label busy --workload "rate=1800 ws_mib=64" --memory-mib 128 \
                --policies "${policies:-qemu-default,bda,bda-plus,bda-plus-auto-converge}" \
                --service-rate 0 --service-burst-rate 64Mbit/s --service-burst 5s --service-period 20s \
                --cc "$cc" --max-time 120s
        fi
    done
fi
target/release/bda-sim qemu-report --experiment "$experiment" --results "$results" --out "$out"
