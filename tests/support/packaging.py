"""Build gazewire's wheel from a folder and run Python where only that wheel
(and gazewire's dependencies) can be imported - not the checkout, not the
editable install of the test environment."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def build_wheel(source: Path, out: Path) -> Path:
    """``pip wheel`` of ``source`` (a checkout or a copy of one); the wheel's path."""
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("gazewire-*.whl")
    return wheel


def top_level_names(wheel: Path) -> set[str]:
    """First path levels inside the wheel, without its ``.dist-info`` folder."""
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist() if ".dist-info/" not in name}


def clean_python(wheel: Path, where: Path, interpreter: str = sys.executable) -> Path:
    """A new virtual environment of ``interpreter`` holding the wheel (unpacked:
    it is pure Python) and, through a ``.pth`` path line, the third-party
    packages of ``interpreter``'s own environment. The editable gazewire of
    that environment is not visible: a path line does not run that folder's
    own ``.pth`` hooks."""
    subprocess.run([interpreter, "-m", "venv", "--without-pip", "--clear", str(where)], check=True, capture_output=True)
    python = where / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(subprocess.run([str(python), "-c", purelib], capture_output=True, text=True,
                                        check=True).stdout.strip())
    dependencies = subprocess.run([interpreter, "-c", purelib], capture_output=True, text=True, check=True).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site_packages)
    (site_packages / "test-dependencies.pth").write_text(dependencies + "\n")
    return python
