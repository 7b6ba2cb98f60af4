"""The API's request bodies: JSON as RFC 8259 and I-JSON (RFC 7493) define it, or a 400.

Its own module, with few imports: DRF imports the parser while its views module is still
loading, so the parser cannot live beside code that imports those views."""

import json
import math
import re
import sys
from collections import Counter
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers

# The API's bodies nest two levels (an object holding a list of strings); a client nesting
# deeper is not speaking this API, and code that walks a body recursively never meets one
# deep enough to exhaust the stack.
MAX_JSON_DEPTH = 32
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """JSON as RFC 8259 and I-JSON (RFC 7493) define it, or a 400 that says what is wrong,
    never a 500 nor a value the API would misread.

    DRF's parser lets a RecursionError (a body nested thousands deep) through as a 500, reads
    `1e999` as infinity, keeps the last of two members of the same name, and accepts `\\ud800`
    escapes, whose lone surrogates then fail the response's encoding. The body is read as
    UTF-8 whatever the Content-Type's charset says: application/json defines no charset."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = json.loads(
                stream.read().decode("utf-8"),
                object_pairs_hook=_json_object,
                parse_int=_json_int,
                parse_float=_json_float,
                parse_constant=_json_constant,
            )
        except RecursionError:
            raise _parse_error(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
        except UnicodeDecodeError as exc:
            byte = exc.object[exc.start]
            raise _parse_error(f"not UTF-8 (byte {byte:#04x} at {exc.start})") from None
        except ValueError as exc:  # the decoder's own syntax errors, and the hooks' below
            raise _parse_error(str(exc)) from None
        refusal = _refusal(data)
        if refusal:
            raise _parse_error(refusal)
        return data


def _parse_error(reason: str) -> exceptions.ParseError:
    return exceptions.ParseError(f"JSON parse error - {reason}.")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        name = next(name for name, count in Counter(n for n, _ in pairs).items() if count > 1)
        raise ValueError(f"the name {json.dumps(name)[:40]} appears twice in an object")
    return data


def _json_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # longer than the interpreter converts (sys.get_int_max_str_digits)
        raise ValueError(f"a number has more than {sys.get_int_max_str_digits()} digits") from None


def _json_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("a number is too large")
    return value


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _refusal(data: Any) -> str | None:
    """Why a decoded body is refused, if it is: nesting deeper than MAX_JSON_DEPTH, or a name
    or string holding a lone surrogate. Walked a level at a time, without recursion."""
    level, depth = [data], 0
    while level:
        inner: list[Any] = []
        containers = False
        for value in level:
            if isinstance(value, str):
                if _UNPAIRED_SURROGATE.search(value):
                    return "a string holds a lone surrogate (\\ud800-\\udfff), which is not text"
            elif isinstance(value, dict):
                containers = True
                inner.extend(value)
                inner.extend(value.values())
            elif isinstance(value, list):
                containers = True
                inner.extend(value)
        depth += containers
        if depth > MAX_JSON_DEPTH:
            return f"nested more than {MAX_JSON_DEPTH} levels deep"
        level = inner
    return None
