from django.urls import path

from realtime.consumers import GatewayConsumer

websocket_urlpatterns = [
    path("ws/", GatewayConsumer.as_asgi()),
    path("ws", GatewayConsumer.as_asgi()),
]
