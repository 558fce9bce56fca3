"""Text from data or a URL shown as text: class, file and folder names, item titles, paths, error messages.

Streamlit renders markdown (links, images, `:material/…:` icons, `$…$` maths) in st.markdown, st.caption,
st.error and the like, in widget labels and in radio options. A class folder named `![x](https:host)` in an
uploaded zip would make every browser that opens its run fetch from that host; `plain` shows it as typed.
"""

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and an escaped one is shown as itself:
# escaping them all leaves no link, image, HTML tag, autolink (`https\://`, `www\.`), emphasis, icon or maths.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(value: object) -> str:
    """`value` as text for anything Streamlit renders as markdown; line breaks become spaces (no new block)."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(value).splitlines()))
