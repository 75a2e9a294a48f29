"""Reading an arbitrary CSV file: encoding, delimiter, header, a sample, and the rows."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
SAMPLE_ROWS = 20_000

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class FileShape:
    encoding: str
    delimiter: str
    headers: list[str]


def encoding_detect(path: Path) -> str:
    """UTF-8 (with or without a byte order mark) when the file decodes as such, else Windows-1252, which
    decodes any byte: spreadsheets exported on Windows are the usual non-UTF-8 CSV."""
    with path.open("rb") as handle:
        head = handle.read(4)
    # A strict streaming check: an incremental decoder keeps multi-byte characters split across blocks.
    utf8 = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                utf8.decode(block)
            utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-8"


def delimiter_detect(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = text.split("\n", 1)[0]
        return max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","


def shape_read(path: Path, delimiter: str | None = None) -> FileShape:
    encoding = encoding_detect(path)
    with path.open(encoding=encoding, newline="") as handle:
        text = handle.read(SNIFF_BYTES)
    if not text.strip():
        raise ValueError("The file is empty.")
    delimiter = delimiter or delimiter_detect(text)
    headers = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    headers = headers_clean(headers)
    if not headers:
        raise ValueError("The file has no header row.")
    return FileShape(encoding=encoding, delimiter=delimiter, headers=headers)


def headers_clean(headers: list[str]) -> list[str]:
    """Trimmed, never blank, unique (a repeated name gets a suffix): columns are addressed by name."""
    seen: dict[str, int] = {}
    cleaned = []
    for index, header in enumerate(headers):
        name = header.strip().lstrip("\ufeff").strip() or f"column {index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        cleaned.append(name)
    return cleaned


def rows_iter(path: Path, shape: FileShape) -> Iterator[list[str]]:
    """Data rows (the header skipped), as lists of cells."""
    with path.open(encoding=shape.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=shape.delimiter)
        next(reader, None)
        yield from reader


def rows_sample(path: Path, shape: FileShape, size: int = SAMPLE_ROWS) -> list[list[str]]:
    sample = []
    for row in rows_iter(path, shape):
        if not any(cell.strip() for cell in row):
            continue
        sample.append(row)
        if len(sample) >= size:
            break
    return sample
