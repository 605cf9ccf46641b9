"""The RESP request parser driven read after read as ``Session.data_received`` drives it:
the test suites of the parser (test_resp_codec) and of the grid (test_resp_grid_hostile)
compare what it gives with the general parser's commands."""

from __future__ import annotations

from netlib.resp import ProtocolError, RequestParser


def session_reads(chunks: list[bytes]) -> tuple[list[list[bytes]], bytes | None]:
    """What ``Session.data_received`` gets read after read: ``take_grid`` first while the
    last read was a grid, else ``take_one``, then ``take_grid``, then ``take``."""
    p, out, pipelining = RequestParser(), [], False
    try:
        for c in chunks:
            grid = p.take_grid(c) if pipelining else None
            if grid is None:
                one = p.take_one(c)
                if one is not None:
                    pipelining = False
                    out.append(one)
                    continue
                if not pipelining:
                    grid = p.take_grid(c)
                    pipelining = grid is not None
            if grid is not None:
                name, columns = grid
                assert 1 <= len(columns) and len({len(col) for col in columns}) == 1
                assert len(columns[0]) >= 2
                out += [[name, *args] for args in zip(*columns, strict=True)]
                if not p.buffered():
                    continue
                c = b""
            out += p.take(c)
        out += p.commands()
    except ProtocolError as e:
        return out, e.reply
    return out, None
