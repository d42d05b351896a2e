"""One escaping step per output format: text from the inputs (exports, config, inventory, plans)
made inert where it is shown.

- the console (:func:`console`): control characters escaped (terminal escapes, NUL, CR), so
  that an inventory value cannot move the cursor, recolour or rewrite a line;
- HTML (:func:`html`): control characters escaped, then markup and quotes;
- Markdown (:func:`markdown`, :func:`markdown_code`): control characters escaped, line breaks
  made spaces, markup (``<``, ``&``) and Markdown's own characters (``|``, backticks) escaped;
  a code span only for text that cannot close it;
- CSV for spreadsheets (:func:`csv_cell`): a cell that starts with ``= + - @``, a tab or a CR
  is a formula to Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``+cmd|...``):
  it is prefixed with ``'`` (the OWASP rule), which a spreadsheet shows as text.

JSON and JUnit escape in their own renderers (json's escapes, XML's).
"""

from __future__ import annotations

import re
from html import escape as _html_escape

from sos_inventory.redact import printable

__all__ = ["FORMULA_STARTS", "console", "csv_cell", "html", "markdown", "markdown_code"]

#: What makes a spreadsheet cell a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Text a Markdown code span shows as it is: no backtick to close it, nothing a renderer reads.
_PLAIN_CODE = re.compile(r"[A-Za-z0-9 ._:/@+=,~%#?()\[\]{}-]*")


def console(text: str) -> str:
    """Text for a terminal: control characters other than the line break escaped, the tab too (the
    console's tables align with spaces, and a tab from a value would break their columns)."""
    return printable(text).replace("\t", "\\x09")


def html(value: object) -> str:
    """Text for HTML (element content or a quoted attribute)."""
    return _html_escape(printable(str(value)), quote=True)


def markdown(text: str) -> str:
    """Text for a Markdown paragraph or table cell, inert in the HTML it renders to."""
    text = printable(text.replace("\r", " ").replace("\n", " ")).replace("&", "&amp;").replace("<", "&lt;")
    return text.replace("|", "\\|").replace("`", "\\`")


def markdown_code(text: str) -> str:
    """``text`` as a code span when it is plain (an id, a URL, a path), else as escaped text."""
    return f"`{text}`" if _PLAIN_CODE.fullmatch(text) else markdown(text)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet cannot run: text that starts like a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
