"""Entry point: `python -m devstack` and the `devstack` console script."""

from __future__ import annotations

from devstack.cli import main

if __name__ == "__main__":
    main()
