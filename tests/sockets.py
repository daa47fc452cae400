"""`Socket`: the WebsocketCommunicator every test opens /ws/ with, and the end of its life.

A real ASGI server ends every socket the same way: whoever closes it, the server sends the
application `websocket.disconnect` and awaits its task, so the consumer's clean-up (presence
closed, `last_seen` written through database_sync_to_async, layer groups left) finishes while
the connection is still being served. A bare communicator does neither: after a close from the
server (4401, 4409, 4429, 1011) the application keeps waiting for a disconnect nobody sends, and
when the test ends the communicator's `__del__` cancels it. The clean-up then runs during the
test's teardown, and a second cancellation (the event loop's shutdown) makes sync_to_async stop
waiting for the worker thread while it still writes: its UPDATE overlaps the teardown's flush,
and SQLite's shared in-memory database answers "database table is locked". Hence:

- `closed_with` (tests/realtime/test_gateway.py) completes the close handshake, as the server
  would, and waits for the application to end;
- `Socket.disconnect` waits for the clean-up instead of cancelling it after Channels' default
  second (a cancelled clean-up is the same abandoned write, on a slow machine);
- the `_end_sockets` fixture (tests/conftest.py) ends whatever socket a test left open (a test
  that failed half-way, or forgot) before the test's connections are closed and its data flushed.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from channels.testing import WebsocketCommunicator

# A bound on the wait for an application to end after its disconnect (its clean-up takes a few
# milliseconds): past it the application is stuck, and the test fails saying so.
END_WITHIN_SECONDS = 30.0


class Socket(WebsocketCommunicator):
    """A WebsocketCommunicator that the test's teardown ends if the test did not."""

    opened: ClassVar[list[Socket]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        Socket.opened.append(self)

    @property
    def running(self) -> bool:
        """The application was started and has not ended (`future` would start it: not used)."""
        return self._future is not None and not self._future.done()

    async def disconnect(self, code: int = 1000, timeout: float = END_WITHIN_SECONDS) -> None:
        """The client closes: the application gets `websocket.disconnect`, and its clean-up is
        awaited to the end (Channels' default gives it one second, then cancels it)."""
        await self.end(code, timeout=timeout)

    async def end(self, code: int, *, timeout: float = END_WITHIN_SECONDS) -> None:
        """What the server does once a socket is closed, by either side: `websocket.disconnect`
        to the application, then wait for its task to finish. Nothing to do if it already has."""
        try:
            if self._future is None or not self._future.done():
                await self.send_input({"type": "websocket.disconnect", "code": code})
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self.future)
            self.future.result()  # what the application raised, if it did
        except TimeoutError:
            self.stop(exceptions=False)
            raise AssertionError(f"the socket's application did not end within {timeout} s") from None
        except asyncio.CancelledError:
            # The communicator cancels the application when a receive times out: that test has
            # failed already, and its application (and clean-up) has ended with the cancellation.
            if not self.future.cancelled():
                raise


async def end_open_sockets() -> None:
    """Ends every socket opened since the last call whose application is still running (1006:
    the test went away without a close)."""
    opened, Socket.opened[:] = list(Socket.opened), []
    for socket in opened:
        if socket.running:
            await socket.end(1006)
