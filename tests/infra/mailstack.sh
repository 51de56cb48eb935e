#!/usr/bin/env bash
# The real test mail stack: Dovecot (IMAP/LMTP/auth) and Postfix (SMTP/submission) on
# 127.0.0.1, plus a check that PostgreSQL and Redis answer.
#
#   bash tests/infra/mailstack.sh install   # packages (fast no-op when already installed)
#   bash tests/infra/mailstack.sh start     # write configs, start or reload, wait for ports
#   bash tests/infra/mailstack.sh stop
#   bash tests/infra/mailstack.sh status
#
# Run as root. Every command is idempotent. There is no systemd: daemons are started directly.
# Ports (keep in step with tests/infra/mailstack.py):
#   IMAP 10143, LMTP 10024, Dovecot auth for Postfix 10044, SMTP 10025, submission 10587;
#   remote.test is relayed to 127.0.0.1:10026, a server the tests run themselves.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE=/var/lib/webmail-mailstack
LOGDIR="$STATE/log"
DOVECOT_CONF="$STATE/dovecot.conf"
DOVECOT_PIDFILE="$STATE/run/dovecot/master.pid"

IMAP_PORT=10143
LMTP_PORT=10024
AUTH_PORT=10044
SMTP_PORT=10025
SUBMISSION_PORT=10587
REMOTE_PORT=10026

PACKAGES=(dovecot-core dovecot-imapd dovecot-lmtpd postfix chromium fonts-dejavu-core)

log() { echo "mailstack: $*"; }
die() { echo "mailstack: ERROR: $*" >&2; exit 1; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"
}

# ---------------------------------------------------------------------------------------------
# install

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_BACKUP=""

restore_policy_rc() {
    rm -f "$POLICY_RC"
    if [[ -n "$POLICY_BACKUP" && -e "$POLICY_BACKUP" ]]; then
        mv -f "$POLICY_BACKUP" "$POLICY_RC"
    fi
}

cmd_install() {
    require_root
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "packages already installed: ${PACKAGES[*]}"
        ensure_vmail_user
        return 0
    fi
    log "installing: ${missing[*]}"
    debconf-set-selections <<'SEL'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string mx.example.test
SEL
    # Keep package scripts from starting daemons on their default ports.
    if [[ -e "$POLICY_RC" ]]; then
        POLICY_BACKUP="$(mktemp /usr/sbin/policy-rc.d.webmail-XXXXXX)"
        mv -f "$POLICY_RC" "$POLICY_BACKUP"
    fi
    trap restore_policy_rc EXIT
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
    restore_policy_rc
    trap - EXIT
    for p in "${PACKAGES[@]}"; do
        is_installed "$p" || die "package $p did not install"
    done
    ensure_vmail_user
    log "install done"
}

ensure_vmail_user() {
    if ! getent group vmail >/dev/null; then
        groupadd --system vmail
    fi
    if ! getent passwd vmail >/dev/null; then
        useradd --system --gid vmail --home-dir "$STATE/mail" --no-create-home \
            --shell /usr/sbin/nologin --comment "webmail test mailboxes" vmail
    fi
}

# ---------------------------------------------------------------------------------------------
# probes

# Print the first line a TCP server sends on 127.0.0.1:$1 (empty when nothing answers).
banner() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf "%s\n" "${line%$'"'"'\r'"'"'}"
    ' _ "$1" 2>/dev/null || true
}

port_answers() { # port expected-prefix
    [[ "$(banner "$1")" == "$2"* ]]
}

port_open() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

dovecot_running() {
    [[ -s "$DOVECOT_PIDFILE" ]] && kill -0 "$(cat "$DOVECOT_PIDFILE")" 2>/dev/null
}

