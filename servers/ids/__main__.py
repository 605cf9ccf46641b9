import logging

from netlib.shell import ShellConfig, run, serve_until_signalled
from servers.cli import parse, server_parser
from storage.record import Corruption

from .allocator import HighWaterMark, RangeAllocator
from .app import serve

log = logging.getLogger("servers.ids")


def main() -> None:
    p = server_parser("ids", "a central service handing out id ranges (D10, Amazon's way)")
    args = parse(p)
    try:
        alloc = RangeAllocator(HighWaterMark(args.dir))
    except (Corruption, OSError) as e:
        p.exit(2, f"ids: cannot read the high-water mark: {e}\n")
    log.info("high-water mark %d in %s", alloc.hwm, alloc.mark.path)

    async def go() -> None:
        server = await serve(alloc, ShellConfig(host=args.host, port=args.port))
        await serve_until_signalled(server)

    run(go)


if __name__ == "__main__":
    main()
