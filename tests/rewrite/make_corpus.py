"""Generate the MJML-shaped corpus templates (run: python -m tests.rewrite.make_corpus).

Hand-written templates cover the edge cases; these two have the size, nesting, inline
styles and per-section Outlook conditionals of what email builders really emit, so the
benchmark measures throughput on realistic link density. Output is deterministic.
"""

# ruff: noqa: E501 -- the HTML below mirrors MJML's output line for line, long lines included

from __future__ import annotations

import random
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
FONT = "font-family:Ubuntu, Helvetica, Arial, sans-serif"

HEAD = """<!doctype html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">
  <head>
    <title>{title}</title>
    <!--[if !mso]><!-->
    <meta http-equiv="X-UA-Compatible" content="IE=edge">
    <!--<![endif]-->
    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <style type="text/css">
      #outlook a {{ padding:0; }}
      body {{ margin:0;padding:0;-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%; }}
      table, td {{ border-collapse:collapse;mso-table-lspace:0pt;mso-table-rspace:0pt; }}
      img {{ border:0;height:auto;line-height:100%; outline:none;text-decoration:none;-ms-interpolation-mode:bicubic; }}
      p {{ display:block;margin:13px 0; }}
    </style>
    <!--[if mso]>
    <noscript>
    <xml>
    <o:OfficeDocumentSettings>
      <o:AllowPNG/>
      <o:PixelsPerInch>96</o:PixelsPerInch>
    </o:OfficeDocumentSettings>
    </xml>
    </noscript>
    <![endif]-->
    <!--[if lte mso 11]>
    <style type="text/css">
      .mj-outlook-group-fix {{ width:100% !important; }}
    </style>
    <![endif]-->
    <!--[if !mso]><!-->
    <link href="https://fonts.googleapis.com/css?family=Ubuntu:300,400,500,700" rel="stylesheet" type="text/css">
    <style type="text/css">
      @import url(https://fonts.googleapis.com/css?family=Ubuntu:300,400,500,700);
    </style>
    <!--<![endif]-->
    <style type="text/css">
      @media only screen and (min-width:480px) {{
        .mj-column-per-100 {{ width:100% !important; max-width: 100%; }}
        .mj-column-per-50 {{ width:50% !important; max-width: 50%; }}
        .mj-column-per-33-333333333333336 {{ width:33.333333333333336% !important; max-width: 33.333333333333336%; }}
      }}
    </style>
    <style media="screen and (min-width:480px)">
      .moz-text-html .mj-column-per-100 {{ width:100% !important; max-width: 100%; }}
      .moz-text-html .mj-column-per-50 {{ width:50% !important; max-width: 50%; }}
    </style>
    <style type="text/css">
      @media only screen and (max-width:480px) {{
        table.mj-full-width-mobile {{ width: 100% !important; }}
        td.mj-full-width-mobile {{ width: auto !important; }}
      }}
    </style>
  </head>
  <body style="word-spacing:normal;background-color:#F4F4F4;">
    <div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;max-width:0px;opacity:0;overflow:hidden;">{preheader}</div>
    <div style="background-color:#F4F4F4;">
"""

TAIL = """    </div>
  </body>
</html>
"""


def section(columns: list[str], background: str = "#ffffff") -> str:
    """One mj-section with its columns, wrapped in Outlook ghost tables as MJML does."""
    width = 600 // len(columns)
    css = {1: "mj-column-per-100", 2: "mj-column-per-50", 3: "mj-column-per-33-333333333333336"}
    ghost_cells = []
    for body in columns:
        ghost_cells.append(
            f'<!--[if mso | IE]><td class="" style="vertical-align:top;width:{width}px;" ><![endif]-->\n'
            f'<div class="{css[len(columns)]} mj-outlook-group-fix" style="font-size:0px;text-align:left;'
            f'direction:ltr;display:inline-block;vertical-align:top;width:100%;">\n'
            f'<table border="0" cellpadding="0" cellspacing="0" role="presentation" '
            f'style="vertical-align:top;" width="100%">\n<tbody>\n{body}</tbody>\n</table>\n</div>\n'
            f"<!--[if mso | IE]></td><![endif]-->\n"
        )
    return (
        f'<!--[if mso | IE]><table align="center" border="0" cellpadding="0" cellspacing="0" '
        f'class="" role="presentation" style="width:600px;" width="600" bgcolor="{background}" >'
        f'<tr><td style="line-height:0px;font-size:0px;mso-line-height-rule:exactly;"><![endif]-->\n'
        f'<div style="background:{background};background-color:{background};margin:0px auto;max-width:600px;">\n'
        f'<table align="center" border="0" cellpadding="0" cellspacing="0" role="presentation" '
        f'style="background:{background};background-color:{background};width:100%;">\n<tbody>\n<tr>\n'
        f'<td style="direction:ltr;font-size:0px;padding:20px 0;text-align:center;">\n'
        f'<!--[if mso | IE]><table role="presentation" border="0" cellpadding="0" cellspacing="0"><tr><![endif]-->\n'
        + "".join(ghost_cells)
        + "<!--[if mso | IE]></tr></table><![endif]-->\n</td>\n</tr>\n</tbody>\n</table>\n</div>\n"
        "<!--[if mso | IE]></td></tr></table><![endif]-->\n"
    )


