"""adcli's private folder in the user's cache directory, shared by the grammar, program and help caches.

Kept apart from the caches themselves so that `adcli --help` can find it without importing numpy.
"""

from __future__ import annotations

import os

try:  # BLAKE2 without hashlib, which loads OpenSSL at import (5 ms of every start)
    from _blake2 import blake2b as _blake2b
except ImportError:  # an interpreter without the module: hashlib's own
    from hashlib import blake2b as _blake2b


def digest(data: bytes = b""):
    """A cryptographic hash object (BLAKE2b, 32 bytes) for cache keys and checksums: a collision
    would load another file's graph, so nothing weaker will do."""
    return _blake2b(data, digest_size=32)


def cache_folder() -> str | None:
    """adcli's folder in the user's cache directory, made private (mode 0700); None if there is
    none to be had. An empty or relative XDG_CACHE_HOME or HOME is ignored, as the XDG
    specification says: it would put the cache in / or wherever adcli runs."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.environ.get("HOME")
        if home is None:  # unset: the account's own home directory
            home = os.path.expanduser("~")
        if not home or not os.path.isabs(home) or home == os.sep:  # set but empty (or /): none to use
            return None
        base = os.path.join(home, ".cache")
    folder = os.path.join(base, "adcli")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError:
        return None
    mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    private = mine and not info.st_mode & 0o022
    if not private or not os.access(folder, os.W_OK):
        return None
    return folder
