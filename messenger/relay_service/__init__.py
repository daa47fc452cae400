"""A relay-only process: the seed's Relay service (port 8006), lifted out of the monolith by
configuration alone. It installs relay and what relay stands on (accounts for the users and the
token checks, Django's auth) and mounts only relay's routes, so no contacts, messaging, groups,
media or realtime code is loaded (tests/relay/test_standalone.py starts one and checks).

    DJANGO_SETTINGS_MODULE=messenger.relay_service.settings \\
        gunicorn messenger.relay_service.wsgi -b 0.0.0.0:8006     # or daphne ... .asgi:application

It reads the same environment as the monolith: DATABASE_URL must reach the accounts tables (the
same database, or a replica of it), REDIS_URL the Redis the gateways use, so `relay.envelope`
events reach sockets held by the main processes through the shared channel layer.
"""
