"""Acknowledgements (issue 25): which messages ask their recipients to confirm (policy), what
in an answer confirms, stops or restarts (words), and recording a confirmation or an SMS
opt-out on the delivery and the contact point (record). Nothing is re-exported: import from
the modules."""
