"""A light Streamlit client: what a browser tab says to the server, without the browser.

One `LightSession` is one tab. It speaks the protocol of Streamlit's frontend, with the protobuf messages that ship
inside the `streamlit` package, over the `websockets` package that Streamlit itself installs:

- HTTP ``GET /_stcore/health`` hands out the ``_streamlit_xsrf`` cookie; the websocket ``/_stcore/stream`` opens with
  the subprotocols ``["streamlit", <that cookie>]``, as the frontend does.
- Loading a page is a ``BackMsg.rerun_script`` whose ``ClientState`` holds the URL's query string and the page's url
  path as ``page_name``. Changing a widget is the same message with ``widget_states``: every value this tab set for a
  widget that is still on the page (the server keeps the rest), the widget named by its id. Widget ids end with the
  widget's user key (``$$ID-<hash>-kl_bias``), so `set("kl_bias", 2.0)` finds it in the page's deltas.
- The server answers with ``ForwardMsg``s: ``new_session`` (the session id), ``delta`` (one element or block at a
  ``delta_path``), ``auto_rerun`` (a fragment that wants a rerun every n seconds: the Step-by-step page playing) and
  ``script_finished``. Elements a finished run did not send again are dropped, as the frontend drops them.
- Pictures are URLs (``/media/<id>.png``) fetched over HTTP after the run, as the browser fetches new ``<img>`` sources.
- A training run's live status (cnnviz.ui.live_status) is polled from its JSON route, as the component's JavaScript
  does in a browser: every ``interval`` ms, with the live chart and the filters every ``chart_every`` polls; a new
  state reruns the fragment the status is drawn in, as the component's trigger does (``follow_live``).
- A file upload asks for an upload URL (``BackMsg.file_urls_request``), PUTs the file there as multipart form data
  with the ``X-Xsrftoken`` header and the cookie (``server.enableXsrfProtection``), and then sets the uploader's
  widget state to the file's id.

Every wait has a deadline, and a session makes one change at a time, as a person does. The HTTP side is a minimal
HTTP/1.1 client (one connection per request, ``Connection: close``), enough for a server on loopback.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

XSRF_COOKIE = "_streamlit_xsrf"
LIVE_STATUS_KEYS = {"html", "state", "url", "interval", "chart_every"}  # the data a live status component is drawn with
POLL_FAILURES = 3  # polls in a row that may fail before the status asks for a rerun, as the component does
_TAGS = re.compile(r"<style>.*?</style>|<[^>]+>", re.S)  # what an HTML element shows is its text between these
PARALLEL_DOWNLOADS = 6  # a browser opens about six connections per host
CHOICE_WIDGETS = {"selectbox": "string_value", "radio": "string_value", "button_group": "string_array_value",
                  "multiselect": "string_array_value"}
FINISHED = ForwardMsg.ScriptFinishedStatus  # FINISHED_SUCCESSFULLY, FINISHED_EARLY_FOR_RERUN, ...


def run_sync(coroutine, timeout: float | None = None):
    """Run ``coroutine`` to its end from synchronous code, in a thread of its own, so it works beside an event loop
    that is already running in this thread (playwright's sync API keeps one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=timeout)


class ClientError(RuntimeError):
    """The server refused or never answered something a browser would have got."""


@dataclass
class Change:
    """What one interaction cost, as the user waits for it."""

    seconds: float  # from sending the change to the last new picture downloaded
    script_seconds: float  # from sending the change to the end of the script run
    images: int  # new pictures downloaded
    image_bytes: int


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, list[str]]  # lower-case names
    body: bytes


