"""Checks on text and JSON from outside, run before any of it reaches the database.

Python's `json` accepts things that are not storable text: NUL (`\\u0000`, which PostgreSQL refuses in
`text` and `jsonb`), lone UTF-16 surrogates (`\\udc00`, which cannot be encoded as UTF-8 at all, so even
rendering the answer fails), and nesting deep enough to raise `RecursionError` in the parser or in any
later `json.dumps`. Every JSON body and JSON-in-a-field goes through `json_loads_checked` or
`json_value_check`, and every free-text field through `text_check`, so these become a 400 with a reason.
"""

import json
from typing import Any

# Our deepest legitimate document is a usage batch (object -> lines -> line -> value: 4). Partner
# metadata (`extra`) gets room to spare; 32 stays far below Python's recursion limit (1000), so neither
# the parser nor a later json.dumps or jsonb cast can recurse out of stack on a value that passed.
MAX_JSON_DEPTH = 32


class UntrustedInputError(ValueError):
    """The input cannot be stored as it is; the message says why (shown to the sender)."""


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "NUL characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Unpaired UTF-16 surrogates (\\ud800-\\udfff) are not text."
    return None


def text_check(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise UntrustedInputError(problem)
    return value


def json_value_check(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Walk a parsed JSON value without recursion: every string and key storable, depth <= max_depth."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise UntrustedInputError(f"JSON nested deeper than {max_depth} levels.")
            if isinstance(item, dict):
                for key, child in item.items():
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem:
                        raise UntrustedInputError(f"Object key: {problem}")
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise UntrustedInputError(problem)
    return value


def _reject_constant(name: str) -> Any:
    raise UntrustedInputError(f"{name} is not JSON.")


def json_loads_checked(raw: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` that refuses NaN/Infinity, runaway nesting, NUL and surrogates (UntrustedInputError)."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise UntrustedInputError(f"JSON nested deeper than {max_depth} levels.")
    except UntrustedInputError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int too long to convert
        raise UntrustedInputError(f"Not JSON: {exc}")
    return json_value_check(value, max_depth=max_depth)
