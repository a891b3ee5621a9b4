"""Text from users and files, made safe to show: Markdown escaped, server paths hidden.

Group names, column values, dataset and bundle names come from data files and links.
The dashboard shows them inside Markdown (``st.markdown``, captions, widget labels,
messages), where ``**x**``, ``[x](http://…)`` or ``![](http://…)`` would become bold
text, a link or an image fetched by every visitor's browser. :func:`escape_markdown`
makes any string read as the text it is; every page passes user strings through it.

A public viewer must not tell strangers where the server keeps its files:
:func:`redact_paths` replaces absolute paths in a message with their last part.
"""

from __future__ import annotations

import re

__all__ = ["escape_markdown", "redact_paths"]

# Characters that start Markdown (CommonMark + GitHub tables/strikethrough), HTML,
# Streamlit's directives (":red[…]", ":material/…:") and LaTeX ("$…$"). Escaped with a
# backslash, which CommonMark allows before any ASCII punctuation; "." "-" "+" "(" ")"
# and "!" only act next to one of these (or at the start of a line, handled below), so
# ordinary names and messages keep their look.
_SPECIAL = re.compile(r"([\\`*_\[\]<>~$|#&])")
# A line that starts like a list item, a heading or a quote after the escapes above.
_LINE_START = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))", re.MULTILINE)
# An absolute POSIX path (two parts or more) that is not part of a URL.
_ABS_PATH = re.compile(r"(?<![\w:/.~-])(/(?:[^\s/'\"`,;:()\[\]<>]+/)+)([^\s/'\"`,;:()\[\]<>]*)")


def escape_markdown(text: object) -> str:
    """``text`` (any object, shown as ``str``) as Markdown that renders as that text.

    Line breaks become spaces: a name is one line, and a break could start a block
    (a heading, a list, a code block) in the middle of a sentence.
    """
    s = " ".join(str(text).splitlines()) if "\n" in str(text) or "\r" in str(text) else str(text)
    s = _SPECIAL.sub(r"\\\1", s)
    return _LINE_START.sub(_escape_line_start, s)


def _escape_line_start(m: re.Match) -> str:
    # "-" before a space starts a list: "\-"; "1." starts one too, and only "1\." escapes
    # it (a backslash before a digit is kept as a backslash).
    if m.group(2):
        return f"{m.group(1)}\\{m.group(2)}"
    return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"


def redact_paths(text: str) -> str:
    """``text`` with every absolute file path replaced by its last part
    (``/srv/app/models/demo/vectors/fft.safetensors`` -> ``…/fft.safetensors``); URLs
    and relative paths are kept."""
    return _ABS_PATH.sub(lambda m: "…/" + m.group(2) if m.group(2) else "…/", text)
