"""check-config's view: effective values, secrets masked, features not built yet marked."""

from __future__ import annotations

import tomllib

from relay.config import NOT_IN_FORCE, parse
from relay.config.render import NOT_IN_FORCE_NOTE, as_json, as_text, effective


class TestNotInForce:
    def test_json_names_what_is_not_in_force_beside_unchanged_sections(self) -> None:
        settings = parse({}, environ={})
        document = as_json(settings)
        assert document["not_in_force"] == ["api"]
        assert {k: v for k, v in document.items() if k != "not_in_force"} == effective(settings)
        assert document["policy"]["quota_base"] == 600

    def test_text_marks_each_such_section_and_key_with_a_comment(self) -> None:
        text = as_text(parse({}, environ={}))
        lines = text.splitlines()
        for section in ("api",):
            assert lines[lines.index(f"[{section}]") - 1] == NOT_IN_FORCE_NOTE
        for section in ("server", "aliases", "store", "upstream", "queue", "admin", "logging",
                        "content", "policy", "contact_reasons", "templates", "archive", "dkim",
                        "metrics", "auth", "dns"):
            assert lines[lines.index(f"[{section}]") - 1] != NOT_IN_FORCE_NOTE
        assert lines[lines.index("max_attachment_bytes = 10485760") - 1] != NOT_IN_FORCE_NOTE
        assert lines[lines.index("retention_days = 730") - 1] != NOT_IN_FORCE_NOTE
        assert lines[lines.index('checkpoint_file = "var/archive-checkpoints"') - 1
                     ] != NOT_IN_FORCE_NOTE
        per_client = lines.index("max_connections_per_client = 20")
        assert lines[per_client - 1] != NOT_IN_FORCE_NOTE
        assert lines[lines.index("max_connections = 200") - 1] != NOT_IN_FORCE_NOTE
        assert lines[lines.index('links = "reject"') - 1] != NOT_IN_FORCE_NOTE
        tags = next(i for i, line in enumerate(lines) if line.startswith("allowed_tags"))
        assert lines[tags - 1] != NOT_IN_FORCE_NOTE

    def test_text_is_still_toml(self) -> None:
        config = tomllib.loads(as_text(parse({}, environ={})))
        assert config["api"] == {"listen": "127.0.0.1:8025", "rate_limit": "20/s"}

    def test_every_name_is_a_section_or_a_key(self) -> None:
        config = effective(parse({}, environ={}))
        for name in NOT_IN_FORCE:
            section, _, key = name.partition(".")
            assert section in config
            assert not key or key in config[section]
