"""Ways out of Clarion: email (aiosmtplib), SMS (a Twilio-shaped REST API), chat webhooks and
the drill inbox. Each implements the Sender protocol of app/sending/channels/base.py."""
