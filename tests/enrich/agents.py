"""Real user agent strings of current browsers, mail clients and scanners, with what they mean."""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    ua: str
    browser: str
    os: str
    device: str
    platform: str
    email_client: str = ""


CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0"
WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X)"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64"
ANDROID = "Mozilla/5.0 (Linux; Android 10; K)"

# fmt: off
BROWSERS: dict[str, Case] = {
    "chrome-windows": Case(f"{WIN}) {CHROME} Safari/537.36",
                           "Chrome", "Windows", "", "Desktop"),
    "chrome-macos": Case(f"{MAC} {CHROME} Safari/537.36",
                         "Chrome", "Mac OS X", "Mac", "Desktop"),
    "chrome-linux": Case(f"Mozilla/5.0 (X11; Linux x86_64) {CHROME} Safari/537.36",
                         "Chrome", "Linux", "", "Desktop"),
    "chrome-chromeos": Case(f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {CHROME} Safari/537.36",
                            "Chrome", "Chrome OS", "", "Desktop"),
    "chrome-android-phone": Case(f"{ANDROID} {CHROME} Mobile Safari/537.36",
                                 "Chrome Mobile", "Android", "K", "Mobile"),
    "chrome-android-tablet": Case(f"{ANDROID} {CHROME} Safari/537.36",
                                  "Chrome", "Android", "K", "Tablet"),
    "chrome-ios": Case(f"{IPHONE} {WEBKIT} CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1",
                       "Chrome Mobile iOS", "iOS", "iPhone", "Mobile"),
    "firefox-windows": Case(f"{WIN}; rv:144.0) Gecko/20100101 Firefox/144.0",
                            "Firefox", "Windows", "", "Desktop"),
    "firefox-macos": Case(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:144.0) Gecko/20100101 Firefox/144.0",
        "Firefox", "Mac OS X", "Mac", "Desktop"),
    "firefox-ubuntu": Case(
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0",
        "Firefox", "Ubuntu", "", "Desktop"),
    "firefox-android": Case("Mozilla/5.0 (Android 15; Mobile; rv:144.0) Gecko/144.0 Firefox/144.0",
                            "Firefox Mobile", "Android", "Generic Smartphone", "Mobile"),
    "firefox-ios": Case(f"{IPHONE} {WEBKIT} FxiOS/144.0 Mobile/15E148 Safari/605.1.15",
                        "Firefox iOS", "iOS", "iPhone", "Mobile"),
    "safari-macos": Case(f"{MAC} {WEBKIT} Version/26.0 Safari/605.1.15",
                         "Safari", "Mac OS X", "Mac", "Desktop"),
    "safari-iphone": Case(f"{IPHONE} {WEBKIT} Version/18.6 Mobile/15E148 Safari/604.1",
                          "Mobile Safari", "iOS", "iPhone", "Mobile"),
    "safari-ipad": Case(
        f"Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) {WEBKIT} Version/18.6 Mobile/15E148 "
        "Safari/604.1",
        "Mobile Safari", "iOS", "iPad", "Tablet"),
    "edge-windows": Case(f"{WIN}) {CHROME} Safari/537.36 Edg/142.0.0.0",
                         "Edge", "Windows", "", "Desktop"),
    "edge-macos": Case(f"{MAC} {CHROME} Safari/537.36 Edg/142.0.0.0",
                       "Edge", "Mac OS X", "Mac", "Desktop"),
    "edge-android": Case(f"{ANDROID} {CHROME} Mobile Safari/537.36 EdgA/142.0.0.0",
                         "Edge Mobile", "Android", "K", "Mobile"),
    "edge-ios": Case(
        f"{IPHONE} {WEBKIT} Version/18.0 EdgiOS/142.0.3595.53 Mobile/15E148 Safari/605.1.15",
        "Edge Mobile", "iOS", "iPhone", "Mobile"),
    "samsung-internet-tablet": Case(
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/28.0 Chrome/130.0.0.0 Safari/537.36",
        "Samsung Internet", "Android", "SM-X710", "Tablet"),
    "silk-kindle": Case(
        "Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36",
        "Amazon Silk", "Android", "Kindle", "Tablet"),
    "in-app-webview-ios": Case(f"{IPHONE} {WEBKIT} Mobile/15E148",
                               "Mobile Safari UI/WKWebView", "iOS", "iPhone", "Mobile"),
}

