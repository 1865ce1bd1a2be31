"""The sending accounts' mailboxes (issue 24): reading them over IMAP without changing them
(reader), telling bounces, automatic replies and replies apart (inbound), recording what answers
one of our deliveries (recorder) and an incident's replies (replies). Nothing is re-exported:
import from the modules."""
