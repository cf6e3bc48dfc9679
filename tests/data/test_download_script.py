"""scripts/download_data.py, offline: a file:// archive in the real layout, checksums recorded."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from initlab.compose import compose
from initlab.data import DataUnavailableError, build_data
from initlab.setup import parse_config

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "download_data", ROOT / "scripts/download_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _zip(tmp_path: Path) -> Path:
    rows = "\n".join(f"{i},{i * 0.5},1,2,3,4,5,6,{int(i % 5 == 0)}" for i in range(50))
    archive = tmp_path / "HTRU2.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("HTRU2/HTRU_2.csv", rows + "\n")
        zipped.writestr("HTRU2/Readme.txt", "readme")
    return archive


def test_fetch_unpacks_records_and_the_loader_checks(tmp_path, capsys) -> None:
    script = _script()
    root = tmp_path / "raw"
    assert script.fetch("htru2", root, url=_zip(tmp_path).as_uri()) == 0
    assert "recorded" in capsys.readouterr().out
    sums = (root / "htru2" / "SHA256SUMS").read_text()
    assert "HTRU_2.csv" in sums and "HTRU2.zip" in sums
    cfg = parse_config(compose(["data=htru2", f"data.root={root}", "data.folds=5"])).data
    assert len(build_data(cfg).x_test) == 10
    assert script.verify("htru2", root) == 0
    (root / "htru2" / "HTRU_2.csv").write_text("0,0,0,0,0,0,0,0,1\n" * 50)
    assert script.verify("htru2", root) == 1
    with pytest.raises(DataUnavailableError, match="corrupt.*expected sha256 [0-9a-f]{64}"):
        build_data(cfg)
