"""The client through which papermill talks to a notebook's kernel.

jupyter_client's asynchronous channels wait for a kernel message with one ``poll`` of the
ZeroMQ socket, woken by the socket's file descriptor. That descriptor signals edges, not
levels, so a wake-up can be missed: a reply the idle kernel has already sent is then read
only when the cell's time limit ends the ``poll`` (jupyter/nbclient#312), and without a limit
(``make reproduce``) never.

:class:`WakefulKernelClient` waits in steps of at most :data:`CHECK_EVERY` seconds and looks
at the socket itself after each, so a missed wake-up costs at most that long.
:class:`LoggedKernelManager` starts kernels whose native error output (TensorFlow's start-up
lines, written past Python to file descriptor 2) goes to a log file instead of the terminal.
:func:`refacing_lib.course.notebooks.kernel_config` makes papermill use both.
"""

from __future__ import annotations

import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import Type, Unicode

__all__ = ["CHECK_EVERY", "WakefulChannel", "WakefulKernelClient", "LoggedKernelManager"]

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


class LoggedKernelManager(AsyncKernelManager):
    """jupyter_client's asynchronous kernel manager whose kernels append their standard error
    (file descriptor 2: what native libraries print; Python's own ``sys.stderr`` reaches the
    notebook) to the file ``stderr_log``, when it is set."""

    stderr_log = Unicode("", config=True, help="file for the kernels' standard error")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if not self.stderr_log:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        path = Path(self.stderr_log)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as log:               # the kernel keeps its own descriptor
            return await super()._async_launch_kernel(kernel_cmd, **{**kw, "stderr": log})
