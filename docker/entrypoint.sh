#!/bin/sh
# Container entrypoint for every webmail process.
#
#   entrypoint.sh [--migrate] COMMAND [ARGS...]
#
# --migrate applies database migrations first (docker/migrate.py: one container at a time, so
# several web containers may start together), then the command replaces this shell (exec), so
# it is PID 1's child-free successor and receives the stop signal itself.
set -eu

if [ "${1:-}" = "--migrate" ]; then
    shift
    python "$(dirname "$0")/migrate.py"
fi

if [ "$#" -eq 0 ]; then
    echo "entrypoint.sh: no command given" >&2
    exit 64
fi
exec "$@"
