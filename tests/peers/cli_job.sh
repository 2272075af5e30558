#!/bin/sh
# The commands behind the `gearman -w` CLI workers of the interop tests (gearman-tools, C over
# libgearman).  The CLI worker runs one command per job, with the workload on stdin; the command's
# stdout is the result, a non-zero exit status fails the job (WORK_FAIL).  One `gearman -w` process
# serves one command, so the tests start one per function:
#
#   gearman -w -h HOST -p PORT -f cli.NAME -- sh cli_job.sh NAME
#
# NAME (the same names as the other peer workers where the CLI can do it):
#   echo      the workload, read in full before any of it is written back: `gearman -w` writes
#             the whole workload to the command's stdin before it reads the command's stdout, so a
#             plain `cat` deadlocks once the workload exceeds the pipe buffers (64 KiB)
#   sha256    the hex SHA-256 of the workload
#   bg_write  workload "PATH\nDATA": writes DATA to PATH (via a rename), prints "ok"
#   record    workload "PATH\nLINE": appends LINE and a newline to PATH, prints "ok"
#   fail      reads the workload and exits 3: the CLI worker sends WORK_FAIL
#   lines     prints "l1\nl2\n" (run with `gearman -w -n`: a WORK_DATA per output line)
# The CLI worker cannot see the unique or the handle, nor send WORK_STATUS, WORK_WARNING or
# WORK_EXCEPTION, so there is no info, events, progress or exception here.
set -eu
case "${1:-}" in
    echo)
        tmp=$(mktemp)
        cat > "$tmp"
        cat "$tmp"
        rm -f "$tmp" ;;
    sha256) sha256sum | cut -c1-64 | tr -d '\n' ;;
    bg_write)
        IFS= read -r path
        cat > "$path.tmp"
        mv "$path.tmp" "$path"
        printf ok ;;
    record)
        IFS= read -r path
        IFS= read -r line || true
        printf '%s\n' "$line" >> "$path"
        printf ok ;;
    fail)
        cat > /dev/null
        exit 3 ;;
    lines) cat > /dev/null; printf 'l1\nl2\n' ;;
    *) echo "cli_job.sh: unknown job ${1:-}" >&2; exit 2 ;;
esac
