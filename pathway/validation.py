"""The JSON Schemas of the library's data formats, read from the package.

``schemas/`` in the source tree is the one source of truth; the wheel ships the same files as the
``pathway.schemas`` package data, so an installed copy validates exactly as a checkout does.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from .errors import DefinitionError, Problem
from .packaged import data_folder
from .yamlsource import SourceDocument, pointer

if TYPE_CHECKING:
    import jsonschema


def _schema_text(file_name: str) -> str:
    return data_folder("schemas").joinpath(file_name).read_text("utf-8")


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (e.g. ``"pathway"`` for ``pathway.schema.json``)."""
    text = _schema_text(f"{name}.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    import jsonschema  # imported when first needed: it is a fifth of the CLI's start-up

    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _best_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf" and error.context:
        # The deepest sub-error explains a oneOf failure better than "is not valid under any".
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) > len(error.absolute_path):
            return deepest.message
    if error.validator == "additionalProperties":
        return f"{error.message} (check the spelling of the field)"
    return error.message


def schema_problems(document: SourceDocument, schema_name: str) -> list[Problem]:
    """Every schema problem of ``document`` against schema ``schema_name``, in document order."""
    problems: list[Problem] = []
    if document.data is None:
        return [document.problem("", "the file is empty: expected a YAML mapping")]
    errors = sorted(
        _validator(schema_name).iter_errors(document.data),
        key=lambda e: document.line_of(pointer(*e.absolute_path)) or 0,
    )
    for error in errors:
        problems.append(document.problem(pointer(*error.absolute_path), _best_message(error)))
    return problems


def validate_document(document: SourceDocument, schema_name: str) -> None:
    """Raise :class:`DefinitionError` listing every schema problem of ``document``."""
    problems = schema_problems(document, schema_name)
    if problems:
        raise DefinitionError(problems)
