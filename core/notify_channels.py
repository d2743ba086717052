"""Notification channels: e-mail over SMTP, Slack-compatible incoming webhooks and the signed generic webhook."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from core.config import Settings
from core.errors import InvalidInput, LeadRelayError

SIGNATURE_HEADER = "X-LeadRelay-Signature"
DELIVERY_HEADER = "X-LeadRelay-Delivery"
EVENT_HEADER = "X-LeadRelay-Event"
USER_AGENT = "LeadRelay-Notifications/1"
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


class ChannelError(LeadRelayError):
    """A channel refused or could not take a message; `retryable` says whether trying later may work."""

    code = "notify_channel"

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as every channel sends it: a subject and text for people, a JSON body for machines."""

    delivery_id: str
    event: str
    subject: str
    text: str
    link: str
    body: dict[str, Any]


# -- checks made when a person saves a channel, and again before each send ------------------------------


def check_email(address: str) -> str:
    """The address, trimmed; InvalidInput when it is not one plain address."""
    address = address.strip()
    if len(address) > 320 or not _EMAIL.match(address):
        raise InvalidInput("That is not an e-mail address LeadRelay can send to (one address, like ana@example.com).")
    return address


def _refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "a link-local, multicast or reserved address"
    if ip.is_loopback and not allow_loopback:
        return "this machine (loopback)"
    return None


def check_url(url: str, *, allow_loopback: bool, resolve: bool = True) -> str:
    """The URL, trimmed; InvalidInput unless it is http(s) to a host that is not this machine or link-local.

    Link-local addresses (cloud metadata services) are always refused; loopback only when allowed (tests, sandbox).
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise InvalidInput("The address must be a full http:// or https:// URL.")
    if parts.username or parts.password:
        raise InvalidInput("The address must not carry a user name or password before the host.")
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None and host.lower() in ("localhost", "localhost.localdomain") and not allow_loopback:
        raise InvalidInput("The address points at this machine; give the receiving service's own address.")
    addresses = [literal] if literal is not None else []
    if literal is None and resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
        except (socket.gaierror, UnicodeError):
            raise InvalidInput(f"The host {host!r} could not be found.") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for ip in addresses:
        why = _refused_address(ip, allow_loopback)
        if why:
            raise InvalidInput(f"The address points at {why}; LeadRelay does not send notifications there.")
    return url


# -- the signature of the generic webhook ----------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The X-LeadRelay-Signature value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: recompute the signature over the raw body and compare in constant time."""
    return bool(header) and hmac.compare_digest(sign(body, secret), str(header))


# -- sending ------------------------------------------------------------------------------------------


def _http_answer(response: httpx.Response, what: str) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    if 300 <= code < 400:
        raise ChannelError(
            f"{what} answered with a redirect (HTTP {code}); redirects are not followed.", retryable=False
        )
    retryable = code in (408, 425, 429) or code >= 500
    raise ChannelError(f"{what} answered HTTP {code}.", retryable=retryable)


def _post(http: httpx.Client, url: str, content: bytes, headers: dict[str, str], what: str, allow: bool) -> None:
    try:
        check_url(url, allow_loopback=allow)
    except InvalidInput as exc:
        # A name that no longer resolves may be a passing DNS outage; a refused address stays refused.
        raise ChannelError(exc.message, retryable="could not be found" in exc.message) from None
    try:
        response = http.post(url, content=content, headers={"User-Agent": USER_AGENT, **headers})
    except httpx.TimeoutException:
        raise ChannelError(f"{what} did not answer in time.", retryable=True) from None
    except httpx.HTTPError as exc:
        raise ChannelError(f"{what} could not be reached ({type(exc).__name__}).", retryable=True) from None
    _http_answer(response, what)


def slack_text(text: str) -> str:
    """Text for Slack's mrkdwn: &, < and > escaped so file names cannot make links or @-mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post_slack(http: httpx.Client, url: str, out: Outgoing, *, allow_loopback: bool) -> None:
    """An incoming-webhook message: JSON `{"text": ...}` with the link as Slack's `<url|label>`."""
    text = slack_text(out.text) + f"\n<{out.link}|Open in LeadRelay>"
    body = orjson.dumps({"text": text})
    _post(http, url, body, {"Content-Type": "application/json"}, "The Slack-compatible webhook", allow_loopback)


def post_webhook(http: httpx.Client, url: str, secret: str, out: Outgoing, *, allow_loopback: bool) -> None:
    """The generic webhook: the JSON body, signed with the person's secret, with a stable delivery id."""
    body = orjson.dumps(out.body)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
        DELIVERY_HEADER: out.delivery_id,
        EVENT_HEADER: out.event,
    }
    _post(http, url, body, headers, "The webhook receiver", allow_loopback)


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def email_message(settings: Settings, to: str, out: Outgoing) -> EmailMessage:
    """The e-mail: plain text, one-line subject, a Message-ID that is the same if the message is ever sent again."""
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = check_email(to)
    msg["Subject"] = _one_line(out.subject)
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "leadrelay.invalid"
    msg["Message-ID"] = f"<leadrelay.{out.delivery_id}@{domain}>"
    msg["Date"] = formatdate(usegmt=True)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(f"{out.text}\n\n{out.link}\n")
    return msg


def send_email(settings: Settings, to: str, out: Outgoing) -> None:
    """Send over SMTP (STARTTLS, implicit TLS or plain as configured); 4xx answers and outages are retryable."""
    if not settings.smtp_host:
        raise ChannelError("E-mail is not set up on this LeadRelay server (SMTP_HOST is unset).", retryable=False)
    msg = email_message(settings, to, out)
    timeout = settings.smtp_timeout_seconds
    try:
        smtp_class = smtplib.SMTP_SSL if settings.smtp_tls == "ssl" else smtplib.SMTP
        with smtp_class(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_user, password)
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise ChannelError(
            f"The mail server refused the address ({codes[0]}).", retryable=all(400 <= c < 500 for c in codes)
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise ChannelError("The mail server does not offer STARTTLS; set SMTP_TLS.", retryable=False) from None
    except smtplib.SMTPResponseException as exc:
        raise ChannelError(f"The mail server answered {exc.smtp_code}.", retryable=400 <= exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"The mail server could not be reached ({type(exc).__name__}).", retryable=True) from None
