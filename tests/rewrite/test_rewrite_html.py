"""HTML rules of issue 3, one test (or a small table of cases) per rule."""

from __future__ import annotations

from html import unescape

import pytest

from control.rewrite import RewriteOptions, rewrite_message
from tests.rewrite.helpers import CLICK_BASE, html_of, opened, reasons, rewrite


def tracked_href(html: str) -> str:
    """The single rewritten href of a one-link document (entities as written)."""
    result = rewrite(html)
    assert len(result.links) == 1
    tracked = result.links[0].tracked_url
    assert tracked is not None, result.links[0]
    return tracked


@pytest.mark.parametrize(
    "tag",
    [
        '<a href="https://example.com/x">go</a>',
        '<area shape="rect" coords="0,0,1,1" href="https://example.com/x" alt="">',
        '<!--[if mso]><v:roundrect href="https://example.com/x" arcsize="10%"><center>Go'
        "</center></v:roundrect><![endif]-->",
        '<!--[if gte mso 9]><v:rect href="https://example.com/x"></v:rect><![endif]-->',
    ],
)
def test_tracks_a_area_and_vml_in_conditional_comments(tag: str) -> None:
    result = rewrite(f"<p>{tag}</p>")
    assert [link.original_url for link in result.links] == ["https://example.com/x"]
    tracked = result.links[0].tracked_url
    assert tracked is not None
    assert html_of(result) == f"<p>{tag}</p>".replace("https://example.com/x", tracked)
    assert opened(tracked).url == "https://example.com/x"


@pytest.mark.parametrize(
    "html",
    [
        '<!-- <a href="https://example.com/x">old</a> -->',
        "<script>document.write('<a href=\"https://example.com/x\">x</a>')</script>",
        '<style>a[href="https://example.com/x"] { color: red }</style>',
        '<![CDATA[ <a href="https://example.com/x">x</a> ]]>',
        # In SVG and MathML "<![CDATA[" is a real CDATA section: text up to "]]>".
        '<svg><![CDATA[ 1 > 0 <a href="https://example.com/x">x</a> ]]></svg>',
        '<p><MATH><![CDATA[ <a href="https://example.com/x"> ]]></math>',
        '<title><a href="https://example.com/x">x</a></title>',
        '<textarea><a href="https://example.com/x">x</a></textarea>',
        "<img alt='<a href=\"https://example.com/x\">'>",
        '<div title="see href=https://example.com/x">t</div>',
        '<span data-href="https://example.com/x">t</span>',
        '<a data-href="https://example.com/x">no href</a>',
        '<a hreflang="en">no href</a>',
        '<link rel="stylesheet" href="https://example.com/x">',
    ],
)
def test_ignores_links_that_are_not_live(html: str) -> None:
    result = rewrite(html)
    assert result.links == []
    assert result.html == html


def test_comment_forms_end_where_browsers_end_them() -> None:
    html = '<!----><!---><!-->x<a href="https://example.com/a">a</a><!-- --!> <a href="https://example.com/b">b</a>'
    assert [link.original_url for link in rewrite(html).links] == [
        "https://example.com/a",
        "https://example.com/b",
    ]


@pytest.mark.parametrize(
    ("html", "live"),
    [
        # "<!--<script>" inside a script hides the next "</script>" from the tokenizer.
        ('<script><!--<script></script><a href="https://example.com/x"></script>', False),
        ('<script><!--<SCRIPT >"</script>"--><a href="https://example.com/x"></script>', False),
        # "-->" ends the escape: the next "</script>" closes the element again.
        ('<script><!--<script>--></script><a href="https://example.com/x">x</a>', True),
        ('<script><!-- x --></script><a href="https://example.com/x">x</a>', True),
        ('<script><!--></script><a href="https://example.com/x">x</a>', True),
        ('<script><!--<scripts></script><a href="https://example.com/x">x</a>', True),
        # Outside SVG and MathML, "<![CDATA[" is a bogus comment: it ends at the first ">".
        ('<![CDATA[ 1 > 0 <a href="https://example.com/x">x</a> ]]>', True),
        ('<svg/><![CDATA[ 1 > 0 <a href="https://example.com/x">x</a> ]]>', True),  # empty
        ('<svg></svg><![CDATA[ 1 > 0 <a href="https://example.com/x">x</a> ]]>', True),
        # Inside them a CDATA section hides a "<!--" or "<style>" in its text.
        ('<svg><![CDATA[ a > b <!-- ]]></svg><a href="https://example.com/x">x</a>', True),
        ('<math><![CDATA[ <style> ]]></math><a href="https://example.com/x">x</a>', True),
    ],
)
def test_script_escapes_and_cdata_end_where_browsers_end_them(html: str, live: bool) -> None:
    tracked = [link for link in rewrite(html).links if link.tracked_url is not None]
    assert len(tracked) == (1 if live else 0)


