"""Package layout (everything else is in pyproject.toml).

The repository keeps the edge agent in ``agent/`` and the processor in
``processor/`` at its top level, where a reader looks for them; installed,
they are ``gazewire.agent`` and ``gazewire.processor``, so a wheel holds one
top-level package, ``gazewire``. Sub-packages are found, not listed.
"""

from setuptools import find_packages, setup

FOLDERS = {"gazewire": "gazewire", "gazewire.agent": "agent", "gazewire.processor": "processor"}


def packages_in(folder: str, name: str) -> list[str]:
    return [name, *(f"{name}.{sub}" for sub in find_packages(folder))]


setup(
    package_dir=FOLDERS,
    packages=[package for name, folder in FOLDERS.items() for package in packages_in(folder, name)],
)
