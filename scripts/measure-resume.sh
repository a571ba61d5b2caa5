#!/usr/bin/env bash
# measure-resume.sh: fetch a large file, kill the client half way, and
# finish the fetch over another transport; print how long the resume took,
# the rate of the remainder, and whether the result matches the source
# (sha256). One line per pair of transports. Everything runs on 127.0.0.1
# in a temporary folder, removed on exit; the server is stopped on exit.
#
#   ./scripts/measure-resume.sh              (1 GiB, pairs quic>tls tls>quic tcp>tls tls>tcp)
# Environment: GO (default go), RESUME_MIB (file size, default 1024),
# PAIRS (default "quic:tls tls:quic tcp:tls tls:tcp"), DEST (folder for the
# fetched file, default the temporary folder; put it on the disk you care
# about).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
GO=${GO:-go}
MIB=${RESUME_MIB:-1024}
PAIRS=${PAIRS:-"quic:tls tls:quic tcp:tls tls:tcp"}

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-resume.XXXXXX")
dest=${DEST:-$work/dest}
server_pid=""
client_pid=""
cleanup() {
	local status=$?
	stop_pids "$client_pid" "$server_pid"
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$GO" build -o "$work/ferry" ./cmd/ferry
ferry=$work/ferry
mkdir -p "$work/root" "$dest"
head -c "$((MIB << 20))" /dev/urandom >"$work/root/big.bin"
want=$(sha256sum "$work/root/big.bin" | cut -d' ' -f1)
size=$((MIB << 20))
fp=$("$ferry" fingerprint --state-dir "$work/state" 2>/dev/null)
"$ferry" serve --listen 127.0.0.1:0 --addr-file "$work/addr" --transports tls,quic,tcp \
	--state-dir "$work/state" "$work/root" 2>"$work/server.log" &
server_pid=$!
wait_file "$work/addr"
addr=$(<"$work/addr")

trust() { [[ $1 == tcp ]] && return; echo "--pin $fp"; }

printf '%-11s %10s %10s %12s %12s  %s\n' "first>then" "cut at" "resume s" "remainder" "MB/s" "sha256"
for pair in $PAIRS; do
	first=${pair%%:*} then=${pair##*:}
	rm -f "$dest/big.bin" "$dest/big.bin.ferry-part"
	# shellcheck disable=SC2046
	"$ferry" get -q -t "$first" $(trust "$first") -o "$dest/" "$addr" big.bin 2>/dev/null &
	client_pid=$!
	while :; do
		got=$(stat -c %s "$dest/big.bin.ferry-part" 2>/dev/null || echo 0)
		((got >= size / 2)) && break
		kill -0 "$client_pid" 2>/dev/null || { echo "the first fetch ended before half way" >&2; exit 1; }
		sleep 0.01
	done
	kill -9 "$client_pid"
	wait "$client_pid" 2>/dev/null || true
	client_pid=""
	cut=$(stat -c %s "$dest/big.bin.ferry-part")
	start=$(now)
	# shellcheck disable=SC2046
	"$ferry" get -q -t "$then" $(trust "$then") -o "$dest/" "$addr" big.bin 2>/dev/null
	end=$(now)
	got=$(sha256sum "$dest/big.bin" | cut -d' ' -f1)
	ok=identical
	[[ $got == "$want" ]] || ok=DIFFERENT
	awk -v p="$first>$then" -v c="$cut" -v s="$start" -v e="$end" -v n="$size" -v ok="$ok" 'BEGIN {
		d = e - s; r = n - c
		printf "%-11s %9.0f%% %10.2f %9.0f MiB %12.0f  %s\n", p, 100 * c / n, d, r / 1048576, r / d / 1e6, ok
	}'
done