def test_downlevel_revealed_conditional_comments_are_scanned() -> None:
    html = (
        '<!--[if !mso]><!--><a href="https://example.com/web">web</a><!--<![endif]-->'
        '<!--[if mso]><v:oval href="https://example.com/outlook"></v:oval><![endif]-->'
    )
    result = rewrite(html)
    assert [link.original_url for link in result.links] == [
        "https://example.com/web",
        "https://example.com/outlook",
    ]
    assert reasons(result) == [None, None]


def test_end_tags_are_case_insensitive_for_raw_text() -> None:
    html = (
        '<SCRIPT>"<a href=https://example.com/in>"</sCrIpT><a href="https://example.com/out">o</a>'
    )
    assert [link.original_url for link in rewrite(html).links] == ["https://example.com/out"]


@pytest.mark.parametrize(
    ("tag", "written"),
    [
        ('<a href="https://example.com/x">x</a>', '<a href="{}">x</a>'),
        ("<a href='https://example.com/x'>x</a>", "<a href='{}'>x</a>"),
        ("<a href=https://example.com/x>x</a>", "<a href={}>x</a>"),
        ('<A HREF="https://example.com/x">x</A>', '<A HREF="{}">x</A>'),
        ('<a\n  Href \n=\n "https://example.com/x"\n>x</a>', '<a\n  Href \n=\n "{}"\n>x</a>'),
        (
            '<a class="b"href="https://example.com/x"target=_blank>x</a>',
            '<a class="b"href="{}"target=_blank>x</a>',
        ),
        ('<a href="https://example.com/x"/>', '<a href="{}"/>'),
        ('<a title="x > y" href="https://example.com/x">x</a>', '<a title="x > y" href="{}">x</a>'),
    ],
)
def test_quoting_case_and_whitespace_are_kept(tag: str, written: str) -> None:
    tracked = tracked_href(tag)
    assert "&" not in tracked and '"' not in tracked
    assert html_of(rewrite(tag)) == written.format(tracked)


def test_first_of_duplicate_hrefs_is_the_link() -> None:
    html = '<a href="https://example.com/1" href="https://example.com/2">x</a>'
    result = rewrite(html)
    assert [link.original_url for link in result.links] == ["https://example.com/1"]
    assert html_of(result).endswith('href="https://example.com/2">x</a>')


@pytest.mark.parametrize(
    ("raw", "destination"),
    [
        ("https://example.com/?a=1&amp;b=2", "https://example.com/?a=1&b=2"),
        ("https://example.com/?a=1&b=2", "https://example.com/?a=1&b=2"),
        ("https://example.com/?a=1&amp;amp;b=2", "https://example.com/?a=1&amp;b=2"),
        ("https://example.com/?a=1&#38;b=2&#x26;c=3", "https://example.com/?a=1&b=2&c=3"),
        ("https://example.com/?q=1&copy=2", "https://example.com/?q=1&copy=2"),
        ("https://example.com/?q=1&copy;=2", "https://example.com/?q=1%C2%A9=2"),
        ("https://example.com/?q=1&notit=2&lt=3", "https://example.com/?q=1&notit=2&lt=3"),
        ("https://example.com/&#x70;ath", "https://example.com/path"),
        ("https://example.com/?q=1&amp", "https://example.com/?q=1&"),
    ],
)
def test_character_references_are_decoded_exactly_once(raw: str, destination: str) -> None:
    result = rewrite(f'<a href="{raw}">x</a>')
    link = result.links[0]
    tracked = link.tracked_url
    if "%C2%A9" in destination:
        # "&copy;" decodes to a non-ASCII character in the query: not safely encodable.
        assert link.skip_reason == "malformed"
        return
    assert tracked is not None
    assert link.original_url == destination
    assert opened(tracked).url == destination