postfix_running() {
    postfix status >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------------
# start

render() { # template -> stdout
    sed -e "s|@STATE@|$STATE|g" \
        -e "s|@VMAIL_UID@|$(id -u vmail)|g" \
        -e "s|@IMAP_PORT@|$IMAP_PORT|g" \
        -e "s|@LMTP_PORT@|$LMTP_PORT|g" \
        -e "s|@AUTH_PORT@|$AUTH_PORT|g" \
        -e "s|@SMTP_PORT@|$SMTP_PORT|g" \
        -e "s|@SUBMISSION_PORT@|$SUBMISSION_PORT|g" \
        -e "s|@REMOTE_PORT@|$REMOTE_PORT|g" \
        "$1"
}

# Install a rendered file; returns 0 when the content changed.
install_file() { # template target mode
    local tmp
    tmp="$(mktemp)"
    render "$1" >"$tmp"
    if [[ -f "$2" ]] && cmp -s "$tmp" "$2"; then
        rm -f "$tmp"
        return 1
    fi
    install -m "$3" "$tmp" "$2"
    rm -f "$tmp"
    return 0
}

write_configs() {
    install -d -m 755 "$STATE" "$STATE/run" "$STATE/postfix" "$LOGDIR"
    install -d -m 750 -o vmail -g vmail "$STATE/mail"
    DOVECOT_CHANGED=0
    POSTFIX_CHANGED=0
    if install_file "$HERE/dovecot.conf.in" "$DOVECOT_CONF" 644; then DOVECOT_CHANGED=1; fi
    if install_file "$HERE/postfix-main.cf.in" /etc/postfix/main.cf 644; then POSTFIX_CHANGED=1; fi
    if install_file "$HERE/postfix-master.cf.in" /etc/postfix/master.cf 644; then POSTFIX_CHANGED=1; fi
    if install_file "$HERE/postfix-vmailbox.regexp" "$STATE/postfix/vmailbox.regexp" 644; then
        POSTFIX_CHANGED=1
    fi
    if install_file "$HERE/postfix-transport.in" "$STATE/postfix/transport" 644; then
        POSTFIX_CHANGED=1
    fi
    # Postfix wants these to exist (they are normally made by its package configuration).
    [[ -e /etc/mailname ]] || echo mx.example.test >/etc/mailname
    touch "$LOGDIR/dovecot.log" "$LOGDIR/postfix.log"
}

show_logs() {
    echo "----- tail $LOGDIR/dovecot.log -----" >&2
    tail -n 40 "$LOGDIR/dovecot.log" >&2 2>/dev/null || true
    echo "----- tail $LOGDIR/postfix.log -----" >&2
    tail -n 40 "$LOGDIR/postfix.log" >&2 2>/dev/null || true
}

wait_for() { # port prefix name
    local i
    for ((i = 0; i < 100; i++)); do
        if port_answers "$1" "$2"; then
            return 0
        fi
        sleep 0.2
    done
    show_logs
    die "$3 does not answer on 127.0.0.1:$1 (expected a greeting starting with '$2'); logs above"
}

wait_for_open() { # port name
    local i
    for ((i = 0; i < 100; i++)); do
        if port_open "$1"; then
            return 0
        fi
        sleep 0.2
    done
    show_logs
    die "$2 is not listening on 127.0.0.1:$1; logs above"
}

start_dovecot() {
    if ! doveconf -c "$DOVECOT_CONF" -n >/dev/null 2>"$STATE/doveconf.err"; then
        cat "$STATE/doveconf.err" >&2
        die "Dovecot rejects $DOVECOT_CONF"
    fi
    if dovecot_running; then
        if ((DOVECOT_CHANGED)); then
            log "Dovecot: configuration changed, reloading"
            kill -HUP "$(cat "$DOVECOT_PIDFILE")"
        else
            log "Dovecot: already running"
        fi
    else
        log "Dovecot: starting"
        if ! dovecot -c "$DOVECOT_CONF"; then
            show_logs
            die "Dovecot did not start"
        fi
    fi
}

start_postfix() {
    if ! postfix check 2>"$STATE/postfix-check.err"; then
        cat "$STATE/postfix-check.err" >&2
        die "postfix check failed"
    fi
    if postfix_running; then
        if ((POSTFIX_CHANGED)); then
            log "Postfix: configuration changed, reloading"
            postfix reload >/dev/null 2>&1
        else
            log "Postfix: already running"
        fi
    else
        log "Postfix: starting"
        if ! postfix start >/dev/null 2>&1; then
            show_logs
            die "Postfix did not start"
        fi
    fi
}

ensure_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        log "PostgreSQL: answering on 127.0.0.1:5432"
        return 0
    fi
    command -v pg_ctlcluster >/dev/null || die "PostgreSQL is not installed (no pg_ctlcluster)"
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    log "PostgreSQL: starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    local i
    for ((i = 0; i < 100; i++)); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.2
    done
    die "PostgreSQL does not answer on 127.0.0.1:5432"
}

