"""The kernel client of papermill's runs finds a message whose wake-up was missed within a
second, where jupyter_client's channel waits until its time limit (refacing_lib.kernel_client)."""

import asyncio
import time
from queue import Empty

import pytest
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session

from refacing_lib.course import kernel_config
from refacing_lib.kernel_client import CHECK_EVERY, WakefulChannel, WakefulKernelClient


async def _receive(channel_class, send, timeout, missed_wakeup=True):
    """Seconds ``channel_class.get_msg(timeout)`` took and what it returned (or Empty), for
    a message sent over a real ZeroMQ pair ``send`` seconds after the wait began. With
    ``missed_wakeup`` the socket's file descriptor never wakes the wait, as in the stall."""
    context = zmq.asyncio.Context()
    receiver = context.socket(zmq.PAIR)
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    sender = zmq.Context.instance().socket(zmq.PAIR)
    sender.connect(f"tcp://127.0.0.1:{port}")
    session = Session(key=b"secret")
    if missed_wakeup:
        add_event = receiver._add_recv_event

        def no_poll_wakeup(kind, *args, **kwargs):
            if kind == "poll":
                return None
            return add_event(kind, *args, **kwargs)
        receiver._add_recv_event = no_poll_wakeup
    channel = channel_class(receiver, session)

    async def send_later():
        await asyncio.sleep(send)
        session.send(sender, "execute_reply", {"status": "ok"})

    start = time.monotonic()
    sending = asyncio.ensure_future(send_later())
    try:
        result = await channel.get_msg(timeout=timeout)
    except Empty as empty:
        result = empty
    seconds = time.monotonic() - start
    await sending
    sender.close(linger=0)
    receiver.close(linger=0)
    context.term()
    return seconds, result


def test_a_missed_wakeup_costs_jupyter_clients_channel_its_whole_limit():
    """The stall itself: the reply is there, yet the plain channel returns it only when its
    time limit (here 4 s) ends the wait."""
    seconds, msg = asyncio.run(_receive(AsyncZMQSocketChannel, send=0.2, timeout=4))
    assert msg["content"] == {"status": "ok"}
    assert seconds >= 3.9


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_the_wakeful_channel_finds_the_reply_within_a_second(timeout):
    seconds, msg = asyncio.run(_receive(WakefulChannel, send=0.2, timeout=timeout))
    assert msg["msg_type"] == "execute_reply" and msg["content"] == {"status": "ok"}
    assert seconds < 0.2 + CHECK_EVERY + 0.5


def test_the_wakeful_channel_is_woken_at_once_when_the_wakeup_works():
    seconds, msg = asyncio.run(_receive(WakefulChannel, send=0.0, timeout=None,
                                        missed_wakeup=False))
    assert msg["content"] == {"status": "ok"}
    assert seconds < 0.5


def test_the_wakeful_channel_gives_up_at_its_time_limit():
    seconds, result = asyncio.run(_receive(WakefulChannel, send=3.5, timeout=2.5))
    assert isinstance(result, Empty)
    assert 2.4 <= seconds < 2.5 + 0.5


def test_papermills_kernel_manager_makes_wakeful_clients():
    manager = AsyncKernelManager(config=kernel_config())
    client = manager.client()
    assert isinstance(client, WakefulKernelClient)
    assert client.shell_channel_class is WakefulChannel
    assert client.iopub_channel_class is WakefulChannel


@pytest.mark.slow
def test_a_notebook_runs_when_no_socket_wakes_papermill(tmp_path, monkeypatch):
    """papermill's whole run (kernel start, three cells, outputs) with every poll wake-up of
    the test process's ZeroMQ sockets missed: each wait ends within a second, where
    jupyter_client's channels would wait for the cell limit (the outputs: for ever)."""
    import nbformat

    from refacing_lib import course

    add_event = zmq.asyncio.Socket._add_recv_event

    def no_poll_wakeup(self, kind, *args, **kwargs):
        if kind == "poll":
            return None
        return add_event(self, kind, *args, **kwargs)
    monkeypatch.setattr(zmq.asyncio.Socket, "_add_recv_event", no_poll_wakeup)
    monkeypatch.setattr(course, "prepare_data", lambda *args, **kwargs: None)
    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"print({n} * 7)") for n in range(1, 4)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "01_sevens.ipynb")
    start = time.monotonic()
    (executed,) = course.run_notebooks("quick", tmp_path / "out", notebooks_dir=folder,
                                       log=lambda line: None, cell_timeout=120)
    assert time.monotonic() - start < 60
    cells = nbformat.read(executed, as_version=4).cells
    assert [c.outputs[0]["text"] for c in cells if "* 7" in c.source] == ["7\n", "14\n", "21\n"]
