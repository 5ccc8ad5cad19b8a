"""Turning what a training script logs into files: text, dicts, figures and images.

``log_text``, ``log_dict``, ``log_figure`` and ``log_image`` write their bytes at the call, into a
spool folder under ``MLOPS_HOME`` (so later changes to the object do not change what is kept);
the uploader sends the spooled file and removes it. Nothing here imports numpy, PIL, matplotlib
or plotly: the objects are recognised by what they can do.
"""

from __future__ import annotations

import json
import mimetypes
import os
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

from mlops.config import mlops_home
from mlops.errors import InvalidInput

__all__ = ["media_type", "spool_dict", "spool_figure", "spool_image", "spool_text"]

_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".json": "application/json",
    ".csv": "text/csv",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".txt": "text/plain",
    ".log": "text/plain",
    ".webp": "image/webp",
}


def media_type(name: str) -> str:
    """The media type of a file by its name (``application/octet-stream`` when unknown)."""
    suffix = Path(name).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def spool_folder() -> Path:
    """Where logged objects wait as files until they are sent."""
    folder = mlops_home() / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _spool(data: bytes) -> Path:
    path = spool_folder() / uuid.uuid4().hex
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def spool_text(text: object, name: str) -> Path:
    """A text as a UTF-8 file."""
    if not isinstance(text, str):
        raise InvalidInput(f"log_text({name!r}) needs a string, got {type(text).__name__}")
    return _spool(text.encode("utf-8"))


def spool_dict(data: object, name: str) -> Path:
    """A dict as JSON, or as YAML when the name ends in ``.yaml`` / ``.yml``."""
    if not isinstance(data, dict):
        raise InvalidInput(f"log_dict({name!r}) needs a dict, got {type(data).__name__}")
    if name.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InvalidInput(
                f"log_dict({name!r}) writes YAML, which needs PyYAML: pip install pyyaml "
                "(or name the file .json)"
            ) from None
        return _spool(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode("utf-8"))
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, default=_not_json(name))
    except ValueError as exc:
        raise InvalidInput(f"log_dict({name!r}): {exc}") from None
    return _spool(text.encode("utf-8"))


def _not_json(name: str) -> Any:
    def refuse(value: object) -> object:
        raise InvalidInput(
            f"log_dict({name!r}): {type(value).__name__} is not JSON data (use numbers, "
            "strings, lists and dicts)"
        )

    return refuse


def spool_figure(figure: object, name: str) -> Path:
    """A matplotlib or plotly figure as PNG (plotly needs ``kaleido``)."""
    path = spool_folder() / uuid.uuid4().hex
    savefig = getattr(figure, "savefig", None)
    if callable(savefig):  # matplotlib
        savefig(path, format="png", bbox_inches="tight")
        return path
    write_image = getattr(figure, "write_image", None)
    if callable(write_image):  # plotly
        try:
            write_image(str(path), format="png")
        except (ImportError, ValueError, RuntimeError) as exc:
            path.unlink(missing_ok=True)
            if "kaleido" in str(exc).lower():
                raise InvalidInput(
                    f"log_figure({name!r}): plotly needs the kaleido package to save a figure "
                    "as PNG: pip install kaleido"
                ) from None
            raise InvalidInput(f"log_figure({name!r}): plotly could not save it ({exc})") from None
        return path
    raise InvalidInput(
        f"log_figure({name!r}) needs a matplotlib or plotly figure, got {type(figure).__name__}"
    )


def spool_image(image: object, name: str) -> tuple[Path, bool]:
    """An image as a PNG file: (path, whether it is a spooled copy to remove after sending).

    Takes a numpy array (HxW, HxWx3 or HxWx4; uint8, or float in [0, 1]), a PIL image, or the
    path of an image file (sent as it is).
    """
    if isinstance(image, str | os.PathLike):
        path = Path(image).expanduser()
        if not path.is_file():
            raise InvalidInput(f"log_image({name!r}): {str(path)!r} is not a file")
        return path, False
    save = getattr(image, "save", None)
    if callable(save) and hasattr(image, "mode"):  # PIL
        path = spool_folder() / uuid.uuid4().hex
        save(path, format="PNG")
        return path, True
    if hasattr(image, "shape") and hasattr(image, "dtype"):
        return _spool(png_of_array(image, name)), True
    raise InvalidInput(
        f"log_image({name!r}) needs a numpy array, a PIL image or a file path, "
        f"got {type(image).__name__}"
    )


def png_of_array(array: Any, name: str) -> bytes:
    """PNG bytes of an HxW, HxWx3 or HxWx4 array of uint8, or of floats in [0, 1]."""
    shape = tuple(array.shape)
    channels = 1 if len(shape) == 2 else shape[2] if len(shape) == 3 else 0
    if channels not in (1, 3, 4) or 0 in shape[:2]:
        raise InvalidInput(
            f"log_image({name!r}): an array image is HxW, HxWx3 or HxWx4, got shape {shape}"
        )
    kind = array.dtype.kind
    if kind == "f":
        low, high = float(array.min()), float(array.max())
        if not (low >= 0.0 and high <= 1.0):
            raise InvalidInput(
                f"log_image({name!r}): float pixels must be in [0, 1], got {low:g} to {high:g}"
            )
        array = (array * 255.0 + 0.5).astype("uint8")
    elif str(array.dtype) != "uint8":
        raise InvalidInput(
            f"log_image({name!r}): pixels must be uint8 or float in [0, 1], got {array.dtype}"
        )
    height, width = shape[0], shape[1]
    rows = array.reshape(height, width * channels)
    raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(height))
    color = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
