"""YAML that remembers where every value came from.

Shop owners edit knowledge files by hand, so a mistake must be reported as
``catalog.yaml:42: products[3].price: ...``. PyYAML's ``safe_load`` forgets line numbers
and silently turns ``0042`` into the octal number 34 or ``no`` into ``False``; here the
node tree from ``yaml.compose`` is walked instead: scalars stay the strings the owner
typed (pydantic parses them into the declared type later) and each value's path is mapped
to its 1-based line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.errors import ConfigError

PathKey = tuple[str | int, ...]
NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class LocatedYaml:
    """A parsed YAML document and the line of every value in it.

    Attributes:
        path: The file it was read from (for messages).
        data: Plain Python data: dicts, lists, strings and ``None``.
        lines: 1-based line of each value, keyed by its path in ``data``.
    """

    path: Path
    data: Any
    lines: dict[PathKey, int]

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The line of ``loc``, or of its nearest enclosing value that has one."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def error(self, loc: Sequence[str | int], problem: str) -> ConfigError:
        """A :class:`ConfigError` pointing at ``loc`` in this file."""
        return ConfigError(f"{self.path}:{self.line_of(loc)}: {format_loc(loc)}: {problem}")


def format_loc(loc: Sequence[str | int]) -> str:
    """``("products", 3, "price")`` -> ``products[3].price``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _continues_flow_text(
    mapping: yaml.MappingNode, previous: yaml.Node, key: yaml.Node, value: yaml.Node
) -> bool:
    """``{en: 10% off earbuds, headphones and speakers}``: a comma in an unquoted text.

    YAML reads ``headphones and speakers`` as a key without a value; the owner meant one
    text. A plain key with no ``:`` after a plain text value, inside ``{...}``, continues
    that text (docs/knowledge-format.md §1). A key written with ``:`` is a key.
    """
    return bool(
        mapping.flow_style
        and isinstance(previous, yaml.ScalarNode)
        and previous.tag != NULL_TAG
        and previous.style is None
        and isinstance(key, yaml.ScalarNode)
        and key.style is None
        and isinstance(value, yaml.ScalarNode)
        and value.tag == NULL_TAG
        and value.value == ""
        and value.start_mark.index == key.end_mark.index
    )


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], source: Path) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        previous: tuple[str, yaml.Node] | None = None
        for key_node, value_node in node.value:
            if previous and _continues_flow_text(node, previous[1], key_node, value_node):
                result[previous[0]] += ", " + str(key_node.value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: keys must be plain text"
                )
            key = str(key_node.value)
            if key == "<<":
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: YAML merge keys are not supported"
                )
            if key in result:
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: duplicate key '{key}' in {format_loc(path)}"
                )
            result[key] = _walk(value_node, (*path, key), lines, source)
            previous = (key, value_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, index), lines, source) for index, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG and node.style is None:
        return None
    # Every other scalar stays the text the owner typed; pydantic converts it to the
    # declared type, so "0042" stays "0042" and "299.00" becomes an exact Decimal.
    return str(node.value)


def parse_yaml(text: str, source: Path) -> LocatedYaml:
    """Parse one YAML document, keeping line numbers.

    Raises:
        ConfigError: the YAML is malformed (with the line PyYAML reports).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}: invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}:1: invalid YAML: {exc}") from exc
    if node is None:
        return LocatedYaml(source, {}, {(): 1})
    lines: dict[PathKey, int] = {}
    data = _walk(node, (), lines, source)
    return LocatedYaml(source, data, lines)


def read_yaml(path: Path) -> LocatedYaml:
    """Read and parse ``path``.

    Raises:
        ConfigError: the file cannot be read or is not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}:1: cannot read file: {exc}") from exc
    return parse_yaml(text, path)


def validation_errors(doc: LocatedYaml, exc: ValidationError, prefix: PathKey = ()) -> list[str]:
    """Turn a pydantic error into ``file:line: path: problem`` lines.

    Args:
        doc: The document that was validated.
        exc: The pydantic error.
        prefix: Path of the validated value inside ``doc`` (when a sub-tree was validated).
    """
    messages = []
    for error in exc.errors(include_url=False):
        loc = (*prefix, *(part for part in error["loc"] if isinstance(part, str | int)))
        messages.append(f"{doc.path}:{doc.line_of(loc)}: {format_loc(loc)}: {error['msg']}")
    return messages
