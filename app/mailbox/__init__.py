"""What comes back after "sent": the sending accounts' mailboxes (issue 24) — reading them over
IMAP without changing them (reader), telling bounces, automatic replies and replies apart
(inbound), recording what answers one of our deliveries (recorder) — and the texts sent back to
the SMS account's number (issue 25: sms — confirmations, replies, STOP and START), and an
incident's replies of both (replies). Nothing is re-exported:
import from the modules."""
