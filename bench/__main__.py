"""`python -m bench [ARGS...]`: run every benchmark module of this package in turn (`make bench`).

Each module runs as `python -m bench.<name> ARGS...` in its own process, so that each configures Django
for itself; their JSON lines go to stdout unchanged. Exits non-zero if any of them failed.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules([str(PACKAGE)]) if not info.name.startswith("_"))


def main(argv: list[str]) -> int:
    failed = []
    for name in modules():
        print(f"[bench] {name}", file=sys.stderr, flush=True)
        result = subprocess.run([sys.executable, "-m", f"bench.{name}", *argv], cwd=PACKAGE.parent)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
