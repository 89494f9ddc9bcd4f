#!/usr/bin/env bash
# One GPU session's checks in one call (the device machine is lent for minutes): tools/device-check.sh
# (GPU tests, the README's main job on the GPU, the benchmark suite against PyTorch, compute-sanitizer
# over the newest kernels), then orbit's side of the benchmarks again under other settings (no CUDA
# graphs, fusion variants, a per-kernel profile: ORBIT_SESSION_VARIANTS below), Nsight Compute over the
# tensor-core kernels where the machine has ncu, and everything packed
# into $OUT/logs.tgz (the device tool brings back at most 8 files) plus $OUT/summary.txt.
#
#   bash tools/device-session.sh            # on the GPU machine, with device_bin/ carried
# Knobs: ORBIT_SESSION_BUDGET (seconds for device-check.sh, default 330), ORBIT_SESSION_VARIANTS (default
# "norecompute fusereduceall egnnfused egnnfwd mlpfma fusereduce": the changes of 2026-11-29 first; "" skips), ORBIT_SESSION_WORKLOADS (default mlp,pinn,egnn,idem),
# ORBIT_SESSION_VARIANT_LIMIT (seconds per variant, 90), ORBIT_SESSION_FLOW_LIMIT (the LJ13 flow step
# below, 180), ORBIT_SESSION_DEADLINE (below, 540) and device-check.sh's own knobs. The whole script
# takes about 6 minutes on an H100 with the defaults, plus the flow step when the bundle carries samples.
#
# Killed at the device call's time limit, a script loses whatever it had not yet put under $OUT, so
# this one keeps to ORBIT_SESSION_DEADLINE seconds (default 540: for a `run` with timeout_s 600):
# each step gets what is left (a variant that would not fit is skipped), and logs.tgz is written again
# after every step. At most 8 files come back from $OUT: the likelihood's finished ODE batches travel
# as one lj13_eval.tgz (unpack it into the flow's F.eval/ folder).
set -uo pipefail
cd "$(dirname "$0")/.."
final=${OUT:-device-logs}
work=$(mktemp -d /tmp/orbit-session.XXXXXX)
mkdir -p "$final"
session_start=$SECONDS
deadline=${ORBIT_SESSION_DEADLINE:-540}
left() { echo $((deadline - (SECONDS - session_start))); }
pack() {  # everything so far into $OUT (atomically: a kill mid-way leaves the previous pack)
  tar czf "$final/logs.tgz.part" -C "$work" . 2>/dev/null && mv "$final/logs.tgz.part" "$final/logs.tgz"
  cp "$work/summary.txt" "$final/" 2>/dev/null
  if [ -d "$work/lj13_flow.safetensors.eval" ]; then
    tar czf "$final/lj13_eval.tgz.part" -C "$work/lj13_flow.safetensors.eval" . &&
      mv "$final/lj13_eval.tgz.part" "$final/lj13_eval.tgz"
  fi
}
export PYTHONUNBUFFERED=1
export ORBIT_CHECK_STEPS=${ORBIT_CHECK_STEPS:-"info gpu cli bench memcheck"}
budget=${ORBIT_SESSION_BUDGET:-330}
[ "$budget" -gt $(($(left) - 30)) ] && budget=$(($(left) - 30))
export ORBIT_CHECK_BUDGET=$budget
export ORBIT_CHECK_LIMIT_gpu=${ORBIT_CHECK_LIMIT_gpu:-120} ORBIT_CHECK_LIMIT_cli=${ORBIT_CHECK_LIMIT_cli:-40}
export ORBIT_CHECK_LIMIT_bench=${ORBIT_CHECK_LIMIT_bench:-200} ORBIT_BENCH_BUDGET=${ORBIT_BENCH_BUDGET:-195}
export ORBIT_BENCH_STEP_LIMIT=${ORBIT_BENCH_STEP_LIMIT:-50} ORBIT_BENCH_PEER_BUDGET=${ORBIT_BENCH_PEER_BUDGET:-2}
export ORBIT_BENCH_COMPILE=${ORBIT_BENCH_COMPILE:-egnn_step_dw4,sampler}
export ORBIT_CHECK_LIMIT_memcheck=${ORBIT_CHECK_LIMIT_memcheck:-40}
export ORBIT_CHECK_TC=${ORBIT_CHECK_TC:-"gpu mlp_fused: tensor-core*,gpu egnn_message: the tensor-core*,gpu fusion:*,gpu agree: op harness forward*"}
OUT=$work bash tools/device-check.sh
pack
# orbit's side of the benchmarks again under each variant of ORBIT_SESSION_VARIANTS (no peers):
#   default  as built (what the bench step measured against the peers, or alone when it was skipped)
#   nograph  ORBIT_CUDA_GRAPH=0: no CUDA graph replay
#   nofuse   ORBIT_FUSION=0
#   interp   ORBIT_FUSION=1 with the interpreting fused kernel
#   codegen  ORBIT_FUSION=1 ORBIT_FUSION_CODEGEN=1: NVRTC-generated fused kernels
#   profile  ORBIT_PROFILE=1: every program's per-kernel profile, in profile.log
#   mlpstream  ORBIT_MLP_CUDA_RESIDENT=0: the fused MLP kernel reloading weights per tile (mlp only)
#   egnnfused  ORBIT_EGNN_FUSED=1: the egnn_message CUDA kernels instead of their expansion (egnn, idem;
#              f32 at H 32/64/128: the tensor-core forward and backward; correct on an H200 2026-11-28,
#              and 1.1-2.5x slower than the expansion there)
#   egnnprofile  the same with ORBIT_PROFILE=1 (egnn only, 2 repeats): where the fused kernels' time goes
#   egnnfwd    ORBIT_EGNN_FUSED=forward: the fused forward (f32: tensor cores) with its VJP expanded
#              (egnn, idem: the sampler is forward only)
#   mlpfma     ORBIT_MLP_CUDA_TC=0: the fused MLP on FP32 FMAs instead of tensor cores (mlp only)
#   pairordered ORBIT_PAIR_CUDA_ORDERED=1: the pair kernel visiting every pair from both ends (energy only)
#   fusereduce ORBIT_FUSION_REDUCE=1: fused groups closed by a sum / mean on CUDA too (egnn, idem, pinn;
#              since 2026-11-28 not over the last axis)
#   fusereduceall  ORBIT_FUSION_REDUCE=all: also over the last axis (as timed on an H200 2026-11-28:
#              forwards 12-19% faster, the DW4 and PINN steps up to 7% slower; since 2026-11-29 those
#              sums run 8 lanes per output, untimed: is the loss gone?)
#   norecompute ORBIT_FUSION_RECOMPUTE=0: cheap values written once instead of recomputed in each
#              reading chain (written 2026-11-29 without a GPU: 7-14% less modeled traffic on the PINN,
#              EGNN and iDEM steps; egnn, idem, pinn)
variants=${ORBIT_SESSION_VARIANTS-norecompute fusereduceall egnnfused egnnfwd mlpfma fusereduce}
workloads=${ORBIT_SESSION_WORKLOADS:-mlp,pinn,egnn,idem}
for variant in $variants; do
  envs=()
  case $variant in
    default) ;;
    nograph) envs=(ORBIT_CUDA_GRAPH=0) ;;
    nofuse) envs=(ORBIT_FUSION=0) ;;
    interp) envs=(ORBIT_FUSION=1 ORBIT_FUSION_CODEGEN=0) ;;
    codegen) envs=(ORBIT_FUSION=1 ORBIT_FUSION_CODEGEN=1 ORBIT_CACHE_DIR="$work/kernel-cache") ;;
    profile) envs=(ORBIT_PROFILE=1) ;;
    mlpstream) envs=(ORBIT_MLP_CUDA_RESIDENT=0) ;;
    egnnfused) envs=(ORBIT_EGNN_FUSED=1) ;;
    egnnprofile) envs=(ORBIT_EGNN_FUSED=1 ORBIT_PROFILE=1) ;;
    egnnfwd) envs=(ORBIT_EGNN_FUSED=forward) ;;
    mlpfma) envs=(ORBIT_MLP_CUDA_TC=0) ;;
    pairordered) envs=(ORBIT_PAIR_CUDA_ORDERED=1) ;;
    fusereduce) envs=(ORBIT_FUSION_REDUCE=1) ;;
    fusereduceall) envs=(ORBIT_FUSION_REDUCE=all) ;;
    norecompute) envs=(ORBIT_FUSION_RECOMPUTE=0) ;;
    *) echo "unknown variant $variant"; continue ;;
  esac
  repeat=5
  [ "$variant" = profile ] || [ "$variant" = egnnprofile ] && repeat=2
  wl=$workloads
  [ "$variant" = mlpstream ] && wl=mlp
  [ "$variant" = mlpfma ] && wl=mlp
  [ "$variant" = pairordered ] && wl=energy
  [ "$variant" = egnnfwd ] && wl=egnn,idem
  [ "$variant" = egnnfused ] && wl=egnn,idem
  [ "$variant" = egnnprofile ] && wl=egnn
  [ "$variant" = fusereduce ] || [ "$variant" = fusereduceall ] || [ "$variant" = norecompute ] && wl=egnn,idem,pinn
  [ "$variant" = profile ] && wl=${ORBIT_SESSION_PROFILE_WORKLOADS:-$workloads}
  limit=${ORBIT_SESSION_VARIANT_LIMIT:-90}
  if [ $(($(left) - limit)) -lt 20 ]; then
    echo "== orbit_bench ($variant): skipped, $(left) s left of the session's ${deadline} s" | tee -a "$work/summary.txt"
    continue
  fi
  echo "== orbit_bench ($variant: ${envs[*]:-as built}): $wl"
  env "${envs[@]}" timeout "$limit" "${ORBIT_DEVICE_BIN:-device_bin}/orbit_bench" \
    --device cuda --workload "$wl" --repeat $repeat --json "$work/$variant.json" >"$work/$variant.log" 2>&1
  echo "rc=$?" >>"$work/$variant.log"
  grep -E 'median' "$work/$variant.log" | cut -c1-100
  pack