async def http(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
               timeout: float = 30) -> HttpResponse:
    """One HTTP/1.1 request on a fresh connection; the whole answer, or ClientError after ``timeout`` seconds."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            return await reader.read()  # the server closes the connection after the answer
        finally:
            writer.close()

    try:
        raw = await asyncio.wait_for(exchange(), timeout)
    except (OSError, asyncio.TimeoutError) as error:
        raise ClientError(f"{method} {url}: {type(error).__name__} {error}") from error
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    if not status_line.startswith("HTTP/"):
        raise ClientError(f"{method} {url}: no HTTP answer ({raw[:80]!r})")
    found: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found.setdefault(name.strip().lower(), []).append(value.strip())
    if "chunked" in found.get("transfer-encoding", [""])[0]:
        payload = _unchunk(payload)
    return HttpResponse(int(status_line.split()[1]), found, payload)


def _unchunk(data: bytes) -> bytes:
    out, position = bytearray(), 0
    while True:
        end = data.index(b"\r\n", position)
        size = int(data[position:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2:end + 2 + size]
        position = end + 2 + size + 2


def _text(markup: str) -> str:
    """What an HTML element shows: its text between the tags."""
    return html.unescape(_TAGS.sub(" ", markup))


def _inner(element: Any) -> Any:
    """The proto inside an Element (its markdown, selectbox, ...) or a Block (its vertical, column, ...)."""
    kind = element.WhichOneof("type")
    return getattr(element, kind) if kind else None


def _kind(element: Any) -> str | None:
    """An Element's type ("markdown", "imgs", "selectbox", ...); None for a Block."""
    return element.WhichOneof("type") if isinstance(element, Element) else None


def _grid_pictures(component: Any) -> dict[str, str]:
    """A picture grid's pictures by slot (legend included), from the data its element carries; {} for another
    component."""
    try:
        data = json.loads(component.json)
    except ValueError:
        return {}
    if not isinstance(data, dict) or "pictures" not in data:
        return {}
    pictures = [*data["pictures"], *([data["legend"]] if data.get("legend") else [])]
    return {picture["slot"]: picture["src"] for picture in pictures}


def _live_status(component: Any) -> dict | None:
    """The data a live status component (cnnviz.ui.live_status) was drawn with; None for another component."""
    try:
        data = json.loads(component.json or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) and LIVE_STATUS_KEYS <= data.keys() else None


@dataclass
class _Node:
    element: Any  # an Element or a Block proto
    run: int  # the script run that last sent it
    fragment_id: str = ""  # the fragment that drew it, "" outside fragments


@dataclass
class _Poller:
    """One live status component's polling, as its JavaScript keeps it: restarted whenever the page redraws it
    with other data."""

    drawn: str  # the JSON data the component was drawn with
    polls: int = 0
    failures: int = 0
    html: str | None = None  # the status HTML the last poll swapped in
    chart: str | None = None  # the live chart's data the last poll with the chart brought (JSON text)
    filters: str | None = None  # conv1's filters the last poll with the chart brought (a PNG data URL)


