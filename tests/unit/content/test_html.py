"""HTML sanitising: what stays, what goes, and that nothing active survives any input."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.config.settings import ContentSettings
from relay.content.html import CSS_PROPERTIES, Html, HtmlPolicy, safe_css, sanitise
from relay.content.text import text_parts
from relay.content.transfer import content
from relay.message import Transaction
from tests.unit.content.messages import SELLER, crlf, seller_to_buyer

DEFAULTS = ContentSettings()
POLICY = HtmlPolicy.from_settings(DEFAULTS.allowed_tags, DEFAULTS.allowed_attributes)


def clean(html: str) -> str:
    return sanitise(html, POLICY).html


class TestSanitise:
    def test_formatting_lists_and_tables_stay(self) -> None:
        html = ('<p><b>Hi</b> <i>Bob</i></p><ul><li>one</li></ul>'
                '<table><tbody><tr><td colspan="2">cell</td></tr></tbody></table>')
        assert clean(html) == html

    def test_disallowed_tag_goes_and_its_text_stays(self) -> None:
        assert clean("<font color=red>kept <marquee>text</marquee></font>") == "kept text"

    @pytest.mark.parametrize("tag", ["script", "style", "title", "template", "iframe"])
    def test_script_and_style_content_is_dropped(self, tag: str) -> None:
        assert clean(f"<p>a</p><{tag}>alert(1) body{{}}</{tag}><p>b</p>") == "<p>a</p><p>b</p>"

    def test_whole_document_keeps_its_body_text_only(self) -> None:
        html = ("<html><head><title>T</title><style>p{color:red}</style></head>"
                "<body><p>Body</p></body></html>")
        assert clean(html) == "<p>Body</p>"

    @pytest.mark.parametrize("html", [
        '<img src="x" onerror="alert(1)">', '<p OnClick="alert(1)">x</p>',
        '<a href="#" onmouseover=alert(1)>x</a>', '<body onload="alert(1)">x',
    ])
    def test_no_event_handlers(self, html: str) -> None:
        assert not re.search(r"\son\w+=", clean(html), re.I)

    @pytest.mark.parametrize("url", [
        "javascript:alert(1)", "jav&#x61;script:alert(1)", "&#106;avascript:alert(1)",
        " JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)", "//evil.example/x", "relative/path", "#anchor",
    ])
    def test_no_active_or_relative_urls(self, url: str) -> None:
        assert clean(f'<a href="{url}">x</a>') == "<a>x</a>"

    def test_web_and_mail_links_stay(self) -> None:
        out = clean('<a href="https://shop.example/p">p</a><a href="mailto:a@b.example">m</a>')
        assert 'href="https://shop.example/p"' in out
        assert 'href="mailto:a@b.example"' in out

    @pytest.mark.parametrize("src", ["http://t.example/p.gif", "https://t.example/p.gif",
                                     "//t.example/p.gif", "data:image/png;base64,iVBOR", "p.gif"])
    def test_remote_images_lose_their_source(self, src: str) -> None:
        result = sanitise(f'<img src="{src}" alt="logo">', POLICY)
        assert result.html == '<img alt="logo">'

    def test_inline_images_stay(self) -> None:
        html = '<img src="cid:logo@shop" alt="logo">'
        assert clean(html) == html

    @pytest.mark.parametrize("html", [
        "<!-- hidden -->", "<!--[if mso]><p>outlook</p><![endif]-->",
        "<![CDATA[ data ]]>", "<!--[if !mso]><!-- --><![endif]-->",
    ])
    def test_comments_cdata_and_conditional_comments_go(self, html: str) -> None:
        assert clean(f"<p>a</p>{html}<p>b</p>") == "<p>a</p><p>b</p>"

    @pytest.mark.parametrize("html", [
        '<td background="http://t.example/bg.gif">x</td>',
        '<p style="background: url(http://t.example/bg.gif)">x</p>',
        '<p style="background-color: red; background-image: url(//t.example/b)">x</p>',
        "<p style=\"color: red; font-family: \\75rl(http://t.example/x)\">x</p>",
        '<div style="width: expression(alert(1))">x</div>',
        '<div style="@import url(http://t.example/s.css); color: red">x</div>',
        '<div style="behavior: url(x.htc); -moz-binding: url(x.xml)">x</div>',
    ])
    def test_no_css_that_fetches(self, html: str) -> None:
        out = clean(html).lower()
        for word in ("url", "expression", "@import", "http", "\\", "behavior", "binding"):
            assert word not in out


class TestSafeCss:
    def test_formatting_stays(self) -> None:
        assert safe_css("color: #333; font-weight: bold; background-color: rgb(1, 2, 3)") == (
            "color: #333; font-weight: bold; background-color: rgb(1, 2, 3)")

    def test_unknown_properties_go(self) -> None:
        assert safe_css("position: fixed; top: 0; color: red") == "color: red"

    def test_every_allowed_property_is_formatting(self) -> None:
        assert not {p for p in CSS_PROPERTIES if "image" in p or p in ("content", "cursor")}


def transaction(raw: str) -> Transaction:
    return Transaction(id="t1", peer="127.0.0.1", mail_from=SELLER, route=seller_to_buyer(),
                       received=crlf(raw))


ALTERNATIVE = """\
From: seller@shop.example
To: b@relay.example
Subject: tracking
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

