"""Message templates (SPEC §6): `NAME.LANG.toml` with `subject`, `body`, optional `html`, `reason`.

Placeholders are `str.format` named fields and nothing else: `{order_id}`, never
`{order.id}` or `{0}`, so a template cannot reach into the values it is given.
Both `relay send` and `check-config` read templates here, so both name the same
file for the same mistake.
"""

from __future__ import annotations

import html as markup
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from relay.errors import Invalid, NotFound

# What relay fills in itself; any other placeholder needs a --var.
BUILTIN = ("order_id", "buyer_name", "seller_name")
_TEXTS = ("subject", "body", "html")
_KEYS = frozenset((*_TEXTS, "reason"))
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class TemplateError(Invalid):
    """A template that cannot be used; the message starts with its file."""


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    path: Path
    subject: str
    body: str
    html: str | None
    reason: str

    @property
    def placeholders(self) -> frozenset[str]:
        texts = (self.subject, self.body, self.html or "")
        return frozenset(name for text in texts for name in _fields(self.path, text))


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str | None


def _fields(path: Path, text: str) -> list[str]:
    """The named fields of `text`; TemplateError for anything str.format would do more with."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"{path}: {exc} (write a literal brace as {{{{ or }}}})") from None
    names = []
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        if not _FIELD.match(field):
            raise TemplateError(f"{path}: {{{field}}} is not a placeholder; use a name such as "
                                "{order_id} (no positions, attributes or indexes)")
        if spec and "{" in spec:
            raise TemplateError(f"{path}: {{{field}:{spec}}} nests a placeholder")
        names.append(field)
    return names


def load(path: Path) -> Template:
    """Read and check one template file (its placeholders parse; its keys are known)."""
    stem = path.name.removesuffix(".toml")
    name, _, language = stem.rpartition(".")
    if not name or not language:
        raise TemplateError(f"{path}: a template file is named NAME.LANG.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: {exc}") from None
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise TemplateError(f"{path}: unknown key {unknown[0]!r}; a template has "
                            "subject, body, html and reason")
    for key in ("subject", "body", "reason"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise TemplateError(f"{path}: {key!r} is missing or not a text")
    if "html" in raw and not isinstance(raw["html"], str):
        raise TemplateError(f"{path}: 'html' is not a text")
    template = Template(name, language, path, raw["subject"], raw["body"], raw.get("html"),
                        raw["reason"].strip().lower())
    template.placeholders  # noqa: B018 - parses every text now, so errors show at load
    return template


def find(directory: Path, name: str, language: str | None, default: str) -> Template:
    """The template `name` in `language`, else in `default` (NotFound if in neither)."""
    if not _NAME.match(name):
        raise Invalid(f"{name!r} is not a template name (lower-case letters, digits, - and _)")
    for lang in dict.fromkeys(x for x in (language, default) if x):
        path = directory / f"{name}.{lang}.toml"
        if path.is_file():
            return load(path)
    raise NotFound(f"no template {name!r} in {directory} (looked for "
                   f"{', '.join(dict.fromkeys(x for x in (language, default) if x))})")


def render(template: Template, values: Mapping[str, str]) -> Rendered:
    """Fill the placeholders; one without a value is a TemplateError naming the file."""
    missing = sorted(template.placeholders - set(values))
    if missing:
        raise TemplateError(f"{template.path}: placeholder {{{missing[0]}}} has no value; "
                            f"pass --var {missing[0]}=...")
    # Values are text: in the HTML part they are escaped, so a name cannot add markup.
    escaped = {key: markup.escape(value) for key, value in values.items()}
    html = None if template.html is None else template.html.format_map(escaped)
    return Rendered(template.subject.format_map(values), template.body.format_map(values), html)


def check_directory(directory: Path) -> list[Template]:
    """Every template of `directory`, loaded; TemplateError for the first one that is wrong.

    A missing directory holds no templates: `relay send` then finds none. A
    reason that [contact_reasons] does not list is not an error here: such a
    template is refused at send time, for every order status, and says so.
    """
    if not directory.is_dir():
        return []
    return [load(path) for path in sorted(directory.glob("*.toml"))]
