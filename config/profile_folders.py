"""Where authority profiles are: the shipped folder, and a profile's folder within any."""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError

# The authority profiles shipped with the application (the default of general.profiles_dir).
PROFILES_DIR = Path(__file__).resolve().with_name("profiles")


def profile_root(name: str, search: Path = PROFILES_DIR) -> Path:
    """Return the folder of a profile, or raise a ConfigError naming the known ones."""
    if not search.is_dir():
        raise ConfigError(f"the folder of profiles {search} does not exist",
                          path=str(search), key="profiles_dir")
    root = search / name
    if not root.is_dir():
        known = ", ".join(sorted(p.name for p in search.iterdir() if p.is_dir()))
        raise ConfigError(f"unknown authority profile '{name}' (known: {known or 'none'})",
                          path=str(search), key="profile")
    return root
