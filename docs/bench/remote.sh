#!/usr/bin/env bash
# arca beside restic on remote repositories, run as `make remote-bench`
# (docs/bench/README.md): S3 on versitygw and REST on `rclone serve
# restic`, both started here on 127.0.0.1 with their data under the work
# directory.
#
#   docs/bench/remote.sh [DATA_DIR] [RUNS]
#
# DATA_DIR defaults to the Go toolchain tree ($(go env GOROOT)); RUNS to 3.
# For each run, server and tool: first backup into an empty repository, an
# unchanged re-backup, and a restore into an empty directory (checked with
# diff -r). Times are wall-clock seconds (medians), memory is peak RSS from
# GNU time. The tools take turns going first. Restored trees stay until the
# end: on ext4, creating files within minutes of deleting many scans past
# the recently deleted inodes, which tripled the system time of a restore
# after an rm -rf of the one before.
set -euo pipefail

DATA=${1:-$(go env GOROOT)}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${REMOTE_BENCH_DIR:-$(mktemp -d /var/tmp/arca-remote.XXXXXX)}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

. "$ROOT/docs/bench/lib.sh"
need restic restic || { echo 'restic is needed' >&2; exit 1; }
need rclone rclone || { echo 'rclone is needed' >&2; exit 1; }
[ -x /usr/bin/time ] || need /usr/bin/time time
VGW=$(go env GOPATH)/bin/versitygw
[ -x "$VGW" ] || go install github.com/versity/versitygw/cmd/versitygw@v1.8.0

(cd "$ROOT" && go build -o "$WORK/arca" ./cmd/arca)
ARCA="$WORK/arca"
export ARCA_PASSWORD=bench RESTIC_PASSWORD=bench
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret123 AWS_DEFAULT_REGION=us-east-1
tar -cf - "$DATA" 2>/dev/null | cat >/dev/null # warm the page cache

mkdir -p "$WORK/s3/arca" "$WORK/rest"
ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY "$VGW" --quiet --port 127.0.0.1:17070 posix "$WORK/s3" >"$WORK/vgw.log" 2>&1 &
PIDS+=($!)
rclone serve restic --addr 127.0.0.1:18000 --config "$WORK/rclone.conf" "$WORK/rest" >"$WORK/rclone.log" 2>&1 &
PIDS+=($!)
for url in http://127.0.0.1:17070/ http://127.0.0.1:18000/; do
	for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
done


repo() { # repo TOOL SERVER RUN
	case "$2" in
	s3) echo "s3:http://127.0.0.1:17070/arca/$1-$3" ;;
	rest) echo "rest:http://127.0.0.1:18000/$1-$3/" ;;
	esac
}
run_tool() { # run_tool TOOL SERVER RUN backup|restore
	local r; r=$(repo "$1" "$2" "$3")
	case "$1-$4" in
	arca-backup) "$ARCA" -r "$r" --cache-dir "$WORK/cache-arca-$2-$3" backup -q "$DATA" ;;
	restic-backup) restic -r "$r" --cache-dir "$WORK/cache-restic-$2-$3" backup -q "$DATA" ;;
	arca-restore) "$ARCA" -r "$r" --cache-dir "$WORK/cache-arca-$2-$3" restore -q latest --target "$WORK/restore/$2-$3-arca" ;;
	restic-restore) restic -r "$r" --cache-dir "$WORK/cache-restic-$2-$3" restore latest --target "$WORK/restore/$2-$3-restic" ;;
	esac
}
export -f run_tool repo
export ARCA DATA WORK

: >"$WORK/results"
for run in $(seq 1 "$RUNS"); do
	for server in s3 rest; do
		"$ARCA" -r "$(repo arca $server $run)" init -q
		restic -r "$(repo restic $server $run)" init >/dev/null
		first=arca second=restic
		if [ $((run % 2)) -eq 0 ]; then first=restic second=arca; fi
		for op in backup rebackup restore; do
			kind=$op; [ $op = rebackup ] && kind=backup
			measure "$server-$first-$op" bash -c "run_tool $first $server $run $kind"
			measure "$server-$second-$op" bash -c "run_tool $second $server $run $kind"
		done
		for tool in arca restic; do
			diff -r "$DATA" "$WORK/restore/$server-$run-$tool/$DATA" >/dev/null || { echo "$tool restore differs from $DATA" >&2; exit 1; }
		done
	done
	echo "run $run done" >&2
done

echo "data: $DATA ($(du -sh "$DATA" | cut -f1), $(find "$DATA" | wc -l) entries), $RUNS runs, $(nproc) cores"
echo "arca: $("$ARCA" version)"
echo "restic: $(restic version)"
echo "servers: versitygw v1.8.0 (posix), $(rclone version | head -1) serve restic"
awk "$AWK_MEDIAN"'
{ n[$1]++; t[$1, n[$1]] = $2; m[$1, n[$1]] = $3 }
END {
	split("s3 rest", servers, " ")
	split("backup rebackup restore", ops, " ")
	printf "%-6s %-10s %10s %10s %8s %13s %15s\n", "server", "operation", "arca s", "restic s", "speedup", "arca peak MB", "restic peak MB"
	for (s = 1; s <= 2; s++) for (k = 1; k <= 3; k++) {
		for (tool = 0; tool < 2; tool++) {
			name = servers[s] "-" (tool ? "restic-" : "arca-") ops[k]
			for (i = 1; i <= n[name]; i++) { tt[i] = t[name, i]; mm[i] = m[name, i] }
			T[tool] = median(tt, n[name]); M[tool] = median(mm, n[name])
		}
		printf "%-6s %-10s %10.2f %10.2f %7.2fx %13.1f %15.1f\n", servers[s], ops[k], T[0], T[1], T[1] / T[0], M[0] / 1024, M[1] / 1024
	}
}' "$WORK/results"
