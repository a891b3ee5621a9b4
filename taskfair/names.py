"""Names that become folders, files and labels: one check, applied where they come in.

A bundle's name is a folder (and a URL parameter), a subgroup's name is a file name
(``vectors/seed-S/<group>.safetensors``) and a widget label, a vector's name is both. A
name is refused, with the reason and the fix, unless every file system a bundle may be
copied to (Linux, macOS, Windows, a container's volume) and the dashboard accept it:

* a non-empty string without leading or trailing spaces, at most
  :data:`MAX_NAME_CHARS` characters and :data:`MAX_NAME_BYTES` bytes of UTF-8 (file
  systems allow 255 bytes for a whole file name; the longest suffix and the temporary
  prefix of an atomic write take the rest);
* no NUL, control or format characters (line breaks, tabs, bidi overrides: they
  cannot name a file, or they make two different names look the same);
* no path separators (``/``, ``\\``), not ``.`` or ``..``, not hidden (a leading
  ``.``) nor a home shortcut (a leading ``~``);
* none of the characters Windows refuses (``< > : " | ? *``), no trailing dot, and not
  a device name Windows reserves (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM1``–``COM9``,
  ``LPT1``–``LPT9``, with or without an extension).

:func:`check_name` raises :class:`~taskfair.errors.UnsafePathError`; callers that speak
of a config or a manifest re-raise it as their own error class with the same message.
"""

from __future__ import annotations

import re
import unicodedata

from taskfair.errors import UnsafePathError

__all__ = ["MAX_NAME_BYTES", "MAX_NAME_CHARS", "check_name", "name_problem", "shown"]

#: At most this many characters (a label longer than this is not readable either).
MAX_NAME_CHARS = 100
#: At most this many bytes of UTF-8 (255 per file name, minus suffix and temp prefix).
MAX_NAME_BYTES = 200

_WINDOWS_CHARS = set('<>:"|?*')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
# Unicode categories that are not visible text: controls, format characters (bidi
# overrides, zero-width), line and paragraph separators, unassigned and private use.
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def shown(name: object, limit: int = 60) -> str:
    """``repr(name)`` for a message, cut to about ``limit`` characters (a 10,000
    character name is not repeated back in full)."""
    if isinstance(name, str) and len(name) > limit:
        return f"{name[:limit]!r}… ({len(name):,} characters)"
    text = repr(name)
    return text if len(text) <= limit else text[:limit] + "…"


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a bundle, group or vector name, or None if it can."""
    if not isinstance(name, str):
        return f"a name is text, not {type(name).__name__}"
    if not name:
        return "it is empty"
    if name.strip() != name:
        return "it starts or ends with a space"
    if len(name) > MAX_NAME_CHARS:
        return f"it is {len(name):,} characters long (at most {MAX_NAME_CHARS})"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is {len(name.encode('utf-8', 'surrogatepass')):,} bytes long in UTF-8 (at most {MAX_NAME_BYTES})"
    bad = next((c for c in name if unicodedata.category(c) in _INVISIBLE), None)
    if bad is not None:
        return f"it contains the control character U+{ord(bad):04X}"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "it contains a path separator"
    if name.startswith((".", "~")):
        return f"it starts with {name[0]!r} (a hidden file or a home folder)"
    odd = sorted({c for c in name if c in _WINDOWS_CHARS})
    if odd:
        return f"it contains {' '.join(odd)}, which Windows file names may not"
    if name.endswith("."):
        return "it ends with a dot, which Windows drops from file names"
    if _WINDOWS_DEVICES.match(name):
        return f"{name.split('.')[0].upper()} is a device name Windows reserves"
    return None


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it can name a bundle, group or vector (module docstring); else
    :class:`UnsafePathError` naming ``what``, the problem and the fix."""
    problem = name_problem(name)
    if problem is None:
        return name  # type: ignore[return-value]
    if problem == "it contains a path separator":
        # Said the way a path from a link is refused everywhere: by the rule.
        raise UnsafePathError(
            f"Refusing the path {shown(name)} as a {what}: names must be relative and may not "
            "contain '..' or path separators. Give a plain folder name such as 'demo'."
        )
    raise UnsafePathError(
        f"The {what} {shown(name)} cannot name a file: {problem}. Use a short name of "
        f"letters, digits, spaces, '-' or '_' (at most {MAX_NAME_CHARS} characters)."
    )


#: Punctuation a class label's name may hold besides letters, digits and spaces: enough
#: for names such as "age>=30" or "toxic (hate, offensive)", none of Markdown's link and
#: image syntax ("!", "[", "]", "/", "`", "*").
LABEL_PUNCTUATION = frozenset("-_.,:;<>=+()'%≥≤")
MAX_LABEL_CHARS = 60


def label_problem(name: object) -> str | None:
    """Why ``name`` cannot be the name of the positive class (shown on every page as
    text), or None if it can. It names no file, so the file-name rules do not apply."""
    if not isinstance(name, str):
        return f"a label name is text, not {type(name).__name__}"
    if not name.strip() or name.strip() != name:
        return "it is empty or starts or ends with a space"
    if len(name) > MAX_LABEL_CHARS:
        return f"it is {len(name):,} characters long (at most {MAX_LABEL_CHARS})"
    odd = sorted({c for c in name if not (c.isalnum() or c == " " or c in LABEL_PUNCTUATION)})
    if odd:
        return (
            f"it contains {' '.join(repr(c) for c in odd[:5])}; a label name is letters, "
            f"digits, spaces and {' '.join(sorted(LABEL_PUNCTUATION))}"
        )
    return None
