"""webmail.outbox.smtp against a real loopback SMTP server (aiosmtpd) with injected faults."""

from __future__ import annotations

import threading

import pytest

from tests.outbox.smtpserver import ScriptedServer, free_port
from webmail.imap.types import Credentials, Security, ServerAddress
from webmail.outbox.smtp import Envelope, Outcome, Stage, submit, xtext

RAW = (b"From: a@example.test\r\nTo: x@remote.test\r\nSubject: t\r\n"
       b"Message-ID: <m1@example.test>\r\n\r\n.leading dot\r\nbody\r\n")


def server_at(port: int, timeout: float = 5.0,
              security: Security = Security.NONE, verify: bool = False) -> ServerAddress:
    return ServerAddress("127.0.0.1", port, security, timeout, verify)


def test_xtext_encodes_plus_equals_and_controls() -> None:
    assert xtext("abc+d=e f") == "abc+2Bd+3De+20f"
    assert xtext("<id@x>") == "<id@x>"
    assert xtext("é") == "+C3+A9"


def test_mixed_replies_are_kept_per_recipient(smtp_server: ScriptedServer) -> None:
    replies = {"soft@remote.test": "451 4.3.0 try later",
               "gone@remote.test": "550 5.1.1 mailbox does not exist"}
    smtp_server.script.rcpt = replies.get
    envelope = Envelope("a@example.test",
                        ("ok@remote.test", "soft@remote.test", "gone@remote.test"), "envid1")

    result = submit(server_at(smtp_server.port), envelope, RAW)

    by = result.by_address()
    assert by["ok@remote.test"].outcome is Outcome.ACCEPTED
    assert by["ok@remote.test"].code == 250
    assert by["soft@remote.test"].outcome is Outcome.TRANSIENT
    assert (by["soft@remote.test"].code, by["soft@remote.test"].enhanced) == (451, "4.3.0")
    assert by["gone@remote.test"].outcome is Outcome.PERMANENT
    assert by["gone@remote.test"].code == 550
    assert by["gone@remote.test"].enhanced == "5.1.1"
    assert "mailbox does not exist" in by["gone@remote.test"].text
    assert result.server == "mx.scripted.test"
    assert result.stage is Stage.DONE
    # the message went out once, to the one accepted recipient only
    (txn,) = smtp_server.handler.transactions
    assert txn.rcpt_tos == ["ok@remote.test"]
    # dot-stuffing survived the round trip
    assert b"\r\n.leading dot\r\n" in txn.content


def test_dsn_parameters_are_sent_when_offered(smtp_server: ScriptedServer) -> None:
    envelope = Envelope("a@example.test", ("x@remote.test",), "tok+en=1")
    result = submit(server_at(smtp_server.port), envelope, RAW)
    assert result.dsn
    (txn,) = smtp_server.handler.transactions
    assert "RET=HDRS" in txn.mail_options
    assert "ENVID=tok+2Ben+3D1" in txn.mail_options
    assert any(o.startswith("SIZE=") for o in txn.mail_options)
    (address, params) = txn.rcpt_options[0]
    assert address == "x@remote.test"
    assert params == ["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;x@remote.test"]


def test_no_dsn_parameters_without_the_extension(smtp_server: ScriptedServer) -> None:
    smtp_server.script.dsn = False
    result = submit(server_at(smtp_server.port), Envelope("a@example.test", ("x@remote.test",),
                                                          "envid"), RAW)
    assert not result.dsn
    (txn,) = smtp_server.handler.transactions
    assert not any(o.startswith(("ENVID", "RET")) for o in txn.mail_options)


def test_server_down_is_transient_and_then_accepted() -> None:
    port = free_port()
    envelope = Envelope("a@example.test", ("x@remote.test",), "e")
    down = submit(server_at(port), envelope, RAW)
    assert down.recipients[0].outcome is Outcome.TRANSIENT
    assert down.stage is Stage.CONNECT
    assert "cannot connect" in down.detail

    server = ScriptedServer(port).start()
    try:
        back = submit(server_at(port), envelope, RAW)
    finally:
        server.stop()
    assert back.recipients[0].outcome is Outcome.ACCEPTED


def test_connection_dropped_after_data_is_unknown(smtp_server: ScriptedServer) -> None:
    smtp_server.script.drop_after_data = True
    result = submit(server_at(smtp_server.port),
                    Envelope("a@example.test", ("x@remote.test", "y@remote.test"), "e"), RAW)
    assert {r.outcome for r in result.recipients} == {Outcome.UNKNOWN}
    assert result.stage is Stage.DATA
    assert "after the message was transmitted" in result.detail
    assert smtp_server.handler.count("<m1@example.test>") == 1


def test_timeout_waiting_for_the_final_reply_is_unknown(smtp_server: ScriptedServer) -> None:
    smtp_server.script.data_delay = 3.0
    result = submit(server_at(smtp_server.port, timeout=1.0),
                    Envelope("a@example.test", ("x@remote.test",), "e"), RAW)
    assert result.recipients[0].outcome is Outcome.UNKNOWN


def test_data_refusal_applies_to_the_accepted_recipients(smtp_server: ScriptedServer) -> None:
    smtp_server.script.rcpt = {"gone@remote.test": "550 5.1.1 no"}.get
    smtp_server.script.data_reply = "554 5.7.1 spam"
    result = submit(server_at(smtp_server.port),
                    Envelope("a@example.test", ("ok@remote.test", "gone@remote.test"), "e"), RAW)
    by = result.by_address()
    assert (by["ok@remote.test"].outcome, by["ok@remote.test"].code) == (Outcome.PERMANENT, 554)
    assert by["gone@remote.test"].text == "5.1.1 no"


