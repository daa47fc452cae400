"""Signals accounts sends to the apps above it (docs/ARCHITECTURE.md: lower apps never import
higher ones).

Receivers live in the higher app's receivers.py and are connected in its AppConfig.ready().
"""

import django.dispatch

# Sent inside the registration transaction, after the user row exists.
# kwargs: user_id (UUID), email (str), invitation_token (str | None).
# contacts subscribes: an invitation token or the invited address makes the two accepted contacts.
user_registered = django.dispatch.Signal()

# Sent inside the deletion transaction, after the user is deactivated and scrubbed.
# kwargs: user_id (UUID). contacts, relay and media subscribe and remove what they own.
user_deleted = django.dispatch.Signal()

# Sent on commit when access must end now: logout (jti = that session's access-token id) or a
# ban / account deletion (jti = None: every session). kwargs: user_id (UUID), jti (str | None).
# messenger.realtime subscribes and closes the matching sockets.
access_revoked = django.dispatch.Signal()
