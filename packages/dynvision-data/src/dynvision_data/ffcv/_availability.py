"""Lazy, cached access to the optional ``ffcv`` package."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from types import ModuleType

__all__ = ["INSTALL_HINT", "ffcv_available", "require_ffcv"]

INSTALL_HINT = (
    "Install it with: apt-get install -y pkg-config libopencv-dev libturbojpeg0-dev && "
    "pip install 'dynvision-data[ffcv]'. Without FFCV, use backend='torch' (same batches, slower)."
)


@functools.cache
def _import_ffcv() -> ModuleType | str:
    # find_spec avoids the ~4 s import when the package is plainly absent.
    if importlib.util.find_spec("ffcv") is None:
        return "the ffcv package is not installed"
    import torch

    # Importing FFCV's pipeline compiler sets torch's intra-op threads to 1; keep the process's setting.
    threads = torch.get_num_threads()
    try:
        module = importlib.import_module("ffcv")
        importlib.import_module("ffcv.loader")
        importlib.import_module("ffcv.writer")
    except Exception as error:  # missing OpenCV/libjpeg-turbo shows up as OSError or ImportError here
        return f"importing ffcv failed ({type(error).__name__}: {error})"
    finally:
        torch.set_num_threads(threads)
    return module


def ffcv_available() -> bool:
    """Whether ``ffcv`` imports (with its system libraries). The first call may take seconds."""
    return not isinstance(_import_ffcv(), str)


def require_ffcv() -> ModuleType:
    """Return the ``ffcv`` module or raise ``ImportError`` saying how to install it."""
    result = _import_ffcv()
    if isinstance(result, str):
        raise ImportError(f"The FFCV backend was requested but {result}. {INSTALL_HINT}")
    return result
