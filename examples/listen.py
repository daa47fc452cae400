"""Open a WebSocket and print every frame that arrives, one JSON line each.

    .venv/bin/python examples/listen.py "ws://127.0.0.1:8000/ws/?ticket=$TICKET" --frames 2 &

The URL carries a ticket from POST /api/v1/auth/ws-ticket (good once, for 30 s). With --frames N
it exits after N frames (`hello` is the first), otherwise on Ctrl-C or when the server closes
the socket (the close code is printed: 4401 is a bad or used ticket). Needs websockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import websockets


async def listen(url: str, frames: int | None) -> int:
    seen = 0
    try:
        async with websockets.connect(url) as socket:
            async for frame in socket:
                print(frame, flush=True)
                seen += 1
                if frames is not None and seen >= frames:
                    return 0
    except websockets.ConnectionClosed as closed:
        print(f"closed: {closed.rcvd.code if closed.rcvd else 'no code'}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="ws://host:port/ws/?ticket=...")
    parser.add_argument("--frames", type=int, default=None, help="exit after this many frames")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(listen(arguments.url, arguments.frames)))