def awkward_minter(url: str, index: int, location: str, tags: tuple[str, ...]) -> str:
    """A click URL with every character that needs escaping somewhere."""
    return "https://click.example.com/t?a=1&b='2'&c=\"3\" <x>=`"


@pytest.mark.parametrize("quote", ['"', "'", ""])
def test_tracked_url_is_escaped_for_its_quoting(quote: str) -> None:
    html = f"<a href={quote}https://example.com/{quote}>x</a>"
    out = rewrite_message(html, None, awkward_minter, RewriteOptions()).html
    assert out is not None
    prefix, suffix = f"<a href={quote}", f"{quote}>x</a>"
    assert out.startswith(prefix) and out.endswith(suffix)
    value = out[len(prefix) : -len(suffix)]
    assert unescape(value) == awkward_minter("", 0, "", ())
    assert "&amp;" in value and "&b" not in value  # "&" is always escaped
    forbidden = quote or " \"'<>=`"  # unquoted: nothing that would end or garble it
    assert not any(char in value for char in forbidden)


@pytest.mark.parametrize(
    "href",
    [
        "mailto:someone@example.com",
        "MAILTO:someone@example.com",
        "tel:+1-555-0100",
        "sms:+15550100",
        "ftp://files.example.com/a",
        "javascript:alert(1)",
        "#top",
        "/relative/path",
        "relative.html",
        "//example.com/protocol-relative",
        "",
        "www.example.com/no-scheme",
        "data:text/html,hi",
    ],
)
def test_only_http_and_https_are_tracked(href: str) -> None:
    html = f'<a href="{href}">x</a>'
    result = rewrite(html)
    assert reasons(result) == ["scheme"]
    assert result.html == html


@pytest.mark.parametrize("scheme", ["http", "https", "HTTP", "Https"])
def test_scheme_case_does_not_matter(scheme: str) -> None:
    url = f"{scheme}://example.com/x"
    assert opened(tracked_href(f'<a href="{url}">x</a>')).url == url


def test_www_prefix_is_an_option() -> None:
    html = '<a href="www.example.com/x?a=1">x</a>'
    assert reasons(rewrite(html)) == ["scheme"]
    result = rewrite(html, options=RewriteOptions(prefix_www=True))
    assert result.links[0].original_url == "www.example.com/x?a=1"
    tracked = result.links[0].tracked_url
    assert tracked is not None
    assert opened(tracked).url == "http://www.example.com/x?a=1"


@pytest.mark.parametrize(
    "href",
    [
        "{{ unsubscribe_url }}",
        "https://example.com/?u={{user.id}}",
        "https://example.com/{% url 'x' %}",
        "https://example.com/?id=*|UNIQID|*",
        "*|ARCHIVE|*",
        "https://example.com/?m=%%MEMBER_ID%%",
        "%%view_email_url%%",
        "https://example.com/help/[[slug]]",
        "mailto:{{email}}",
        "https://example.com/?e=$(EMAIL_ADDRESS_)$",
        "https://example.com/?e=~~eloqua..type--emailfield..syntax--EmailAddress~~",
        "https://example.com/?e=@EMAIL@",
        "https://example.com/?e=[email]&amp;n=[firstname,fallback=]",
        "https://example.com/?e=%recipient.email%",
        "https://example.com/users/{id}",  # an RFC 6570 URI template never filled in
    ],
)
def test_placeholders_stay_untouched(href: str) -> None:
    html = f'<a href="{href}">x</a>'
    result = rewrite(html)
    assert reasons(result) == ["placeholder"]
    assert result.html == html


