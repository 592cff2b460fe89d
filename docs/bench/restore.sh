#!/usr/bin/env bash
# Fresh restore against restore over an identical target (docs/bench/README.md),
# run as `make restore-bench`.
#
#   docs/bench/restore.sh [RUNS]
#
# The data set is ~240 MB: the Go source tree plus 6 random 14 MiB files.
# For each run: restore into an empty directory, then again over it (every
# file already in place), each after a sync and with the page cache warm.
# Prints wall times and the bytes each restore read from the repository.
# Each run restores into its own directory, deleting none: on ext4,
# creating files within minutes of deleting many scans past the recently
# deleted inodes, which tripled the system time of a restore after an
# rm -rf of the one before.
set -euo pipefail

RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${RESTORE_BENCH_DIR:-$(mktemp -d /var/tmp/arca-restore.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT
(cd "$ROOT" && go build -o "$WORK/arca" ./cmd/arca)
export ARCA_PASSWORD=bench
A=("$WORK/arca" -r "$WORK/repo" --cache-dir "$WORK/cache")

mkdir -p "$WORK/data"
cp -r "$(go env GOROOT)/src" "$WORK/data/src"
for i in $(seq 1 6); do head -c $((14 << 20)) /dev/urandom >"$WORK/data/random$i"; done
echo "data: $(du -sh "$WORK/data" | cut -f1), $(find "$WORK/data" | wc -l) entries"
"${A[@]}" init -q
"${A[@]}" backup -q "$WORK/data"

field() { sed -n "s/.*\"$1\":\([0-9.e+]*\).*/\1/p" | tail -1; }
# Wall time includes unlocking the key (argon2id, the same for both);
# work is the restore's own total_duration.
printf '%-4s %8s %8s %12s %10s %10s %14s %7s %7s\n' run fresh_s work_s fresh_read ident_s work_s ident_read wall% work%
for run in $(seq 1 "$RUNS"); do
	sync
	s=$(date +%s.%N); out=$("${A[@]}" --json restore latest --target "$WORK/target$run"); e=$(date +%s.%N)
	fresh=$(echo "$e - $s" | awk '{ print $1 - $3 }'); fread=$(echo "$out" | field bytes_read); fwork=$(echo "$out" | field total_duration)
	sync
	s=$(date +%s.%N); out=$("${A[@]}" --json restore latest --target "$WORK/target$run"); e=$(date +%s.%N)
	same=$(echo "$e - $s" | awk '{ print $1 - $3 }'); sread=$(echo "$out" | field bytes_read); swork=$(echo "$out" | field total_duration)
	awk -v r="$run" -v f="$fresh" -v fw="$fwork" -v fr="$fread" -v s="$same" -v sw="$swork" -v sr="$sread" \
		'BEGIN { printf "%-4s %8.2f %8.2f %12d %10.2f %10.3f %14d %6.1f%% %6.1f%%\n", r, f, fw, fr, s, sw, sr, 100*s/f, 100*sw/fw }'
done
diff -r "$WORK/data" "$WORK/target$RUNS$WORK/data" && echo "restore identical to the data (diff -r)"
