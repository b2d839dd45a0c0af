"""Inbound sender authentication (SPEC §2.1): DKIM and SPF, aligned with the header From.

`resolver` asks DNS without blocking the event loop, `dkim_verify` and `spf` run the
two checks on it, `alignment` says whether a domain counts as the From's, and
`verdict` combines them into the decision and its Authentication-Results record.
`check` puts them together for the policy step (relay.policy.authentication).
"""
