"""MIME: pure functions over bytes (parse, render, compose, DSN parsing). No Django, no I/O."""
