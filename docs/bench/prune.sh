#!/usr/bin/env bash
# prune and check at a million blobs, arca beside restic 0.14
# (docs/bench/README.md), run as `make prune-bench`.
#
#   docs/bench/prune.sh [FILES]
#
# FILES (default 1,000,000) small files of 100-400 random bytes in
# directories of 1,000: each file is one blob for both tools. Both back the
# tree up, then again without its last 30% of directories, forget the
# first snapshot (so 30% of the blobs are unreferenced), then prune and
# check (structure only). arca prunes twice: as it runs beside backups
# (a marking run, then a sweeping run with --margin 0s) and in a copy of the
# repository with --now (one run, exclusive, like restic's). Prints wall
# seconds and peak RSS (GNU time) of each step.
set -euo pipefail

FILES=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${PRUNE_BENCH_DIR:-}" ]; then
	WORK=$PRUNE_BENCH_DIR # kept afterwards
	mkdir -p "$WORK"
else
	WORK=$(mktemp -d /var/tmp/arca-prune.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
command -v restic >/dev/null || { echo "restic is not installed (apt-get install restic)"; exit 1; }
(cd "$ROOT" && go build -o "$WORK/arca" ./cmd/arca)
export ARCA_PASSWORD=bench RESTIC_PASSWORD=bench
A=("$WORK/arca" -r "$WORK/arca-repo" --cache-dir "$WORK/arca-cache")
R=(restic -r "$WORK/restic-repo" --cache-dir "$WORK/restic-cache")

python3 - "$WORK/data" "$FILES" <<'PY'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
for d in range((n + 999) // 1000):
    dp = os.path.join(root, "d%04d" % d)
    os.makedirs(dp)
    for f in range(min(1000, n - d * 1000)):
        with open(os.path.join(dp, "f%04d" % f), "wb") as fh:
            fh.write(rng.randbytes(rng.randint(100, 400)))
PY
echo "data: $FILES files, $(du -sh "$WORK/data" | cut -f1)"

# measure NAME CMD...: wall seconds and peak RSS of one command.
measure() {
	local name=$1; shift
	/usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; exit 1; }
	read -r wall rss <"$WORK/time"
	printf '%-34s %9.2f s %8d MB\n' "$name" "$wall" $((rss / 1024))
}

"${A[@]}" init -q
"${R[@]}" init -q
dirs=$(ls "$WORK/data" | wc -l)
cut=$((dirs * 7 / 10))
measure "arca backup (all)" "${A[@]}" backup -q --host h "$WORK/data"
measure "restic backup (all)" "${R[@]}" backup -q --host h "$WORK/data"
ls "$WORK/data" | tail -n +$((cut + 1)) | while read -r d; do rm -rf "$WORK/data/$d"; done
measure "arca backup (70%)" "${A[@]}" backup -q --host h "$WORK/data"
measure "restic backup (70%)" "${R[@]}" backup -q --host h "$WORK/data"
"${A[@]}" forget -q --keep-last 1
"${R[@]}" forget -q --keep-last 1
cp -a "$WORK/arca-repo" "$WORK/arca-repo-now"
cp -a "$WORK/arca-cache" "$WORK/arca-cache-now"

measure "restic prune" "${R[@]}" prune
measure "arca prune (mark)" "${A[@]}" prune --margin 0s
measure "arca prune (sweep)" "${A[@]}" prune --margin 0s
measure "arca prune --now" "$WORK/arca" -r "$WORK/arca-repo-now" --cache-dir "$WORK/arca-cache-now" prune --now
echo "repository size after prune: arca $(du -sh "$WORK/arca-repo" | cut -f1), arca --now $(du -sh "$WORK/arca-repo-now" | cut -f1), restic $(du -sh "$WORK/restic-repo" | cut -f1)"
measure "restic check" "${R[@]}" check
measure "arca check" "${A[@]}" check
