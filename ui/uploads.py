"""The pages' data step: uploads kept under the user-data folder (DLSTUDIO_USER_DATA), loading with messages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from core.data import DataError
from core.data.roots import resolve_in_roots, user_data_dir
from ui.text import plain


def user_path(text: str | None) -> str | None:
    """A path typed on a page, resolved inside the app's data roots (core.data.roots), or None.

    Empty input gives None quietly; a path outside the roots (or escaping them by `..` or a symlink) shows one
    st.error that says which folders are allowed, the same whether or not the path exists, and gives None.
    Pages pass what this returns to their loaders, never the raw text.
    """
    if not text or not text.strip():
        return None
    try:
        return str(resolve_in_roots(text))
    except DataError as exc:
        st.error(plain(exc))
        return None


def save_upload(upload, folder: str) -> Path:
    """Keep an uploaded file under user_data/<folder>/<content hash>/<its own name>.

    The hash makes re-uploads free and keeps two files of the same name apart; the name stays, so
    messages about the file name the file the person uploaded.
    """
    data = upload.getvalue()
    name = re.sub(r"[^\w.-]", "_", Path(upload.name).name)[:100] or "upload"
    path = user_data_dir() / folder / hashlib.sha1(data).hexdigest()[:12] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


def load_and_preview(load: Callable[[], Any], preview: Callable[[Any], None], source: str) -> Any | None:
    """Load a page's data and show its preview; a bad file becomes a message naming it, never a crash.

    `source` names what was asked for (a bundled dataset or the user's path), for errors the loaders did
    not foresee. Returns the data, or None when it could not be loaded.
    """
    try:
        data = load()
    except DataError as exc:
        st.error(plain(exc))
        return None
    except Exception as exc:  # a file we could not foresee: say so, never take the page down
        st.error(plain(f"{Path(source).name}: could not be loaded ({type(exc).__name__}: {exc})"))
        return None
    preview(data)
    return data


def data_stamp(path: str | None) -> float:
    """Changes when files are added to a folder (or a new file replaces a .zip), so the cached data is redone."""
    if not path or not Path(path).exists():
        return 0.0
    root = Path(path)
    return max(p.stat().st_mtime for p in [root, *root.glob("*/"), *root.glob("*/*/")])