done
rm -rf "$work/kernel-cache"
# Where the tensor-core kernels' time goes (they were 1.1-2.5x slower than what they replace, and the
# fused MLP 0.71x PyTorch eager, on an H200 2026-11-28): Nsight Compute's speed-of-light, occupancy,
# warp-stall and memory sections for their first launches, when the machine has ncu.
# ORBIT_SESSION_NCU_LIMIT seconds (default 90; 0 skips).
ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
ncu_limit=${ORBIT_SESSION_NCU_LIMIT:-90}
[ "$ncu_limit" -gt $(($(left) - 60)) ] && ncu_limit=$(($(left) - 60))
if [ -n "$ncu_bin" ] && [ "$ncu_limit" -ge 30 ]; then
  echo "== Nsight Compute (limit ${ncu_limit} s): $ncu_bin"
  t_ncu=$SECONDS
  for spec in "mlp mlp_infer mlp_tc_kernel" "egnn egnn_forward_lj13 egnn_tc_forward" "egnn egnn_step_lj13 egnn_tc_backward"; do
    set -- $spec
    rest=$((ncu_limit - (SECONDS - t_ncu)))
    [ "$rest" -lt 10 ] && break
    env ORBIT_EGNN_FUSED=1 ORBIT_CUDA_GRAPH=0 timeout "$rest" "$ncu_bin" --kernel-name "regex:$3" --launch-count 1 \
      --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
      --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
      "${ORBIT_DEVICE_BIN:-device_bin}/orbit_bench" --device cuda --workload "$1" --case "$2" --repeat 1 --warmup 0 \
      >>"$work/ncu.log" 2>&1
    echo "rc=$? ($spec)" >>"$work/ncu.log"
  done
  # Why warps wait, per issue slot (2026-11-29: the SASS of these kernels was 160-870 KiB before their
  # reshaping; "no_instruction" is the instruction-fetch stall that code size causes). A separate call:
  # a metric name this ncu does not know fails only this one.
  stalls=""
  for r in no_instruction long_scoreboard short_scoreboard math_pipe_throttle mio_throttle wait barrier \
           not_selected branch_resolving lg_throttle dispatch_stall; do
    stalls="$stalls${stalls:+,}smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio"
  done
  for spec in "mlp mlp_infer mlp_tc_kernel" "egnn egnn_step_lj13 egnn_tc_backward"; do
    set -- $spec
    rest=$((ncu_limit - (SECONDS - t_ncu)))
    [ "$rest" -lt 10 ] && break
    env ORBIT_EGNN_FUSED=1 ORBIT_CUDA_GRAPH=0 timeout "$rest" "$ncu_bin" --kernel-name "regex:$3" --launch-count 1 \
      --metrics "$stalls" \
      "${ORBIT_DEVICE_BIN:-device_bin}/orbit_bench" --device cuda --workload "$1" --case "$2" --repeat 1 --warmup 0 \
      >>"$work/ncu.log" 2>&1
    echo "rc=$? (stalls: $spec)" >>"$work/ncu.log"
  done
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per|stalled|rc=" "$work/ncu.log" | head -50
  pack
