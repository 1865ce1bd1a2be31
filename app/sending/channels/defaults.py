"""What a channel does when its account's settings say nothing: the defaults the senders use and
the account form proposes (app/sending/account_settings.py reads them from here)."""

# Connections at once to an SMTP relay: each connection waits a round trip per SMTP command, so
# a relay across the internet (40 ms away) carries about 6 messages a second per connection.
# Relays take far more (Postfix: 50 per client); one that takes fewer refuses the extra ones,
# and the sender then uses fewer (app/sending/channels/email.py).
EMAIL_DEFAULT_CONCURRENCY = 8
SMS_DEFAULT_CONCURRENCY = 4  # requests in flight to an SMS provider