def text(html: str, size: int = 14, align: str = "left") -> str:
    return (
        f'<tr>\n<td align="{align}" style="font-size:0px;padding:10px 25px;word-break:break-word;">\n'
        f'<div style="{FONT};font-size:{size}px;line-height:1.5;text-align:{align};color:#333333;">'
        f"{html}</div>\n</td>\n</tr>\n"
    )


def image(src: str, href: str, alt: str, width: int) -> str:
    return (
        f'<tr>\n<td align="center" style="font-size:0px;padding:10px 25px;word-break:break-word;">\n'
        f'<table border="0" cellpadding="0" cellspacing="0" role="presentation" '
        f'style="border-collapse:collapse;border-spacing:0px;">\n<tbody>\n<tr>\n'
        f'<td style="width:{width}px;">\n<a href="{href}" target="_blank">\n'
        f'<img alt="{alt}" height="auto" src="{src}" style="border:0;display:block;outline:none;'
        f'text-decoration:none;height:auto;width:100%;font-size:13px;" width="{width}" />\n'
        f"</a>\n</td>\n</tr>\n</tbody>\n</table>\n</td>\n</tr>\n"
    )


def button(label: str, href: str, color: str = "#e85034") -> str:
    return (
        f'<tr>\n<td align="center" vertical-align="middle" style="font-size:0px;padding:10px 25px;'
        f'word-break:break-word;">\n<table border="0" cellpadding="0" cellspacing="0" '
        f'role="presentation" style="border-collapse:separate;line-height:100%;">\n<tr>\n'
        f'<td align="center" bgcolor="{color}" role="presentation" style="border:none;border-radius:3px;'
        f'cursor:auto;mso-padding-alt:10px 25px;background:{color};" valign="middle">\n'
        f'<a href="{href}" style="display:inline-block;background:{color};color:#ffffff;{FONT};'
        f"font-size:13px;font-weight:normal;line-height:120%;margin:0;text-decoration:none;"
        f'text-transform:none;padding:10px 25px;mso-padding-alt:0px;border-radius:3px;" '
        f'target="_blank"> {label} </a>\n</td>\n</tr>\n</table>\n</td>\n</tr>\n'
    )


def divider() -> str:
    return (
        '<tr>\n<td align="center" style="font-size:0px;padding:10px 25px;word-break:break-word;">\n'
        '<p style="border-top:solid 1px #E0E0E0;font-size:1px;margin:0px auto;width:100%;"></p>\n'
        '<!--[if mso | IE]><table align="center" border="0" cellpadding="0" cellspacing="0" '
        'style="border-top:solid 1px #E0E0E0;font-size:1px;margin:0px auto;width:550px;" '
        'role="presentation" width="550px" ><tr><td style="height:0;line-height:0;"> &nbsp;\n'
        "</td></tr></table><![endif]-->\n</td>\n</tr>\n"
    )


def utm(url: str, content: str) -> str:
    """Links as builders emit them: UTM parameters joined with an entity-encoded "&"."""
    return f"{url}?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=june&amp;utm_content={content}"