@pytest.mark.parametrize(
    ("href", "destination"),
    [
        # A browser's URL parser drops tabs and newlines anywhere (WHATWG URL), as a
        # template or mailer that wrapped a long href leaves them.
        (
            "https://example.com/click?u=abc&amp;id=\ndef456",
            "https://example.com/click?u=abc&id=def456",
        ),
        ("https://example.com/a\r\n/b\t/c", "https://example.com/a/b/c"),
        ("ht\ntps://exam\tple.com/", "https://example.com/"),
        # ... and sends a space after the host as %20, in path, query and fragment alike.
        (
            "https://example.com/My Brochure 2024.pdf",
            "https://example.com/My%20Brochure%202024.pdf",
        ),
        ("https://example.com/s?q=a b#c d", "https://example.com/s?q=a%20b#c%20d"),
    ],
)
def test_links_a_browser_cleans_up_go_where_the_browser_goes(href: str, destination: str) -> None:
    result = rewrite(f"<a href='{href}'>x</a>")
    assert reasons(result) == [None], result.links
    assert result.links[0].original_url == unescape(href)  # reported as written
    tracked = result.links[0].tracked_url
    assert tracked is not None
    assert opened(tracked).url == destination


@pytest.mark.parametrize(
    "href",
    [
        "https://example.com/%zz",
        "https://example.com/%2",
        "https://exa mple.com/",
        "https://example..com/",
        "https:///path",
        "https:example.com",
        "https:/example.com",
        "https://example.com:99999/",
        "https://example.com:8o/",
        "https://999.1.1.1/",
        "https://example.123/",
        "https://[2001:db8::zz]/",
        "https://example.com/a<b",
        "https://example.com/back\\slash",
        'https://example.com/"quote',
        "https://example.com/a{b",
        "https://example.com/a}b{",
        "https://bücher.example/",
        "https://example.com/?q=José",
        "https://example.com/#a#b",
        "https://example.com:" + "1" * 5000 + "/",  # more digits than int() takes
        "https://example.com/a&#1;b",  # a control character: kept, as browsers keep it
    ],
)
def test_malformed_links_stay_untouched(href: str) -> None:
    html = f"<a href='{href}'>x</a>"
    result = rewrite(html)
    assert reasons(result) == ["malformed"], result.links
    assert result.html == html


@pytest.mark.parametrize(
    ("href", "destination"),
    [
        ("https://[2001:db8::1]:8443/v6", "https://[2001:db8::1]:8443/v6"),
        ("https://user:pa%24s@example.com/u", "https://user:pa%24s@example.com/u"),
        (
            "https://example.com/?ids=1|2&amp;f[s]=open#s[2]",
            "https://example.com/?ids=1|2&f[s]=open#s[2]",
        ),
        (
            "https://example.com/ünï/päth#frä",
            "https://example.com/%C3%BCn%C3%AF/p%C3%A4th#fr%C3%A4",
        ),
        ("  https://example.com/padded\n ", "https://example.com/padded"),
        ("https://1.2.3.4/ip", "https://1.2.3.4/ip"),
        ("https://example.com.:8080", "https://example.com.:8080"),
        ("HTTPS://EXAMPLE.COM/UPPER", "HTTPS://EXAMPLE.COM/UPPER"),
        ("https://example.com/" + "a" * 3000, "https://example.com/" + "a" * 3000),
    ],
)
def test_well_formed_edge_cases_are_tracked(href: str, destination: str) -> None:
    result = rewrite(f'<a href="{href}">x</a>')
    tracked = result.links[0].tracked_url
    assert tracked is not None, result.links[0]
    assert opened(tracked).url == destination


def test_a_destination_the_minter_refuses_is_malformed() -> None:
    html = f'<a href="https://example.com/{"a" * 20000}">x</a>'
    result = rewrite(html)
    assert reasons(result) == ["malformed"]
    assert result.html == html


@pytest.mark.parametrize(
    "attribute",
    [
        "data-pm-no-track",
        'data-pm-no-track="true"',
        "data-smtpd-no-track",
        "ses:no-track",
        "SES:NO-TRACK",
        'class="btn untracked big"',
        "class=untracked",
        'class="UNTRACKED"',
    ],
)
def test_other_vendors_opt_outs_are_honoured_and_kept(attribute: str) -> None:
    html = f'<a {attribute} href="https://example.com/x">x</a>'
    result = rewrite(html)
    assert reasons(result) == ["opt_out"]
    assert result.html == html


def test_a_class_that_only_contains_the_word_is_not_an_opt_out() -> None:
    assert reasons(rewrite('<a class="untracked-ish" href="https://example.com/x">x</a>')) == [None]


