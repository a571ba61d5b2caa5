#!/usr/bin/env bash
# measure-smallfiles.sh: many small files (default 1000 x 64 KiB) fetched by
# ferry over tcp, tls and quic, and by the peers found on this machine, into
# one destination file system, in interleaved rounds (A B C ... A B C ...).
# Prints files/s per tool and round, then the median per tool.
#
#   sudo ./scripts/measure-smallfiles.sh
#
# The tools, each fetching the same tree from 127.0.0.1:
#   ferry-tcp, ferry-tls, ferry-quic  ferry get -r (8 files in flight, every
#                                     file verified and fsynced before it
#                                     gets its name)
#   ferry-tcp-nosync, ...             the same with --no-sync: verified, but
#                                     left to the page cache like the peers'
#   curl-h2     curl --http2 --parallel (8 at once) from scripts/h2files, an
#               HTTPS server on net/http (TLS 1.3, HTTP/2)
#   h3-quic-go  HTTP/3 on quic-go at both ends (scripts/h3files: 8 requests
#               in flight on one connection), the QUIC peer, since curl here
#               has no HTTP/3
#   rsync       rsync -a from an rsync daemon (plain TCP, no encryption)
#   cp          cp -r, a local copy (no network at all)
#   cp+sync     cp -r then sync -f, a local copy made as durable as ferry's
# Only ferry (without --no-sync) syncs each file; the peers leave their files
# to the page cache.
#
# Environment:
#   DEST_FS   "loop" (the default when run as root): a fresh ext4 file
#             system with a journal (mkfs.ext4 defaults), in an image file
#             next to TMPDIR, mounted for the run and removed after; or a
#             folder on the file system to measure (each run writes below it
#             and removes what it wrote)
#   ROUNDS (3), FILES (1000), SIZE_KIB (64), PARALLEL (8), GO (go)
#   TOOLS     the tools to run, default all of the above that are installed
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
GO=${GO:-go}
ROUNDS=${ROUNDS:-3}
FILES=${FILES:-1000}
SIZE_KIB=${SIZE_KIB:-64}
PARALLEL=${PARALLEL:-8}
if [[ -z ${DEST_FS:-} ]]; then
	if [[ $(id -u) == 0 ]]; then DEST_FS=loop; else
		echo "measure-smallfiles: not root, so no loop file system; set DEST_FS=FOLDER" >&2
		exit 2
	fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-small.XXXXXX")
