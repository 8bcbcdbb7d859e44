"""Read YAML or JSON documents and remember where each value came from.

Validation messages must name a line a person can open in an editor, so the loader keeps a map
from every JSON pointer in the document to the line it starts on. Duplicate mapping keys (which
plain YAML silently resolves to the last one) are reported as problems, not hidden.

Every YAML or JSON file the project reads comes through here, and none may exhaust the machine:
a file larger than :func:`max_file_bytes` is refused before it is parsed, an alias (``*name``) is
refused where it stands (a 3 KB "billion laughs" file of nested aliases expands to gigabytes, and
``x: &r [*r]`` refers to itself), and nesting deeper than :data:`MAX_DEPTH` is refused, so every
document is a tree no larger than its text and no deeper than the recursion limit allows.
"""

from __future__ import annotations

import os
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


MAX_FILE_BYTES = 2 * 1024 * 1024
"""The default size limit of a file pathway reads: the shipped definition is about 53 KB."""

MAX_FILE_BYTES_ENV = "PATHWAY_MAX_FILE_BYTES"
"""The environment variable that sets another size limit (in bytes)."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and sequences accepted; the shipped files nest at most 6 deep."""


def max_file_bytes() -> int:
    """The size limit of a file pathway reads: ``$PATHWAY_MAX_FILE_BYTES``, else 2 MB."""
    raw = os.environ.get(MAX_FILE_BYTES_ENV)
    if raw is None or raw.strip() == "":
        return MAX_FILE_BYTES
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise DefinitionError(
            [Problem(MAX_FILE_BYTES_ENV, "", f"must be a whole number of bytes, not {raw!r}")]
        )
    return int(text)


def _too_large(name: str, size: int | None, limit: int) -> DefinitionError:
    what = f"{size:,} bytes" if size is not None else "more than that"
    return DefinitionError(
        [
            Problem(
                name,
                "",
                f"file too large: {what}, over the limit of {limit:,} bytes "
                f"(set {MAX_FILE_BYTES_ENV} to allow a larger file)",
            )
        ]
    )


def _compose(loader: Any, name: str) -> yaml.Node | None:
    """Compose the single document on ``loader`` into nodes, without recursion or aliases.

    PyYAML's own composer resolves an alias to the anchored node, so a handful of aliases make a
    graph whose tree is exponentially large (or a cycle); this one refuses an alias at its line
    and keeps an explicit stack no deeper than :data:`MAX_DEPTH`.
    """
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        loader.get_event()
        return None
    loader.get_event()  # document start
    root: yaml.Node | None = None
    stack: list[tuple[yaml.Node, list[yaml.Node]]] = []  # open collections, and a pending key

    def refuse(event: Any, message: str) -> DefinitionError:
        return DefinitionError([Problem(name, "", message, event.start_mark.line + 1)])

    def attach(node: yaml.Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent, pending = stack[-1]
        if isinstance(parent, yaml.SequenceNode):
            parent.value.append(node)
        elif pending:
            parent.value.append((pending.pop(), node))
        else:
            pending.append(node)

    while True:
        event: Any = loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            raise refuse(
                event,
                f"YAML aliases are not allowed (*{event.anchor}): write the value out in full; "
                "an alias can make a small file expand without bound",
            )
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            scalar: Any = yaml.ScalarNode  # libyaml's marks are not the pure-Python Mark type
            attach(scalar(tag, event.value, event.start_mark, event.end_mark, style=event.style))
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise refuse(event, f"nested more than {MAX_DEPTH} levels deep")
            kind: Any = (
                yaml.SequenceNode
                if isinstance(event, yaml.SequenceStartEvent)
                else yaml.MappingNode
            )
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            stack.append((node, []))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            node, _ = stack.pop()
            node.end_mark = event.end_mark
            attach(node)
        else:  # document end: the document is complete
            break
    if not loader.check_event(yaml.StreamEndEvent):
        raise refuse(
            loader.peek_event(),
            "not valid YAML: expected a single document in the stream but found another document",
        )
    loader.get_event()
    return root


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
    Text over :func:`max_file_bytes`, aliases and nesting deeper than :data:`MAX_DEPTH` are
    refused (see the module's docstring).
    """
    limit = max_file_bytes()
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        raise _too_large(name, len(text.encode("utf-8", "surrogatepass")), limit)
    loader = _Loader(text)
    try:
        node = _compose(loader, name)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise DefinitionError([Problem(name, "", f"not valid YAML: {what}", line)]) from None
    except yaml.reader.ReaderError as exc:
        # A control character: PyYAML's own text spans two lines and names "<unicode string>",
        # not the file, so the problem is given here with the line it is on.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = f"character U+{exc.character:04X} at column {column} is not allowed in YAML"
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


def read_limited_text(path: Path) -> str:
    """The UTF-8 text of ``path``, refused (:class:`DefinitionError`) past :func:`max_file_bytes`.

    At most one byte more than the limit is read, so a huge file, ``/dev/zero`` or a pipe that
    never ends costs no more memory than the limit; a missing or unreadable file is refused too.
    """
    limit = max_file_bytes()
    name = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
            if len(raw) > limit:
                size = os.fstat(handle.fileno()).st_size
                raise _too_large(name, size if size > limit else None, limit)
        return raw.decode("utf-8")
    except FileNotFoundError:
        raise DefinitionError([Problem(name, "", "no such file")]) from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"cannot read file: not UTF-8 text (byte {exc.start + 1})"
        raise DefinitionError([Problem(name, "", message, line)]) from None
    except OSError as exc:
        raise DefinitionError([Problem(name, "", f"cannot read file: {exc}")]) from None


def read_document(path: Path) -> SourceDocument:
    """Read and parse a file; a missing, unreadable or oversized file is a :class:`DefinitionError`."""
    return parse_document(read_limited_text(path), str(path))
