"""Write NOTICE: every package the application installs, with its version and licence.

Run by `make lock` in the fresh environment it builds, after constraints.txt is written.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

HEAD = """derogation-intake
Copyright the derogation-intake authors. Licensed under the Apache License, Version 2.0
(see LICENSE).

This product installs the following packages, each under its own licence (as its
distribution's metadata states it). Versions are those of constraints.txt.

"""


def licence(dist: metadata.Distribution) -> str:
    """The licence a distribution declares: its SPDX expression, field or classifiers."""
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or []
                   if c.startswith("License :: ") and c != "License :: OSI Approved"]
    field = (meta.get("License") or "").strip()
    if classifiers:
        return ", ".join(dict.fromkeys(classifiers))
    if field and "\n" not in field and len(field) < 80:
        return field
    return "see the package's metadata"


def main(out: Path) -> int:
    """Write the NOTICE file for the packages of this environment."""
    rows = sorted({(d.metadata["Name"].lower(), d.version, licence(d))
                   for d in metadata.distributions()
                   if d.metadata["Name"] and d.metadata["Name"] != "derogation-intake"})
    width = max(len(f"{name} {version}") for name, version, _ in rows)
    lines = [f"{f'{name} {version}':<{width}}  {text}" for name, version, text in rows]
    out.write_text(HEAD + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{out}: {len(rows)} packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("NOTICE")))
