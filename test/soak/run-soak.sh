#!/usr/bin/env bash
# The full soak (docs/reliability.md, "Soak"): in fresh processes of the test runner app
# (test/Microsoft.ML.Fossil.FreshProcess),
#   1. fits the tests' MiniLM review classifier (320 reviews, 3 epochs, 64 tokens) and saves it;
#   2. makes PREDICTIONS (default 20,000) PredictionEngine predictions in one process over the 500
#      whole held-out reviews, after a warm-up of 200, sampling VmRSS every 500 predictions;
#   3. fits a 64-review classifier twice in one process, disposing each, and reads VmRSS after each step.
# Prints each step's JSON, keeps them in OUT (default out/soak), and exits 1 when RSS grows by 50 MiB or
# more after the warm-up, or when the second fit + dispose leaves RSS 50 MiB or more above the first.
#
# Usage: test/soak/run-soak.sh [--no-build]      PREDICTIONS=2000 OUT=/tmp/soak test/soak/run-soak.sh
# Takes about 5 to 15 minutes on 2 cores (most of it the predictions); run it on an otherwise idle machine
# when the rate matters.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
predictions="${PREDICTIONS:-20000}"
out="${OUT:-out/soak}"
bound=50

if [[ "${1:-}" != "--no-build" ]]; then
  dotnet build -c Release test/Microsoft.ML.Fossil.FreshProcess -v quiet -nologo
fi
runner=test/Microsoft.ML.Fossil.FreshProcess/bin/Release/net10.0/Microsoft.ML.Fossil.FreshProcess.dll
mkdir -p "$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" | tee "$out/load.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== fit: the review classifier" >&2
dotnet "$runner" fit samples/data/fine_foods_train.tsv "$work/model.zip"

echo "== soak: $predictions predictions" >&2
tail -n +2 samples/data/fine_foods_test.tsv | cut -f1,2 > "$work/input.tsv"   # sentence, label; no header
dotnet "$runner" soak "$work/model.zip" "$work/input.tsv" "$predictions" --warmup 200 --sample-every 500 | tee "$out/soak.json"

echo "== fit twice" >&2
dotnet "$runner" fit-twice samples/data/fine_foods_train.tsv --rows 64 --epochs 1 | tee "$out/fit-twice.json"

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/load.txt"
growth=$(jq '[.growth_after_warmup_mib, .peak_growth_after_warmup_mib] | max' "$out/soak.json")
second=$(jq '.second_minus_first_after_dispose_mib' "$out/fit-twice.json")
echo "soak: RSS $(jq -r '"start \(.start_rss_mib), peak \(.peak_rss_mib), end \(.end_rss_mib) MiB; \(.predictions_per_second) predictions/s"' "$out/soak.json"); growth after warm-up ${growth} MiB (bound ${bound})"
echo "fit twice: after the second fit + dispose, RSS is ${second} MiB above the first's (bound ${bound}; after malloc_trim)"
if awk -v g="$growth" -v s="$second" -v b="$bound" 'BEGIN { exit !(g < b && s < b) }'; then
  echo "PASS"
else
  echo "FAIL"
  exit 1
fi
