"""The kernel client of papermill's runs (refacing_lib.course.kernel_client) finds a message whose
wake-up was missed within a second, where jupyter_client's channel waits for its time limit."""

import asyncio
import time
from queue import Empty

import nbformat
import pytest
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from nbclient import NotebookClient

from refacing_lib.course import kernel_client, notebooks
from refacing_lib.course.kernel_client import CHECK_EVERY, WakefulChannel, WakefulKernelClient


def _miss_poll_wakeups(monkeypatch):
    """From now on no zmq.asyncio socket of this process wakes a ``poll`` that waits on it:
    only the poll's own timeout ends the wait (then it looks at the socket), as in the stall."""
    add_event = zmq.asyncio.Socket._add_recv_event

    def no_poll_wakeup(self, kind, *args, **kwargs):
        if kind == "poll":
            return None
        return add_event(self, kind, *args, **kwargs)
    monkeypatch.setattr(zmq.asyncio.Socket, "_add_recv_event", no_poll_wakeup)


async def _receive(channel_class, send, timeout):
    """Seconds ``channel_class.get_msg(timeout)`` took and what it returned (or Empty), for
    a message sent over a real ZeroMQ pair ``send`` seconds after the wait began; a wait
    longer than 15 s is cut (``asyncio.TimeoutError``)."""
    context = zmq.asyncio.Context()
    receiver = context.socket(zmq.PAIR)
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    sender = zmq.Context.instance().socket(zmq.PAIR)
    sender.connect(f"tcp://127.0.0.1:{port}")
    session = Session(key=b"secret")
    channel = channel_class(receiver, session)

    async def send_later():
        await asyncio.sleep(send)
        session.send(sender, "execute_reply", {"status": "ok"})

    sending = asyncio.ensure_future(send_later())
    start = time.monotonic()
    try:
        result = await asyncio.wait_for(channel.get_msg(timeout=timeout), 15)
    except (Empty, asyncio.TimeoutError) as stop:
        result = stop
    finally:
        seconds = time.monotonic() - start
        await sending
        sender.close(linger=0)
        receiver.close(linger=0)
        context.term()
    return seconds, result


def test_a_missed_wakeup_costs_jupyter_clients_channel_its_whole_limit(monkeypatch):
    """The stall itself: the reply is there, yet the plain channel returns it only when its
    time limit (here 4 s) ends the wait."""
    _miss_poll_wakeups(monkeypatch)
    seconds, msg = asyncio.run(_receive(AsyncZMQSocketChannel, send=0.2, timeout=4))
    assert msg["content"] == {"status": "ok"}
    assert seconds >= 3.9


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_the_wakeful_channel_finds_the_reply_within_a_second(monkeypatch, timeout):
    _miss_poll_wakeups(monkeypatch)
    seconds, msg = asyncio.run(_receive(WakefulChannel, send=0.2, timeout=timeout))
    assert msg["msg_type"] == "execute_reply" and msg["content"] == {"status": "ok"}
    assert seconds < 0.2 + CHECK_EVERY + 1.0


def test_the_wakeful_channel_is_woken_at_once_when_the_wakeup_works():
    seconds, msg = asyncio.run(_receive(WakefulChannel, send=0.0, timeout=None))
    assert msg["content"] == {"status": "ok"}
    assert seconds < 0.5


@pytest.mark.parametrize("timeout", [2.5, 0])
def test_the_wakeful_channel_gives_up_at_its_time_limit(monkeypatch, timeout):
    _miss_poll_wakeups(monkeypatch)
    seconds, result = asyncio.run(_receive(WakefulChannel, send=3.5, timeout=timeout))
    assert isinstance(result, Empty)
    assert timeout - 0.1 <= seconds < timeout + 0.5


def test_papermills_kernel_manager_makes_wakeful_clients():
    """papermill hands ``config`` to nbclient's NotebookClient (its PapermillNotebookClient's
    base), whose kernel manager makes the clients."""
    nb = nbformat.v4.new_notebook()
    manager = NotebookClient(nb, config=notebooks.kernel_config()).create_kernel_manager()
    client = manager.client()
    assert isinstance(client, WakefulKernelClient)
    for channel in ("shell", "iopub", "stdin"):
        assert getattr(client, f"{channel}_channel_class") is WakefulChannel
    # the client's section does not replace the encryption of the KernelManager section
    encryption = notebooks.kernel_config().KernelManager.transport_encryption
    assert manager.transport_encryption == encryption
    manager.context.term()


@pytest.mark.slow
def test_a_notebook_runs_when_no_socket_wakes_papermill(tmp_path, monkeypatch, capfd):
    """papermill's whole run (kernel start, three cells, outputs) with every poll wake-up of
    the test process's ZeroMQ sockets missed: each wait ends at the next look (every 0.25 s
    here), where jupyter_client's channels would wait for the cell limit (the outputs: for
    ever; papermill gives up after 4 s). What the kernel writes to its file descriptor 2, as
    TensorFlow's start-up does, is in the notebook's log, not on the terminal."""
    _miss_poll_wakeups(monkeypatch)
    monkeypatch.setattr(kernel_client, "CHECK_EVERY", 0.25)
    monkeypatch.setattr(notebooks, "prepare_data", lambda *args, **kwargs: None)
    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"print({n} * 7)") for n in range(1, 4)]
    nb.cells.append(nbformat.v4.new_code_cell("import os\nos.write(2, b'native line 42\\n')"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "01_sevens.ipynb")
    start = time.monotonic()
    (executed,) = notebooks.run_notebooks("quick", tmp_path / "out", notebooks_dir=folder,
                                       log=lambda line: None, cell_timeout=120)
    assert time.monotonic() - start < 60
    cells = nbformat.read(executed, as_version=4).cells
    assert [c.outputs[0]["text"] for c in cells if "* 7" in c.source] == ["7\n", "14\n", "21\n"]
    assert "native line 42\n" in (tmp_path / "out" / "logs" / "01_sevens.log").read_text()
    assert "native line 42" not in capfd.readouterr().err
