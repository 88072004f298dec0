"""The scenario form, generated from the scenario's pydantic schema (engine/scenario.py).

Every leaf of the schema is one field named by its dotted path (`constraints.weekly_budget`):
a choice for a Literal or a flag, a text box for a number or a word, a YAML box for lists and
mappings (the actions, a weekly list, coverage rules). What comes back is read as YAML per
field, assembled into the nested mapping and validated by the same `Scenario` model as a file;
each error is shown at the field it belongs to, and nothing is saved until all are gone.

The page may not point a scenario at files on the server or at other machines: `data` (the
server's --data is used) and `solver.execution.address` (a Ray cluster: a hostile one answers
with pickles; a scenario that names one runs only from the command line) are not on the form,
and a `forecast.saved_model` folder (only `latest`) is refused.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from engine import strict_yaml
from engine.scenario import MAX_NESTING, MAX_SCENARIO_BYTES, Scenario, nesting

#: Fields the page leaves out (dotted paths): they name paths on the server or machines
#: beyond it, which only the server's own configuration and the command line may set.
SERVER_ONLY = frozenset({"data", "solver.execution.address"})


@dataclass(frozen=True)
class FormField:
    """One input of the form: `name` its dotted path, `kind` one of text, choice, yaml;
        `choices` for a choice; `help` from the schema; `required` without a default. Kinds: text
    (one line), longtext (a paragraph), choice, yaml (lists and mappings)."""

    name: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    help: str = ""
    required: bool = False
    #: Text taken as typed (a name, a description), not read as YAML.
    raw: bool = False
    #: Lines the box shows: a list of actions needs room, a number-or-list one line or two.
    lines: int = 1


@dataclass(frozen=True)
class FormGroup:
    """The fields of one nested model (the top level's group has title '')."""

    title: str
    fields: tuple[FormField, ...]


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _options(annotation: Any) -> list[Any]:
    """The alternatives of a union (None dropped), or the annotation alone."""
    annotation = _strip(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [_strip(a) for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _leaf(name: str, annotation: Any, info: Any) -> FormField:
    options = _options(annotation)
    label = name.rsplit(".", 1)[-1].replace("_", " ")
    help_text = info.description or ""
    required = info.is_required()
    if len(options) == 1 and get_origin(options[0]) is Literal:
        choices = tuple(str(c) for c in get_args(options[0]))
        if type(None) in get_args(_strip(annotation)) or not required:
            choices = ("", *choices) if info.default is None else choices
        return FormField(name, label, "choice", choices, help_text, required)
    if options == [bool]:
        return FormField(name, label, "choice", ("true", "false"), help_text, required)
    if options == [str]:
        kind = "longtext" if label == "description" else "text"
        return FormField(
            name,
            label,
            kind,
            (),
            help_text,
            required,
            raw=True,
            lines=2 if kind == "longtext" else 1,
        )
    complex_ = any(
        get_origin(o) in (list, dict, tuple) or o in (list, dict) or _is_model(o) for o in options
    )
    if not complex_:
        return FormField(name, label, "text", (), help_text, required)
    scalar_too = any(o in (int, float, str) for o in options)
    return FormField(name, label, "yaml", (), help_text, required, lines=2 if scalar_too else 6)


def scenario_form(model: type[BaseModel] = Scenario, prefix: str = "") -> list[FormGroup]:
    """The form's groups: the model's own leaves first, then one group per nested model."""
    leaves: list[FormField] = []
    groups: list[FormGroup] = []
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if path in SERVER_ONLY:
            continue
        annotation = hints.get(name, info.annotation)
        options = _options(annotation)
        if len(options) == 1 and _is_model(options[0]):
            groups += scenario_form(options[0], f"{path}.")
            continue
        leaves.append(_leaf(path, annotation, info))
    return [FormGroup(prefix.rstrip("."), tuple(leaves)), *groups]


def fields(groups: list[FormGroup]) -> list[FormField]:
    return [f for group in groups for f in group.fields]


def form_values(scenario: dict[str, Any], groups: list[FormGroup]) -> dict[str, str]:
    """What each field shows for `scenario` (a mapping as in a YAML file); '' where unset."""
    values = {}
    for field in fields(groups):
        value: Any = scenario
        for part in field.name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            values[field.name] = ""
        elif field.kind == "yaml":
            values[field.name] = yaml.safe_dump(value, sort_keys=False).strip()
        elif isinstance(value, bool):
            values[field.name] = "true" if value else "false"
        else:
            values[field.name] = str(value)
    return values


@dataclass(frozen=True)
class FormResult:
    """A submitted form: the scenario when valid, else the errors by field name ('' for the
    form as a whole), and the values as typed, to show again."""

    scenario: Scenario | None
    mapping: dict[str, Any]
    errors: dict[str, list[str]]
    values: dict[str, str]


def read_form(submitted: dict[str, str], groups: list[FormGroup]) -> FormResult:
    """Read the submitted fields (each as YAML; empty means the default) into a scenario."""
    names = {f.name for f in fields(groups)}
    raw = {f.name for f in fields(groups) if f.raw}
    values = {name: submitted.get(name, "") for name in names}
    errors: dict[str, list[str]] = {}
    mapping: dict[str, Any] = {}
    for name, text in values.items():
        if not text.strip():
            continue
        # a field is bounded as a scenario file is, before anything parses it
        if len(text) > MAX_SCENARIO_BYTES:
            errors.setdefault(name, []).append(
                f"{len(text):,} characters; a field holds at most {MAX_SCENARIO_BYTES:,}"
            )
            continue
        if name not in raw and (depth := nesting(text)) > MAX_NESTING:
            errors.setdefault(name, []).append(
                f"brackets nested {depth:,} deep; a field nests at most {MAX_NESTING}"
            )
            continue
        try:
            value = text.strip() if name in raw else strict_yaml.load(text)
        except yaml.YAMLError as error:
            errors.setdefault(name, []).append(f"not readable: {error}".splitlines()[0])
            continue
        if value is None:
            continue
        node = mapping
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    saved_model = mapping.get("forecast", {}).get("saved_model")
    if saved_model not in (None, "latest"):
        errors.setdefault("forecast.saved_model", []).append(
            "from the page only 'latest' (or empty): a folder on the server cannot be chosen here"
        )
    if errors:
        return FormResult(None, mapping, errors, values)
    try:
        scenario = Scenario.model_validate(mapping)
    except ValidationError as error:
        for item in error.errors():
            errors.setdefault(_field_of(item["loc"], names), []).append(_message(item))
        return FormResult(None, mapping, errors, values)
    return FormResult(scenario, mapping, {}, values)


def _field_of(location: tuple[Any, ...], names: set[str]) -> str:
    """The form field an error's location falls in: the longest dotted prefix that is one."""
    parts = [str(p) for p in location if not isinstance(p, int)]
    while parts:
        candidate = ".".join(parts)
        if candidate in names:
            return candidate
        parts.pop()
    return ""


def _message(item: dict[str, Any]) -> str:
    """A pydantic error in words, with the position inside a list field when there is one."""
    inside = [str(p) for p in item["loc"][1:]]
    where = f" (at {'.'.join(inside)})" if inside and any(p.isdigit() for p in inside) else ""
    return f"{item['msg']}{where}"