elif [ -z "$ncu_bin" ]; then
  echo "== Nsight Compute: not on this machine" | tee -a "$work/summary.txt"
fi
# Issue 8's LJ13 sampler, when the bundle carries an iDEM run folder as lj13_idem/ (its checkpoint.safetensors,
# the replay buffer beside it, metrics.jsonl): that run trained further on CUDA for ORBIT_SESSION_IDEM_LIMIT
# seconds (default 200; 0 skips) towards the paper's 1000 epochs (`--resume --time-limit`: it stops after
# the epoch in progress with the checkpoint written), brought back as $OUT/lj13_idem.tgz (unpack it
# over the run's folder; `orbit idem train ... --resume` continues it on any machine). Without a bundled
# run, ORBIT_SESSION_IDEM_FRESH=1 starts a new one (the paper preset from epoch 0) the same way.
idem_bin=${ORBIT_DEVICE_BIN:-device_bin}
idem_limit=${ORBIT_SESSION_IDEM_LIMIT:-200}
[ "$idem_limit" -gt $(($(left) - 40)) ] && idem_limit=$(($(left) - 40))
idem_resume=()
if [ -f "$idem_bin/lj13_idem/checkpoint.safetensors" ]; then
  idem_resume=(--resume)
  cp -r "$idem_bin/lj13_idem" "$work/lj13_idem"
