"""The server's fast path (``netlib.http._fastpath``) against the core, on requests and
handler answers a hostile or unlucky caller produces: every answer byte for byte the
core's, on real sockets (the same app served twice, once with every request through
the core, as ``test_http_fastpath`` does).
"""

import pytest
from test_http_fastpath import G, conversation, fast_and_core, make_app

from netlib.http import FileResponse


def hostile_app(tmp_path):
    app = make_app(tmp_path)
    (tmp_path / "mid.bin").write_bytes(bytes(range(256)) * 100)  # 25 KiB

    @app.get("/file/{name}")
    def file(req):  # a handler's own FileResponse, of a file that may not be there
        path = str(tmp_path / req.params["name"])
        return FileResponse(path, 0, 25600, headers=[(b"x-from", b"handler")])

    return app


@pytest.fixture
async def servers(tmp_path):
    async with fast_and_core(hostile_app, tmp_path) as ports:
        yield ports


async def both(servers, raw: bytes) -> tuple[bytes, bytes]:
    fast_port, slow_port = servers
    try:
        fast = await conversation(fast_port, raw)
    except ConnectionError as e:  # (an abort: what the client saw is the reset)
        fast = repr(e).encode()
    return fast, await conversation(slow_port, raw)


@pytest.mark.parametrize(
    "raw",
    [
        G(b"/s/big.bin", b"Range: bytes=-5\r\n"),  # a small range of a big (uncached) file
        G(b"/s/big.bin", b"Range: bytes=0-99\r\n", b"HEAD"),
        G(b"/file/mid.bin"),  # a handler's FileResponse under the one-write size
        G(b"/file/mid.bin", method=b"HEAD"),
        G(b"/file/gone.bin") + G(b"/hello"),  # ...of a file that is not there: a 500, not a reset
    ],
    ids=["small range", "HEAD small range", "small file", "HEAD small file", "missing file"],
)
async def test_small_file_answers_are_the_cores_byte_for_byte(servers, raw):
    fast, core = await both(servers, raw + G(b"/hello"))
    assert fast == core
