# Shared by the benchmark scripts (sourced): installing tools, measuring
# commands, medians. WORK must be set before measure is used.

# need CMD PACKAGE: installs PACKAGE from Debian when CMD is missing and we
# are root with apt; returns non-zero when CMD is still missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
	echo "installing $2" >&2
	apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null 2>&1; }
	command -v "$1" >/dev/null 2>&1
}

# measure NAME CMD...: runs CMD after a sync (so that it does not pay for
# another command's write-back) and appends "NAME seconds peak_kb" (GNU
# time) to $WORK/results; a failure prints CMD's stderr and exits.
measure() {
	local name=$1; shift
	sync
	/usr/bin/time -o "$WORK/time.out" -f "%e %M" "$@" >/dev/null 2>"$WORK/err.out" || {
		cat "$WORK/err.out" >&2; echo "$name failed" >&2; exit 1; }
	echo "$name $(cat "$WORK/time.out")" >>"$WORK/results"
}

# median: the median of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# AWK_MEDIAN defines median(arr, n) for awk programs: "$AWK_MEDIAN"'...'.
AWK_MEDIAN='
function median(arr, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}'
