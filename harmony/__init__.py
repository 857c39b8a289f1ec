"""harmony: an image-harmonization research toolkit.

Build datasets in the iHarmony4 layout, benchmark harmonization methods under the community's metric
protocols, and score pairwise user studies with Bradley-Terry models.

The distribution is called ``harmony-toolkit`` (``pip install harmony-toolkit``); the import package
and the command are ``harmony``. :data:`__version__` is the one version every output records
(``tool_version`` in params.json / run.json, ``harmony_version`` in checkpoints, ``harmony --version``).
"""

from __future__ import annotations

#: The distribution (PyPI) name of this toolkit.
DISTRIBUTION = "harmony-toolkit"


def _read_version() -> str:
    """The installed distribution's version (``importlib.metadata``), from the single source
    ``pyproject.toml``.

    Fallback for a source tree that is imported without being installed: the ``version`` line of the
    ``pyproject.toml`` beside the package, and ``"0+unknown"`` when there is none.
    """
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    import re
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return "0+unknown"
    if re.search(rf'^name\s*=\s*"{DISTRIBUTION}"', text, re.M):
        m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
        if m:
            return m.group(1)
    return "0+unknown"


__version__: str = _read_version()
