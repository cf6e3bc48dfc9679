"""Files of the downloaded data sets (UCI-121, Tox21, HTRU2): where they come from, checksums.

Every loader reads its files through :func:`require`, so a missing or corrupt file ends the run
with ONE :class:`DataUnavailableError` that names the file, its expected SHA-256 and where to get
it. Expected checksums come from ``KNOWN_SHA256`` (none is filled in: no value here was verified
against the real downloads, and none is invented) or from the ``SHA256SUMS`` file that
``scripts/download_data.py`` writes next to the files on first download (``sha256  relpath``
lines, as ``sha256sum`` prints them). A file with no recorded checksum is only parsed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from initlab.data.bundle import DataUnavailableError

CHECKSUM_FILE = "SHA256SUMS"
#: at a data root: the files the rehearsal wrote (synthetic, real formats) and their sha256
MANIFEST = "REHEARSAL_MANIFEST.json"


@dataclass(frozen=True)
class Source:
    """A data set's download: archive URL, the folder under ``data.root`` it unpacks into."""

    name: str
    url: str
    folder: str
    archive_sha256: str | None = None  # None: unknown here (recorded on first download)
    note: str = ""
    known_sha256: dict[str, str] = field(default_factory=dict)  # relpath -> sha256 (verified)


SOURCES = {
    "uci121": Source(
        name="uci121",
        url="http://persoal.citius.usc.es/manuel.fernandez.delgado/papers/jmlr/data.tar.gz",
        folder="uci121",
        note="the 121 preprocessed UCI sets of Fernandez-Delgado et al. (2014), one folder per "
        "set; the SNN paper's UCI page links this archive",
    ),
    "tox21": Source(
        name="tox21",
        url="http://bioinf.jku.at/research/DeepTox/tox21.zip",
        folder="tox21",
        note="the DeepTox Tox21 challenge files (dense features, 12 labels, train/test)",
    ),
    "htru2": Source(
        name="htru2",
        url="https://archive.ics.uci.edu/ml/machine-learning-databases/00372/HTRU2.zip",
        folder="htru2",
        note="UCI HTRU2 pulsar candidates (HTRU_2.csv: 8 features, class 0/1)",
    ),
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_checksums(folder: Path) -> dict[str, str]:
    """``relpath -> sha256`` from ``folder/SHA256SUMS`` (empty if there is none)."""
    path = Path(folder) / CHECKSUM_FILE
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, rel = line.strip().partition("  ")
        if digest and rel:
            sums[rel.lstrip("*")] = digest
    return sums


#: more places a file's expected sha256 may come from, consulted first: ``(folder, relpath) ->
#: sha256 or None`` (the rehearsal registers the manifest of the synthetic files it wrote, so
#: those files, and only those, are read with its checksums; every other file as usual)
CHECKSUM_SOURCES: list[Callable[[Path, str], str | None]] = []


def expected_sha256(source: Source, folder: Path, rel: str) -> str | None:
    """A registered source's record (:data:`CHECKSUM_SOURCES`); else the real file's known
    checksum."""
    for lookup in CHECKSUM_SOURCES:
        found = lookup(folder, rel)
        if found:
            return found
    return source.known_sha256.get(rel) or recorded_checksums(folder).get(rel)


def _where(source: Source, folder: Path) -> str:
    return (
        f"Get it from {source.url} ({source.note}) and unpack it into {folder}/, or run "
        f"`python scripts/download_data.py {source.name} --root {folder.parent}`."
    )


def _expected_text(expected: str | None) -> str:
    if expected:
        return f"expected sha256 {expected}"
    return (
        "expected sha256: unknown (not verified in this repository; scripts/download_data.py "
        f"records one in {CHECKSUM_FILE} on first download)"
    )


def require(source: Source, folder: Path, rel: str) -> Path:
    """``folder / rel``, checked: it exists and matches its expected checksum, if one is known."""
    folder = Path(folder)
    path = folder / rel
    expected = expected_sha256(source, folder, rel)
    if not path.is_file():
        raise DataUnavailableError(
            f"{source.name}: file {path} is missing ({_expected_text(expected)}). "
            + _where(source, folder)
        )
    if expected is not None:
        actual = sha256(path)
        if actual != expected:
            raise DataUnavailableError(
                f"{source.name}: file {path} is corrupt: sha256 {actual}, "
                f"{_expected_text(expected)}. " + _where(source, folder)
            )
    return path


def corrupt(source: Source, folder: Path, rel: str, problem: str) -> DataUnavailableError:
    """The error for a file that exists but cannot be read as the format says."""
    folder = Path(folder)
    expected = expected_sha256(source, folder, rel)
    return DataUnavailableError(
        f"{source.name}: file {folder / rel} is corrupt ({problem}; {_expected_text(expected)}). "
        + _where(source, folder)
    )