def test_a_class_list_is_read_as_a_browser_reads_it() -> None:
    # Decoded first ("un&#116;racked" is "untracked"), split on HTML whitespace only.
    assert reasons(rewrite('<a class="un&#116;racked" href="https://e.com/x">x</a>')) == ["opt_out"]
    assert reasons(rewrite('<a class="btn\u00a0untracked" href="https://e.com/x">x</a>')) == [None]
    # Of two class attributes a browser keeps the first.
    second = '<a class="btn" class="untracked" href="https://e.com/x">x</a>'
    assert reasons(rewrite(second)) == [None]
    first = '<a class="untracked" class="btn" href="https://e.com/x">x</a>'
    assert reasons(rewrite(first)) == ["opt_out"]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<a data-clickgate-no-track href="https://e.com/">x</a>',
            '<a href="https://e.com/">x</a>',
        ),
        (
            '<a href="https://e.com/" data-clickgate-no-track>x</a>',
            '<a href="https://e.com/">x</a>',
        ),
        (
            '<a href="https://e.com/" DATA-CLICKGATE-NO-TRACK="">x</a>',
            '<a href="https://e.com/">x</a>',
        ),
        (
            "<a href=https://e.com/ data-clickgate-no-track/>x</a>",
            "<a href=https://e.com/ />x</a>",
        ),
        (
            '<a href="https://e.com/"data-clickgate-no-track class=b>x</a>',
            '<a href="https://e.com/" class=b>x</a>',
        ),
        (
            '<a data-clickgate-no-track\n   data-clickgate-tags="a:b" href="https://e.com/">x</a>',
            '<a href="https://e.com/">x</a>',
        ),
        (
            '<a href="https://e.com/" data-clickgate-no-track data-clickgate-tags="a:b">x</a>',
            '<a href="https://e.com/">x</a>',
        ),
        # Removing a marker never changes how the rest of the tag reads: "/ >" does not
        # become a self-closing "/>" (in SVG the text would leave the link) ...
        (
            '<svg><a href="https://e.com/" / data-clickgate-no-track>x</a></svg>',
            '<svg><a href="https://e.com/" / >x</a></svg>',
        ),
        # ... nor does a "/" glued to the marker before ">" (it goes with the marker).
        (
            '<svg><a href="https://e.com/"/data-clickgate-no-track>x</a></svg>',
            '<svg><a href="https://e.com/">x</a></svg>',
        ),
        (
            '<svg><area href="https://e.com/"/data-clickgate-no-track   ></svg>',
            '<svg><area href="https://e.com/"/   ></svg>',  # "/ " closes nothing
        ),
        (
            '<svg><a href="https://e.com/"/data-clickgate-no-track/>x</svg>',
            '<svg><a href="https://e.com/"//>x</svg>',
        ),
        # ... and a following '="y"', an attribute of its own, is not made the value of
        # the attribute before the marker: such a marker stays.
        (
            '<a x data-clickgate-no-track=1 ="y" href="https://e.com/">x</a>',
            '<a x data-clickgate-no-track=1 ="y" href="https://e.com/">x</a>',
        ),
    ],
)
def test_our_opt_out_is_honoured_and_removed(html: str, expected: str) -> None:
    result = rewrite(html)
    assert reasons(result) == ["opt_out"]
    assert result.html == expected


def test_link_tags_reach_the_token_and_our_marker_is_removed() -> None:
    html = (
        '<a data-clickgate-tags="campaign:june; variant:b ;" href="https://e.com/a">a</a>'
        '<a href="https://e.com/b" postbox:tags="source:postbox">b</a>'
    )
    result = rewrite(html)
    first, second = (opened(link.tracked_url or "") for link in result.links)
    assert first.body.tags == ("campaign:june", "variant:b")
    assert second.body.tags == ("source:postbox",)
    assert html_of(result).startswith('<a href="')
    assert 'postbox:tags="source:postbox">b</a>' in html_of(result)
    assert "data-clickgate" not in html_of(result)


def test_markers_are_removed_even_when_the_link_is_not_tracked() -> None:
    html = '<a href="mailto:x@example.com" data-clickgate-tags="k:v">m</a>'
    result = rewrite(html)
    assert reasons(result) == ["scheme"]
    assert result.html == '<a href="mailto:x@example.com">m</a>'


