"""Entry point: `python -m devstack` and the `devstack` console script."""

from __future__ import annotations

import sys


def main() -> None:
    _collect_later()
    from devstack import prestart

    prestart.start(sys.argv[1:])  # before click is imported: see prestart.py
    from devstack.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as exc:
        if not isinstance(exc.code, (int, type(None))):
            raise
        _exit(exc.code or 0)


def _collect_later(seconds: float = 1.0) -> None:
    """No garbage collection while devstack starts (5-7% of its imports' time): what start-up
    allocates (modules, classes, functions) lives to the end. A command still running after
    `seconds` collects as usual from then on."""
    import gc
    import threading

    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True
    timer.start()


def _exit(code: int) -> None:
    """Exit without tearing the interpreter down (10-15 ms of a `devstack check`).

    What a normal exit does that matters still happens: exit handlers run (temporary files,
    processes devstack started) and the output is flushed. When another non-daemon thread is
    still running, the normal exit waits for it, so then this is a normal exit.
    """
    import atexit
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`devstack status | head`): as Python does
            code = 120
    os._exit(code)


if __name__ == "__main__":
    main()
