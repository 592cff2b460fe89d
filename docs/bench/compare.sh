#!/usr/bin/env bash
# Side-by-side comparison of arca and restic on one data set, both
# repositories on the same disk, run as `make compare` (docs/bench/README.md).
#
#   docs/bench/compare.sh [DATA_DIR] [RUNS]
#
# DATA_DIR defaults to the Go toolchain tree ($(go env GOROOT)); RUNS to 3.
# For each run and tool: first backup into an empty repository, unchanged
# re-backup, restore into an empty directory (checked with diff -r). Times
# are wall-clock seconds, memory is peak RSS from GNU time. The source is
# read once beforehand so both tools read it from the page cache. Restored
# trees stay until the end: on ext4, creating files within minutes of
# deleting many scans past the recently deleted inodes, which tripled the
# system time of a restore after an rm -rf of the one before.
set -euo pipefail

DATA=${1:-$(go env GOROOT)}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${COMPARE_DIR:-$(mktemp -d /var/tmp/arca-compare.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT

. "$ROOT/docs/bench/lib.sh"
need restic restic || { echo 'restic is needed' >&2; exit 1; }
[ -x /usr/bin/time ] || need /usr/bin/time time

(cd "$ROOT" && go build -o "$WORK/arca" ./cmd/arca)
ARCA="$WORK/arca"
export ARCA_PASSWORD=compare RESTIC_PASSWORD=compare
tar -cf - "$DATA" 2>/dev/null | cat >/dev/null   # warm the page cache


: >"$WORK/results"
# Each measured operation starts after a sync, so no tool pays for the
# other's write-back, and the tools take turns going first.
run_tool() { # run_tool TOOL backup|restore
	case "$1-$2" in
	arca-backup)    "$ARCA" -r "$WORK/arca-repo" --cache-dir "$WORK/arca-cache" backup -q "$DATA" ;;
	restic-backup)  restic -r "$WORK/restic-repo" --cache-dir "$WORK/restic-cache" backup -q "$DATA" ;;
	arca-restore)   "$ARCA" -r "$WORK/arca-repo" --cache-dir "$WORK/arca-cache" restore -q latest --target "$WORK/restore/$RUN-arca" ;;
	restic-restore) restic -r "$WORK/restic-repo" --cache-dir "$WORK/restic-cache" restore latest --target "$WORK/restore/$RUN-restic" ;;
	esac
}
export -f run_tool
export ARCA DATA WORK RUN
both() { # both OP RUN KIND
	local first=arca second=restic
	if [ $(($2 % 2)) -eq 0 ]; then first=restic second=arca; fi
	measure "$first-$1" bash -c "run_tool $first $3"
	measure "$second-$1" bash -c "run_tool $second $3"
}
for run in $(seq 1 "$RUNS"); do
	RUN=$run
	rm -rf "$WORK/arca-repo" "$WORK/arca-cache" "$WORK/restic-repo" "$WORK/restic-cache"
	"$ARCA" -r "$WORK/arca-repo" init -q
	restic -r "$WORK/restic-repo" --cache-dir "$WORK/restic-cache" init >/dev/null

	both backup "$run" backup
	both rebackup "$run" backup
	both restore "$run" restore
	diff -r "$DATA" "$WORK/restore/$run-arca/$DATA" >/dev/null || { echo "arca restore differs from $DATA" >&2; exit 1; }
	diff -r "$DATA" "$WORK/restore/$run-restic/$DATA" >/dev/null || { echo "restic restore differs from $DATA" >&2; exit 1; }
	echo "run $run: arca repo $(du -sk "$WORK/arca-repo" | cut -f1) KiB, restic repo $(du -sk "$WORK/restic-repo" | cut -f1) KiB" >&2
done

echo "data: $DATA ($(du -sh "$DATA" | cut -f1), $(find "$DATA" | wc -l) entries), $RUNS runs, $(nproc) cores"
echo "arca: $("$ARCA" version)"
echo "restic: $(restic version)"
awk "$AWK_MEDIAN"'
{ n[$1]++; t[$1, n[$1]] = $2; m[$1, n[$1]] = $3 }
END {
	split("backup rebackup restore", ops, " ")
	printf "%-10s %12s %12s %8s %14s %14s\n", "operation", "arca s", "restic s", "speedup", "arca peak MB", "restic peak MB"
	for (k = 1; k <= 3; k++) {
		op = ops[k]
		for (tool = 0; tool < 2; tool++) {
			name = (tool ? "restic-" : "arca-") op
			for (i = 1; i <= n[name]; i++) { tt[i] = t[name, i]; mm[i] = m[name, i] }
			T[tool] = median(tt, n[name]); M[tool] = median(mm, n[name])
		}
		printf "%-10s %12.2f %12.2f %7.2fx %14.1f %14.1f\n", op, T[0], T[1], T[1] / T[0], M[0] / 1024, M[1] / 1024
	}
}' "$WORK/results"
