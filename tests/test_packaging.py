"""The wheel carries the Kuzbass sample: ms.datasets.kuzbass() works after pip install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_wheel_ships_the_sample(tmp_path):
    wheelhouse = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(wheelhouse), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = wheelhouse.glob("minespace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    raw = {p.name for p in (ROOT / "data" / "raw" / "kuzbass").iterdir()}
    assert {f"minespace/datasets/kuzbass/{n}" for n in raw} <= names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import minespace as ms; "
            "print(ms.__file__); print(ms.datasets.kuzbass_dir()); "
            "print(len(ms.datasets.kuzbass().deposits))")
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    module, data_dir, n = out.stdout.split()
    assert module.startswith(str(target)) and data_dir.startswith(str(target))
    assert n == "141"
