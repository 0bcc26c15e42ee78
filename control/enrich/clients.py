"""Email client and platform (Postmark's Desktop/Mobile/Tablet/WebMail/Unknown) from a parse."""

from __future__ import annotations

import re
from typing import Final

DESKTOP: Final = "Desktop"
MOBILE: Final = "Mobile"
TABLET: Final = "Tablet"
WEBMAIL: Final = "WebMail"
UNKNOWN: Final = "Unknown"

# ua-parser families that are mail clients (or their servers), by the name we show.
_CLIENT_BY_FAMILY: Final = {
    "Outlook": "Outlook",
    "Outlook-iOS": "Outlook",
    "Windows Live Mail": "Windows Live Mail",
    # A bare AppleWebKit user agent on macOS: Mail.app's web views. Other Mac apps
    # embedding WebKit look the same, so this is "most likely Apple Mail".
    "Apple Mail": "Apple Mail",
    "Thunderbird": "Thunderbird",
    "Airmail": "Airmail",
    "Postbox": "Postbox",
    "Lotus Notes": "Lotus Notes",
    "GmailImageProxy": "Gmail",
    "YahooMailProxy": "Yahoo Mail",
}

# Tokens ua-parser does not map to a family we can use.
_CLIENT_TOKENS: Final = (
    (re.compile(r"Outlook-Android|Microsoft Outlook|\bms-office\b|MSOffice"), "Outlook"),
    (re.compile(r"GoogleImageProxy"), "Gmail"),
    (re.compile(r"YahooMailProxy|Yahoo Link Preview"), "Yahoo Mail"),
    (re.compile(r"Thunderbird/"), "Thunderbird"),
)

# Requests made by the mail provider's servers for the reader: the platform is the web.
_WEBMAIL_CLIENTS: Final = frozenset({"Gmail", "Yahoo Mail"})

_MOBILE_OS: Final = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS", "HarmonyOS"}
)
_MOBILE_DEVICES: Final = frozenset(
    {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"}
)
_DESKTOP_OS: Final = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "openSUSE",
        "Mint",
        "Arch Linux",
        "Gentoo",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)
# Outlook's own requests (ms-office, "Microsoft Outlook 16.0.x") come from Windows
# desktop Office even when no OS token is present.
_DESKTOP_TOKENS: Final = re.compile(r"\bms-office\b|MSOffice|Microsoft Outlook|Microsoft Office/")


def email_client(ua: str, browser: str) -> str:
    """The mail client named by the user agent, or ""."""
    found = _CLIENT_BY_FAMILY.get(browser)
    if found is not None:
        return found
    for pattern, name in _CLIENT_TOKENS:
        if pattern.search(ua):
            return name
    return ""


def platform(ua: str, client: str, os: str, device: str, brand: str) -> str:
    """Postmark's platform names, from the most specific evidence to the least.

    iPadOS Safari asks for desktop sites with a Mac user agent, so those iPads count
    as Desktop: nothing in the request tells them apart.
    """
    if client in _WEBMAIL_CLIENTS:
        return WEBMAIL
    if device == "Spider":
        return UNKNOWN  # a crawler's claimed device says nothing about a reader
    if _is_tablet(ua, device, brand):
        return TABLET
    if os in _MOBILE_OS or device in _MOBILE_DEVICES or brand == "Generic_Android":
        return MOBILE
    if os in _DESKTOP_OS or device == "Mac" or _DESKTOP_TOKENS.search(ua):
        return DESKTOP
    return UNKNOWN


def _is_tablet(ua: str, device: str, brand: str) -> bool:
    # ua-parser's tablet brands ("Generic_Android_Tablet") come from Android user agents
    # without "Mobile"; Firefox for Android says "Tablet" outright.
    return (
        device == "iPad"
        or device.startswith("Kindle")
        or "Tablet" in brand
        or "Tablet" in device
        or "; Tablet;" in ua
    )
