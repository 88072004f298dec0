"""The YAML a planner writes (scenario files, the web page's form fields), read strictly.

PyYAML follows YAML 1.1, two rules of which turn a typing slip into a wrong plan:

- `5e2` (no dot) is a string in YAML 1.1 and a number in YAML 1.2 and in every planner's
  reading. The schema converted it, but the raw value travelled on: the report formatted it as
  a number and failed after all the compute, on every rerun. Here every YAML 1.2 float
  (`5e2`, `1E3`, `.5`, `+1.5e-3`) is a number.
- A key written twice keeps its last value without a word: `weekly_budget: 500` above and
  `weekly_budget: 1000000` below planned with a million. Here a repeated key is an error that
  names the key and both lines.

`load(text)` returns what `yaml.safe_load` would otherwise; `YAMLError` subclasses say where.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

#: YAML 1.2's core-schema float (and PyYAML's own forms): signed, with or without a dot or an
#: exponent, infinities and NaN; integers keep YAML's own int resolver (which comes first).
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping that names one key twice."""


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` with YAML 1.2 floats and duplicate keys refused (module docstring)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor says so
                break
            if first is not None:
                raise DuplicateKeyError(
                    f"key {key!r} is given twice: on line {first.start_mark.line + 1} and on "
                    f"line {key_node.start_mark.line + 1} (a repeated key would silently keep "
                    "the last value)",
                    None,
                    None,
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


# Floats as YAML 1.2 reads them, for the characters a number can start with (PyYAML's own
# float resolver stays: it is consulted first and agrees wherever it matches).
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load(text: str) -> Any:
    """The value of the YAML document `text`, read by `StrictLoader`."""
    return yaml.load(text, Loader=StrictLoader)
