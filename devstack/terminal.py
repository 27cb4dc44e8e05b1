"""How the CLI shows progress: a live view on a terminal, plain lines elsewhere, JSON lines.

Part of the CLI layer (cli.py opens a view; the library reports `progress.Event`s to it). Only
the live view imports rich, and only when it is opened, so `--help` keeps its start-up time.

Modes:
  live    one line per service (or step), redrawn in place; stderr must be a terminal
  plain   one line per change of state, no control characters (CI logs, pipes, TERM=dumb)
  verbose plain lines, and every line of Compose's own output (build logs included)
  json    one JSON object per event (--json)
  quiet   nothing; errors are still printed
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

from devstack.progress import BUILT, FAILED, FINAL, Event

MODES = ("auto", "live", "plain", "quiet")


def choose(
    requested: str = "auto",
    *,
    as_json: bool = False,
    verbose: bool = False,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The mode to draw in: --json and --verbose win; `auto` is live only on a capable terminal."""
    env = os.environ if environ is None else environ
    out = stream or sys.stderr
    if as_json:
        return "json"
    if verbose:
        return "verbose"
    if requested in ("plain", "quiet"):
        return requested
    capable = _isatty(out) and env.get("TERM", "") != "dumb"
    if requested == "live":
        return "live" if _isatty(out) else "plain"
    return "live" if capable else "plain"


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def open_view(mode: str, stream: IO[str] | None = None) -> View:
    """A view for a mode from `choose`; use it as a context manager around the operation."""
    out = stream or sys.stderr
    if mode == "live":
        return LiveView(out)
    if mode == "json":
        return JsonView(out)
    if mode == "quiet":
        return View(out)
    return PlainView(out, raw=mode == "verbose")


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def transfer_text(verb: str, done: int, total: int | None, started: float) -> str:
    """`read 12.0 MB of 40.0 MB (30%), 3 s left, 4.0 MB/s`."""
    elapsed = max(time.monotonic() - started, 1e-6)
    rate = done / elapsed
    text = f"{verb} {_size(done)}"
    if total:
        share = min(done / total, 1.0)
        text += f" of {_size(total)} ({share:.0%})"
        if rate > 0 and share < 1:
            text += f", {(total - done) / rate:.0f} s left"
    return text + f", {_size(rate)}/s"


