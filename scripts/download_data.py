"""Fetch, unpack and checksum the downloaded data sets (needs a network; nothing else does).

    python scripts/download_data.py uci121 tox21 htru2 [--root data/raw]
    python scripts/download_data.py htru2 --verify       # check files against SHA256SUMS only

Each set lands in ``<root>/<set>/`` where its ``data=<set>`` loader looks. No archive checksum
is known to this repository (none could be verified here, and none is made up): on the first
download the script computes the SHA-256 of the archive and of every unpacked file, writes them
to ``<root>/<set>/SHA256SUMS`` and says so; the loaders then refuse files that differ from it,
and later downloads are checked against it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from initlab.data.files import CHECKSUM_FILE, SOURCES, Source, recorded_checksums, sha256

#: Files each set needs, as globs matched anywhere in the unpacked archive.
UCI_MARKERS = ("*_R.dat", "*_py.dat")
TOX21_FILES = (
    "tox21_dense_train.csv.gz",
    "tox21_dense_test.csv.gz",
    "tox21_labels_train.csv.gz",
    "tox21_labels_test.csv.gz",
    "tox21_sparse_train.mtx.gz",
    "tox21_sparse_test.mtx.gz",
)
HTRU2_FILES = ("HTRU_2.csv",)


def _unpack(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(into)
    else:
        with tarfile.open(archive) as tarred:
            tarred.extractall(into, filter="data")


def _place(source: Source, unpacked: Path, target: Path) -> list[Path]:
    """Move the set's files from the unpacked tree into ``target``; return them."""
    placed = []
    if source.name == "uci121":
        folders = {p.parent for marker in UCI_MARKERS for p in unpacked.rglob(marker)}
        for folder in sorted(folders):
            dest = target / folder.name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.move(str(folder), dest)
            placed += [p for p in dest.rglob("*") if p.is_file()]
        return placed
    wanted = TOX21_FILES if source.name == "tox21" else HTRU2_FILES
    for name in wanted:
        found = sorted(unpacked.rglob(name))
        if found:
            shutil.move(str(found[0]), target / name)
            placed.append(target / name)
    return placed


def _record(target: Path, files: list[Path]) -> list[str]:
    """Check ``files`` against SHA256SUMS where recorded; record the rest. Returns mismatches."""
    recorded = recorded_checksums(target)
    bad, new = [], {}
    for path in files:
        rel = path.relative_to(target).as_posix()
        digest = sha256(path)
        if rel in recorded and recorded[rel] != digest:
            bad.append(f"{rel}: sha256 {digest}, recorded {recorded[rel]}")
        elif rel not in recorded:
            new[rel] = digest
    if new:
        lines = [f"{digest}  {rel}" for rel, digest in sorted({**recorded, **new}.items())]
        (target / CHECKSUM_FILE).write_text("\n".join(lines) + "\n")
        print(f"  recorded {len(new)} new checksum(s) in {target / CHECKSUM_FILE} (first download)")
    return bad


def fetch(name: str, root: Path, url: str | None = None) -> int:
    """Download, check and unpack one set into ``root/<set>/``; 0 on success."""
    source = SOURCES[name]
    target = Path(root) / source.folder
    target.mkdir(parents=True, exist_ok=True)
    url = url or source.url
    archive = target / Path(url).name
    print(f"{name}: downloading {url}")
    with urllib.request.urlopen(url) as response, open(archive, "wb") as out:
        shutil.copyfileobj(response, out)
    digest = sha256(archive)
    if source.archive_sha256 is None:
        print(f"  archive sha256 {digest} (no checksum known in the repository: recorded below)")
    elif digest != source.archive_sha256:
        print(f"  archive sha256 {digest} differs from the known {source.archive_sha256}")
        return 1
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        _unpack(archive, Path(tmp))
        files = _place(source, Path(tmp), target)
    if not files:
        print(f"  the archive holds none of the files {name} needs")
        return 1
    bad = _record(target, [archive, *files])
    for line in bad:
        print(f"  MISMATCH {line}")
    print(f"{name}: {len(files)} file(s) in {target}")
    return 1 if bad else 0


def verify(name: str, root: Path) -> int:
    target = Path(root) / SOURCES[name].folder
    recorded = recorded_checksums(target)
    if not recorded:
        print(f"{name}: no {CHECKSUM_FILE} in {target}; nothing to verify")
        return 1
    bad = [
        rel
        for rel, digest in recorded.items()
        if not (target / rel).is_file() or sha256(target / rel) != digest
    ]
    print(f"{name}: {len(recorded) - len(bad)}/{len(recorded)} files match {CHECKSUM_FILE}")
    for rel in bad:
        print(f"  MISMATCH {rel}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", choices=sorted(SOURCES))
    parser.add_argument("--root", default="data/raw", type=Path)
    parser.add_argument("--verify", action="store_true", help="check files only, no download")
    args = parser.parse_args()
    status = 0
    for name in args.sets:
        status |= verify(name, args.root) if args.verify else fetch(name, args.root)
    return status


if __name__ == "__main__":
    sys.exit(main())
