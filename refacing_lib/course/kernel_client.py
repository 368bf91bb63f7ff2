"""The client through which papermill talks to a notebook's kernel.

jupyter_client's asynchronous channels wait for a kernel message with one ``poll`` of the
ZeroMQ socket, woken by the socket's file descriptor. That descriptor signals edges, not
levels, and it seems a wake-up can be missed: the notebook tests saw papermill wait 20
minutes for the reply to a cell (notebook 02's slice browser) that the idle kernel had
already sent, and read it only when the cell's time limit ended the ``poll`` (as in
jupyter/nbclient#312). Without a limit (``make reproduce``) such a wait never ends.

:class:`WakefulKernelClient` waits in steps of at most :data:`CHECK_EVERY` seconds and looks
at the socket itself after each, so a missed wake-up costs at most that long.
:func:`refacing_lib.course.notebooks.kernel_config` makes papermill's kernel manager use it.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

__all__ = ["CHECK_EVERY", "WakefulChannel", "WakefulKernelClient"]

CHECK_EVERY = 1.0
"""Seconds between two looks at a channel's socket while a message is awaited."""


class WakefulChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` checks its socket at least every
    :data:`CHECK_EVERY` seconds instead of relying on one wake-up."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        """The next message of the channel, as a dict.

        Waits at most ``timeout`` seconds (``None``: as long as it takes), then raises
        :class:`queue.Empty`, as jupyter_client's channel does.
        """
        if timeout is not None and timeout <= 0:         # a look, no wait
            if await self.socket.poll(0):
                return await self._recv()
            raise Empty
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = CHECK_EVERY if deadline is None else min(CHECK_EVERY,
                                                            deadline - time.monotonic())
            # a poll that times out looks at the socket itself before it returns
            if await self.socket.poll(max(1, int(wait * 1000))):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty


class WakefulKernelClient(AsyncKernelClient):
    """jupyter_client's asynchronous kernel client with :class:`WakefulChannel` for the
    shell (execute replies), IOPub (outputs) and stdin channels; the control channel, which
    papermill does not read, stays jupyter_client's."""

    shell_channel_class = Type(WakefulChannel)
    iopub_channel_class = Type(WakefulChannel)
    stdin_channel_class = Type(WakefulChannel)