pids=()
mnt=""
cleanup() {
	local status=$?
	stop_pids "${pids[@]}"
	if [[ -n $mnt ]]; then umount "$mnt" 2>/dev/null || true; fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$GO" build -o "$work/ferry" ./cmd/ferry
"$GO" build -o "$work/h2files" ./scripts/h2files
"$GO" build -o "$work/h3files" ./scripts/h3files
ferry=$work/ferry

# The source tree, in the page cache for every tool alike.
mkdir -p "$work/root/small"
head -c "$((FILES * SIZE_KIB * 1024))" /dev/urandom |
	split -b "$((SIZE_KIB * 1024))" -d -a 6 - "$work/root/small/f"
cat "$work/root/small/"* >/dev/null

if [[ $DEST_FS == loop ]]; then
	truncate -s 2G "$work/fs.img"
	mkfs.ext4 -q -F "$work/fs.img"
	mnt=$work/mnt
	mkdir -p "$mnt"
	mount -o loop "$work/fs.img" "$mnt"
	base=$mnt
	fsdesc="fresh ext4 (journal) on a loop device, image on $(df --output=source "$work" | tail -1)"
else
	mkdir -p "$DEST_FS"
	base=$(mktemp -d "$DEST_FS/ferry-small-dest.XXXXXX")
	fsdesc="$(df --output=fstype "$base" | tail -1 | tr -d ' ') at $base"
	# shellcheck disable=SC2064
	trap "rm -rf '$base'; cleanup" EXIT
fi

# Servers: ferry (every transport on one port), h2files, rsync daemon.
fp=$("$ferry" fingerprint --state-dir "$work/state" 2>/dev/null)
"$ferry" serve --listen 127.0.0.1:0 --addr-file "$work/addr" --transports tls,quic,tcp \
	--state-dir "$work/state" "$work/root" 2>"$work/server.log" &
pids+=($!)
wait_file "$work/addr"
addr=$(<"$work/addr")

all="ferry-tcp ferry-tls ferry-quic ferry-tcp-nosync ferry-tls-nosync ferry-quic-nosync"
if command -v curl >/dev/null && curl --version | grep -q nghttp2; then
	"$work/h2files" -root "$work/root" -addr-file "$work/h2addr" 2>"$work/h2.log" &
	pids+=($!)
	wait_file "$work/h2addr"
	h2addr=$(<"$work/h2addr")
	all+=" curl-h2"
fi
"$work/h3files" serve -root "$work/root" -addr-file "$work/h3addr" 2>"$work/h3.log" &
pids+=($!)
wait_file "$work/h3addr"
h3addr=$(<"$work/h3addr")
(cd "$work/root" && find small -type f) >"$work/h3.list"
all+=" h3-quic-go"
if command -v rsync >/dev/null; then
	rport=$((20000 + RANDOM % 20000))
	cat >"$work/rsyncd.conf" <<-EOF
		port = $rport
		address = 127.0.0.1
		use chroot = no
		pid file = $work/rsyncd.pid
		[src]
		path = $work/root
		read only = yes
	EOF
	rsync --daemon --no-detach --config="$work/rsyncd.conf" 2>"$work/rsync.log" &
	pids+=($!)
	sleep 0.5
	all+=" rsync"
fi
all+=" cp cp+sync"
TOOLS=${TOOLS:-$all}

# fetch TOOL DEST: fetch the tree into DEST/small.
fetch() {
	local dest=$2
	case $1 in
	ferry-*)
		local t=${1#ferry-} args=()
		if [[ $t == *-nosync ]]; then t=${t%-nosync} args+=(--no-sync); fi
		if [[ $t != tcp ]]; then args+=(--pin "$fp"); fi
		"$ferry" get -q -r -t "$t" "${args[@]}" --parallel "$PARALLEL" -o "$dest" "$addr" small 2>>"$work/client.log" ;;
	curl-h2)
		for f in "$work/root/small/"*; do
			n=${f##*/}
			printf 'url = "https://%s/small/%s"\noutput = "%s/small/%s"\n' "$h2addr" "$n" "$dest" "$n"
		done >"$work/curl.cfg"
		curl -s --no-progress-meter -k --fail --http2 --parallel --parallel-max "$PARALLEL" --create-dirs -K "$work/curl.cfg" 2>>"$work/client.log" ;;
	h3-quic-go) "$work/h3files" get -addr "$h3addr" -list "$work/h3.list" -parallel "$PARALLEL" -o "$dest" 2>>"$work/client.log" ;;
	rsync) rsync -a "rsync://127.0.0.1:$rport/src/small" "$dest/" ;;
	cp) cp -r "$work/root/small" "$dest/" ;;
	cp+sync) cp -r "$work/root/small" "$dest/" && sync -f "$dest" ;;
	*) echo "unknown tool $1" >&2; exit 2 ;;
	esac
}

# width TOOL: the width of TOOL's column.
width() { echo $((${#1} > 10 ? ${#1} : 10)); }

echo "small files: $FILES x $SIZE_KIB KiB, $PARALLEL in flight where the tool allows"
echo "destination: $fsdesc"
echo "machine:     $(uname -sr), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
printf '%-11s' round
for t in $TOOLS; do printf ' %*s' "$(width "$t")" "$t"; done
echo
declare -A results
for r in $(seq "$ROUNDS"); do
	printf '%-11s' "$r"
	for t in $TOOLS; do
		dest=$base/run
		rm -rf "$dest"
		mkdir -p "$dest"
		sync -f "$base" # what the last run left dirty is not this run's cost
		start=$(now)
		fetch "$t" "$dest"
		end=$(now)
		got=$(find "$dest/small" -type f | wc -l)
		if [[ $got != "$FILES" ]]; then
			echo "$t fetched $got files, not $FILES" >&2
			exit 1
		fi
		rate=$(awk -v s="$start" -v e="$end" -v n="$FILES" 'BEGIN { printf "%.0f", n / (e - s) }')
		results[$t]+="$rate "
		printf ' %*s' "$(width "$t")" "$rate"
	done
	echo
done
printf '%-11s' median
for t in $TOOLS; do
	# shellcheck disable=SC2086
	printf ' %*s' "$(width "$t")" "$(printf '%s\n' ${results[$t]} | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
done
echo
rm -rf "$base/run"
