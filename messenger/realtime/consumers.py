"""The `/ws/` consumer.

Frames are JSON `{"type": ..., "data": {...}}` (API.md, WebSocket). This is the foundation's
minimal consumer: it proves the ASGI wiring by answering `ping` with `pong`. Authentication, the
per-user groups and every event come with the real-time issue.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone


class GatewayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            await self.send_frame("error", {"code": "invalid_json", "detail": "Frames must be JSON."})
            return
        frame_type = frame.get("type") if isinstance(frame, dict) else None
        if frame_type == "ping":
            await self.send_frame("pong", {"server_time": timezone.now().isoformat()})
            return
        await self.send_frame(
            "error", {"code": "unknown_type", "detail": f"Unknown frame type {frame_type!r}."}
        )

    async def send_frame(self, frame_type: str, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps({"type": frame_type, "data": data}))
