#!/usr/bin/env bash
# Successive releases of a real source tree backed up in turn, by arca and
# by restic, into one working directory that evolves like a checkout:
# changed files are rewritten in place, new ones created, removed ones
# deleted, the rest left untouched (docs/bench/README.md). Run as
# `make releases`.
#
#   docs/bench/releases.sh [MODULE] [FIRST] [LAST]
#
# defaults: golang.org/x/tools, minor versions 47 to 52 (v0.47.0..v0.52.0),
# fetched with `go mod download`. For each release it prints the bytes of
# the files that changed and how much each repository grew (the bytes of
# all files in the repository directory: packs, indexes and snapshots).
set -euo pipefail

MODULE=${1:-golang.org/x/tools}
FIRST=${2:-47}
LAST=${3:-52}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${RELEASES_DIR:-$(mktemp -d /var/tmp/arca-releases.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT

command -v restic >/dev/null || { apt-get install -y restic >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y restic >/dev/null; }; }
(cd "$ROOT" && go build -o "$WORK/arca" ./cmd/arca)
export ARCA_PASSWORD=releases RESTIC_PASSWORD=releases
ARCA=("$WORK/arca" -r "$WORK/arca-repo" --cache-dir "$WORK/arca-cache")
RESTIC=(restic -r "$WORK/restic-repo" --cache-dir "$WORK/restic-cache")
"${ARCA[@]}" init -q
"${RESTIC[@]}" init >/dev/null

# sync_tree SRC DST: make DST's files equal SRC's, touching only what
# differs; prints the number and bytes of files written.
sync_tree() {
	local src=$1 dst=$2 n=0 bytes=0 f
	while IFS= read -r -d '' f; do
		if ! cmp -s "$src/$f" "$dst/$f" 2>/dev/null; then
			mkdir -p "$dst/$(dirname "$f")"
			[ -e "$dst/$f" ] && chmod u+w "$dst/$f"
			cat "$src/$f" >"$dst/$f"
			n=$((n + 1)); bytes=$((bytes + $(stat -c %s "$src/$f")))
		fi
	done < <(cd "$src" && find . -type f -print0)
	while IFS= read -r -d '' f; do
		[ -e "$src/$f" ] || rm -f "$dst/$f"
	done < <(cd "$dst" && find . -type f -print0)
	find "$dst" -mindepth 1 -type d -empty -delete
	echo "$n $bytes"
}

# size DIR: bytes of the files in DIR (directory entries not counted: restic
# creates its 256 pack subdirectories at init, arca as they are needed).
size() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
# Each tool backs up its own checkout (kept identical), so neither sees the
# other's effects on the files (such as access times).
mkdir -p "$WORK/src-a/checkout" "$WORK/src-r/checkout"
printf '%-8s %7s %12s %12s %12s %8s %8s\n' release files changed_B arca_B restic_B arca% restic%
for minor in $(seq "$FIRST" "$LAST"); do
	v=v0.$minor.0
	dir=$(go mod download -json "$MODULE@$v" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	read -r n changed < <(sync_tree "$dir" "$WORK/src-a/checkout")
	sync_tree "$dir" "$WORK/src-r/checkout" >/dev/null
	a0=$(size "$WORK/arca-repo"); r0=$(size "$WORK/restic-repo")
	(cd "$WORK/src-a" && "${ARCA[@]}" backup -q checkout)
	(cd "$WORK/src-r" && "${RESTIC[@]}" backup -q checkout >/dev/null)
	a=$(( $(size "$WORK/arca-repo") - a0 )); r=$(( $(size "$WORK/restic-repo") - r0 ))
	awk -v v="$v" -v n="$n" -v c="$changed" -v a="$a" -v r="$r" \
		'BEGIN { printf "%-8s %7d %12d %12d %12d %7.1f%% %7.1f%%\n", v, n, c, a, r, 100*a/c, 100*r/c }'
done
printf 'repository totals: arca %d B, restic %d B\n' "$(size "$WORK/arca-repo")" "$(size "$WORK/restic-repo")"
