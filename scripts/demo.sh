#!/usr/bin/env bash
# demo.sh: build ferry, serve a sample folder, and fetch it over QUIC, TLS and
# plain TCP, checking every file with sha256 and printing what each transport
# took. Everything happens in a temporary folder on 127.0.0.1; the server is
# stopped and the folder removed on exit, even when a step fails.
#
# Needs only Go and a POSIX userland (coreutils). Run from anywhere:
#   ./scripts/demo.sh            (or: make demo)
# Environment: GO (default go), DEMO_MIB (size of the big file, default 100).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
MIB=${DEMO_MIB:-100}

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
server_pid=""
cleanup() {
	local status=$?
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	if ((status != 0)); then
		echo "demo: failed (exit $status)" >&2
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n==> %s\n' "$*"; }

if command -v sha256sum >/dev/null; then
	sha256() { sha256sum "$1" | cut -d' ' -f1; }
else
	sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
fi

# now prints the time in seconds with sub-second precision.
now() {
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		echo "${EPOCHREALTIME/,/.}"
	else
		date +%s
	fi
}

step "building bin/ferry"
"$GO" build -o bin/ferry ./cmd/ferry
ferry=$PWD/bin/ferry
"$ferry" version

step "making a sample folder in $work/sample"
sample=$work/sample
mkdir -p "$sample/sub"
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$sample/big.bin"
printf 'hello from ferry\n' >"$sample/hello.txt"
printf '# notes\n\nferry moves files over QUIC, TLS and TCP.\n' >"$sample/notes.md"
seq 1 5000 | sed 's/.*/&,row &/' >"$sample/sub/data.csv"
head -c 65536 /dev/urandom >"$sample/sub/blob.bin"
paths=(big.bin hello.txt notes.md sub/data.csv sub/blob.bin)
ls -lR "$sample" | sed 's/^/    /'

step "creating the server identity"
state=$work/state
fp=$("$ferry" fingerprint --state-dir "$state")
echo "fingerprint: $fp"

step "starting ferry serve on 127.0.0.1 (tls, quic, tcp)"
"$ferry" serve --listen 127.0.0.1:0 --addr-file "$work/addr" \
	--transports tls,quic,tcp --state-dir "$state" "$sample" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
	[[ -s $work/addr ]] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		cat "$work/server.log" >&2
		echo "demo: the server did not start" >&2
		exit 1
	fi
	sleep 0.1
done
if [[ ! -s $work/addr ]]; then
	echo "demo: the server wrote no address within 10 s" >&2
	exit 1
fi
addr=$(<"$work/addr")
head -n 2 "$work/server.log" | sed 's/^/    /'

total=0
for p in "${paths[@]}"; do
	total=$((total + $(wc -c <"$sample/$p")))
done

results=()
for t in quic tls tcp; do
	step "fetching ${#paths[@]} files over $t"
	dest=$work/fetched-$t
	trust=(--pin "$fp")
	[[ $t == tcp ]] && trust=() # plain TCP has no identity to pin
	start=$(now)
	"$ferry" get -t "$t" "${trust[@]}" -o "$dest/" "$addr" "${paths[@]}"
	end=$(now)
	verified=yes
	for p in "${paths[@]}"; do
		if [[ $(sha256 "$sample/$p") != $(sha256 "$dest/$(basename "$p")") ]]; then
			echo "demo: $p differs after the fetch over $t" >&2
			verified=NO
		fi
	done
	results+=("$t $total $start $end $verified")
done

step "stopping the server"
kill "$server_pid"
wait "$server_pid" || true
server_pid=""
tail -n 1 "$work/server.log" | sed 's/^/    /'

step "results (sha256 compared with the originals; ferry itself verifies BLAKE3)"
printf '%-9s %12s %9s %9s  %s\n' transport bytes seconds MB/s verified
failed=0
for r in "${results[@]}"; do
	read -r t bytes start end verified <<<"$r"
	awk -v t="$t" -v b="$bytes" -v s="$start" -v e="$end" -v v="$verified" 'BEGIN {
		d = e - s; if (d <= 0) d = 0.000001
		printf "%-9s %12d %9.3f %9.1f  %s\n", t, b, d, b / d / 1e6, v
	}'
	[[ $verified == yes ]] || failed=1
done
echo
echo "Times include connecting and writing to disk; plain TCP is unencrypted."
exit "$failed"