elif [ "${ORBIT_SESSION_IDEM_FRESH:-0}" = 1 ]; then
  mkdir -p "$work/lj13_idem"
fi
if [ -d "$work/lj13_idem" ] && [ "$idem_limit" -ge 30 ]; then
  echo "== LJ13 iDEM training (limit ${idem_limit} s${idem_resume[0]:+, resumed})"
  # --time-limit leaves 25 s for the epoch in progress and the checkpoint; timeout is the backstop.
  timeout "$idem_limit" "$idem_bin/orbit" idem train --system lj13 --preset paper --epochs 1000 --device cuda \
    --out "$work/lj13_idem" "${idem_resume[@]}" --time-limit $((idem_limit - 25)) --quiet >"$work/lj13_idem.log" 2>&1
  echo "rc=$?" >>"$work/lj13_idem.log"
  tail -c 400 "$work/lj13_idem.log"
  kept=()
  for f in checkpoint.safetensors checkpoint.safetensors.buffer.npy metrics.jsonl results.json; do
    [ -f "$work/lj13_idem/$f" ] && kept+=("$f")
  done
  tar czf "$final/lj13_idem.tgz.part" -C "$work/lj13_idem" "${kept[@]}" && mv "$final/lj13_idem.tgz.part" "$final/lj13_idem.tgz"
  rm -rf "$work/lj13_idem"
  pack
fi
# Issue 8's LJ13 likelihood, when the bundle carries iDEM samples (ORBIT_BUNDLE_EXTRA=.../lj13_samples.npy
# bash tools/make-device-bundle.sh): the paper-preset flow trained on CUDA and kept in $OUT (timeout's
# SIGTERM ends training after the step in progress with the flow saved); `orbit idem nll --flow` resumes
# it on any machine (also from a bundled device_bin/lj13_flow.safetensors), then the exact-divergence NLL,
# whose finished ODE batches are kept in $OUT/lj13_flow.safetensors.eval/ (a bundled one is continued):
# brought back, they spare the CPU those batches. ORBIT_SESSION_FLOW_LIMIT seconds (default 180; 0 skips).
bin=${ORBIT_DEVICE_BIN:-device_bin}
flow_limit=${ORBIT_SESSION_FLOW_LIMIT:-180}
[ "$flow_limit" -gt $(($(left) - 25)) ] && flow_limit=$(($(left) - 25))
if [ -f "$bin/lj13_samples.npy" ] && [ "$flow_limit" -ge 30 ]; then
  [ -f "$bin/lj13_flow.safetensors" ] && cp "$bin/lj13_flow.safetensors" "$final/lj13_flow.safetensors"
  [ -d "$bin/lj13_flow.safetensors.eval" ] && cp -r "$bin/lj13_flow.safetensors.eval" "$work/"
  echo "== LJ13 flow and NLL (limit ${flow_limit} s)"
  # timeout's SIGTERM: training stops after the step in progress, evaluation at the next ODE step, both
  # with their work kept; --flow-every keeps the flow current in $OUT should the call be killed instead.
  timeout "$flow_limit" "$bin/orbit" idem nll --system lj13 --samples "$bin/lj13_samples.npy" --preset paper \
    --device cuda --flow "$final/lj13_flow.safetensors" --flow-every 250 --n 1000 --importance-n 1000 \
    --eval-cache "$work/lj13_flow.safetensors.eval" --out "$final/lj13_nll.json" >"$work/lj13_nll.log" 2>&1
  echo "rc=$?" >>"$work/lj13_nll.log"
  tail -c 600 "$work/lj13_nll.log"
elif [ -f "$bin/lj13_samples.npy" ]; then
  echo "== LJ13 flow and NLL: skipped, $(left) s left of the session's ${deadline} s" | tee -a "$work/summary.txt"
fi
pack
exit 0
