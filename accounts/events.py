"""Signals accounts sends to the apps above it (docs/ARCHITECTURE.md: lower apps never import
higher ones).

Receivers live in the higher app's receivers.py and are connected in its AppConfig.ready().
"""

import django.dispatch

# Sent inside the registration transaction, after the user row exists.
# kwargs: user_id (UUID), email (str), invitation_token (str | None).
# contacts subscribes: an invitation token or the invited address makes the two accepted contacts.
user_registered = django.dispatch.Signal()

# Sent inside the transaction that marks an address verified (the verification link, an admin's
# "mark verified", or a registration whose invitation token proves the address).
# kwargs: user_id (UUID), email (str). contacts subscribes: pending invitations to that address
# become contacts only now, once the address is proven to be the user's.
user_verified = django.dispatch.Signal()

# Sent inside the deletion transaction, after the user is deactivated and scrubbed.
# kwargs: user_id (UUID). contacts, relay and media subscribe and remove what they own.
user_deleted = django.dispatch.Signal()

# Sent on commit when access must end now: logout (jti = that session's access-token id), a spent
# refresh token presented again (jti = None, session_id: that session) or a ban / account deletion
# (jti = None, no session_id: every session). kwargs: user_id (UUID), jti (str | None),
# session_id (str | None).
# realtime subscribes and closes the matching sockets.
access_revoked = django.dispatch.Signal()
