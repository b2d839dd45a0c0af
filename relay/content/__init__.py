"""What reaches the recipient: steps that transform the message and may still refuse it."""
