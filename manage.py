#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    if len(sys.argv) > 1 and sys.argv[1] in ("rundemo", "devmailserver"):
        # The demo is a development set-up: no SECRET_KEY to configure.
        os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
