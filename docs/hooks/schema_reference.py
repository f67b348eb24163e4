"""The scenario file reference, generated from the pydantic schema (never copied by hand).

One section per strategy (the union on `strategy:`), then one per nested section (analysis, a check, a
load shape, the gates, ...), each a table of field, type, default, bounds and description. A field's
description is its `Field(description=...)`, else the comment beside it (or just above it) in the
schema's source, so the schema's own comments are the documentation. A field added to the schema appears
here at the next `mkdocs build`.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

BOUNDS = [(annotated_types.Ge, "ge", "≥"), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "≤"),
          (annotated_types.Lt, "lt", "<"), (annotated_types.MinLen, "min_length", "at least"),
          (annotated_types.MaxLen, "max_length", "at most")]


def anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _is_duration(metadata: Iterable[Any]) -> bool:
    """A field parsed by rolloutlab.durations.parse_duration (Seconds, Window): written as 15s, 2m, 500ms."""
    return any(isinstance(m, BeforeValidator) and "duration" in getattr(m.func, "__name__", "") for m in metadata)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation refers to (through unions, lists, Annotated, Optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def type_name(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """A reader's name for a field type: `duration`, `list of [Check](#check)`, `"a" or "b"`, ..."""
    if _is_duration(metadata):
        inner = type_name(annotation)
        return "duration (`15s`, `2m`, `500ms` or seconds)" + (" or null" if "null" in inner else "")
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0], [*metadata, *args[1:]])
    if origin is Literal:
        return " or ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (Union, types.UnionType):
        names = list(dict.fromkeys(type_name(a) for a in args))
        return " or ".join(names)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0]) if args else 'values'}"
    if origin is dict:
        return f"map of {type_name(args[0])} to {type_name(args[1])}" if args else "map"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{anchor(annotation)})"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    found = []
    for meta in field.metadata:
        for kind, _, sign in BOUNDS:
            if isinstance(meta, kind):
                found.append(f"{sign} {getattr(meta, next(iter(kind.__dataclass_fields__)))}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            found.append(f"matches `{pattern}`")
    return ", ".join(found)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        factory: Callable[..., Any] = field.default_factory  # type: ignore[assignment]
        doc = (inspect.getdoc(factory) or "").split("\n")[0].rstrip(".")
        return doc or f"`{factory.__name__}()`"
    value = field.default
    if value is None:
        return "`null`"
    if isinstance(value, BaseModel):
        return "all defaults" if not value.model_fields_set else f"`{value.model_dump(exclude_defaults=True)}`"
    if isinstance(value, float) and _is_duration(field.metadata):
        return f"`{value:g}s`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def source_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the class source: the one on its line, else the lines just above it."""
    comments: dict[str, str] = {}
    for cls in reversed(model.__mro__):  # base classes first, so a subclass's own comment wins
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = textwrap.dedent(inspect.getsource(cls)).splitlines()
        except (OSError, TypeError):
            continue
        for node in ast.parse("\n".join(lines)).body[0].body:  # type: ignore[attr-defined]
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            line = lines[node.lineno - 1]
            text = _comment_of(line)
            if text.startswith(("type:", "noqa", "pragma")):  # a note to a tool, not to the reader
                text = ""
            above = []
            index = node.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#"):
                above.insert(0, lines[index].strip().lstrip("#").strip())
                index -= 1
            text = " ".join(above + ([text] if text else []))
            if text:
                comments[node.target.id] = text
    return comments


def _comment_of(line: str) -> str:
    """The trailing `# comment` of a source line (a # inside a string literal is not one)."""
    in_string: str | None = None
    for index, char in enumerate(line):
        if in_string:
            if char == in_string and line[index - 1] != "\\":
                in_string = None
        elif char in "\"'":
            in_string = char
        elif char == "#":
            return line[index + 1:].strip()
    return ""


def _validator_doc(field: FieldInfo) -> str:
    """What a field's own parsing function says it accepts (durations are named by their type instead)."""
    for meta in field.metadata:
        if isinstance(meta, BeforeValidator) and not _is_duration([meta]):
            return (inspect.getdoc(meta.func) or "").split("\n\n")[0]
    return ""


def _code(text: str) -> str:
    """A message as the text of a code span (one line; its own backticks become quotes)."""
    return re.sub(r"\s+", " ", text).replace("`", "'").strip()


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("|", "\\|")).strip() or "–"


