"""PyYAML, imported without compiling its pure-Python reader's regex (start-up time).

`yaml/reader.py` compiles a character class of every printable Unicode range when it is
imported: 6-8 ms, about a tenth of what `devstack check` spends in Python. devstack parses with
libyaml (CSafeLoader) when PyYAML has it, and that never uses the pure-Python reader. So the
pattern is compiled on its first use instead: never with libyaml, at once without it.
"""

from __future__ import annotations

import re
import sys
import threading
from types import ModuleType
from typing import Any

_READER_PATTERN = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


_patching = threading.Lock()


class _Deferred:
    """A compiled pattern that compiles itself when first used."""

    def __init__(self, pattern: str, flags: Any, compile_now: Any) -> None:
        self._args = (pattern, flags)
        self._compile_now = compile_now
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = self._compile_now(*self._args)
        return getattr(self._compiled, name)


def import_yaml() -> ModuleType:
    """`import yaml`, with the reader's pattern deferred (any other pattern compiles as usual).

    Always through `import yaml`, never a look in sys.modules: a thread that is importing it
    meanwhile (`compose config` on Compose v1 parses YAML in a thread) has a half-made module
    there, and the import statement waits for that thread to finish it.
    """
    with _patching:
        real = re.compile
        if "yaml" not in sys.modules:

            def compile_deferring(pattern: Any, flags: Any = 0) -> Any:
                if pattern == _READER_PATTERN:
                    return _Deferred(pattern, flags, real)
                return real(pattern, flags)

            re.compile = compile_deferring
        try:
            import yaml
        finally:
            re.compile = real
    return yaml
