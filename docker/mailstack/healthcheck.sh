#!/bin/bash
# Health of the evaluation mail stack: `mailstack-healthcheck dovecot|postfix` succeeds when
# the server greets on its port (IMAP "* OK" on 143, SMTP "220" on the submission port 587).
set -euo pipefail

greets() {
    local port=$1 expected=$2 line
    exec 3<>"/dev/tcp/127.0.0.1/${port}"
    IFS= read -r -t 5 line <&3
    exec 3<&- 3>&-
    [[ ${line} == "${expected}"* ]]
}

case "${1:-}" in
    dovecot) greets 143 "* OK" ;;
    postfix) greets 587 "220" ;;
    *) echo "usage: mailstack-healthcheck dovecot|postfix" >&2; exit 64 ;;
esac
