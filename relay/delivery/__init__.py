"""The delivery back: queue workers, transports to the upstream, and notices to senders."""
