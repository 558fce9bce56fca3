"""Start from published weights on a task page: the weights' own facts, whether they are in the torch hub cache, and
a download with progress (or, offline, the message naming the file and the path to put it in)."""

from __future__ import annotations

import streamlit as st

from core.models import ModelSpec, get_spec, list_models
from core.models.pretrained import Pretrained, WeightsUnavailable, facts, fetch, is_cached
from ui.text import plain


def start_label(pretrained: Pretrained) -> str:
    """How the "Start from" choice names the weights: "ImageNet-1K weights (torchvision)"."""
    return f"{pretrained.label} weights ({pretrained.library})"


def weights_facts(pretrained: Pretrained) -> str:
    """One line of the weights' meta: ImageNet top-1, parameters, file size, recipe and licence links."""
    f = facts(pretrained)
    parts = [plain(f["weights"])]
    if f.get("top1"):
        parts.append(f"ImageNet top-1 {f['top1']:.1f}%")
    if f.get("params"):
        parts.append(f"{f['params'] / 1e6:.1f} M parameters")
    if f.get("sample_rate"):
        parts.append(f"{f['sample_rate'] / 1000:g} kHz audio")
    if f.get("size_mb"):
        parts.append(f"{f['size_mb']:.1f} MB")
    links = [f"[{name}]({f[key]})" for name, key in (("recipe", "recipe"), ("licence", "licence")) if f.get(key)]
    return " · ".join(parts + links)


def pretrained_panel(task: str, pretrained: Pretrained) -> bool:
    """The facts and the cache state under the "Start from" choice; returns whether the weights are ready."""
    st.caption(weights_facts(pretrained))
    f = facts(pretrained)
    if is_cached(pretrained):
        st.caption(f":material/check_circle: In the cache: {plain(f['cache_path'])}")
        return True
    size = f" ({f['size_mb']:.1f} MB)" if f.get("size_mb") else ""
    st.caption(
        f"Not downloaded yet: {plain(f['file'])}{size} from {plain(f['url'])}, into {plain(f['cache_path'])}, once."
    )
    if not st.button(f"Download the weights{size}", key=f"{task}_pretrained_download_btn", icon=":material/download:"):
        return False
    bar = st.progress(0.0, text=f"Downloading {plain(f['file'])}…")

    def progress(done: int, total: int) -> None:
        said = f"{plain(f['file'])}: {done / 1e6:.1f} of {total / 1e6:.1f} MB"
        bar.progress(min(done / max(total, 1), 1.0), text=said)

    try:
        fetch(pretrained, progress)
    except WeightsUnavailable as exc:
        bar.empty()
        st.error(plain(exc), icon=":material/cloud_off:")
        return False
    return True


def cached_pretrained_model(task: str) -> ModelSpec | None:
    """The first of the task's models (registry order: the smallest first) whose published weights are in the cache."""
    specs = [get_spec(task, m) for m in list_models(task)]
    return next((s for s in specs if s.pretrained is not None and is_cached(s.pretrained)), None)