def newsletter(rng: random.Random, products: int) -> str:
    shop = "https://www.northwind-outfitters.example"
    cdn = "https://cdn.northwind-outfitters.example/email/2024-06"
    parts = [
        HEAD.format(title="Northwind: the June edit", preheader="New trail shoes, 20% off tents"),
        section([image(f"{cdn}/logo.png", utm(shop + "/", "logo"), "Northwind Outfitters", 180)]),
        section(
            [
                image(f"{cdn}/hero.jpg", utm(shop + "/collections/summer", "hero"), "Summer", 600)
                + text('<h1 style="margin:0;font-size:26px;">The June edit</h1>', 20, "center")
                + text(
                    "Long days, light packs. Our team picked the gear they are actually taking "
                    f'out this month, from <a href="{utm(shop + "/trail-running", "intro")}" '
                    'style="color:#e85034;">trail runners</a> to a tent that packs smaller '
                    "than a loaf of bread.",
                    15,
                    "center",
                )
                + button("Shop the edit", utm(shop + "/collections/june-edit", "cta"))
            ]
        ),
    ]
    for row in range(products // 2):
        cells = []
        for col in range(2):
            sku = rng.randrange(10000, 99999)
            slug = rng.choice(["trail-runner", "ultralight-tent", "merino-tee", "rain-shell"])
            url = utm(f"{shop}/products/{slug}-{sku}", f"product-{row * 2 + col}")
            cells.append(
                image(f"{cdn}/products/{sku}.jpg", url, slug.replace("-", " ").title(), 250)
                + text(
                    f"<strong>{slug.replace('-', ' ').title()}</strong><br>${rng.randrange(29, 399)}.00",
                    14,
                    "center",
                )
                + button("View", url, "#2f4858")
            )
        parts.append(section(cells))
    parts.append(
        section(
            [
                divider() + text(article(shop, rng)),
            ]
        )
    )
    parts.append(section([social(shop)], "#F4F4F4"))
    parts.append(section([footer(shop)], "#F4F4F4"))
    parts.append(TAIL)
    return "".join(parts)


def article(shop: str, rng: random.Random) -> str:
    guides = ["layering-for-alpine-starts", "choosing-a-sleeping-pad", "leave-no-trace-basics"]
    links = ", ".join(
        f'<a href="{utm(f"{shop}/journal/{guide}", guide)}" style="color:#e85034;">'
        f"{guide.replace('-', ' ')}</a>"
        for guide in guides
    )
    return (
        '<h2 style="font-size:18px;margin:0 0 8px;">From the journal</h2>'
        f"<p>Three guides our readers asked for this spring: {links}. Each comes with a "
        "printable checklist, and the sleeping-pad guide now covers R-values for every pad "
        f'we sell. Stock on rain shells is low; <a href="{shop}/stock-alerts?sku={rng.randrange(1000, 9999)}" '
        'style="color:#e85034;">get an alert</a> when your size is back.</p>'
    )


def social(shop: str) -> str:
    icons = [
        ("facebook", "https://www.facebook.com/sharer/sharer.php?u=" + shop),
        ("x", "https://x.com/intent/tweet?url=" + shop + "&amp;text=June%20edit"),
        ("instagram", "https://www.instagram.com/northwind.outfitters/"),
        ("youtube", "https://www.youtube.com/@northwindoutfitters"),
    ]
    cells = "".join(
        f'<!--[if mso | IE]><td><![endif]-->\n<table align="center" border="0" cellpadding="0" '
        f'cellspacing="0" role="presentation" style="float:none;display:inline-table;">\n<tbody>\n'
        f'<tr>\n<td style="padding:4px;vertical-align:middle;">\n<table border="0" cellpadding="0" '
        f'cellspacing="0" role="presentation" style="background:#7f8c8d;border-radius:3px;width:24px;">'
        f'\n<tbody>\n<tr>\n<td style="font-size:0;height:24px;vertical-align:middle;width:24px;">\n'
        f'<a href="{href}" target="_blank">\n<img alt="{name}" height="24" '
        f'src="https://www.mailjet.com/images/theme/v1/icons/ico-social/{name}.png" '
        f'style="border-radius:3px;display:block;" width="24" />\n</a>\n</td>\n</tr>\n</tbody>\n'
        f"</table>\n</td>\n</tr>\n</tbody>\n</table>\n<!--[if mso | IE]></td><![endif]-->\n"
        for name, href in icons
    )
    return (
        '<tr>\n<td align="center" style="font-size:0px;padding:10px 25px;word-break:break-word;">\n'
        '<!--[if mso | IE]><table align="center" border="0" cellpadding="0" cellspacing="0" '
        f'role="presentation" ><tr><![endif]-->\n{cells}'
        "<!--[if mso | IE]></tr></table><![endif]-->\n</td>\n</tr>\n"
    )


def footer(shop: str) -> str:
    return text(
        "Northwind Outfitters, 400 Pine Street, Seattle, WA 98101<br>"
        '<a href="{{unsubscribe_url}}" style="color:#888888;">Unsubscribe</a> &middot; '
        f'<a href="{shop}/account/email-preferences?e={{{{email_hash}}}}" style="color:#888888;">'
        "Preferences</a> &middot; "
        f'<a href="{shop}/privacy" style="color:#888888;">Privacy</a> &middot; '
        '<a href="mailto:help@northwind-outfitters.example" style="color:#888888;">Contact</a>',
        11,
        "center",
    )


def generated() -> dict[str, str]:
    """File name -> content of every generated template."""
    sizes = {"mjml_newsletter.html": 12, "mjml_catalogue.html": 40}
    return {name: newsletter(random.Random(name), products) for name, products in sizes.items()}


def main() -> None:
    for name, html in generated().items():
        (CORPUS / name).write_text(html, encoding="utf-8")
        print(f"{name}: {len(html.encode())} bytes")


if __name__ == "__main__":
    main()
