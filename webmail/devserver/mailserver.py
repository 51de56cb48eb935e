"""The development mail server: pymap IMAP and aiosmtpd SMTP in one process, on loopback.

Run it with ``python -m webmail.devserver.mailserver --dir var/devmail`` (no Django needed),
``python manage.py devmailserver``, or as part of ``python manage.py rundemo``. Defaults:
IMAP 127.0.0.1:1143 (no TLS, LOGIN/AUTHENTICATE PLAIN), SMTP 127.0.0.1:1025 (no AUTH).
For development and demos only: no TLS, no limits worth the name.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DevMailServer", "PortInUseError", "ServerOptions", "main", "serve"]

log = logging.getLogger("webmail.devserver")


class PortInUseError(OSError):
    """A listening port is already taken."""

    def __init__(self, service: str, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"{service} port {host}:{port} is already in use "
            "(is another development mail server running?)",
        )
        self.service, self.host, self.port = service, host, port


@dataclass(frozen=True)
class ServerOptions:
    base_dir: Path
    host: str = "127.0.0.1"
    imap_port: int = 1143
    smtp_port: int = 1025
    report_delay: float = 3.0
    seed_demo: bool = False


class DevMailServer:
    """Both listeners on one asyncio loop, sharing one pymap maildir backend."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self._stack = AsyncExitStack()

    async def start(self) -> None:
        """Open both ports (seeding the demo data first if asked).

        Raises:
            PortInUseError: a port is taken.
            OSError: another reason a port could not be opened.
        """
        # Imported here so that `manage.py` commands and tests can import this module cheaply.
        from webmail.devserver.smtp import DevMailHandler, DevSMTP
        from webmail.devserver.store import MailStore

        opts = self.options
        store = MailStore(opts.base_dir, host=opts.host, imap_port=opts.imap_port)
        if opts.seed_demo:
            from webmail.devserver.demo import seed_demo

            await seed_demo(store)
        handler = DevMailHandler(store, report_delay=opts.report_delay)
        loop = asyncio.get_running_loop()
        try:
            await store.serve_imap(self._stack)
        except OSError as exc:
            await self._stack.aclose()
            raise self._translate(exc, "IMAP", opts.imap_port) from exc
        try:
            smtp_server = await loop.create_server(
                lambda: DevSMTP(handler, hostname=handler.hostname, ident="webmail devserver"),
                host=opts.host, port=opts.smtp_port,
            )
        except OSError as exc:
            await self._stack.aclose()
            raise self._translate(exc, "SMTP", opts.smtp_port) from exc
        self._stack.push_async_callback(handler.close)
        self._stack.push_async_callback(smtp_server.wait_closed)
        self._stack.callback(smtp_server.close)

    def _translate(self, exc: OSError, service: str, port: int) -> OSError:
        if exc.errno == errno.EADDRINUSE:
            return PortInUseError(service, self.options.host, port)
        return exc

    async def stop(self) -> None:
        await self._stack.aclose()


async def serve(options: ServerOptions, stop: asyncio.Event | None = None) -> None:
    """Run the server until ``stop`` is set (or SIGINT/SIGTERM when none is given).

    Raises:
        PortInUseError: a port is taken.
    """
    server = DevMailServer(options)
    await server.start()
    print(
        f"devmail ready: IMAP {options.host}:{options.imap_port}, "
        f"SMTP {options.host}:{options.smtp_port}, data in {options.base_dir}",
        flush=True,
    )
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        log.info("devmail stopped")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m webmail.devserver.mailserver", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--dir", type=Path, default=Path("var/devmail"),
                        help="data directory (users, Maildirs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--imap-port", type=int, default=1143)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--report-delay", type=float, default=3.0,
                        help="seconds before a DSN about bounce.test/delay.test mail is sent")
    parser.add_argument("--seed-demo", action="store_true",
                        help="create the demo users and mail first (once)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 when a port is taken)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s devmail %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("mail.log").setLevel(logging.INFO if args.verbose else logging.WARNING)
    options = ServerOptions(
        base_dir=args.dir.resolve(), host=args.host, imap_port=args.imap_port,
        smtp_port=args.smtp_port, report_delay=args.report_delay, seed_demo=args.seed_demo,
    )
    try:
        asyncio.run(serve(options))
    except PortInUseError as exc:
        print(f"devmail: error: {exc.strerror}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
