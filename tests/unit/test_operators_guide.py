"""The README's "Operations" section against the code it describes, so the guide stays true.

Every TOML block loads as relay configuration, and all of them over the production
example pass `relay check-config`; every `relay ...` command parses with the real
CLI parser; every repository file it names exists; the credentials it, the unit and
the production example name agree; its DNS records parse as a zone and fit the
configuration; its unit drop-in passes `systemd-analyze verify`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.reversename
import dns.zone
import pytest

from relay.cli import build_parser
from relay.cli.command import ParserExit, UsageError
from relay.config import parse
from tests.conftest import merge

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
UNIT = ROOT / "systemd" / "relay.service"
SYSUSERS = ROOT / "systemd" / "relay.sysusers.conf"
PRODUCTION = ROOT / "config" / "relay.example-production.toml"
RELAY = Path(sys.executable).parent / "relay"

_BLOCK = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)
_SPAN = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
_CREDENTIAL = re.compile(r'"%d/([\w-]+)"')
_LOAD = re.compile(r"^(#?)LoadCredential=([\w-]+):(\S+)$", re.M)


def operations() -> str:
    text = README.read_text()
    start = text.index("\n## Operations\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def blocks(language: str) -> list[str]:
    found = [(indent, body) for indent, lang, body in _BLOCK.findall(operations())
             if lang == language]
    return [re.sub(rf"^{indent}", "", body, flags=re.M) for indent, body in found]


def spans() -> list[str]:
    prose = _BLOCK.sub("", operations())
    return [" ".join(span.split()) for span in _SPAN.findall(prose)]


def test_the_guide_has_what_the_runbook_needs() -> None:
    """A guard for the helpers below: an empty section would pass every other test."""
    assert len(blocks("toml")) >= 5
    assert len(blocks("sh")) >= 10
    assert len(blocks("ini")) == 1
    assert len(blocks("zone")) == 2
    assert len(blocks("yaml")) == 1


# --- configuration ---------------------------------------------------------


def _credentials(tmp_path: Path, text: str) -> Path:
    """A credentials directory holding every `%d/NAME` the text names."""
    directory = tmp_path / "credentials"
    directory.mkdir(exist_ok=True)
    for name in _CREDENTIAL.findall(text):
        (directory / name).write_text("a secret\n")
    return directory


@pytest.mark.parametrize("index", range(len(blocks("toml"))))
def test_each_toml_block_loads_as_relay_configuration(index: int, tmp_path: Path) -> None:
    block = blocks("toml")[index]
    directory = _credentials(tmp_path, block)
    parse(tomllib.loads(block), {"CREDENTIALS_DIRECTORY": str(directory)})


def _toml(document: dict[str, Any]) -> str:
    """Enough of a TOML writer for a relay configuration: tables of scalars and lists."""
    lines = []
    for section, table in document.items():
        lines.append(f"[{section}]")
        lines += [f"{json.dumps(key)} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def test_the_production_example_edited_as_the_guide_says_passes_check_config(
    tmp_path: Path,
) -> None:
    """All the blocks over the production example (the later PostgreSQL store over the
    SQLite one), state and templates moved to the test's directory, and a DKIM key made
    by `relay dkim keygen` as step 7 makes it."""
    document = tomllib.loads(PRODUCTION.read_text()
                             .replace("/var/lib/relay", str(tmp_path / "state"))
                             .replace("/etc/relay/templates", str(ROOT / "config" / "templates")))
    for block in blocks("toml"):
        document = merge(document, tomllib.loads(
            block.replace("/var/lib/relay", str(tmp_path / "state"))
                 .replace("/etc/relay/templates", str(ROOT / "config" / "templates"))))
    config = tmp_path / "relay.toml"
    config.write_text(_toml(document))
    directory = _credentials(tmp_path, config.read_text())
    key = directory / "dkim-private-key"
    key.unlink()
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(directory)}
    keygen = subprocess.run(
        [str(RELAY), "--config", str(config), "dkim", "keygen", "--selector",
         document["dkim"]["selector"], "--output", str(key)],
        capture_output=True, text=True, timeout=60, check=False, env=env)
    assert keygen.returncode == 0, keygen.stderr
    result = subprocess.run([str(RELAY), "--config", str(config), "--json", "check-config"],
                            capture_output=True, text=True, timeout=60, check=False, env=env)
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout)
    assert effective["server"]["hostname"] == "mx.relay.example"
    assert effective["server"]["tls_cert"] == str(directory / "tls-cert")
    assert effective["dkim"]["private_key_file"] == str(key)
    assert effective["upstream"]["password"] == "********"
    assert effective["auth"]["require"] == "dkim-or-spf"


# --- the command line ------------------------------------------------------

_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "(", ")"}


def _commands(script: str) -> list[list[str]]:
    """The relay command lines of a shell block, as argument lists after `relay`."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token not in _OPERATORS:
                words.append(token)
                continue
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VAR=value command
                words.pop(0)
            if words and (words[0] == "relay" or words[0].endswith("/bin/relay")):
                found.append(words[1:])
            words = []
    return found


