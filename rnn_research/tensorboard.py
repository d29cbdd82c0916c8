"""TensorBoard event files without TensorFlow: scalars, text and PNG images.

Summaries are built from tensorboardX's protobufs and written with its synchronous
``EventsWriter`` (one file per split, ``<root>/<split>/events.out.tfevents.*``), so every event is
on disk when :meth:`EventFiles.write` returns. :func:`read_events` reads the files back (the
TFRecord framing) for tests and notebooks, without the ``tensorboard`` package.

Example::

    files = EventFiles(workdir / "tensorboard")
    files.write("train", 10, scalar_summary({"loss": 0.5}))
    files.write("train", 10, text_summary("config", "```json\\n{}\\n```"))
    files.write("train", 10, image_summary("grad_flow/layer_0", Path("plot.png").read_bytes()))
    files.close()
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type (IHDR byte 25) -> channels, TensorBoard's ``Summary.Image.colorspace``.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def tensorboardx() -> tuple[Any, Any, Any, Any]:
    """tensorboardX's ``EventsWriter``, ``Event``, ``SessionLog`` and ``Summary``, imported without torch.

    Any tensorboardX import runs its package ``__init__``, whose ``SummaryWriter`` module imports
    torch when it is installed (2.4 s of every launch here, for a ``torch.Tensor`` check that the
    protos used here never reach). An unimported torch is hidden from that import only: a
    ``None`` entry in ``sys.modules`` makes ``import torch`` fail, and is removed straight after,
    so torch imports normally later in the process.
    """
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
        from tensorboardX.proto.summary_pb2 import Summary
    finally:
        if hide:
            del sys.modules["torch"]
    return EventsWriter, Event, SessionLog, Summary


def scalar_summary(values: Mapping[str, float]) -> Any:
    """A ``Summary`` with one ``simple_value`` per ``{tag: float}``."""
    Summary = tensorboardx()[3]
    return Summary(value=[Summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])


def text_summary(tag: str, text: str) -> Any:
    """A ``Summary`` that TensorBoard's Text tab shows under ``tag``, rendered as markdown.

    The text plugin reads a string tensor of shape ``[1]`` whose metadata names the plugin
    ``"text"`` (the layout tensorboardX's ``summary.text`` writes, with the tag kept as given).
    """
    Summary = tensorboardx()[3]
    from tensorboardX.proto.plugin_text_pb2 import TextPluginData
    from tensorboardX.proto.summary_pb2 import SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

    plugin = SummaryMetadata.PluginData(plugin_name="text", content=TextPluginData(version=0).SerializeToString())
    tensor = TensorProto(
        dtype="DT_STRING",
        string_val=[text.encode("utf-8")],
        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin), tensor=tensor)])


def png_shape(png: bytes) -> tuple[int, int, int]:
    """``(height, width, channels)`` of encoded PNG bytes, read from the IHDR chunk."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR" or png[25] not in _PNG_CHANNELS:
        raise ValueError("not a PNG image (no PNG signature and IHDR chunk)")
    width, height = struct.unpack(">II", png[16:24])
    return height, width, _PNG_CHANNELS[png[25]]


def image_summary(tag: str, png: bytes) -> Any:
    """A ``Summary`` that TensorBoard's Images tab shows under ``tag``: the encoded PNG as it is."""
    Summary = tensorboardx()[3]
    height, width, channels = png_shape(png)
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


class EventFiles:
    """One event file per split under ``root/<split>``, made at the split's first write.

    After :meth:`resume` at ``purge_step``, each new file starts with a ``SessionLog.START`` at
    that step, so TensorBoard hides the events at steps ``>= purge_step`` of the earlier files
    (those a killed run wrote after its last checkpoint).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._files: dict[str, Any] = {}
        self._purge_step: int | None = None

    def write(self, split: str, step: int, summary: Any, wall_time: float | None = None) -> None:
        """Appends one event holding ``summary`` at ``step`` to ``split``'s file, and flushes it."""
        EventsWriter, Event, SessionLog, _ = tensorboardx()
        now = time.time() if wall_time is None else wall_time
        if split not in self._files:
            logdir = self.root / split
            logdir.mkdir(parents=True, exist_ok=True)
            # tensorboardX names files by the second and opens them with "wb": a nanosecond suffix
            # keeps a resumed run's file apart and sorted after the earlier one, as TensorBoard reads.
            self._files[split] = EventsWriter(str(logdir / "events"), f".{time.time_ns()}.{os.getpid()}")
            if self._purge_step is not None:
                start = SessionLog(status=SessionLog.START)
                self._files[split].write_event(Event(wall_time=now, step=self._purge_step, session_log=start))
        self._files[split].write_event(Event(wall_time=now, step=int(step), summary=summary))
        self._files[split].flush()

    def resume(self, purge_step: int) -> None:
        """Closes the open files; the next ones hide earlier events at steps ``>= purge_step``."""
        self.close()
        self._purge_step = int(purge_step)

    def close(self) -> None:
        """Flushes and closes every open file; closing twice is fine."""
        for events in self._files.values():
            events.close()
        self._files = {}


def read_events(directory: str | Path) -> list[Any]:
    """Every ``Event`` of the event files in ``directory``, oldest file first (TFRecord framing:
    length, its CRC, payload, payload CRC; the CRCs are not checked)."""
    Event = tensorboardx()[1]
    events = []
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            events.append(Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events
