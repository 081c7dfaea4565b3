"""What keeps the operators' pages safe in a browser: the session cookie,
a double-submit CSRF token on every form, and the security headers.

- The session cookie (the API's ``csms_session``, so the API's endpoints
  work from the same browser) is HttpOnly and SameSite=Lax; Secure when the
  request came over TLS or ``CSMS_UI_SECURE_COOKIES=1`` says so (behind a
  proxy that ends TLS).
- CSRF: a random token in its own HttpOnly cookie and in a hidden field of
  every form; a POST whose field does not equal the cookie is refused (403)
  before its handler runs. A site that is not ours can neither read the
  cookie nor set it.
- Every page answers with a content security policy that allows no inline
  script or style (our own files under /static only), no framing, and the
  usual headers against sniffing and leaking the referrer.
"""

from __future__ import annotations

import os
import secrets

from litestar import Request, Response

from admin_ui.api.common import SESSION_COOKIE

CSRF_COOKIE = "csms_csrf"
CSRF_FIELD = "_csrf"
LANGUAGE_COOKIE = "csms_lang"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def secure_cookies(request: Request) -> bool:
    """Secure cookies when the request came over TLS, or a setting says so."""
    if os.environ.get("CSMS_UI_SECURE_COOKIES", "").strip().lower() in {"1", "true", "yes"}:
        return True
    return request.url.scheme == "https"


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (set on the
    answer by :func:`finish`)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) < 32:
        token = request.state.get("new_csrf") or secrets.token_urlsafe(32)
        request.state["new_csrf"] = token
    return token


def finish(request: Request, response: Response) -> Response:
    """Adds the security headers and a new CSRF cookie when one was made."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    new = request.state.get("new_csrf")
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
            path="/",
        )
    return response


def set_session_cookie(request: Request, response: Response, token: str, hours: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        max_age=hours * 3600,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
