"""Text from data or a URL shown as text: class, file and folder names, item titles, paths, error messages.

Streamlit renders markdown (links, images, HTML tags, autolinks, emphasis, `$…$` maths) in st.markdown,
st.caption, st.error and the like, in widget labels, radio options and image captions. A class folder named
`![x](https:host)` in an uploaded zip would make every browser that opens its run fetch from that host; `plain`
shows it as typed.
"""

import re

# The characters that open a link, an image, an HTML tag, code, emphasis or maths, escaped wherever they are
# (CommonMark shows an escaped one as itself); the rest of ordinary punctuation stays as it is, so a message reads
# the same in the page's source as on screen.
_OPENERS = re.compile(r"([\\\[\]<>`*_~$@|])")
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto)(:)|(www)(\.)")  # GFM links these without brackets, after _ too
_LINE_START = re.compile(r"^(\s*\d*)([#+\-.)])")  # a heading or a list item, were the text a block of its own


def plain(value: object) -> str:
    """`value` as text for anything Streamlit renders as markdown; line breaks become spaces (no new block)."""
    text = _OPENERS.sub(r"\\\1", " ".join(str(value).splitlines()))
    text = _AUTOLINK.sub(lambda m: f"{m[1]}\\:" if m[1] else f"{m[3]}\\.", text)
    return _LINE_START.sub(r"\1\\\2", text)
