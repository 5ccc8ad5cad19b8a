"""Numbers for people, shared by the command line and the web pages."""

from __future__ import annotations

import math


def human_duration(seconds: float | None) -> str | None:
    """``"850 ms"``, ``"3.2 s"``, ``"4 min 10 s"``, ``"2 h 5 min"``, ``"3 d 4 h"``; None when
    unknown (still running, NaN)."""
    if seconds is None or not math.isfinite(seconds):
        return None
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(total, 3600)
    if hours < 24:
        minutes = rest // 60
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def human_size(size: int | None) -> str | None:
    """A size in bytes as ``"12.3 MB"`` (decimal units); None when unknown."""
    if size is None:
        return None
    amount = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000:
            return f"{amount:.0f} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"
