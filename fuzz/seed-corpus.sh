#!/usr/bin/env bash
# Lays the seed corpora under fuzz/corpus/<target>/ (git-ignored): every fixture spec, valid and
# invalid, for both targets, plus small edit programs for `structured` (byte 0 picks the base
# spec; edits are `[op, index_hi, index_lo, payload]` separated by 0xFF, see structured.rs).
set -euo pipefail
cd "$(dirname "$0")"
root=..
for target in compile structured; do
    mkdir -p "corpus/$target"
    for f in "$root"/fixtures/*/runners.yaml "$root"/fixtures/invalid/*.yaml; do
        name=$(echo "${f#"$root"/fixtures/}" | tr '/' '_')
        cp "$f" "corpus/$target/seed_$name"
    done
done
n=0
for base in 0 1 2 3 4 5 6; do
    for op in 0 1 2 3 4 5 6 7 8 9 10 11 12 13; do
        for payload in 'x' '$A' '{runner}-{env}' 'a-b'; do
            idx=$(( (base * 7 + op * 3 + n) % 40 ))
            printf "\\x$(printf %02x "$base")\\x$(printf %02x "$op")\\x00\\x$(printf %02x "$idx")%s" \
                "$payload" > "corpus/structured/seed_edit_${base}_${op}_$n"
            n=$((n + 1))
        done
    done
done
echo "compile: $(ls corpus/compile | wc -l) seeds; structured: $(ls corpus/structured | wc -l) seeds"
