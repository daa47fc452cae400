from django.urls import path

from messenger.realtime.consumers import GatewayConsumer

websocket_urlpatterns = [
    path("ws/", GatewayConsumer.as_asgi()),
    path("ws", GatewayConsumer.as_asgi()),
]