def test_temporary_data_refusal_is_transient(smtp_server: ScriptedServer) -> None:
    smtp_server.script.data_reply = "451 4.7.1 greylisted"
    result = submit(server_at(smtp_server.port),
                    Envelope("a@example.test", ("ok@remote.test",), "e"), RAW)
    assert result.recipients[0].outcome is Outcome.TRANSIENT
    assert result.recipients[0].enhanced == "4.7.1"


def test_all_refused_at_rcpt_sends_no_data(smtp_server: ScriptedServer) -> None:
    smtp_server.script.rcpt = lambda address: "550 5.1.1 unknown"
    result = submit(server_at(smtp_server.port),
                    Envelope("a@example.test", ("a@remote.test", "b@remote.test"), "e"), RAW)
    assert {r.outcome for r in result.recipients} == {Outcome.PERMANENT}
    assert smtp_server.handler.transactions == []


def test_before_data_false_transmits_nothing(smtp_server: ScriptedServer) -> None:
    result = submit(server_at(smtp_server.port),
                    Envelope("a@example.test", ("a@remote.test",), "e"), RAW,
                    before_data=lambda: False)
    assert result.aborted
    assert smtp_server.handler.transactions == []
    assert result.recipients[0].outcome is Outcome.TRANSIENT


def test_auth_with_the_users_credential() -> None:
    server = ScriptedServer()
    server.script.auth = ("u@example.test", "pw")
    server.start()
    try:
        ok = submit(server_at(server.port), Envelope("u@example.test", ("a@remote.test",), "e"),
                    RAW, credentials=Credentials("u@example.test", "pw"))
        bad = submit(server_at(server.port), Envelope("u@example.test", ("a@remote.test",), "e"),
                     RAW, credentials=Credentials("u@example.test", "wrong"))
    finally:
        server.stop()
    assert ok.recipients[0].outcome is Outcome.ACCEPTED
    assert server.handler.logins == ["u@example.test"]
    assert bad.recipients[0].outcome is Outcome.PERMANENT
    assert bad.stage is Stage.CONNECT
    assert "authentication refused: 535" in bad.detail


def test_non_ascii_address_without_smtputf8_is_permanent() -> None:
    server = ScriptedServer()
    server.start()
    try:
        # aiosmtpd offers SMTPUTF8 here, so it goes through with the SMTPUTF8 option
        result = submit(server_at(server.port),
                        Envelope("a@example.test", ("jörg@remote.test",), "e"), RAW)
    finally:
        server.stop()
    assert result.recipients[0].outcome is Outcome.ACCEPTED
    assert "SMTPUTF8" in server.handler.transactions[0].mail_options
    # and the RCPT carries no ORCPT for a non-ASCII address
    assert server.handler.transactions[0].rcpt_options[0][1] == ["NOTIFY=FAILURE,DELAY"]


@pytest.mark.parametrize("greeting_code", [421, 554])
def test_refusing_greeting_is_transient(greeting_code: int) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.sendall(f"{greeting_code} busy\r\n".encode())
        conn.recv(100)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    result = submit(server_at(port), Envelope("a@example.test", ("a@remote.test",), "e"), RAW)
    listener.close()
    assert result.recipients[0].outcome is Outcome.TRANSIENT
    assert str(greeting_code) in result.detail


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.SSL])
def test_tls_submission(security: Security) -> None:
    server = ScriptedServer()
    server.script.tls = str(security)
    server.start()
    try:
        result = submit(server_at(server.port, security=security),
                        Envelope("a@example.test", ("x@remote.test",), "e"), RAW)
        # our own certificate is not trusted: with verification on, nothing is sent
        verified = submit(server_at(server.port, security=security, verify=True),
                          Envelope("a@example.test", ("x@remote.test",), "e"), RAW)
    finally:
        server.stop()
    assert result.recipients[0].outcome is Outcome.ACCEPTED
    assert verified.recipients[0].outcome is Outcome.TRANSIENT
    assert "CERTIFICATE_VERIFY_FAILED" in verified.detail
    assert len(server.handler.transactions) == 1


def test_starttls_required_but_not_offered_sends_nothing(smtp_server: ScriptedServer) -> None:
    result = submit(server_at(smtp_server.port, security=Security.STARTTLS),
                    Envelope("a@example.test", ("x@remote.test",), "e"), RAW)
    assert result.recipients[0].outcome is Outcome.TRANSIENT
    assert "does not offer STARTTLS" in result.detail
    assert smtp_server.handler.transactions == []


def test_eight_bit_body_is_declared(smtp_server: ScriptedServer) -> None:
    raw = RAW.replace(b"body\r\n", "Grüße\r\n".encode())
    submit(server_at(smtp_server.port), Envelope("a@example.test", ("x@remote.test",), "e"), raw)
    submit(server_at(smtp_server.port), Envelope("a@example.test", ("x@remote.test",), "e"), RAW)
    eight, seven = smtp_server.handler.transactions
    assert "BODY=8BITMIME" in eight.mail_options
    assert "Grüße".encode() in eight.content
    assert not any(o.startswith("BODY=") for o in seven.mail_options)
