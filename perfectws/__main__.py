"""``python -m perfectws``: the same as the ``perfectws`` command (perfectws/cli.py)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
