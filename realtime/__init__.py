"""The WebSocket gateway: Channels consumers and routing. Sits on top of every app."""
