"""CSV import at scale: `import_leads` on a synthetic file of N rows into a fresh organization.

    python -m bench.import_leads --database-url postgres://leadhub_app@127.0.0.1:5432/leadhub_bench \\
        [--sizes 100000,1000000] [--keep]

For each size a CSV is generated in a temporary directory (email, names, company, phone, country, five
columns that become typed custom fields, and an outcome column mapped to stages; 2 % of the rows repeat
an earlier email and 0.5 % carry an invalid one), then imported into a new organization with
`manage.py import_leads --custom-fields auto --stage-column outcome ...` in its own process. The smallest
size is the baseline of the same run. Prints one JSON object per line: total seconds, rows per second,
the import's counts, and where its time went (seconds per phase, summed over the loader's connections).
`--keep` leaves the organizations in the database.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = "import_leads"
FIRST = [
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
    "Eva",
    "Finn",
    "Gia",
    "Hugo",
    "Iris",
    "Jon",
    "Kai",
    "Lena",
    "Milo",
    "Nora",
]
LAST = ["Ng", "Okafor", "Schmidt", "Rossi", "Tanaka", "Dubois", "Silva", "Novak", "Khan", "Berg", "Walsh"]
PLANS = ["free", "starter", "pro", "enterprise"]
COUNTRIES = ["Germany", "France", "Spain", "Italy", "Netherlands", "Poland", "Portugal", "Austria"]
OUTCOMES = ["won", "lost", "open", ""]


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"bench": BENCH, "metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def csv_write(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    companies = max(10, rows // 20)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(
            "email,first_name,last_name,company,phone,country,plan,employees,signed_up,newsletter,note,outcome\n"
        )
        lines = []
        for n in range(rows):
            r = rng.random()
            if r < 0.005:
                email = f"broken-{n}-at-example"
            elif r < 0.025 and n > 10:
                email = f"person{rng.randrange(n)}@example.com"
            else:
                email = f"person{n}@example.com"
            company = rng.randrange(companies)
            lines.append(
                f"{email},{FIRST[n % len(FIRST)]},{LAST[(n // 7) % len(LAST)]},Company {company},"
                f"+49 30 {n:07d},{COUNTRIES[company % len(COUNTRIES)]},{PLANS[rng.randrange(4)]},"
                f"{rng.randrange(1, 5000)},20{rng.randrange(15, 25)}-{rng.randrange(1, 13):02d}-"
                f"{rng.randrange(1, 29):02d},{'yes' if rng.random() < 0.4 else 'no'},"
                f"note {rng.randrange(1000)},{OUTCOMES[rng.randrange(4)]}\n"
            )
            if len(lines) >= 10_000:
                handle.write("".join(lines))
                lines = []
        handle.write("".join(lines))


def manage(env: dict[str, str], *args: str) -> str:
    return manage_run(env, *args).stdout


def manage_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def phases(log: str) -> dict[str, float]:
    """The loader's seconds per phase (summed over its connections), from the import's log line."""
    match = re.search(r"Import \d+ phases: (\{.*\})", log)
    return ast.literal_eval(match.group(1)) if match else {}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--sizes", default="100000,1000000")
    options, _ = parser.parse_known_args(argv)
    if not options.database_url.startswith("postgres"):
        print(
            "bench.import_leads measures the PostgreSQL path: pass --database-url postgres://...",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ, "DATABASE_URL": options.database_url, "DJANGO_SETTINGS_MODULE": "leadhub.settings"}
    env.pop("DEBUG", None)
    env.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex)
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    manage(env, "migrate", "-v0")
    os.environ.update(env)
    import django

    django.setup()
    from bench import postgres_settings

    emit("postgres_settings", 0, "", **postgres_settings())
    sizes = sorted(int(s) for s in options.sizes.split(","))
    baseline: float | None = None
    with tempfile.TemporaryDirectory(prefix="leadhub-import-bench-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"leads-{size}.csv"
            began = time.monotonic()
            csv_write(path, size)
            emit("csv_generate_seconds", round(time.monotonic() - began, 2), "s", rows=size)
            slug = f"import-bench-{size}-{uuid.uuid4().hex[:6]}"
            manage(
                env,
                "create_organization",
                "--name",
                slug,
                "--slug",
                slug,
                "--admin-email",
                f"admin@{slug}.example",
            )
            began = time.monotonic()
            result = manage_run(
                env,
                "import_leads",
                "--organization",
                slug,
                str(path),
                "--custom-fields",
                "auto",
                "--stage-column",
                "outcome",
                "--stage-map",
                "won=customer",
                "--stage-map",
                "lost=disqualified",
                "--json",
            )
            wall = time.monotonic() - began
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            rate = size / wall
            extra = {
                "rows": size,
                "created": summary["created"],
                "updated": summary["updated"],
                "rejected": summary["rejected"],
                "leads_created": summary["leads_created"],
                "import_seconds": summary["seconds"],
                "file_mb": round(path.stat().st_size / 1e6, 1),
            }
            emit("import_total_seconds", round(wall, 2), "s", **extra)
            split = phases(result.stderr)
            emit("import_phase_seconds", round(summary["seconds"], 2), "s", rows=size, phases=split)
            if baseline is None:
                baseline = rate
                emit("import_rows_per_second", round(rate), "rows/s", baseline=True, **extra)
            else:
                emit(
                    "import_rows_per_second",
                    round(rate),
                    "rows/s",
                    vs_baseline=round(rate / baseline, 2),
                    **extra,
                )
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
