"""Free text kept outside the audit chain: salted commitments in the chain, the text beside it.

An event's ``note`` and the data fields its pathway declares free text (``free_text:`` in the
definition) are where workers write people's names and circumstances. They are not hashed into
the chain as written. Each is stored in the ``free_text`` table as its canonical JSON text with a
random 16-byte salt, and the chained row holds in its place the *commitment*
``hmac-sha256:<HMAC-SHA256(key=salt, message=text)>``. While the text exists, ``audit verify``
recomputes the commitment from text and salt and compares it with the one the chain holds, so
an altered text is caught as surely as an altered event. Redaction removes text and salt together
and leaves the commitment: the chain still verifies, and without the salt the commitment tells
nothing about the text (a short text cannot be found by trying guesses against it).

This module has the pure parts (no store): making and checking commitments, splitting an event's
note and data into what is chained and what is kept apart, and putting them back together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .canonical import canonical_json

COMMITMENT_PREFIX = "hmac-sha256:"
NOTE_FIELD = "note"
"""The ``free_text.field`` of an event's note; a data field ``name`` is ``data.name``."""
DATA_PREFIX = "data."
SALT_BYTES = 16
_COMMITMENT = re.compile(r"hmac-sha256:[0-9a-f]{64}", re.ASCII)


def data_field(name: str) -> str:
    """The ``free_text.field`` of data field ``name``."""
    return DATA_PREFIX + name


def commit(value_json: str, salt: str) -> str:
    """The commitment to a value's canonical JSON text under a hex ``salt``."""
    digest = hmac.new(bytes.fromhex(salt), value_json.encode("utf-8"), hashlib.sha256)
    return COMMITMENT_PREFIX + digest.hexdigest()


def is_commitment(value: Any) -> bool:
    """Whether ``value`` has the form of a commitment (``hmac-sha256:`` and 64 hex digits)."""
    return isinstance(value, str) and _COMMITMENT.fullmatch(value) is not None


def new_salt() -> str:
    """A fresh random salt, as hex."""
    return secrets.token_hex(SALT_BYTES)


@attrs.frozen
class SealedText:
    """One free text of one event: where it belongs, its JSON text, its salt and commitment."""

    field: str
    value_json: str
    salt: str
    commitment: str


def seal_one(field: str, value: Any) -> SealedText:
    """Seal one value (any JSON value: it is kept as its canonical JSON text)."""
    text = canonical_json(value)
    salt = new_salt()
    return SealedText(field, text, salt, commit(text, salt))


def seal(
    note: str | None, data: Mapping[str, Any], free_keys: Iterable[str]
) -> tuple[str | None, dict[str, Any], list[SealedText]]:
    """Split an event's note and data into their chained form and the texts kept apart.

    The note (when there is one) and each data field named in ``free_keys`` that the data has
    are replaced by their commitments; everything else stays as given.
    """
    texts: list[SealedText] = []
    chained_note = note
    if note is not None:
        sealed = seal_one(NOTE_FIELD, note)
        texts.append(sealed)
        chained_note = sealed.commitment
    chained_data = dict(data)
    for key in free_keys:
        if key in chained_data:
            sealed = seal_one(data_field(key), chained_data[key])
            texts.append(sealed)
            chained_data[key] = sealed.commitment
    return chained_note, chained_data, texts


def chained_fields(
    note: str | None, data: Mapping[str, Any], sealed: Mapping[str, str]
) -> tuple[str | None, dict[str, Any]]:
    """The note and data as the chain holds them: each sealed field replaced by its commitment
    (a redacted field, absent from ``note``/``data``, comes back as its commitment too)."""
    if not sealed:
        return note, dict(data)
    out = dict(data)
    for field, commitment in sealed.items():
        if field == NOTE_FIELD:
            note = commitment
        else:
            out[field[len(DATA_PREFIX) :]] = commitment
    return note, out


def unseal(
    chained_note: str | None,
    chained_data: Mapping[str, Any],
    texts: Iterable[tuple[str, str | None]],
) -> tuple[str | None, dict[str, Any], dict[str, str]]:
    """Put an event's kept texts back: ``texts`` are ``(field, value_json or None if
    redacted)``. Returns the note, the data and the commitments (by field) the chain holds."""
    note = chained_note
    data = dict(chained_data)
    sealed: dict[str, str] = {}
    for field, value_json in texts:
        if field == NOTE_FIELD:
            if chained_note is None:
                continue
            sealed[field] = chained_note
            note = json.loads(value_json) if value_json is not None else None
        else:
            key = field[len(DATA_PREFIX) :]
            if key not in data:
                continue
            sealed[field] = data[key]
            if value_json is not None:
                data[key] = json.loads(value_json)
            else:
                del data[key]
    return note, data, sealed