def _parse(args: list[str]) -> None:
    if args == ["--version"]:
        with pytest.raises(ParserExit, match="0"):
            build_parser().parse_args(args)
        return
    namespace = build_parser().parse_args(args)
    assert namespace.handler is not None, f"relay {shlex.join(args)} is not a whole command"


def test_every_relay_command_line_in_the_guide_parses() -> None:
    commands = [c for script in blocks("sh") for c in _commands(script)]
    assert len(commands) >= 10
    for args in commands:
        try:
            _parse(args)
        except UsageError as exc:
            pytest.fail(f"relay {shlex.join(args)}: {exc}")


def _subcommand(words: list[str]) -> tuple[Any, list[str]]:
    """The parser of the command the words name, and the words after it."""
    parser: Any = build_parser()
    while words:
        choices = {name: sub for action in parser._actions
                   if hasattr(action, "choices") and isinstance(action.choices, dict)
                   for name, sub in action.choices.items()}
        if words[0] not in choices:
            break
        parser, words = choices[words[0]], words[1:]
    return parser, words


def test_every_relay_command_named_in_the_text_exists_with_its_options() -> None:
    """In running text a command may leave out what it needs (`relay dkim keygen`):
    its words must name a real command, and its options be that command's."""
    named = [shlex.split(span)[1:] for span in spans() if re.match(r"relay [a-z]", span)]
    assert len(named) >= 10
    for words in named:
        try:
            _parse(words)
            continue
        except UsageError as exc:
            if "required" not in str(exc):
                pytest.fail(f"relay {shlex.join(words)}: {exc}")
        parser, rest = _subcommand(words)
        assert parser.prog != "relay", f"relay {shlex.join(words)}: no such command"
        known = {option for action in parser._actions for option in action.option_strings}
        unknown = [w for w in rest if w.startswith("--") and w not in known]
        assert not unknown, f"relay {shlex.join(words)}: no option {unknown}"


# --- files, credentials, the unit ------------------------------------------


def test_every_repository_file_the_guide_names_exists() -> None:
    text = operations()
    named = set(re.findall(r"/opt/relay/src/([\w./-]+\w)", text))
    named |= {span for span in spans()
              if re.fullmatch(r"(?:config|systemd|relay|tests|bench|docs)/[\w./-]+", span)}
    assert {"systemd/relay.service", "systemd/relay.sysusers.conf",
            "config/relay.example-production.toml", "config/templates"} <= named
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == []


def test_the_unit_and_the_production_example_name_the_same_credentials() -> None:
    """Each `%d/NAME` of the example is a LoadCredential= of the unit: in force where
    the example uses it, commented out (for the drop-in) where the example does."""
    example = PRODUCTION.read_text()
    in_force = {n for line in example.splitlines() if not line.lstrip().startswith("#")
                for n in _CREDENTIAL.findall(line)}
    loads = {name: commented for commented, name, _ in _LOAD.findall(UNIT.read_text())}
    assert set(_CREDENTIAL.findall(example)) == set(loads)
    assert in_force == {name for name, commented in loads.items() if not commented}


def test_the_guide_loads_each_credential_its_configuration_names() -> None:
    unit = {name: path for _, name, path in _LOAD.findall(UNIT.read_text())}
    in_unit = {name for commented, name, _ in _LOAD.findall(UNIT.read_text()) if not commented}
    (drop_in,) = blocks("ini")
    loaded = {name: path for _, name, path in _LOAD.findall(drop_in)}
    # The drop-in says what the unit's commented lines say.
    assert all(unit[name] == path for name, path in loaded.items())
    named = {n for block in blocks("toml") for n in _CREDENTIAL.findall(block)}
    assert named - {"pgpass"} <= in_unit | set(loaded)
    # The table of step 5 names the unit's credentials and no other.
    table = set(re.findall(r"^\| `([\w-]+)`(?:, `([\w-]+)`)?[^|]* \| `/", operations(), re.M))
    assert {n for row in table for n in row if n} == set(unit)


analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                             reason="systemd-analyze is not installed")


@analyze
def test_systemd_accepts_the_unit_with_the_guides_drop_in(tmp_path: Path) -> None:
    (tmp_path / "relay.service").write_text(
        UNIT.read_text().replace("/opt/relay/bin/relay", str(RELAY)))
    (tmp_path / "relay.service.d").mkdir()
    (tmp_path / "relay.service.d" / "credentials.conf").write_text(blocks("ini")[0])
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "relay.service")],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})  # ":" keeps the defaults
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None,
                    reason="systemd-sysusers is not installed")
