"""What the library records about the machine and code an iteration ran on.

Gathering it is optional: a failure here warns and never stops a training run.
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import socket
import subprocess
import sys
import warnings
from typing import Any


@functools.lru_cache(maxsize=1)
def _static_info() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:
        user = None
    return {
        "host": socket.gethostname(),
        "user": user,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pid": os.getpid(),
    }


@functools.lru_cache(maxsize=8)
def git_info(cwd: str) -> dict[str, Any] | None:
    """Commit and dirty flag of the git work tree ``cwd`` is in; None outside a work tree."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None  # not a git work tree, no commit yet, or no git installed
    try:
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
    except (OSError, subprocess.SubprocessError) as exc:
        warnings.warn(f"mlops: could not read the git status ({exc})", stacklevel=2)
        dirty, branch = None, None
    return {"commit": commit, "dirty": dirty, "branch": branch}


def system_info() -> dict[str, Any]:
    """Host, user, Python, platform, command line and git commit of this process."""
    info = dict(_static_info())
    info["command"] = [sys.executable, *sys.argv]
    cwd = os.getcwd()
    info["cwd"] = cwd
    git = git_info(cwd)
    if git is not None:
        info["git"] = git
    return info
