"""A minimal Streamlit client without a browser: it speaks the app's own websocket protocol
(the protobuf messages streamlit.proto defines, the ones the browser's JavaScript sends), so a
load test can run twenty sessions on a small machine without twenty pages drawing charts.

What it does: open a session on one page, read the elements each script run sends (markdown,
alerts, buttons, exceptions), and press a button (a form's submit button too) by sending the rerun request the browser sends
for a click: for a button drawn inside an st.fragment, a rerun of that fragment only, as the browser asks. What it leaves out: every other widget keeps its default value (it never sends
their states), and cached-message references (it tells the server it has cached nothing).
Used by benchmarks/app_load.py.
"""

from __future__ import annotations

import asyncio
import time

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


class StreamlitSession:
    """One visitor's session over one websocket; `await press(label)` returns the run's seconds."""

    def __init__(self, url: str, page: str):
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.page = page
        self.ws = None
        self.markdown: list = []  # the markdown and alert bodies of the last script run
        self.buttons: dict = {}  # label -> widget id, from the last script run
        self.button_fragments: dict = {}  # label -> the id of the fragment that drew it ("" outside any)
        self.fragment_run = False  # whether the last run was a fragment's rerun, not the whole script
        self.numbers: dict = {}  # number inputs: label -> widget id
        self.problems: list = []  # exceptions and error alerts, over every run

    async def open(self, timeout: float) -> float:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=timeout)
        return await self._run(None, timeout)

    async def press(self, label: str, timeout: float, numbers: dict | None = None) -> float:
        """Click a button; `numbers` ({label: value}) sets number inputs in the same request."""
        if label not in self.buttons:
            raise RuntimeError(f"no button '{label}' on the page (buttons: {sorted(self.buttons)})")
        return await self._run(self.buttons[label], timeout, numbers or {}, self.button_fragments[label])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def text(self) -> str:
        return "\n".join(self.markdown)

    async def _run(self, button_id: str | None, timeout: float, numbers: dict | None = None,
                   fragment_id: str = "") -> float:
        """Ask for a script run (a button's trigger when given) and read until it has finished."""
        msg = BackMsg()
        msg.rerun_script.page_name = self.page
        msg.rerun_script.fragment_id = fragment_id
        if button_id is not None:
            state = msg.rerun_script.widget_states.widgets.add()
            state.id, state.trigger_value = button_id, True
        for label, value in (numbers or {}).items():
            state = msg.rerun_script.widget_states.widgets.add()
            state.id, state.double_value = self.numbers[label], value
        self.markdown, self.buttons, self.button_fragments, self.numbers = [], {}, {}, {}
        began = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        await asyncio.wait_for(self._read_until_finished(), timeout)
        return time.perf_counter() - began

    async def _read_until_finished(self) -> None:
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await self.ws.recv())
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                self._note(forward.delta.new_element, forward.delta.fragment_id)
            elif kind == "script_finished":
                if forward.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    self.problems.append("the script did not compile")
                if forward.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
                                               ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
                    self.fragment_run = forward.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
                    return

    def _note(self, element, fragment_id: str) -> None:
        kind = element.WhichOneof("type")
        if kind == "markdown":
            self.markdown.append(element.markdown.body)
        elif kind == "button":
            self.buttons[element.button.label] = element.button.id
            self.button_fragments[element.button.label] = fragment_id
        elif kind == "number_input":
            # the first of a label: the Train page's form comes before the distill panel's "Minutes"
            self.numbers.setdefault(element.number_input.label, element.number_input.id)
        elif kind == "exception":
            self.problems.append(f"{element.exception.type}: {element.exception.message}")
        elif kind == "alert":
            self.markdown.append(element.alert.body)
            if element.alert.format == Alert.ERROR:
                self.problems.append(element.alert.body)