def test_sysusers_creates_the_user_the_unit_runs_as(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)],
                   capture_output=True, timeout=60, check=True)
    passwd = (tmp_path / "etc" / "passwd").read_text()
    assert re.search(r"^relay:x:\d+:\d+:[^:]*:/var/lib/relay:/usr/sbin/nologin$", passwd, re.M)
    assert "User=relay" in UNIT.read_text().splitlines()


# --- DNS -------------------------------------------------------------------


def _zone(text: str) -> dns.zone.Zone:
    origin = None if "$ORIGIN" in text else dns.name.root
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)


def _records(zone: dns.zone.Zone, kind: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.from_text(kind)):
        found.setdefault(name.to_text(), []).extend(r.to_text() for r in rdataset)
    return found


def test_the_dns_records_parse_and_fit_the_configuration() -> None:
    forward, reverse = (_zone(text) for text in blocks("zone"))
    settings = tomllib.loads(blocks("toml")[0])
    domain, host = settings["aliases"]["domain"], settings["server"]["hostname"]
    (selector,) = {b["dkim"]["selector"] for b in map(tomllib.loads, blocks("toml"))
                   if "dkim" in b}
    assert _records(forward, "MX") == {f"{domain}.": [f"10 {host}."]}
    addresses = _records(forward, "A")[f"{host}."] + _records(forward, "AAAA")[f"{host}."]
    # Forward-confirmed reverse DNS: each address's PTR is the host, which has the address.
    ptr = _records(reverse, "PTR")
    assert {dns.reversename.from_address(a).to_text() for a in addresses} == set(ptr)
    assert all(targets == [f"{host}."] for targets in ptr.values())
    assert all(ipaddress.ip_address(a) for a in addresses)
    txt = _records(forward, "TXT")
    assert txt[f"{domain}."][0].startswith('"v=spf1 include:')
    assert txt[f"{selector}._domainkey.{domain}."][0].startswith('"v=DKIM1; k=rsa; p=')
    assert txt[f"_dmarc.{domain}."][0].startswith('"v=DMARC1; p=none; rua=mailto:')
    # The keygen command of the guide makes the key the record and the [dkim] block name.
    keygen = [c for s in blocks("sh") for c in _commands(s) if "keygen" in c]
    assert keygen[0][keygen[0].index("--selector") + 1] == selector  # step 7's
    # The production example greets with the name the records give.
    assert tomllib.loads(PRODUCTION.read_text())["server"]["hostname"] == host


# --- logs and alerts -------------------------------------------------------


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_every_jq_filter_in_the_guide_runs_on_relays_log_lines() -> None:
    """The filters, fed the guide's own sample of log lines (one of them `jq -c` of each)."""
    (sample,) = [b for b in blocks("") if b.startswith('{"') and '"event"' in b]
    filters = re.findall(r"\| jq (?:-c )?('[^']*'|\.)", operations())
    assert len(filters) >= 5
    for filter_ in filters:
        result = subprocess.run(["jq", "-c", shlex.split(filter_)[0]], input=sample,
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, f"jq {filter_}: {result.stderr}"
    # Each event the guide tells the reader to look for is one relay logs.
    events = set(re.findall(r'\.event == "([\w.]+)"', operations()))
    assert events <= {json.loads(line)["event"] for line in sample.splitlines()}


def _exposed() -> dict[str, dict[str, set[str]]]:
    """Each sample name relay exposes, with the values each of its labels takes."""
    from prometheus_client import generate_latest

    from relay.metrics import Metrics

    exposed: dict[str, dict[str, set[str]]] = {}
    for line in generate_latest(Metrics().registry).decode().splitlines():
        if (sample := re.match(r"(relay_\w+)(?:\{(.*)\})? ", line)) is not None:
            labels = exposed.setdefault(sample[1], {})
            for label, value in re.findall(r'(\w+)="([^"]*)"', sample[2] or ""):
                labels.setdefault(label, set()).add(value)
    return exposed


def test_the_alert_rules_ask_for_series_relay_exposes() -> None:
    """Names and label values: a rule on a misspelt series never fires."""
    (rules,) = blocks("yaml")
    exposed = _exposed()
    selectors = re.findall(r"\b(relay_\w+)(?:\{([^}]*)\})?", rules)
    assert len(selectors) >= 5
    for name, matchers in selectors:
        assert name in exposed, name
        for label, values in re.findall(r'(\w+)=~?"([^"]*)"', matchers):
            assert set(values.split("|")) <= exposed[name][label], f"{name}{{{matchers}}}"
    # The metrics the guide's text names are relay's too.
    named = {re.sub(r"\{.*", "", n) for n in re.findall(r"`(relay_[\w{},]+)", operations())}
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in exposed}
    assert {re.sub(r"_total$", "", n) for n in named} <= families | set(exposed)
