"""The SMTP front: hooks into intake calls (handler), aiosmtpd overrides (protocol), listening."""