@pytest.mark.parametrize(
    "content",
    [
        "https://example.com/x",
        "example.com",
        "www.example.com",
        "  Example.COM/path?x=1 ",
        "<span><b>shop.example.co.uk</b></span>",
        "http://localhost:8080",
        "пример.рф",
        "socket.io",  # .io and .md are top-level domains: host names a client may warn on
        "README.md",
        # A ">" inside a quoted attribute value does not end the tag.
        '<img alt="a>b" src="x.png">example.com',
        "<img alt = 'a > b'> example.com <br data-x=\"<\">",
        "<img alt=it's>example.com",  # a quote inside an unquoted value is a character
        # What is never shown is no part of the text: a comment (which does not end at
        # its first ">"), and the text of <style> and <script>.
        "<style>a{}</style>example.com",
        "<!-- a>b -->example.com",
        "<!---->example.com<!-- unclosed",
        "<SCRIPT>var x = 1</Script >https://example.com/",
        "<!--[if mso]>example.com<![endif]-->",  # Outlook shows it
    ],
)
def test_visible_url_text_keeps_a_link_untracked(content: str) -> None:
    html = f'<a href="https://example.com/x">{content}</a>'
    result = rewrite(html)
    assert reasons(result) == ["visible_url"]
    assert result.html == html
    off = rewrite(html, options=RewriteOptions(protect_visible_urls=False))
    assert reasons(off) == [None]


@pytest.mark.parametrize(
    "content",
    [
        "Shop now",
        "Go to example.com now",
        '<img src="https://cdn.example.com/a.png" alt="example.com">',
        "",
        "Version 2",
        "<b>Read</b> more",
        # Shaped like host names, but no top-level domain ends them: file and product
        # names, which receipts and newsletters link all the time.
        "invoice.pdf",
        "Invoice_1234.pdf",
        "Node.js",
        "St.Louis",
        "report.docx",
        '<img alt="example.com >" src="x.png">',
        '<img alt="a<b>example.com">',
        "<style>a.example.com{}</style>Shop now",
        "<!-- example.com -->Shop now",
        "<script>https://example.com/</script>",
    ],
)
def test_ordinary_link_text_is_tracked(content: str) -> None:
    assert reasons(rewrite(f'<a href="https://example.com/x">{content}</a>')) == [None]


def test_visible_text_ends_at_the_next_link() -> None:
    # The first link's text is "<" alone, not the next link's "example.com".
    html = '<a href="https://e.com/a"><<a href="https://e.com/b">example.com</a>'
    assert reasons(rewrite(html)) == [None, "visible_url"]


def test_huge_numeric_references_in_link_text_do_not_fail_the_message() -> None:
    result = rewrite('<a href="https://e.com/">&#' + "1" * 5000 + ";</a>")
    assert reasons(result) == [None]


def test_visible_text_only_applies_to_anchors() -> None:
    html = '<area href="https://example.com/x" alt="example.com">example.com'
    assert reasons(rewrite(html)) == [None]


def test_already_tracked_links_are_not_wrapped_again() -> None:
    options = RewriteOptions(click_hosts=frozenset({"click.example.com", "Links.Brand.COM"}))
    html = (
        '<a href="https://click.example.com/x/AAAA">a</a>'
        '<a href="http://links.brand.com./y">b</a>'
        '<a href="https://links.brand.com:8443/z">c</a>'
        '<a href="https://example.com/">d</a>'
    )
    assert reasons(rewrite(html, options=options)) == [
        "already_tracked",
        "already_tracked",
        "already_tracked",
        None,
    ]


def test_click_host_with_port_matches_only_that_port() -> None:
    options = RewriteOptions(click_hosts=frozenset({"127.0.0.1:8081"}))
    html = '<a href="http://127.0.0.1:8081/t">a</a><a href="http://127.0.0.1:9000/t">b</a>'
    assert reasons(rewrite(html, options=options)) == ["already_tracked", None]


def test_links_beyond_the_limit_stay_untouched() -> None:
    html = "".join(f'<a href="https://example.com/{i}">{i}</a>' for i in range(5))
    html += '<a href="mailto:x@example.com">m</a><a href="https://example.com/5">5</a>'
    result = rewrite(html, text="https://example.com/text", options=RewriteOptions(max_links=3))
    assert reasons(result) == [None, None, None, "limit", "limit", "scheme", "limit", "limit"]
    assert result.text == "https://example.com/text"


