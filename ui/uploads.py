"""Uploaded files kept under the user-data folder (DLSTUDIO_USER_DATA), shared by every task page."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def user_data_dir() -> Path:
    return Path(os.environ.get("DLSTUDIO_USER_DATA", "user_data"))


def save_upload(upload, folder: str) -> Path:
    """Keep an uploaded file under user_data/, named by its content so re-uploads are free."""
    data = upload.getvalue()
    path = user_data_dir() / folder / f"{hashlib.sha1(data).hexdigest()[:12]}{Path(upload.name).suffix.lower()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path
