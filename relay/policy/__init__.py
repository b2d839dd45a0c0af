"""Who may send what: steps that decide and never edit the message."""