@dataclass
class LightSession:
    """One browser tab's conversation with a Streamlit server at ``base_url`` (e.g. ``http://127.0.0.1:8501``)."""

    base_url: str
    timeout: float = 120.0  # seconds any one answer may take before the session gives up with ClientError
    session_id: str = ""
    errors: list[str] = field(default_factory=list)  # exceptions and error boxes seen, refused or failed requests
    downloaded: int = 0  # pictures fetched so far
    _tree: dict[tuple[int, ...], _Node] = field(default_factory=dict, repr=False)
    _values: dict[str, WidgetState] = field(default_factory=dict, repr=False)  # what this tab set, by widget id
    _seen_urls: set[str] = field(default_factory=set, repr=False)
    _fragments: dict[str, float] = field(default_factory=dict, repr=False)  # fragment id -> rerun interval, s
    _poller: _Poller | None = field(default=None, repr=False)  # the live status's polling, while one is drawn
    polled: int = 0  # status route answers received
    _run: int = 0  # full script runs started
    _finished: int = 0  # full script runs finished (not interrupted)
    _changed: asyncio.Condition | None = field(default=None, repr=False)
    _url_answers: dict[str, asyncio.Future] = field(default_factory=dict, repr=False)
    _ws: Any = field(default=None, repr=False)
    _reader: asyncio.Task | None = field(default=None, repr=False)
    _fragment_done: int = 0  # fragment runs finished
    _closed: str = ""  # why the websocket closed, "" while open
    _page: str = ""  # url path of the page, as the tab's address bar has it
    _query: str = ""  # the address bar's query string, which the page rewrites as its settings change
    _page_hash: str = ""
    _xsrf: str = ""
    _cookies: str = ""

    # --- connection --------------------------------------------------------------------------------------

    async def open(self, path: str = "", query: str = "") -> Change:
        """Connect and load the page at url path ``path`` (e.g. "train", "" for the default page) with ``query``."""
        health = await http("GET", f"{self.base_url}/_stcore/health", timeout=self.timeout)
        if health.status != 200:
            raise ClientError(f"health check answered {health.status}")
        cookies = [c.split(";")[0] for c in health.headers.get("set-cookie", [])]
        self._cookies = "; ".join(cookies)
        self._xsrf = next((c.split("=", 1)[1] for c in cookies if c.startswith(XSRF_COOKIE + "=")), "")
        self._changed = asyncio.Condition()
        ws_url = "ws" + self.base_url[len("http"):] + "/_stcore/stream"
        self._ws = await asyncio.wait_for(connect(
            ws_url, subprotocols=["streamlit", self._xsrf] if self._xsrf else ["streamlit"], origin=self.base_url,
            additional_headers={"Cookie": self._cookies}, max_size=None, open_timeout=self.timeout), self.timeout)
        self._reader = asyncio.create_task(self._read(), name="light-client-reader")
        self._page, self._query = path, query
        return await self._interact(self._client_state())

    async def close(self) -> None:
        """Close the tab: the server keeps the session for ``server.disconnectedSessionTTL`` seconds."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    # --- reading the page ---------------------------------------------------------------------------------

    def _nodes(self) -> Iterator[tuple[tuple[int, ...], Any]]:
        return ((path, node.element) for path, node in sorted(self._tree.items()))

    def widget(self, key: str) -> tuple[str, Any]:
        """(element type, widget proto) of the widget with user key ``key`` on the page; ClientError if none."""
        for _, element in self._nodes():
            kind = _kind(element)
            if kind is not None and getattr(_inner(element), "id", "").endswith(f"-{key}"):
                return kind, _inner(element)
        raise ClientError(f"no widget with key {key!r} on the page")

    def options(self, key: str) -> list[str]:
        """The options of a choice widget as the server formats them: the values `set` takes."""
        kind, proto = self.widget(key)
        if kind == "button_group":
            return [option.content for option in proto.options]
        return list(proto.options)

    def _within(self, container_key: str | None) -> Iterator[Any]:
        """The page's elements in order, or those inside the container with key ``container_key``."""
        prefix = ()
        if container_key is not None:
            prefix = next((path for path, node in self._tree.items()
                           if getattr(node.element, "id", "").endswith(f"-{container_key}")), None)
            if prefix is None:
                raise ClientError(f"no container with key {container_key!r} on the page")
        return (element for path, element in self._nodes() if path[:len(prefix)] == prefix)

    @property
    def query(self) -> str:
        """The address bar's query string now: the page writes its settings there (never a run's id)."""
        return self._query

    def texts(self, container_key: str | None = None) -> list[str]:
        """Markdown, headings, message boxes, progress texts, HTML elements' text and code blocks on the page, or inside
        the container with key ``container_key``."""
        found = []
        for element in self._within(container_key):
            kind = _kind(element)
            if kind in ("markdown", "heading", "alert"):
                found.append(getattr(element, kind).body)
            elif kind == "progress":
                found.append(element.progress.text)
            elif kind == "html":  # the pages' own progress bars and numbers (cnnviz.ui.progress): their text
                found.append(_text(element.html.body))
            elif kind == "bidi_component" and (status := _live_status(element.bidi_component)) is not None:
                poller = self._poller
                polled = poller is not None and poller.drawn == element.bidi_component.json and poller.html
                found.append(_text(poller.html if polled else status["html"]))
            elif kind == "code":
                found.append(element.code.code_text)
        return found

    def htmls(self, container_key: str | None = None) -> list[str]:
        """The markup of the page's HTML elements (``st.html``), or of those inside the container ``container_key``:
        for the data a page puts in its own markup (the Class page's counts and bars)."""
        return [element.html.body for element in self._within(container_key) if _kind(element) == "html"]

    def image_urls(self, container_key: str | None = None) -> list[str]:
        """The pictures' URLs, on the page or inside the container with key ``container_key``: ``st.image``'s and
        those of picture grids (``cnnviz.ui.pictures``)."""
        urls = []
        for element in self._within(container_key):
            if _kind(element) == "imgs":
                urls += [img.url for img in element.imgs.imgs]
            elif _kind(element) == "bidi_component":
                urls += [url for url in _grid_pictures(element.bidi_component).values() if url]
        return urls

    def picture_urls(self, key: str) -> dict[str, str]:
        """The pictures of the picture grid with key ``key``, by slot ("conv": its URL); ClientError if none."""
        for _, element in self._nodes():
            if _kind(element) == "bidi_component" and element.bidi_component.id.endswith(f"-{key}"):
                return _grid_pictures(element.bidi_component)
        raise ClientError(f"no picture grid with key {key!r} on the page")

    def component_data(self, key: str) -> Any:
        """The data the custom component with key ``key`` was last drawn with, as its JavaScript reads it (the Train
        page's tab memory: the run this tab keeps); ClientError if none."""
        for _, element in self._nodes():
            if _kind(element) == "bidi_component" and element.bidi_component.id.endswith(f"-{key}"):
                return json.loads(element.bidi_component.json or "null")
        raise ClientError(f"no component with key {key!r} on the page")

    # --- changing the page ---------------------------------------------------------------------------------

    async def set(self, key: str, value: Any) -> Change:
        """Set the widget with user key ``key`` to ``value`` as a user would, and wait for the page to update.

        ``value`` is what the widget shows: a number, a bool, one of `options(key)` (a list of them for a
        multiselect or segmented control), or a float for a slider.
        """
        kind, proto = self.widget(key)
        state = WidgetState(id=proto.id)
        if kind == "number_input":
            if proto.data_type == proto.INT:
                state.int_value = int(value)
            else:
                state.double_value = float(value)
        elif kind in CHOICE_WIDGETS:
            chosen = value if isinstance(value, (list, tuple)) else [value]
            unknown = [v for v in chosen if v not in self.options(key)]
            if unknown:
                raise ClientError(f"{key!r} has no option {unknown}; it offers {self.options(key)}")
            if CHOICE_WIDGETS[kind] == "string_value":
                state.string_value = chosen[0]
            else:
                state.string_array_value.data.extend(chosen)
        elif kind == "slider":
            if proto.options:  # a select_slider
                state.string_array_value.data.append(str(value))
            else:
                state.double_array_value.data.append(float(value))
        elif kind == "checkbox":
            state.bool_value = bool(value)
        elif kind in ("text_input", "text_area"):
            state.string_value = str(value)
        else:
            raise ClientError(f"cannot set a {kind} ({key!r})")
        self._values[proto.id] = state
        # A setting may rerun one fragment instead of the page (the Kernel Lab's outputs): either end counts.
        return await self._interact(self._client_state(), fragment=True)

    async def click(self, key: str) -> Change:
        """Press the button with user key ``key``."""
        _, proto = self.widget(key)
        client_state = self._client_state()
        client_state.widget_states.widgets.append(WidgetState(id=proto.id, trigger_value=True))
        return await self._interact(client_state)

    async def upload(self, key: str, name: str, data: bytes, mime: str) -> Change:
        """Give the file uploader with user key ``key`` one file, the way the frontend uploads it; the time counts
        from asking for the upload URL."""
        started = time.perf_counter()
        _, proto = self.widget(key)
        request = BackMsg()
        request.file_urls_request.request_id = uuid.uuid4().hex
        request.file_urls_request.file_names.append(name)
        request.file_urls_request.session_id = self.session_id
        answer = asyncio.get_running_loop().create_future()
        self._url_answers[request.file_urls_request.request_id] = answer
        await self._ws.send(request.SerializeToString())
        try:
            urls = await asyncio.wait_for(answer, self.timeout)
        except asyncio.TimeoutError:
            raise ClientError(f"no upload URL for {name} within {self.timeout:.0f} s") from None
        if urls.error_msg or not urls.file_urls:
            raise ClientError(f"no upload URL for {name}: {urls.error_msg}")
        file_urls = urls.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        put = await http("PUT", self.base_url + file_urls.upload_url, body=body, timeout=self.timeout, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": self._xsrf,
            "Cookie": self._cookies, "Origin": self.base_url})
        if put.status >= 300:
            raise ClientError(f"upload of {name} answered {put.status}: {put.body[:200]!r}")
        state = WidgetState(id=proto.id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.file_id, info.name, info.size = file_urls.file_id, name, len(data)
        info.file_urls.CopyFrom(file_urls)
        self._values[proto.id] = state
        return await self._interact(self._client_state(), started=started)

    async def follow_live(self, seconds: float, until=None) -> None:
        """Keep the page live as an open tab does, for at most ``seconds`` or until ``until(self)`` is true: timed
        fragments rerun on their timers, and a training run's live status polls the status route.

        Each timer fires on its own interval, as the browser's do: a fragment's ``run_every``, and the status
        component's poll every ``interval`` ms (every ``chart_every``-th poll brings the live chart and filters too).
        """
        deadline = time.monotonic() + seconds
        due: dict[str, float] = {}  # fragment id, or "" for the status poll -> when its timer fires next
        while time.monotonic() < deadline and not (until and until(self)):
            timers = dict(self._fragments)
            status = self._status_component()
            if status is not None:
                timers[""] = status[1]["interval"] / 1000
            if not timers:
                await asyncio.sleep(0.2)
                continue
            now = time.monotonic()
            due = {key: due.get(key, now + interval) for key, interval in timers.items()}
            await asyncio.sleep(max(0.0, min(min(due.values()), deadline) - now))
            for key in [k for k, when in due.items() if when <= time.monotonic()]:
                if key == "":
                    await self._poll_status()
                elif key in self._fragments:  # a full run in between may have stopped it
                    await self._interact(self._client_state(key), fragment=True)
                due[key] = max(due[key] + timers[key], time.monotonic())

    @property
    def live_chart(self) -> dict | None:
        """The live chart's data the last status poll brought, as the chart component receives it; None before."""
        chart = self._poller.chart if self._poller is not None else None
        return json.loads(chart) if chart else None

    def _status_component(self) -> tuple[_Node, dict] | None:
        """The live status component on the page and its data, if the page draws one."""
        for node in self._tree.values():
            if _kind(node.element) == "bidi_component":
                data = _live_status(node.element.bidi_component)
                if data is not None:
                    return node, data
        return None

    async def _poll_status(self) -> None:
        """One poll of the status route, as the component's timer does it."""
        found = self._status_component()
        if found is None:
            return
        node, data = found
        drawn = node.element.bidi_component.json
        if self._poller is None or self._poller.drawn != drawn:
            self._poller = _Poller(drawn)  # the page redrew it: a new poller, as the component restarts
        poller = self._poller
        poller.polls += 1
        with_chart = poller.polls % data["chart_every"] == 0
        # The route's path is relative to the app's root, which is this session's base URL.
        url = f"{self.base_url}/{data['url']}" + ("&chart=1" if with_chart else "")
        try:
            answer = await http("GET", url, headers={"Cookie": self._cookies}, timeout=self.timeout)
            if answer.status != 200:
                raise ClientError(f"GET {data['url']} answered {answer.status}")
            status = json.loads(answer.body)
        except (ClientError, ValueError) as error:
            poller.failures += 1
            if poller.failures >= POLL_FAILURES:
                self.errors.append(f"live status: {error}")
                await self._refresh(node)
            return
        poller.failures = 0
        self.polled += 1
        if status["state"] != data["state"]:
            await self._refresh(node)
            return
        poller.html = status["html"]
        if status.get("chart"):
            poller.chart = status["chart"]
        if status.get("filters"):  # a data URL swapped into the page's picture: nothing to download
            poller.filters = status["filters"]

    async def _refresh(self, node: _Node) -> None:
        """What the status component's trigger does: rerun the fragment it is drawn in (the page, outside one)."""
        self._poller = None
        client_state = self._client_state(node.fragment_id)
        client_state.is_auto_rerun = False
        await self._interact(client_state, fragment=bool(node.fragment_id))

    # --- protocol ------------------------------------------------------------------------------------------

    def _client_state(self, fragment_id: str = "") -> ClientState:
        state = ClientState(query_string=self._query, page_name=self._page, page_script_hash=self._page_hash,
                            fragment_id=fragment_id, is_auto_rerun=bool(fragment_id))
        state.context_info.url = f"{self.base_url}/{self._page}" + (f"?{self._query}" if self._query else "")
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        state.widget_states.widgets.extend(self._values.values())
        return state

    async def _interact(self, client_state: ClientState, fragment: bool = False,
                        started: float | None = None) -> Change:
        """Send one rerun, wait for its run to finish, then fetch the pictures the page shows that are new."""
        started = time.perf_counter() if started is None else started
        async with self._changed:
            # A fragment rerun ends with its own status, or with a full run when the fragment calls st.rerun().
            full, partial = self._finished + 1, self._fragment_done + 1
        message = BackMsg()
        message.rerun_script.CopyFrom(client_state)
        await self._ws.send(message.SerializeToString())
        for state in list(self._values.values()):  # a trigger fires once
            if state.WhichOneof("value") == "trigger_value":
                del self._values[state.id]
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: self._finished >= full or self._closed or (
                    fragment and self._fragment_done >= partial)), self.timeout)
        except asyncio.TimeoutError:
            raise ClientError(f"no answer to a rerun within {self.timeout:.0f} s") from None
        if self._closed:
            raise ClientError(f"the server closed the websocket: {self._closed}")
        script_seconds = time.perf_counter() - started
        new = [url for url in self.image_urls() if url not in self._seen_urls]
        sizes = await self._download(new)
        return Change(time.perf_counter() - started, script_seconds, len(new), sum(sizes))

    async def _download(self, urls: list[str]) -> list[int]:
        gate = asyncio.Semaphore(PARALLEL_DOWNLOADS)

        async def one(url: str) -> int:
            async with gate:
                answer = await http("GET", self.base_url + url, headers={"Cookie": self._cookies},
                                    timeout=self.timeout)
            if answer.status != 200:
                self.errors.append(f"GET {url} answered {answer.status}")
                return 0
            self._seen_urls.add(url)
            return len(answer.body)

        sizes = await asyncio.gather(*(one(url) for url in urls))
        self.downloaded += len(urls)
        if len(self._seen_urls) > 2000:  # a long soak: forget old pictures, as a browser's cache does
            self._seen_urls = set(self.image_urls())
        return sizes

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                message = ForwardMsg()
                message.ParseFromString(data)
                await self._handle(message)
        except Exception as error:  # the connection dropped: every waiter must learn it
            self._closed = f"{type(error).__name__}: {error}"
        else:
            self._closed = "closed"
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.session_id = message.new_session.initialize.session_id or self.session_id
            if not message.metadata.run.fragment_ids:  # a full run, not a fragment's
                self._run += 1
                self._fragments.clear()  # the run registers its fragments again
        elif kind == "delta":
            self._on_delta(message)
        elif kind == "navigation":  # the page this run shows (new_session names the main script, app.py)
            self._page_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self._query = message.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._fragments[message.auto_rerun.fragment_id] = message.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fragment_id in message.stop_auto_rerun.fragment_ids:
                self._fragments.pop(fragment_id, None)
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {message.page_not_found.page_name}")
        elif kind == "file_urls_response":
            answer = self._url_answers.pop(message.file_urls_response.response_id, None)
            if answer is not None and not answer.done():
                answer.set_result(message.file_urls_response)
        elif kind == "script_finished":
            await self._on_finished(message)

    def _on_delta(self, message: ForwardMsg) -> None:
        delta, path = message.delta, tuple(message.metadata.delta_path)
        if delta.WhichOneof("type") == "new_element":
            element = delta.new_element
            kind = element.WhichOneof("type")
            if kind == "exception":
                self.errors.append(f"exception box: {element.exception.type} {element.exception.message[:200]}")
            elif kind == "alert" and element.alert.format == element.alert.ERROR:
                self.errors.append(f"error box: {element.alert.body[:200]}")
            inner = _inner(element)
            widget_id = getattr(inner, "id", "")
            if widget_id in self._values and getattr(inner, "set_value", False):
                del self._values[widget_id]  # the page moved the widget: the server's value wins
            self._tree[path] = _Node(element, self._run, delta.fragment_id)
        elif delta.WhichOneof("type") == "add_block":
            self._tree[path] = _Node(delta.add_block, self._run, delta.fragment_id)

    async def _on_finished(self, message: ForwardMsg) -> None:
        status = message.script_finished
        async with self._changed:
            if status == FINISHED.FINISHED_SUCCESSFULLY:
                # What this run did not draw is gone from the page, and so are the values of its vanished widgets.
                self._tree = {p: n for p, n in self._tree.items() if n.run == self._run}
                ids = {getattr(_inner(n.element), "id", "") for n in self._tree.values()}
                self._values = {k: v for k, v in self._values.items() if k in ids}
                self._finished += 1
            elif status == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self._fragment_done += 1
            self._changed.notify_all()
