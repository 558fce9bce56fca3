"""Share a setup: a page's settings live in its URL (st.query_params), so a copied link opens the same page.

Call `share_settings(prefix, {name: parser})` once near the top of a page, before its widgets. A value
in the URL that the page did not write itself (an opened link, a page link with query parameters) goes
into `st.session_state[f"{prefix}_{name}"]` if its parser accepts it (bad values are ignored); then the
settings' current values are written to the URL, on every run. Widget keys stay `{prefix}_{name}`; the
URL uses the short `name`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.run.options import Option

Parser = Callable[[str], Any]


def one_of(options: Sequence[Any]) -> Parser:
    """A value written as str(option) in the URL -> that option."""
    by_text = {str(o): o for o in options}

    def parse(text: str) -> Any:
        if text not in by_text:
            raise ValueError(f"{text!r} is not one of the choices")
        return by_text[text]

    return parse


def int_in(lo: int, hi: int) -> Parser:
    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def float_in(lo: float, hi: float) -> Parser:
    def parse(text: str) -> float:
        value = float(text)
        if not lo <= value <= hi:  # also rejects nan
            raise ValueError(f"{value} is outside {lo}..{hi}")
        return value

    return parse


def flag(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def text(value: str) -> str:
    if len(value) > 1000:
        raise ValueError("too long")
    return value


def list_of(parse: Parser) -> Parser:
    """A list setting (a multiselect): repeated parameters, `?x=a&x=b`; bad items are dropped."""

    def parse_all(values: list[str]) -> list[Any]:
        out = []
        for v in values:
            try:
                item = parse(v)
            except (ValueError, TypeError):
                continue
            if item not in out:
                out.append(item)
        return out

    parse_all.many = True  # type: ignore[attr-defined]
    return parse_all


def parser_for(option: Option) -> Parser:
    """A setting's URL parser, with the same range as its widget and its config field (one Option for all)."""
    if option.kind == "choice":
        return one_of(option.choices)
    if option.kind == "bool":
        return flag
    low = option.low  # a setting that 0 turns off has 0 in its range
    return int_in(int(low), int(option.high)) if option.kind == "int" else float_in(low, option.high)


def _encode(value: Any) -> str | list[str] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def share_settings(prefix: str, settings: dict[str, Parser]) -> None:
    """URL -> session state for values this function did not write itself (a shared link, a page link with
    query parameters); then session state -> URL, on every run."""
    state, params = st.session_state, st.query_params
    written: dict[str, Any] = state.setdefault(f"_shared_{prefix}", {})
    for name, parse in settings.items():
        raw = params.get_all(name)
        many = getattr(parse, "many", False)
        if not raw or (raw if many else raw[-1]) == written.get(name):
            continue
        with contextlib.suppress(ValueError, TypeError):  # a bad or stale value in a link: keep the page's own
            state[f"{prefix}_{name}"] = parse(raw) if many else parse(raw[-1])
    for name in settings:
        key = f"{prefix}_{name}"
        if key not in state:
            continue
        encoded = _encode(state[key])
        if encoded is None or encoded == []:
            params.pop(name, None)
        elif (params.get_all(name) if isinstance(encoded, list) else params.get(name)) != encoded:
            params[name] = encoded
        written[name] = encoded