@pytest.mark.parametrize(
    ("url", "destination"),
    [
        ("https://e.com/", "https://e.com/?utm_source=news&utm_medium=email"),
        ("https://e.com", "https://e.com?utm_source=news&utm_medium=email"),
        ("https://e.com/p?a=1", "https://e.com/p?a=1&utm_source=news&utm_medium=email"),
        ("https://e.com/p?", "https://e.com/p?utm_source=news&utm_medium=email"),
        ("https://e.com/p?a=1&", "https://e.com/p?a=1&utm_source=news&utm_medium=email"),
        ("https://e.com/p?utm_source=mine", "https://e.com/p?utm_source=mine&utm_medium=email"),
        ("https://e.com/p?utm%5Fsource=x", "https://e.com/p?utm%5Fsource=x&utm_medium=email"),
        ("https://e.com/p?utm_medium&x=1", "https://e.com/p?utm_medium&x=1&utm_source=news"),
        ("https://e.com/p#frag", "https://e.com/p?utm_source=news&utm_medium=email#frag"),
        ("https://e.com/p?a=1#f?x=1", "https://e.com/p?a=1&utm_source=news&utm_medium=email#f?x=1"),
        (
            "https://e.com/p?xutm_source=1",
            "https://e.com/p?xutm_source=1&utm_source=news&utm_medium=email",
        ),
    ],
)
def test_url_params_are_appended_without_overwriting(url: str, destination: str) -> None:
    options = RewriteOptions(url_params={"utm_source": "news", "utm_medium": "email"})
    result = rewrite(f'<a href="{url}">x</a>', options=options)
    link = result.links[0]
    assert link.original_url == url
    assert opened(link.tracked_url or "").url == destination


def test_url_params_are_percent_encoded() -> None:
    options = RewriteOptions(url_params={"utm campaign": "June & July/2024"})
    result = rewrite('<a href="https://e.com/">x</a>', options=options)
    assert opened(result.links[0].tracked_url or "").url == (
        "https://e.com/?utm%20campaign=June%20%26%20July%2F2024"
    )


def test_html_tracking_can_be_switched_off() -> None:
    html = '<a href="https://e.com/" data-clickgate-tags="a:b">x</a><a href="tel:1">t</a>'
    result = rewrite(html, text="https://e.com/t", options=RewriteOptions(track_html=False))
    assert result.html == '<a href="https://e.com/">x</a><a href="tel:1">t</a>'
    assert reasons(result) == ["disabled", "scheme", None]


def test_reports_are_numbered_across_html_then_text() -> None:
    result = rewrite('<a href="https://e.com/1">x</a>', text="see https://e.com/2")
    assert [(link.index, link.location) for link in result.links] == [(0, "html"), (1, "text")]
    first, second = (opened(link.tracked_url or "") for link in result.links)
    assert (first.body.link_index, first.body.location) == (0, 0)
    assert (second.body.link_index, second.body.location) == (1, 1)


def test_everything_else_is_byte_identical() -> None:
    html = (
        "<!DOCTYPE html>\r\n<HTML><body bgcolor=#fff>\r\n"
        "<!-- keep me --><p class='x'>caf&eacute; &amp; &#169; &nbsp;</p>\r\n"
        '<a   href = "https://e.com/?a=1&amp;b=2"  TARGET=_blank >go</a>\r\n'
        "<a href=mailto:x@e.com>m</a></body></HTML>\r\n"
    )
    result = rewrite(html)
    tracked = result.links[0].tracked_url or ""
    assert html_of(result) == html.replace("https://e.com/?a=1&amp;b=2", tracked)
    assert tracked.startswith(CLICK_BASE)


def test_a_tag_cut_off_by_the_end_of_input_is_left_alone() -> None:
    html = '<p>x</p><a href="https://e.com/" title="unterminated'
    result = rewrite(html)
    assert result.links == []
    assert result.html == html


