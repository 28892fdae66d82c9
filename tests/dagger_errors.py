"""Real ``dagger.ExecError`` objects, built as dagger-io 0.21.11 builds them from the engine.

The engine answers a failed exec with a GraphQL error whose extensions carry ``_type:
EXEC_ERROR``, the command, its exit code and outputs; the SDK turns that into an
``ExecError`` through ``QueryError``. Here the same payload goes through the same constructor.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagger
import gql
from dagger._exceptions import QueryErrorValue


def exec_error(
    command: Sequence[str], exit_code: int, stdout: str = "", stderr: str = ""
) -> dagger.ExecError:
    value = QueryErrorValue(
        message=f"process {' '.join(command)!r} did not complete successfully: exit code: "
        f"{exit_code}",
        extensions={
            "_type": "EXEC_ERROR",
            "cmd": list(command),
            "exitCode": exit_code,
            "stdout": stdout,
            "stderr": stderr,
        },
    )
    error = dagger.QueryError([value], gql.GraphQLRequest("{ container { id } }"))
    assert isinstance(error, dagger.ExecError)
    return error