def _section(model: type[BaseModel], title: str) -> list[str]:
    comments = source_comments(model)
    lines = [f"## {title} {{ #{anchor(model)} }}", ""]
    doc = inspect.getdoc(model)
    if doc and doc != inspect.getdoc(BaseModel) and model.__doc__:
        lines += [doc, ""]
    lines += ["| field | type | default | bounds | description |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        description = field.description or comments.get(name, "") or _validator_doc(field)
        lines.append(f"| `{key}` | {_cell(type_name(field.annotation, field.metadata))} | {_cell(_default(field))} "
                     f"| {_cell(_bounds(field))} | {_cell(description)} |")
    checked = rules(model)
    if checked:
        lines += ["", "Also checked when the file is loaded (each error names the file, line and field):", ""]
        lines += [f"- `` {_code(m)} ``" for m in checked]
    return [*lines, ""]


def _message(node: ast.expr) -> str | None:
    """The text of an error message literal; an f-string's fields shown as {expression}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"  # type: ignore[attr-defined]
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "..." "..." across lines, or a + b
        left, right = _message(node.left), _message(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _raised_messages(function: Callable[..., Any]) -> list[str]:
    """The messages of every `raise ValueError(...)` in a validator's source."""
    function = getattr(function, "__func__", function)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return []
    messages = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args \
                and getattr(node.exc.func, "id", "") == "ValueError":
            text = _message(node.exc.args[0])
            if text:
                messages.append(text)
    return messages


def rules(model: type[BaseModel]) -> list[str]:
    """The errors a model's validators can raise, beyond types and bounds (each message once)."""
    decorators = model.__pydantic_decorators__
    functions = [d.func for group in (decorators.field_validators, decorators.model_validators)
                 for d in group.values()]
    for field in model.model_fields.values():
        functions += [m.func for m in field.metadata if hasattr(m, "func") and not _is_duration([m])]
    return list(dict.fromkeys(m for f in functions for m in _raised_messages(f)))


def _discriminator(model: type[BaseModel]) -> tuple[str, str] | None:
    """(field, value) of a model picked by a Literal field (`strategy: canary`, `shape: ramp`)."""
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is Literal and len(typing.get_args(field.annotation)) == 1:
            return name, str(typing.get_args(field.annotation)[0])
    return None


def render(scenario_models: dict[str, type[BaseModel]]) -> str:
    """The whole reference page: the strategies' top levels, then every section they contain."""
    lines = ["# Scenario file reference", "",
             "Generated from the pydantic schema at build time. A scenario is one YAML file; `strategy:` picks "
             "which top level applies. Unknown fields are errors, reported with file:line and the field's path "
             "(`rolloutlab validate FILE`).", ""]
    lines += ["| `strategy:` | top level |", "|---|---|"]
    lines += [f"| `{name}` | [{model.__name__}](#{anchor(model)}) |" for name, model in scenario_models.items()]
    lines.append("")
    lines += sections([(f"`strategy: {name}` — {model.__name__}", model) for name, model in scenario_models.items()])
    return "\n".join(lines) + "\n"


def sections(roots: list[tuple[str, type[BaseModel]]]) -> list[str]:
    """A table for each root model, then one for every model they contain (each once, breadth first)."""
    lines: list[str] = []
    seen: set[type[BaseModel]] = set()
    queue: list[tuple[str | None, type[BaseModel]]] = list(roots)
    while queue:
        title, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        if title is None:
            picked = _discriminator(model)
            title = f"{model.__name__} (`{picked[0]}: {picked[1]}`)" if picked else model.__name__
        lines += _section(model, title)
        queue += [(None, m) for f in model.model_fields.values() for m in _models_in(f.annotation)]
    return lines