ensure_redis() {
    if [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" == "PONG" ]]; then
        log "Redis: answering on 127.0.0.1:6379"
        return 0
    fi
    command -v redis-server >/dev/null || die "Redis is not installed (no redis-server)"
    log "Redis: starting"
    install -d -m 755 /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    local i
    for ((i = 0; i < 100; i++)); do
        [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" == "PONG" ]] && return 0
        sleep 0.2
    done
    die "Redis does not answer on 127.0.0.1:6379"
}

cmd_start() {
    require_root
    for p in dovecot-core dovecot-imapd dovecot-lmtpd postfix; do
        is_installed "$p" || die "$p is not installed: run 'bash $0 install' first"
    done
    ensure_vmail_user
    write_configs
    start_dovecot
    start_postfix
    wait_for "$IMAP_PORT" "* OK" "Dovecot IMAP"
    wait_for "$LMTP_PORT" "220" "Dovecot LMTP"
    wait_for_open "$AUTH_PORT" "Dovecot auth (for Postfix SASL)"
    wait_for "$SMTP_PORT" "220" "Postfix SMTP"
    wait_for "$SUBMISSION_PORT" "220" "Postfix submission"
    ensure_postgres
    ensure_redis
    log "up: IMAP $IMAP_PORT, LMTP $LMTP_PORT, auth $AUTH_PORT, SMTP $SMTP_PORT," \
        "submission $SUBMISSION_PORT (remote.test -> 127.0.0.1:$REMOTE_PORT); logs in $LOGDIR"
}

# ---------------------------------------------------------------------------------------------
# stop / status

cmd_stop() {
    require_root
    if postfix_running; then
        log "Postfix: stopping"
        postfix stop >/dev/null 2>&1 || true
    else
        log "Postfix: not running"
    fi
    if dovecot_running; then
        log "Dovecot: stopping"
        kill -TERM "$(cat "$DOVECOT_PIDFILE")"
    else
        log "Dovecot: not running"
    fi
    local i
    for ((i = 0; i < 100; i++)); do
        if ! dovecot_running && ! postfix_running && ! port_open "$IMAP_PORT" \
            && ! port_open "$SMTP_PORT"; then
            log "stopped"
            return 0
        fi
        sleep 0.1
    done
    die "Dovecot or Postfix is still running after stop"
}

cmd_status() {
    local rc=0
    if dovecot_running; then
        log "Dovecot: running (pid $(cat "$DOVECOT_PIDFILE"), config $DOVECOT_CONF)"
    else
        log "Dovecot: not running"
        rc=1
    fi
    if postfix_running; then
        log "Postfix: running (pid $(cat /var/spool/postfix/pid/master.pid 2>/dev/null | tr -d ' '))"
    else
        log "Postfix: not running"
        rc=1
    fi
    local spec port prefix name
    for spec in "$IMAP_PORT|* OK|IMAP" "$LMTP_PORT|220|LMTP" "$SMTP_PORT|220|SMTP" \
        "$SUBMISSION_PORT|220|submission"; do
        IFS='|' read -r port prefix name <<<"$spec"
        if port_answers "$port" "$prefix"; then
            log "  $name 127.0.0.1:$port answers"
        else
            log "  $name 127.0.0.1:$port does not answer"
            rc=1
        fi
    done
    if port_open "$AUTH_PORT"; then
        log "  auth 127.0.0.1:$AUTH_PORT listening"
    else
        log "  auth 127.0.0.1:$AUTH_PORT not listening"
        rc=1
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        log "PostgreSQL: answering on 127.0.0.1:5432"
    else
        log "PostgreSQL: not answering"
    fi
    if [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)" == "PONG" ]]; then
        log "Redis: answering on 127.0.0.1:6379"
    else
        log "Redis: not answering"
    fi
    return "$rc"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 install|start|stop|status" >&2
        exit 2
        ;;
esac
