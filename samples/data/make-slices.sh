#!/usr/bin/env bash
# Rebuilds the data slices in this folder from the project's shared data folder (../shared/data
# beside the repository). Deterministic: the same inputs give byte-identical files.
set -euo pipefail
src="${1:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data}"
out="$(cd "$(dirname "$0")" && pwd)"

# Single sentences: every 5th training row (all 10 products appear), every 2nd testing row.
awk -F'\t' 'NR == 1 || (NR - 2) % 5 == 0' "$src/fine_foods_training.tsv" > "$out/fine_foods_train.tsv"
awk -F'\t' 'NR == 1 || (NR - 2) % 2 == 0' "$src/fine_foods_testing.tsv" > "$out/fine_foods_test.tsv"

# Sentence pairs built from those rows: row i is paired with row i + 7 (mod n) of the same file.
#   same_label: 1 when both reviews have the same label (an MRPC-shaped pair classification task);
#   positivity: 2.5 x the number of five-star reviews in the pair, 0..5 (an STS-B-shaped regression).
pairs() {
  awk -F'\t' 'BEGIN { n = 0 } NR > 1 { s[n] = $1; l[n] = $2; n++ }
    END {
      print "sentence1\tsentence2\tsame_label\tpositivity"
      for (i = 0; i < n; i++) { j = (i + 7) % n; printf "%s\t%s\t%d\t%.1f\n", s[i], s[j], (l[i] == l[j]), 2.5 * (l[i] + l[j]) }
    }' "$1"
}
pairs "$out/fine_foods_train.tsv" > "$out/fine_foods_pairs_train.tsv"
pairs "$out/fine_foods_test.tsv" > "$out/fine_foods_pairs_test.tsv"