class View:
    """The quiet view, and the interface of every view: call it with Events (the library's
    progress callback); `step(text)` for commands that report progress as text lines;
    `transfer(...)` for byte counts."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __enter__(self) -> View:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(failed=exc[0] is not None)

    def __call__(self, event: Event) -> None:
        return None

    def step(self, text: str) -> None:
        self(Event("step", text))

    def transfer(self, verb: str, done: int, total: int | None, started: float) -> None:
        return None

    def close(self, failed: bool = False) -> None:
        return None

    def _write(self, line: str) -> None:
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class PlainView(View):
    """One line per change: `db: waiting for health`, `db: ready in 3.1 s`. No control characters."""

    def __init__(self, stream: IO[str], raw: bool = False) -> None:
        super().__init__(stream)
        self.raw = raw  # --verbose: Compose's own lines too
        self._last_transfer = 0.0

    def __call__(self, event: Event) -> None:
        if event.kind == "compose":
            if self.raw:
                self._write(_printable(f"  {event.message}"))
            return
        if event.kind == "service":
            text = f"{event.service}: {event.message}"
            if event.detail and event.state != FAILED:
                text += f" ({event.detail})"
            self._write(_printable(text))
        elif event.kind == "step":
            self._write(_printable(event.message))
        else:
            self._write(_printable(f"{event.kind}: {event.message}"))

    def transfer(self, verb: str, done: int, total: int | None, started: float) -> None:
        now = time.monotonic()
        if now - self._last_transfer >= 5 or (total and done >= total):  # a line every 5 s in a log
            self._last_transfer = now
            self._write(transfer_text(verb, done, total, started))


def _printable(text: str) -> str:
    """No control characters in plain output (Compose's own lines may carry some)."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in text)


class JsonView(View):
    """One JSON object per event, as `--json` promises (progress on stderr, result on stdout)."""

    def __call__(self, event: Event) -> None:
        self._write(json.dumps(event.to_dict()))

    def transfer(self, verb: str, done: int, total: int | None, started: float) -> None:
        self._write(json.dumps({"event": "transfer", "verb": verb, "done": done, "total": total}))


_LEFT = "left"  # the live view's mark for a service still under way when the command failed


class _Row:
    """One line of the live view: a service, or a step of a command."""

    def __init__(self, label: str, state: str, message: str, detail: str | None) -> None:
        self.label = label
        self.state = state
        self.message = message
        self.detail = detail
        self.since = time.monotonic()
        self.ended: float | None = None


class LiveView(View):
    """One line per service (or step), redrawn in place by rich on stderr."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream, highlight=False, soft_wrap=False)
        # A terminal without UTF-8 (LANG=C) gets ASCII marks and spinner.
        self.ascii = not (self.console.encoding or "").lower().startswith("utf")
        self.rows: dict[str, _Row] = {}
        self.transfer_line: str | None = None
        self._step: str | None = None
        self.live = Live(
            self, console=self.console, refresh_per_second=8, transient=False, redirect_stdout=False
        )
        self.live.start()

    # rich asks for the current picture on every refresh
    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            rows = list(self.rows.values())
            transfer = self.transfer_line
        width = max((len(r.label) for r in rows), default=0)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1, no_wrap=True)
        if width:  # services have a name column; a command's steps do not
            grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        now = time.monotonic()
        for row in rows:
            text = Text(row.message)
            if row.state == FAILED:
                mark: Any = Text("x" if self.ascii else "✘", style="bold red")
                text.stylize("red")
            elif row.state == _LEFT:
                mark = Text("-", style="yellow")
            elif row.state in FINAL or row.ended is not None:
                mark = Text("+" if self.ascii else "✔", style="green")
            else:
                mark = Spinner("line" if self.ascii else "dots", style="cyan")
                text.append(f" {now - row.since:.0f} s", style="dim")
            if row.detail and row.state != FAILED:
                text.append(f"  {row.detail}", style="dim")
            label = [Text(row.label.ljust(width), style="bold")] if width else []
            grid.add_row(mark, *label, text)
        if transfer:
            spinner = Spinner("line" if self.ascii else "dots", style="cyan")
            grid.add_row(spinner, *([Text("")] if width else []), Text(transfer))
        return grid

    def __call__(self, event: Event) -> None:
        if event.kind == "compose":
            return  # understood by the Board; the raw lines are for --verbose
        if event.kind == "service" and event.service:
            if event.state == BUILT:  # kept above the rows: the next state replaces it at once
                self.live.console.print(f"{event.service}: {event.message}", markup=False, highlight=False)
            with self._lock:
                row = self.rows.get(event.service)
                if row is None:
                    self.rows[event.service] = _Row(
                        event.service, event.state or "", event.message, event.detail
                    )
                else:
                    if row.state != event.state:
                        row.since = time.monotonic()
                    row.state, row.message, row.detail = event.state or "", event.message, event.detail
            return
        if event.kind == "step":
            with self._lock:
                self._end_step()
                key = f"step {len(self.rows)}"
                self.rows[key] = _Row("", "", event.message, None)
                self._step = key
            return
        # env, mounts, warning, runtime...: a permanent line above the live rows
        self.live.console.print(f"{event.kind}: {event.message}", markup=False, highlight=False)

    def _end_step(self, failed: bool = False) -> None:
        if self._step is not None:
            row = self.rows[self._step]
            row.ended = time.monotonic()
            row.state = FAILED if failed else "done"
            row.message += f" ({row.ended - row.since:.1f} s)"
            self._step = None

    def transfer(self, verb: str, done: int, total: int | None, started: float) -> None:
        with self._lock:
            self.transfer_line = transfer_text(verb, done, total, started)

    def close(self, failed: bool = False) -> None:
        with self._lock:
            self._end_step(failed)
            self.transfer_line = None
            if failed:
                for row in self.rows.values():  # what was still going on is left where it was
                    if row.state not in FINAL and row.ended is None:
                        row.ended = time.monotonic()
                        row.state = _LEFT
        self.live.stop()