def test_an_unterminated_quote_in_another_tag_hides_what_follows() -> None:
    # As in a browser: the quote runs on, so the "link" is inside an attribute value.
    html = '<img alt="oops><a href="https://e.com/">x</a> and more'
    result = rewrite(html)
    assert result.links == []
    assert result.html == html


def test_a_stray_quote_in_an_unquoted_value_does_not_swallow_links() -> None:
    html = '<td width=100">cell</td><a href="https://e.com/">x</a>'
    assert reasons(rewrite(html)) == [None]


@pytest.mark.parametrize("odd", ["<v:>", "<v: x>", "<V:/>", "<v:\n>", "<areax>", "<abbr>"])
def test_odd_tag_names_do_not_stop_the_scan(odd: str) -> None:
    assert reasons(rewrite(f'{odd}<a href="https://e.com/">x</a>')) == [None]


def test_nul_in_an_href_is_read_as_the_tokenizer_reads_it() -> None:
    """A browser's tokenizer makes NUL in an attribute value U+FFFD before the URL is
    parsed, so it is not stripped like the C0 controls around a URL (found by comparing
    with html5lib): a leading one makes the link relative, a trailing one is part of
    the path."""
    for marked in ("", " data-clickgate-no-track-not"):  # the common path and the full one
        leading = rewrite(f'<a{marked} href="\x00https://example.com/p">x</a>').links[0]
        assert (leading.skip_reason, leading.original_url) == (
            "scheme",
            "\ufffdhttps://example.com/p",
        )
        trailing = rewrite(f'<a{marked} href="https://example.com/p\x00">x</a>').links[0]
        assert trailing.tracked_url is not None
        assert opened(trailing.tracked_url).url == "https://example.com/p%EF%BF%BD"


@pytest.mark.parametrize(
    ("html", "live"),
    [
        # A browser reads an end tag's attributes: the quoted ">" does not end it.
        ('</p title="a>b <textarea>"><a href="https://example.com/p">p</a>', True),
        ("</p title=\"x><img alt='\">'<textarea><a href=https://example.com/z>x</textarea>", False),
        # "</" and no letter: a bogus comment, which ends at the first ">" whatever quotes.
        ('</ "a><a href="https://example.com/p">p</a>', True),
        ("</p title=a'b><a href=https://example.com/p>p</a>", True),
        # A leading "=" belongs to the attribute's name, so no quoted value starts there:
        # the tag ends at the first ">" and the link after it is live.
        ('<b ="x>"<a href="https://example.com/p">p</a>', True),
        ("<p =' x>'<a href=https://example.com/p>p</a>", True),
        ('<td width="1" ="x>"<a href="https://example.com/p">p</a>', True),
        ('<td width=1 ="x>"<a href="https://example.com/p">p</a>', True),
        ('<br/="x>"<a href="https://example.com/p">p</a>', True),
        # A "=" inside an unquoted value opens no value either.
        ('<td a=b="x y>"<a href="https://example.com/p">p</a>', True),
        # After a name, "=" does open a value, with or without whitespace around it.
        ('<td title = "<a href=https://example.com/p>">x', False),
        ('<td data-x title="1" alt=\'<a href="https://example.com/p">\'>x', False),
    ],
)
def test_tags_end_where_browsers_end_them(html: str, live: bool) -> None:
    result = rewrite(html)
    tracked = [link for link in result.links if link.tracked_url is not None]
    assert len(tracked) == (1 if live else 0), result.links
    if not live:
        assert html_of(result) == html


@pytest.mark.parametrize(
    ("url", "params", "destination"),
    [
        # The key test was a substring test: "a&b" was found in "a&b=1" (keys a and b).
        ("https://e.com/?a&b=1", {"a&b": "c"}, "https://e.com/?a&b=1&a%26b=c"),
        ("https://e.com/?x=y=1", {"x=y": "1"}, "https://e.com/?x=y=1&x%3Dy=1"),
        ("https://e.com/?a%26b=2", {"a&b": "c"}, "https://e.com/?a%26b=2"),  # it is there
    ],
)
def test_a_url_param_named_with_a_delimiter_is_matched_by_whole_keys(
    url: str, params: dict[str, str], destination: str
) -> None:
    result = rewrite(f'<a href="{url}">x</a>', options=RewriteOptions(url_params=params))
    assert opened(result.links[0].tracked_url or "").url == destination
