"""The join link as a QR code for the projector, drawn here (segno): no web service sees the class's code."""
from __future__ import annotations

import io

from cnnviz.errors import UserError

MAX_URL_CHARS = 1000  # a join link is a host and a code; a longer text is not one


def join_qr_png(url: str, scale: int = 8) -> bytes:
    """The QR code of ``url`` as PNG bytes: ``scale`` pixels a module, with the standard four-module quiet zone.

    Error correction level M (15 % of the code may be lost), boosted when the text leaves room: a projected code
    is read from far away, off a screen with glare.
    """
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL_CHARS:
        raise UserError("error.class.qr_url", most=MAX_URL_CHARS, value=url)
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= 40:
        raise UserError("error.int_at_least", name="scale", minimum=1, value=scale)
    import segno  # only the lecturer's view draws one

    code = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
