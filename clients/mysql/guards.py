"""Misuse both clients refuse before anything reaches the wire (``InterfaceError``).

Kept apart from ``protocol.py`` because these are API rules, not protocol
states: the server would accept each of these commands and do the wrong thing
(run BEGIN and commit the open transaction; answer a closed statement with a
confusing "unknown handler" error 1243).
"""

from __future__ import annotations

from .errors import InterfaceError


def check_not_in_transaction(in_transaction: bool) -> None:
    if in_transaction:
        raise InterfaceError(
            "transaction() inside an open transaction: BEGIN would commit it "
            "(MySQL has no nested transactions; use SAVEPOINT)"
        )


def check_open_statement(closed: bool) -> None:
    if closed:
        raise InterfaceError("this prepared statement is closed; prepare it again")


def check_not_streaming(streaming: bool) -> None:
    if streaming:
        raise InterfaceError(
            "this task has a stream open on the connection: read it to the end or "
            "leave its 'async with' block before the next command"
        )