MAIL_CLIENTS: dict[str, Case] = {
    "outlook-windows": Case(
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)",
        "Outlook", "Windows", "", "Desktop", "Outlook"),
    "outlook-ms-office": Case("Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
                              "Outlook", "", "", "Desktop", "Outlook"),
    "outlook-ios": Case("Outlook-iOS/709.2189947.prod.iphone (3.24.1)",
                        "Outlook-iOS", "iOS", "iPhone", "Mobile", "Outlook"),
    "outlook-android": Case("Outlook-Android/2.0",
                            "", "Android", "Generic Smartphone", "Mobile", "Outlook"),
    "apple-mail-macos": Case(f"{MAC} {WEBKIT}",
                             "Apple Mail", "Mac OS X", "Mac", "Desktop", "Apple Mail"),
    "thunderbird-windows": Case(f"{WIN}; rv:128.0) Gecko/20100101 Thunderbird/128.3.1",
                                "Thunderbird", "Windows", "", "Desktop", "Thunderbird"),
    "thunderbird-linux": Case(
        "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.3.0",
        "Thunderbird", "Linux", "", "Desktop", "Thunderbird"),
}

# Mail providers' servers fetching for the reader: a mail client, and never a person.
MAIL_PROXIES: dict[str, Case] = {
    "gmail-image-proxy": Case(
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        "GmailImageProxy", "Windows", "", "WebMail", "Gmail"),
    "yahoo-mail-proxy": Case(
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
        "YahooMailProxy", "", "Spider", "WebMail", "Yahoo Mail"),
    "yahoo-link-preview": Case(
        "Mozilla/5.0 (compatible; Yahoo Link Preview; "
        "https://help.yahoo.com/kb/mail/yahoo-link-preview-SLN23615.html)",
        "", "", "Spider", "WebMail", "Yahoo Mail"),
}
# fmt: on

# Published user agents of link scanners, previewers, crawlers and scripts.
SCANNERS: dict[str, str] = {
    "bing-preview": "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) "
    "BingPreview/1.0b",
    "microsoft-preview": "MicrosoftPreview/2.0; +https://aka.ms/MicrosoftPreview",
    "office-existence-discovery": "Microsoft Office Existence Discovery",
    "office-protocol-discovery": "Microsoft Office Protocol Discovery",
    "google-safety": "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.179 Mobile Safari/537.36 "
    "(compatible; Google-Safety; +http://www.google.com/bot.html)",
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "headless-chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/142.0.0.0 Safari/537.36",
    "slack-unfurl": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "python-requests": "python-requests/2.32.3",
    "curl": "curl/8.5.0",
    "go": "Go-http-client/1.1",
    "java-http-client": "Java-http-client/17.0.2",
    "bare-mozilla": "Mozilla/5.0",
}

# Scanners that name their vendor: these strings are shaped for our own patterns, not
# captured traffic (most vendors send a stock browser agent, caught by other signals).
VENDOR_TOKENS: dict[str, str] = {
    "mimecast": "Mozilla/5.0 (compatible; Mimecast URL Protect)",
    "proofpoint": "Proofpoint URL Defense/1.0",
    "barracuda": "Mozilla/5.0 (compatible; Barracuda Sentinel)",
    "ironport": "Cisco IronPort URL scanner",
    "symantec": "Symantec Email Security.cloud Link Following",
    "trend-micro": "TrendMicro Email Security Link Scanner",
    "safe-links": "Mozilla/5.0 (compatible; Microsoft Defender SafeLinks)",
}
