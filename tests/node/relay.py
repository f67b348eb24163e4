"""A TCP relay from the node address to a service on the host's loopback: `python -m tests.node.relay HOST PORT TO_PORT`.

The testbed's Traefik serves its metrics (and its entrypoint) on 127.0.0.1 only, out of cluster; pods reach
the host only at the node address 10.89.0.1. This relays HOST:PORT to 127.0.0.1:TO_PORT so the in-cluster
Prometheus can scrape the gateway. Prints "ready" once listening; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int, to_port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", to_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, host, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
