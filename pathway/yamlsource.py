"""Read YAML or JSON documents and remember where each value came from.

Validation messages must name a line a person can open in an editor, so the loader keeps a map
from every JSON pointer in the document to the line it starts on. Duplicate mapping keys (which
plain YAML silently resolves to the last one) are reported as problems, not hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import yaml

from .errors import DefinitionError, Problem


def escape_pointer_token(token: str) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*parts: str | int) -> str:
    """Build a JSON pointer from path parts: ``pointer('states', 2, 'holder')``."""
    return "".join("/" + escape_pointer_token(str(p)) for p in parts)


@attrs.frozen
class SourceDocument:
    """A parsed document, its name (usually a file path) and the line of each JSON pointer."""

    name: str
    data: Any
    lines: dict[str, int]
    origins: dict[str, tuple[SourceDocument, str]] = attrs.field(factory=dict)
    """Merged parts (a plug-in's fragment): their pointer here -> (their own document, pointer)."""

    def line_of(self, ptr: str) -> int | None:
        """The line of ``ptr``, or of its nearest ancestor that has one."""
        while True:
            if ptr in self.lines:
                return self.lines[ptr]
            if not ptr:
                return None
            ptr = ptr.rsplit("/", 1)[0]

    def problem(self, ptr: str, message: str) -> Problem:
        """A :class:`Problem` at ``ptr``, placed in the document the part came from."""
        for prefix, (origin, origin_pointer) in self.origins.items():
            if ptr == prefix or ptr.startswith(prefix + "/"):
                return origin.problem(origin_pointer + ptr[len(prefix) :], message)
        return Problem(source=self.name, pointer=ptr, message=message, line=self.line_of(ptr))


def _walk(node: yaml.Node, ptr: str, lines: dict[str, int], dups: list[tuple[str, int]]) -> None:
    lines.setdefault(ptr, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = ptr + "/" + escape_pointer_token(key)
            if key in seen:
                dups.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{ptr}/{index}", lines, dups)


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (several times faster), else PyYAML's own."""


def parse_document(text: str, name: str) -> SourceDocument:
    """Parse YAML (a superset of JSON) text; raise :class:`DefinitionError` naming the line.

    The text is composed into nodes once; the line map and the data both come from those nodes.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise DefinitionError([Problem(name, "", f"not valid YAML: {what}", line)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly every error
        raise DefinitionError([Problem(name, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    dups: list[tuple[str, int]] = []
    if node is not None:
        _walk(node, "", lines, dups)
    if dups:
        raise DefinitionError(
            Problem(name, ptr, "duplicate key: the same key appears twice in one mapping", line)
            for ptr, line in dups
        )
    return SourceDocument(name=name, data=data, lines=lines)


def read_document(path: Path) -> SourceDocument:
    """Read and parse a file; a missing or unreadable file is a :class:`DefinitionError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(str(path), "", f"cannot read file: {exc}")]) from None
    return parse_document(text, str(path))