Hello [image: http://t.example/open.gif?id=7] see you
--b
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p onclick=3D"x">Hello <img src=3D"http://t.example/open.gif?id=3D7"> see you</p><script>x()</sc=
ript>
--b--
"""


class TestStep:
    async def test_sanitises_html_parts_in_place(self) -> None:
        tx = transaction(ALTERNATIVE)
        await Html(POLICY)(tx)
        _plain, html = (p.text for p in text_parts(tx.parsed))
        assert html.strip() == "<p>Hello <img> see you</p>"

    async def test_text_alternative_loses_what_the_html_lost(self) -> None:
        """The tracking image's URL goes from the plain-text twin too."""
        tx = transaction(ALTERNATIVE)
        await Html(POLICY)(tx)
        plain, _ = (p.text for p in text_parts(tx.parsed))
        assert "t.example" not in plain
        assert plain.startswith("Hello [image: ] see you")

    async def test_plain_message_is_left_alone(self) -> None:
        tx = transaction("From: a@b.example\nSubject: x\n\nJust text <b>here</b>\n")
        before = tx.parsed.as_bytes()
        await Html(POLICY)(tx)
        assert tx.parsed.as_bytes() == before


# Fragments that, combined, make the known mutation-XSS and filter-evasion shapes.
FRAGMENTS = (
    "<svg>", "</svg>", "<math>", "<mtext>", "<mglyph>", "<malignmark>", "</math>", "<style>",
    "</style>", "<noscript>", "</noscript>", "<iframe srcdoc='<script>alert(1)</script>'>",
    "<script>alert(1)</script>", "<script>", "</script>", "<table>", "<td>", "<select>",
    "<textarea>", "</textarea>", "<title>", "</title>", "<template>", "<xmp>", "<p>", "</p>",
    "<a href='javascript:alert(1)'>", "<a href=\"jav&#x09;ascript:alert(1)\">",
    "<a href=\"&#106;&#97;vascript:x\">", "<a href=http://evil.example/>", "</a>",
    "<img src=x onerror=alert(1)>", "<img src='http://t.example/p.gif'>",
    "<img src=\"//t.example/p\">", "<img src=cid:ok>", "<IMG SRC=\"java&#x0A;script:x\">",
    "<div style=\"background:url(http://t.example/)\">", "<div style='width:expression(x)'>",
    "<p style=\"color:red;b\\61ckground:u\\72l(x)\">", "<b OnMouseOver=\"x()\">",
    "<img/src=x/onerror=alert(1)>", "<!--", "-->", "<!--[if mso]>", "<![endif]-->",
    "<![CDATA[", "]]>", "<!", "<", ">", "\"", "'", "=", "&lt;script&gt;", "&", "text",
    "<object data=x>", "<embed src=x>", "<form action=x><input>", "<base href=//evil/>",
    "<link rel=stylesheet href=x>", "<meta http-equiv=refresh content='0;url=x'>",
    "<details open ontoggle=alert(1)>", "<video><source onerror=alert(1)>",
    "<a href=\"data:text/html,x\">", "<a href=\"vbscript:x\">", "<td background=http://t/>",
)

ALLOWED_SCHEMES = ("http:", "https:", "mailto:")
_TAG = re.compile(r"<[^>]*>")


class _Elements(HTMLParser):
    """Every start tag, attribute and comment a browser-like parser sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def assert_inactive(out: str) -> None:
    """No active element, event handler, remote image, active URL or fetching CSS."""
    parser = _Elements()
    parser.feed(out)
    parser.close()
    assert not parser.comments
    for tag, attrs in parser.tags:
        assert tag in POLICY.tags, tag
        for name, value in attrs:
            value = (value or "").strip().lower()
            assert not name.startswith("on"), name
            if name == "src":
                assert value.startswith("cid:"), value
            if name == "href":
                assert value.startswith(ALLOWED_SCHEMES), value
            if name == "style":
                assert not re.search(r"url|expression|import|\\|@", value), value
    for word in ("<script", "<style", "<svg", "<math", "<iframe", "<!--", "<![cdata["):
        assert word not in out.lower()


class TestProperties:
    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join))
    def test_nothing_active_survives(self, html: str) -> None:
        assert_inactive(clean(html))

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join))
    def test_output_parsed_again_stays_inactive(self, html: str) -> None:
        """No mutation: parsed again by an HTML5 parser, no text turns into markup.

        (Nested anchors may be re-nested: the structure can move, never the text.)
        """
        once = clean(html)
        twice = clean(once)
        assert_inactive(twice)
        assert _TAG.sub("", twice) == _TAG.sub("", once)


async def test_a_part_decoded_before_the_step_is_read_anew_after_it() -> None:
    """Bytes another step had decoded (and kept) do not bring the old HTML back."""
    tx = transaction(ALTERNATIVE)
    html_part = next(p.part for p in text_parts(tx.parsed) if p.is_html)
    assert b"<script>" in content(html_part)
    await Html(POLICY)(tx)
    assert b"<script>" not in content(html_part)
