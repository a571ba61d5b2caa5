# lib.sh: helpers shared by the measuring scripts; source it, do not run it.

# now prints the time in seconds, with microseconds.
now() { echo "${EPOCHREALTIME/,/.}"; }

# stop_pids ends each process given that is still running, and reaps it.
stop_pids() {
	local p
	for p in "$@"; do
		if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
}

# wait_file waits up to 10 s for FILE to exist and not be empty.
wait_file() {
	for _ in $(seq 100); do [[ -s $1 ]] && return; sleep 0.1; done
	echo "no $1 after 10 s" >&2
	exit 1
}
